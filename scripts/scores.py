"""`make scores`: see src/public_scores.py."""

import sys

from src.public_scores import main

if __name__ == "__main__":
    main(sys.argv[1:])
