"""`make data`: fill the data dir with train.csv, test.csv and sample_submission.csv.

    python scripts/download.py [data.source=replica] [data.dir=...] [data.replica.seed=N]
    python scripts/download.py --force ...       # rebuild even if the data is in place
"""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from src import cli_config, sources
from src.errors import exit_on_error


@exit_on_error
def main(argv: list[str]) -> None:
    force = "--force" in argv
    cfg = cli_config.load([a for a in argv if a != "--force"])
    data = cfg.data
    settings = OmegaConf.to_container(data.get(data.source) or OmegaConf.create({}))
    print(sources.fetch(data.source, data.dir, settings, force=force))


if __name__ == "__main__":
    main(sys.argv[1:])
