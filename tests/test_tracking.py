"""tracking=mlflow against a real MLflow: its SQLite store read back through MlflowClient, its
server killed in the middle of a run, and its UI in a real headless Chromium. Needs the
`tracking` extra (make setup EXTRAS=tracking, as .ci/run does); the refusals run without it."""

import importlib.util
import json
import subprocess
import sys
import time

import pytest

from src.public_scores import track_public_scores
from tests.helpers import (
    CHROMIUM,
    NO_CHROMIUM,
    call_main,
    free_port,
    one_line_error,
    run_module,
    train,
    wait_for_http,
)

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_mlflow = pytest.mark.skipif(not HAS_MLFLOW, reason="MLflow is not installed: "
                                  "make setup EXTRAS=tracking (as .ci/run does)")


def client(db):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{db}")


@pytest.fixture(scope="module")
def tracked(tiny_data, tmp_path_factory):
    """A Keras run tracked in a fresh SQLite store."""
    if not HAS_MLFLOW:
        pytest.skip("MLflow is not installed")
    out = tmp_path_factory.mktemp("tracked")
    result = train(tiny_data, out, "model=nn", "trainer.epochs=3", "tracking=mlflow",
                   f"tracking.uri=sqlite:///{out / 'mlflow.db'}", in_process=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@needs_mlflow
def test_a_run_is_an_mlflow_run_with_its_config_epochs_metrics_and_files(tracked):
    run_dir = tracked / "run"
    record = json.loads((run_dir / "tracking.json").read_text())
    mlflow = client(tracked / "mlflow.db")
    run = mlflow.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["model.name"] == "nn" and run.data.params["trainer.epochs"] == "3"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.data.metrics["holdout_accuracy"] == pytest.approx(metrics["holdout_accuracy"])
    assert run.data.tags["git_commit"] == metrics["git"]["commit"]
    epochs = mlflow.get_metric_history(record["run_id"], "val_accuracy")
    assert [m.step for m in epochs] == [1, 2, 3]
    artifacts = {a.path for a in mlflow.list_artifacts(record["run_id"])}
    assert {"metrics.json", "curves.png", "confusion.png"} <= artifacts
    assert any(name.endswith(".csv") for name in artifacts)  # the submission


@needs_mlflow
def test_make_scores_puts_the_public_score_on_the_run_that_made_the_submission(tracked):
    record = json.loads((tracked / "run" / "tracking.json").read_text())
    track_public_scores([{"run_dir": str(tracked / "run"), "public_score": "0.98765"},
                         {"run_dir": "", "public_score": "0.5"}])
    run = client(tracked / "mlflow.db").get_run(record["run_id"])
    assert run.data.metrics["public_score"] == pytest.approx(0.98765)


@needs_mlflow
def test_a_sweep_is_a_parent_run_with_its_jobs_as_children(tiny_data, tmp_path):
    db = tmp_path / "mlflow.db"
    result = call_main("src.run", "-m", "model=logreg", "seed=1,2", f"data.dir={tiny_data}",
                       f"hydra.sweep.dir={tmp_path / 's'}", f"submission.dir={tmp_path / 'x'}",
                       "tracking=mlflow", f"tracking.uri=sqlite:///{db}")
    assert result.returncode == 0, result.stderr[-3000:]
    parent = json.loads((tmp_path / "s" / "tracking.json").read_text())["run_id"]
    mlflow = client(db)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("digit-recognizer").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert sorted(r.info.run_name for r in children) == ["0_logreg", "1_logreg"]
    assert all(r.info.status == "FINISHED" for r in runs) and len(runs) == 3


def test_tracking_that_cannot_work_is_one_line_before_any_training(tiny_data, tmp_path):
    port = free_port()  # nothing listens there
    cases = [(f"tracking.uri=http://127.0.0.1:{port}", "cannot reach the MLflow tracking"),
             (f"tracking.uri=sqlite:///{tmp_path / 'no' / 'such' / 'mlflow.db'}",
              "does not exist"),
             ("tracking.backend=wandb", "tracking.backend=wandb")]
    if not HAS_MLFLOW:
        cases = cases[2:]
    for override, words in cases:
        result = train(tiny_data, tmp_path, "model=logreg", "tracking=mlflow", override,
                       in_process=True)
        line = one_line_error(result)
        assert words in line, line
        assert not (tmp_path / "run" / "metrics.json").exists()
        assert not (tmp_path / "submissions").exists()


def test_mlflow_asked_for_but_not_installed_is_one_line(tiny_data, tmp_path):
    hide = tmp_path / "hide"  # a path entry whose finder says MLflow is not there
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mlflow' or name.startswith('mlflow.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n")
    for sweep in ([], ["-m", "seed=1,2"]):
        result = run_module("src.run", *sweep, "model=logreg", "tracking=mlflow",
                            f"data.dir={tiny_data}", f"hydra.run.dir={tmp_path / 'run'}",
                            f"hydra.sweep.dir={tmp_path / 's'}",
                            f"submission.dir={tmp_path / 'subs'}", env={"PYTHONPATH": str(hide)})
        line = one_line_error(result)
        assert "needs MLflow" in line and "EXTRAS=tracking" in line
        assert not (tmp_path / "subs").exists() and not (tmp_path / "s").exists()


@pytest.fixture
def mlflow_server(tmp_path):
    if not HAS_MLFLOW:
        pytest.skip("MLflow is not installed")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{tmp_path / 'server.db'}", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", server, timeout=180)
        yield port, server
    finally:
        if server.poll() is None:
            import os
            import signal

            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.heavy
@pytest.mark.integration
@needs_mlflow
def test_a_tracking_server_that_dies_mid_run_never_loses_the_run(tiny_data, tmp_path,
                                                                 mlflow_server):
    import os
    import signal

    port, server = mlflow_server
    out = tmp_path / "out"
    command = [sys.executable, "-m", "src.run", f"data.dir={tiny_data}", "model=nn",
               "trainer.epochs=20", "trainer.verbose=0", "figures=false", "tracking=mlflow",
               f"tracking.uri=http://127.0.0.1:{port}", f"hydra.run.dir={out / 'run'}",
               f"submission.dir={out / 'submissions'}"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (out / "run" / "tracking.json").exists():  # tracked: now the server dies
        assert run.poll() is None and time.monotonic() < deadline, run.stdout.read()
        time.sleep(0.05)
    # the run is held while the server dies, so the death falls before the run's end however
    # fast this machine trains (it used to take 400 epochs to be sure of that)
    os.kill(run.pid, signal.SIGSTOP)
    try:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    finally:
        os.kill(run.pid, signal.SIGCONT)
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    assert "MLflow tracking stopped" in output and output.count("MLflow tracking stopped") == 1
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert len(json.loads((out / "run" / "history.json").read_text())["loss"]) == 20
    assert (out / "submissions").is_dir() and metrics["submission"].endswith(".csv")


@pytest.mark.heavy
@pytest.mark.integration
@needs_mlflow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_mlflow_ui_shows_the_experiment_and_the_run(tracked, tmp_path):
    from tests.helpers import chromium

    record = json.loads((tracked / "run" / "tracking.json").read_text())
    experiment = client(tracked / "mlflow.db").get_experiment_by_name("digit-recognizer")
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "src.mlflow_ui", f"port={port}",
                           f"uri=sqlite:///{tracked / 'mlflow.db'}"], cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health", ui, timeout=180)
        page = chromium(tmp_path / "p", "--dump-dom",
                        f"{base}/#/experiments/{experiment.experiment_id}").stdout
        assert 'href="#/experiments/' in page and "digit-recognizer" in page, page[-2000:]
        page = chromium(tmp_path / "p", "--dump-dom", f"{base}/#/experiments/"
                        f"{experiment.experiment_id}/runs/{record['run_id']}").stdout
        holdout = json.loads((tracked / "run" / "metrics.json").read_text())["holdout_accuracy"]
        assert "holdout_accuracy" in page and record["run_id"] in page, page[-2000:]
        assert f"{holdout:.3f}"[:4] in page
    finally:
        import os
        import signal

        os.killpg(ui.pid, signal.SIGKILL)
        ui.wait(timeout=30)


def test_the_mlflow_ui_without_a_database_is_one_line_and_makes_none(tmp_path):
    db = tmp_path / "none" / "mlflow.db"
    line = one_line_error(run_module("src.mlflow_ui", f"uri=sqlite:///{db}", cwd=tmp_path))
    assert "no MLflow database at" in line and "tracking=mlflow" in line
    assert not db.parent.exists()
