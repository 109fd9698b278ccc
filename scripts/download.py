"""`make data`: fill the data dir with train.csv, test.csv and sample_submission.csv.

    python scripts/download.py [data.source=auto|replica|kaggle] [data.dir=...] [--force]

auto (the default) downloads from Kaggle when credentials are configured, else builds the
offline replica. Settings: conf/data/default.yaml (replica), conf/kaggle/default.yaml (kaggle).
"""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from src.config import command_config
from src.data import sources
from src.utils.errors import exit_on_error


@exit_on_error
def main(argv: list[str]) -> None:
    force = "--force" in argv
    cfg = command_config.load([a for a in argv if a != "--force"])
    source = sources.choose(cfg.data.source)
    settings = {"replica": cfg.data.replica, "kaggle": cfg.kaggle}.get(source, {})
    settings = OmegaConf.to_container(settings) if settings else {}
    print(sources.fetch(source, cfg.data.dir, settings, force=force))


if __name__ == "__main__":
    main(sys.argv[1:])
