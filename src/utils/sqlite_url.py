"""SQLite database URLs (sqlite:///path) as Optuna's and MLflow's stores take them."""

from __future__ import annotations

from pathlib import Path

PREFIX = "sqlite:///"


def absolute(url: str, cwd: Path | str) -> str:
    """A relative SQLite path made absolute against where the command was typed, so that every
    job of a sweep, wherever its launcher runs it, opens the same file."""
    url = str(url)
    if url.startswith(PREFIX) and not url[len(PREFIX):].startswith("/"):
        return PREFIX + str(Path(cwd).resolve() / url[len(PREFIX):])
    return url


def file_of(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other store."""
    return Path(url[len(PREFIX):]) if str(url).startswith(PREFIX) else None
