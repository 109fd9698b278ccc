"""How the default conv net's blocks shrink an image: a rule the net and the config check
share, kept apart from the net so that checking a command line does not load Keras."""

from __future__ import annotations

from src.utils.errors import ConfigError


def check_blocks_fit(side: int, filters, padding: str) -> None:
    """Refuse a cnn whose blocks (two 3x3 convolutions and a 2x2 pool for each `filters`
    entry) leave no pixels of a side x side image."""
    left = side
    for _ in filters:
        left = (left - (4 if padding == "valid" else 0)) // 2
    if left < 1:
        fix = " or padding=same" if padding == "valid" else ""
        raise ConfigError(f"model.estimator.net.filters={list(filters)} with padding={padding} "
                          f"leaves no pixels of a {side}x{side} image: use fewer blocks{fix}")
