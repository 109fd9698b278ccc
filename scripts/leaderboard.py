"""`make leaderboard`: see src/leaderboard.py."""

import sys

from src.leaderboard import main

if __name__ == "__main__":
    main(sys.argv[1:])
