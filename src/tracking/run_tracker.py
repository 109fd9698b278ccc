"""One training run as an MLflow run: its resolved config as params, each epoch's metrics,
the final metrics, figures and submission as artifacts, the git commit as a tag. A sweep job's
run is a child of the sweep's parent run (src/tracking/sweep_tracking.py).

The run dir stays the record: everything is logged after the run's own files are written, and
a tracker that fails mid-run (a server that dies) costs one warning and the rest of the
tracking, never the run or its files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from src.runs.run_dir import RunDir
from src.tracking import mlflow_store
from src.training.provenance import git_state

log = logging.getLogger(__name__)

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"  # MLflow's run statuses
BATCH = 100  # MLflow takes at most this many params in one call
MAX_KEY, MAX_VALUE = 250, 6000  # MLflow's limits on a param's name and value


class RunTracker:
    """No tracking (tracking=none): every call does nothing."""

    def epoch(self, epoch: int, logs: dict) -> None:
        """After each epoch of the run's first model (an epoch listener)."""

    def finish(self, metrics: dict, run: RunDir, submission: Path) -> None:
        """The run ended well: its metrics and files."""

    def end(self, status: str, reason: str) -> None:
        """The run ended without a result: failed, or stopped (a pruned trial)."""


def start(cfg: DictConfig, run: RunDir, cwd: Path | str, sweep_dir: Path | None) -> RunTracker:
    if not mlflow_store.enabled(cfg.tracking):
        return RunTracker()
    return MlflowRunTracker(cfg, run, cwd, sweep_dir)


class MlflowRunTracker(RunTracker):
    def __init__(self, cfg: DictConfig, run: RunDir, cwd, sweep_dir: Path | None) -> None:
        self.run_id = None
        self.lost = None  # the client, once a call failed and tracking stopped
        uri = mlflow_store.resolve_uri(cfg.tracking.uri, cwd)
        self.mlflow = mlflow_store.client(uri)
        self._call(lambda mlflow: self._create(mlflow, cfg, run, uri, sweep_dir))

    def _create(self, mlflow, cfg, run: RunDir, uri: str, sweep_dir: Path | None) -> None:
        experiment = mlflow_store.experiment_id(mlflow, cfg.tracking.experiment, uri)
        tags = {"mlflow.runName": run.name, "mlflow.source.name": "src.run",
                "git_commit": git_state(Path(__file__).parent)["commit"] or "",
                "model": cfg.model.name, "run_dir": str(Path(run.path).resolve())}
        parent = RunDir(sweep_dir).tracking() if sweep_dir is not None else None
        if parent:
            tags["mlflow.parentRunId"] = parent["run_id"]
        self.run_id = mlflow.create_run(experiment, tags=tags).info.run_id
        run.write_tracking({"uri": uri, "experiment": cfg.tracking.experiment,
                            "run_id": self.run_id})
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in flatten(OmegaConf.to_container(cfg, resolve=True))]
        for i in range(0, len(params), BATCH):
            mlflow.log_batch(self.run_id, params=params[i:i + BATCH])
        log.info("tracking: MLflow run %s in experiment %s (%s)", self.run_id,
                 cfg.tracking.experiment, uri)

    def epoch(self, epoch: int, logs: dict) -> None:
        values = {k: v for k, v in logs.items() if isinstance(v, int | float)}
        self._call(lambda mlflow: self._log_metrics(mlflow, values, epoch + 1))

    def finish(self, metrics: dict, run: RunDir, submission: Path) -> None:
        final = {k: v for k, v in metrics.items() if isinstance(v, int | float)
                 and not isinstance(v, bool)}
        final.update({f"cv_{k}": v for k, v in (metrics.get("cv") or {}).items()
                      if isinstance(v, int | float)})
        self._call(lambda mlflow: self._log_metrics(mlflow, final, 0))
        for path in [*run.files(), Path(submission)]:
            self._call(lambda mlflow, path=path: mlflow.log_artifact(self.run_id, str(path)))
        self.end(FINISHED, "")

    def end(self, status: str, reason: str) -> None:
        if self.mlflow is None:
            if self.lost is not None and self.run_id is not None:
                self._last_try(status)
            return
        if reason:
            self._call(lambda mlflow: mlflow.set_tag(self.run_id, "end_reason", reason[:5000]))
        self._call(lambda mlflow: mlflow.set_terminated(self.run_id, status))
        self.mlflow = None

    def _last_try(self, status: str) -> None:
        """Tracking stopped mid-run: one quiet try to close the MLflow run (a store that came
        back, or an error that was not the store's), so that it does not stay RUNNING."""
        try:
            self.lost.set_tag(self.run_id, "end_reason", "tracking stopped during the run; "
                              "the run dir has every result")
            self.lost.set_terminated(self.run_id, FAILED if status == FINISHED else status)
        except Exception as err:  # noqa: BLE001 - the one warning has been given
            log.debug("MLflow run %s left open: %s", self.run_id, err)
        self.lost = None

    def _log_metrics(self, mlflow, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        mlflow.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step)
                                               for k, v in values.items()])

    def _call(self, action: Callable) -> None:
        """action(client): a tracking call that may fail without taking the run with it; after
        one failure the tracker is off (a dead server would cost every later call a wait)."""
        if self.mlflow is None:
            return
        try:
            action(self.mlflow)
        except Exception as err:  # noqa: BLE001 - the tracker must never cost the run
            log.warning("MLflow tracking stopped (%s: %s); the run goes on, its run dir keeps "
                        "every result", type(err).__name__, " ".join(str(err).split())[:200])
            self.lost, self.mlflow = self.mlflow, None


def flatten(tree, prefix: str = "") -> list[tuple[str, str]]:
    """The resolved config as MLflow params: dotted keys, values as text."""
    if isinstance(tree, dict):
        return [item for key, value in tree.items()
                for item in flatten(value, f"{prefix}{key}.")]
    key = prefix[:-1]
    return [(key, str(tree)[:MAX_VALUE])] if len(key) <= MAX_KEY else []
