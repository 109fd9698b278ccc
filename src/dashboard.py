"""Browse a search's study in optuna-dashboard: its trials, their epochs, what was pruned.

    python -m src.dashboard study=cnn_optuna              # make dashboard STUDY=cnn_optuna
    python -m src.dashboard study=cnn_optuna port=8081
    python -m src.dashboard study=mine storage=sqlite:///elsewhere.db

The study's database is found the way the search keeps it (`hydra.sweeper.storage` of
conf/hparams_search/, by default multirun/search/<study>/optuna.db). Serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from src.config import command_config
from src.utils import ports, sqlite_url
from src.utils.errors import ConfigError, exit_on_error

PRESET = "cnn_optuna"  # whose storage rule applies to a study that is not a preset's own


def storage_of(study: str) -> str:
    """The storage URL the search of `study` uses (a preset's, or a study named on the
    command line of one)."""
    from src.sweeps import study_settings

    preset = study if (command_config.CONF_DIR / "hparams_search" / f"{study}.yaml").is_file() \
        else PRESET
    cfg = command_config.load([f"hparams_search={preset}", f"hydra.sweeper.study_name={study}"],
                              hydra_config=True)
    return study_settings.storage_url(cfg.hydra.sweeper, str(cfg.hydra.sweep.dir), Path.cwd())


def open_study(study: str, storage: str):
    """The study's id in the storage; one line when either is not there."""
    import optuna


    path = sqlite_url.file_of(storage)
    if path is not None and not path.is_file():
        raise ConfigError(f"no study database at {path}: run the search first "
                          f"(python -m src.run hparams_search={PRESET}"
                          f"{'' if study == PRESET else f' hydra.sweeper.study_name={study}'})"
                          " or name its storage=")
    try:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    except Exception as err:  # noqa: BLE001 - a storage that cannot be read is one line
        raise ConfigError(f"cannot read the study storage {storage}: {type(err).__name__}: "
                          f"{str(err).splitlines()[0]}") from None
    if study not in names:
        raise ConfigError(f"{storage} has no study {study!r}: it holds "
                          f"{', '.join(names) or 'none'}")
    return optuna.storages.RDBStorage(storage).get_study_id_from_name(study)


@exit_on_error
def main(argv: list[str]) -> None:
    settings = command_config.load(argv, name="dashboard")
    if not settings.study:
        raise ConfigError("which study? study=NAME (make dashboard STUDY=NAME), e.g. "
                          f"study={PRESET}")
    storage = settings.storage or storage_of(settings.study)
    study_id = open_study(settings.study, storage)
    ports.check_free(settings.host, settings.port)
    from optuna_dashboard import run_server

    print(f"optuna-dashboard: study {settings.study} at "
          f"http://{settings.host}:{settings.port}/dashboard/studies/{study_id} "
          f"({storage}); Ctrl-C stops", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        run_server(storage, host=settings.host, port=settings.port)


if __name__ == "__main__":
    main(sys.argv[1:])
