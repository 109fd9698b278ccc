"""One error type for everything a user can fix, and one way to report it.

A `HarnessError` carries a single line: what is wrong and how to fix it. Entry points wrap
their work in `exit_on_error`, which prints that line to stderr and exits non-zero with no
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys


class HarnessError(Exception):
    """A problem the user can fix; its message is one line that says how."""


class DataError(HarnessError):
    """Input data (a CSV, a cache, a data dir) is missing or malformed."""


class ConfigError(HarnessError):
    """A configuration value is unknown or out of range."""


class SubmissionError(HarnessError):
    """A submission file is malformed or cannot be written."""


EXIT_USER_ERROR = 2


def exit_on_error(func):
    """Turn a HarnessError raised by `func` into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except HarnessError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper
