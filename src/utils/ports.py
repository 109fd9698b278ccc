"""Serving on a local port: refuse a taken one in one line, before a server prints its banner
and fails with a traceback."""

from __future__ import annotations

import socket

from src.utils.errors import ConfigError


def check_free(host: str, port: int) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:  # the port is taken, or the host is not this machine's
        raise ConfigError(f"cannot serve on {host}:{port}: {err.strerror}: pick another "
                          "port=") from None
