"""`make submit`: see src/submit.py."""

import sys

from src.submit import main

if __name__ == "__main__":
    main(sys.argv[1:])
