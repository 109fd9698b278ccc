"""Every model through the real command line on tiny data: a run dir, a valid submission,
and a last line that names both."""

import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from src.data import dataset
from src.runs.run_dir import RunDir
from src.submissions import submission_csv
from tests.helpers import KERAS, ROOT, one_line_error, run_module, train

FAST = {
    "logreg": [],
    "svm": ["model.estimator.n_iter=2", "model.estimator.cv=2", "model.estimator.search_rows=100"],
    "nn": ["trainer.epochs=1"],
    "lenet": ["trainer.epochs=1"],
    "cnn": ["trainer.epochs=1"],
}


@pytest.mark.parametrize("model", sorted(FAST))
def test_model_runs_end_to_end(model, tiny_data, tmp_path):
    started = time.perf_counter()
    result = train(tiny_data, tmp_path, f"model={model}", *FAST[model])
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]

    run_dir = tmp_path / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == model
    # the score is the saved holdout predictions' against the split's own rows
    proba, labels = RunDir(run_dir).holdout()
    train_set = dataset.load_train(tiny_data, cache=False)
    _, held = dataset.holdout_split(train_set, 0.1, 42)
    np.testing.assert_array_equal(labels, held.labels)
    assert metrics["holdout_accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == labels))
    if model == "logreg":  # the tiny digits are learnable: a model that learns gets them
        assert metrics["holdout_accuracy"] > 0.9
    assert metrics["rows"] == {"fit": 270, "holdout": 30, "test": 120}
    assert metrics["split"] == {"mode": "holdout", "holdout": 0.1, "seed": 42}
    [one] = metrics["models"]
    assert (one["fit_rows"], one["holdout_rows"]) == (270, 30)
    assert one["holdout_accuracy"] == metrics["holdout_accuracy"]
    # within the command's own wall time and its process's peak memory (MB, not KiB or bytes)
    assert 0 < metrics["fit_seconds"] < wall
    child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert 50 < metrics["peak_memory_mb"] <= child_peak_mb + 0.05  # recorded to 0.1 MB
    # every timing says how busy the machine was, and where it was taken
    assert metrics["fit_load"]["busy"] in (True, False) and metrics["fit_load"]["other_cores"] >= 0
    assert one["fit_load"] == metrics["fit_load"] and metrics["machine"]["cores"] >= 1
    assert one["epochs"] == (1 if model in KERAS else None)
    assert metrics["data"] == {"train": train_set.fingerprint(),
                               "test": dataset.load_test(tiny_data, cache=False).fingerprint()}
    assert set(metrics["git"]) == {"commit", "dirty"}
    assert f"model={model}" in metrics["overrides"]

    resolved = yaml.safe_load((run_dir / "config_resolved.yaml").read_text())
    assert resolved["model"]["name"] == model and "${" not in str(resolved)
    assert (run_dir / "run.log").stat().st_size > 0
    assert list(run_dir.glob("model.*")), "the fitted model is saved"
    proba = np.load(run_dir / "test_proba.npy")
    assert proba.shape == (120, 10)

    sub = Path(metrics["submission"])
    assert sub.parent == tmp_path / "submissions"
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}_{model}_holdout\d\.\d{{5}}\.csv", sub.name)
    frame = submission_csv.read(sub, 120)
    np.testing.assert_array_equal(frame["Label"].to_numpy(), proba.argmax(axis=1))

    last = result.stdout.strip().splitlines()[-1]
    assert str(sub) in last and f"{metrics['holdout_accuracy']:.5f}" in last


def test_full_data_run_says_so(tiny_data, tmp_path):
    result = train(tiny_data, tmp_path, "model=logreg", "data.holdout=0", in_process=True)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["holdout_accuracy"] is None and metrics["rows"]["fit"] == 300
    assert metrics["split"] == {"mode": "all rows", "seed": 42}
    assert metrics["models"][0]["holdout_accuracy"] is None
    assert metrics["train_accuracy"] > 0.9  # logistic regression on learnable digits
    assert Path(metrics["submission"]).name.endswith("_logreg_full.csv")
    assert "training accuracy" in result.stdout and "no holdout" in result.stdout.lower()


def test_score_against_the_answer_key(tiny_data, tmp_path):
    train(tiny_data, tmp_path, "model=logreg", in_process=True)
    sub = submission_csv.newest(tmp_path / "submissions")
    result = run_module("src.score", str(sub), f"data.dir={tiny_data}")
    assert result.returncode == 0, result.stderr
    key = np.loadtxt(tiny_data.parent / "answer_key" / "key.csv",
                     delimiter=",", skiprows=1, dtype=int)[:, 1]
    expected = np.mean(submission_csv.read(sub, 120)["Label"].to_numpy() == key)
    assert f"accuracy {expected:.5f}" in result.stdout


def test_score_without_a_local_key_says_so(tiny_data, tmp_path):
    data_dir = tmp_path / "kaggle-data"
    data_dir.mkdir()
    (data_dir / "manifest.json").write_text(json.dumps({"source": "kaggle", "files": {}}))
    sub = submission_csv.write(submission_csv.build(np.zeros(120, int)), tmp_path, "s", 120)
    message = one_line_error(run_module("src.score", str(sub), f"data.dir={data_dir}"))
    assert "no local answer key" in message and "Kaggle" in message


def test_score_refuses_a_key_from_another_build(tiny_data, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_data.parent, root)
    key = root / "answer_key" / "key.csv"
    key.write_text(key.read_text().replace("\n1,", "\n1,9", 1))
    sub = submission_csv.write(submission_csv.build(np.zeros(120, int)), tmp_path, "s", 120)
    message = one_line_error(run_module("src.score", str(sub), f"data.dir={root / tiny_data.name}"))
    assert "does not belong" in message and "make data FORCE=1" in message


def test_score_refuses_a_malformed_submission(tiny_data, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageId,Label\n1,3\n")
    message = one_line_error(run_module("src.score", str(bad), f"data.dir={tiny_data}"))
    assert "1 rows, expected 120" in message


def test_training_never_opens_the_answer_key(tiny_data, tmp_path):
    """An audit hook fails the run if anything opens the key while training and predicting."""
    key = str((tiny_data.parent / "answer_key" / "key.csv").resolve())
    watcher = (
        "import os, runpy, sys\n"
        "def hook(event, args):\n"
        "    if event == 'open' and isinstance(args[0], (str, os.PathLike))"
        f" and os.path.realpath(args[0]) == {key!r}:\n"
        "        sys.stderr.write('ANSWER KEY OPENED\\n'); os._exit(99)\n"
        "sys.addaudithook(hook)\n"
        "sys.argv = ['src.run'] + sys.argv[1:]\n"
        "runpy.run_module('src.run', run_name='__main__')\n"
    )
    args = [f"data.dir={tiny_data}", f"submission.dir={tmp_path / 's'}",
            f"hydra.run.dir={tmp_path / 'run'}", "model=logreg",
            "figures=true"]  # the figures read the holdout, never the key
    watched = subprocess.run([sys.executable, "-c", watcher, *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert watched.returncode == 0, watched.stderr[-2000:]
    assert "ANSWER KEY OPENED" not in watched.stderr
    # and the hook does fire when the key is opened: scoring reads it.
    scored = subprocess.run(
        [sys.executable, "-c", watcher.replace("src.run", "src.score"),
         str(submission_csv.newest(tmp_path / "s")), f"data.dir={tiny_data}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert scored.returncode == 99 and "ANSWER KEY OPENED" in scored.stderr
