"""`make scores`: see src/scores.py."""

import sys

from src.scores import main

if __name__ == "__main__":
    main(sys.argv[1:])
