"""The MLflow tracking store runs go to (tracking=mlflow): reaching it, checking it before any
training, its experiment, and scores added later. Always through `MlflowClient` with an
explicit URI, never MLflow's process-global active run: a sweep runs many jobs in one process.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from src.utils import sqlite_url
from src.utils.errors import ConfigError

BACKENDS = ("none", "mlflow")
ARTIFACTS = "mlartifacts"  # beside a SQLite store: its experiments' artifacts
INSTALL = "make setup EXTRAS=tracking (or pip install -e '.[tracking]')"
# A server that is gone should cost a run seconds, not MLflow's default minutes of retries.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def enabled(tracking: DictConfig) -> bool:
    return str(tracking.backend) == "mlflow"


def resolve_uri(uri: str, cwd: Path | str) -> str:
    return sqlite_url.absolute(uri, cwd)


def client(uri: str):
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigError(f"tracking=mlflow needs MLflow, which is not installed: {INSTALL}"
                          ) from None

    return MlflowClient(tracking_uri=uri)


def check(tracking: DictConfig, cwd: Path | str) -> None:
    """One line for a tracker that cannot work, before any data is read."""
    if str(tracking.backend) not in BACKENDS:
        raise ConfigError(f"tracking.backend={tracking.backend}: one of {', '.join(BACKENDS)} "
                          "(tracking=mlflow picks MLflow)")
    if not enabled(tracking):
        return
    uri = resolve_uri(tracking.uri, cwd)
    database = sqlite_url.file_of(uri)
    if database is not None and not database.parent.is_dir():
        # MLflow would make the folders: a typo would start a second, hidden store
        raise ConfigError(f"tracking.uri={tracking.uri}: the folder {database.parent} does "
                          "not exist")
    mlflow = client(uri)
    try:
        mlflow.search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - whatever MLflow raises, the fix is the URI
        reason = " ".join(str(err).split())[:200]
        raise ConfigError(f"cannot reach the MLflow tracking store at {uri} ({reason}): start "
                          "it (make mlflow-ui serves the default one), or set tracking.uri="
                          ) from None


def experiment_id(mlflow, name: str, uri: str) -> str:
    """The experiment's id, made on first use; a SQLite store keeps its artifacts beside its
    database (MLflow's default would be ./mlruns of whichever folder a job ran in)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    database = sqlite_url.file_of(uri)
    if database is not None:
        location = (database.parent / ARTIFACTS).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def log_public_score(record: dict, score: float) -> None:
    """Kaggle's public score on the MLflow run that made the submission."""
    mlflow = client(record["uri"])
    mlflow.log_metric(record["run_id"], "public_score", float(score))
