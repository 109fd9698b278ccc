"""Browse the tracked runs (tracking=mlflow) in MLflow's own UI.

    python -m src.mlflow_ui                          # make mlflow-ui: sqlite:///mlflow.db
    python -m src.mlflow_ui port=5001 uri=sqlite:///elsewhere/mlflow.db

Serves until Ctrl-C, at http://127.0.0.1:5000 by default.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from src.config import command_config
from src.tracking import mlflow_store
from src.utils import ports, sqlite_url
from src.utils.errors import ConfigError, exit_on_error


@exit_on_error
def main(argv: list[str]) -> None:
    settings = command_config.load(argv, name="mlflow_ui")
    uri = mlflow_store.resolve_uri(settings.uri, Path.cwd())
    database = sqlite_url.file_of(uri)
    if database is not None and not database.is_file():  # before MLflow, which would make it
        raise ConfigError(f"no MLflow database at {database}: train with "
                          "tracking=mlflow first (python -m src.run tracking=mlflow), or name "
                          "it with uri=")
    mlflow_store.client(uri)  # one line when MLflow is not installed
    ports.check_free(settings.host, settings.port)
    print(f"MLflow UI on {uri} at http://{settings.host}:{settings.port}; Ctrl-C stops",
          flush=True)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
               "--host", str(settings.host), "--port", str(settings.port), "--workers", "1"]
    os.execv(sys.executable, command)  # the server is this process: Ctrl-C reaches it


if __name__ == "__main__":
    main(sys.argv[1:])
