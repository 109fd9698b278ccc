"""tracking=mlflow for a multirun: the sweep is a parent MLflow run, its jobs its children
(each job finds the parent in the sweep dir's tracking record). A resumed search goes on
under the same parent."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from src.runs.run_dir import RunDir
from src.tracking import mlflow_store

log = logging.getLogger(__name__)


class SweepTrackingCallback(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        if not mlflow_store.enabled(config.tracking):
            return
        sweep = RunDir(Path(str(config.hydra.sweep.dir)))
        record = sweep.tracking()
        if record:  # a resumed search: the same parent run, running again
            try:
                mlflow_store.client(record["uri"]).update_run(record["run_id"], status="RUNNING")
            except Exception as err:  # noqa: BLE001 - the jobs are tracked all the same
                log.warning("MLflow: the sweep's parent run was not reopened: %s", err)
            return
        uri = mlflow_store.resolve_uri(config.tracking.uri, config.hydra.runtime.cwd)
        mlflow = mlflow_store.client(uri)
        experiment = mlflow_store.experiment_id(mlflow, config.tracking.experiment, uri)
        parent = mlflow.create_run(experiment, tags={
            "mlflow.runName": f"sweep {sweep.path.name}", "sweep_dir": str(sweep.path.resolve()),
            "overrides": " ".join(config.hydra.overrides.task)})
        sweep.path.mkdir(parents=True, exist_ok=True)
        sweep.write_tracking({"uri": uri, "experiment": config.tracking.experiment,
                              "run_id": parent.info.run_id})

    def on_multirun_end(self, config, **kwargs) -> None:
        if not mlflow_store.enabled(config.tracking):
            return
        record = RunDir(Path(str(config.hydra.sweep.dir))).tracking()
        if record:
            try:
                mlflow_store.client(record["uri"]).set_terminated(record["run_id"], "FINISHED")
            except Exception as err:  # noqa: BLE001 - the jobs' results are in their dirs
                log.warning("MLflow: the sweep's parent run was not closed: %s", err)
