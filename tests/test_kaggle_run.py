"""make kaggle-run: the real `kaggle` client pushes each job as a script kernel to the
stand-in (tests/kaggle_kernels_stub.py), which runs the script for real against a read-only
copy of the tiny data; the output comes home as a normal run dir and submission. Each way a
session can go wrong ends in one line with the kernel's URL, and nothing half-fetched."""

import base64
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from src.kaggle import kernel_bootstrap, kernel_package
from src.submissions import submission_csv
from src.utils.errors import ConfigError
from tests.helpers import call_main, make_data_dir, one_line_error, run_module, sigint_default
from tests.kaggle_stub import serving_tiny_data

pytestmark = pytest.mark.integration  # the stand-in Kaggle server

URL = "https://www.kaggle.com/code/tester/"


@pytest.fixture
def kaggle(tmp_path):
    stub = serving_tiny_data(tmp_path)
    yield Session(stub, tmp_path)
    stub.stop()


class Session:
    """A user dir with its own data and home, and `make kaggle-run` typed in it."""

    def __init__(self, stub, root):
        self.stub, self.home, self.cwd = stub, root / "home", root / "user"
        (self.home / ".kaggle").mkdir(parents=True)
        self.data_dir = make_data_dir(self.cwd)
        self.subs = self.cwd / "submissions"
        self.record = self.subs / "kaggle" / "kernels.csv"  # kaggle.kernel.record

    def env(self):
        return {"HOME": str(self.home), "KAGGLE_CONFIG_DIR": str(self.home / ".kaggle"),
                **self.stub.client_env(), "KAGGLE_USERNAME": "tester",
                "KAGGLE_KEY": self.stub.api_key, "KAGGLE_API_TOKEN": None}

    def overrides(self):
        return [f"data.dir={self.data_dir}", "kaggle.test_rows=120", "kaggle.timeout=20",
                "kaggle.backoff=0.1", "kaggle.kernel.poll=0.2", "kaggle.kernel.wait=240"]

    def kaggle_run(self, *args, in_process=True):
        """The command in this process (the stand-in answers from its threads); one test runs
        it as a real process."""
        run = call_main if in_process else run_module
        return run("src.kaggle_run", *self.overrides(), *args, cwd=self.cwd, env=self.env())

    def runs(self):
        return sorted(p.parent for p in (self.cwd / "outputs").glob("**/metrics.json"))

    def left_behind(self):
        """What a failed kaggle-run may not leave: runs, submissions, staged downloads (the
        record of a push stays: the kernel is on Kaggle)."""
        return [p for top in ("outputs", "multirun", "submissions", ".kaggle-staging")
                for p in (self.cwd / top).rglob("*") if p not in (self.record, self.record.parent)]

    def input_files(self):
        mounted = self.stub.kernels.input_root
        return {p.relative_to(mounted): p.read_bytes() for p in mounted.rglob("*")
                if p.is_file()}


@pytest.mark.heavy
def test_a_kernel_trains_on_kaggle_and_comes_home_as_a_local_run(kaggle):
    result = kaggle.kaggle_run("model=nn", "trainer.epochs=1", in_process=False)
    assert result.returncode == 0, result.stderr
    [push] = kaggle.stub.kernels.pushes
    assert push["slug"].startswith("tester/digit-harness-")
    assert (push["kernelType"], push["language"]) == ("script", "python")
    assert push["enableGpu"] and push["enableInternet"] and push["isPrivate"]
    assert push["competitionDataSources"] == ["digit-recognizer"]
    assert URL + push["slug"].split("/")[1] in result.stdout
    assert "GPU quota before:" in result.stdout

    [run] = kaggle.runs()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["overrides"] == ["model=nn", "trainer.epochs=1"]  # this machine's left out
    assert metrics["kaggle"]["kernel"].startswith(push["slug"])
    assert metrics["kaggle"]["session"]["data_dir"].startswith(
        str(kaggle.stub.kernels.input_root))  # it trained on the session's input
    assert (run / "model.keras").is_file() and (run / "curves.png").is_file()
    submission = kaggle.cwd / metrics["submission"]
    assert submission.parent == kaggle.subs
    labels = submission_csv.read(submission, 120)["Label"].to_numpy()
    assert (labels == np.load(run / "test_proba.npy").argmax(axis=1)).all()
    assert not (kaggle.cwd / ".kaggle-staging").exists()

    # the session wrote nothing beside the read-only input (no cache there)
    assert sorted(map(str, kaggle.input_files())) == [
        "digit-recognizer/sample_submission.csv", "digit-recognizer/test.csv",
        "digit-recognizer/train.csv"]
    for name, data in kaggle.input_files().items():
        assert data == (kaggle.stub.data_dir / name.name).read_bytes()

    # a local command takes it as a local run: predict reads this machine's data dir
    again = run_module("src.predict", f"run={run}", f"submission.dir={kaggle.subs}",
                       cwd=kaggle.cwd)
    assert again.returncode == 0, again.stderr
    assert "agrees with the run's own predictions on 100.00% of rows" in again.stdout
    # and make submit finds the run behind the file
    sent = run_module("scripts.submit", "--file", str(submission), f"submission.dir={kaggle.subs}",
                      "kaggle.test_rows=120", f"kaggle.run_dirs=[{kaggle.cwd / 'outputs'}]",
                      cwd=kaggle.cwd, env=kaggle.env())
    assert sent.returncode == 0, sent.stderr
    assert kaggle.stub.submissions[0]["description"].startswith("nn; holdout ")


@pytest.mark.parametrize("mode, words", [
    ("no-input", ["failed on Kaggle (The kernel exited with status 1)",
                  "log tail:", "no train.csv and test.csv of 'digit-recognizer'"]),
    ("cancel", ["was cancelled on Kaggle"]),
    ("lose-output", ["completed, but its output lacks a finished run"]),
    ("expired-urls", ["could not fetch the output of kernel", "Kaggle answered 403"]),
])
def test_a_kernel_that_goes_wrong_is_one_line_with_its_url(kaggle, mode, words):
    kaggle.stub.kernels.mode = mode
    message = one_line_error(kaggle.kaggle_run("model=logreg"))
    for word in [*words, URL + "digit-harness-"]:
        assert word in message, message
    assert kaggle.left_behind() == []


def test_a_session_past_its_timeout_is_ended_by_kaggle(kaggle):
    kaggle.stub.kernels.delay = 3.0
    message = one_line_error(kaggle.kaggle_run("model=logreg", "kaggle.kernel.session_timeout=1"))
    assert "failed on Kaggle (Your notebook tried to run longer than 1 seconds)" in message
    assert kaggle.stub.kernels.pushes[0]["sessionTimeoutSeconds"] == 1
    assert kaggle.left_behind() == []


def test_waiting_is_bounded(kaggle):
    kaggle.stub.kernels.mode = "queued"
    message = one_line_error(kaggle.kaggle_run("model=logreg", "kaggle.kernel.wait=1"))
    assert "is still QUEUED after" in message and "kaggle.kernel.wait=1" in message
    assert URL + "digit-harness-" in message
    assert "bring it home when it ends: make kaggle-run FETCH=tester/digit-harness-" in message
    assert kaggle.left_behind() == []


def test_a_multirun_is_one_kernel_per_job_within_the_session_cap(kaggle):
    kaggle.stub.kernels.modes = ["run", "no-input", "run"]
    result = kaggle.kaggle_run("-m", "model=logreg", "seed=1,2,3",
                               "kaggle.kernel.max_sessions=2")
    assert result.returncode == 1, result.stderr
    assert len(kaggle.stub.kernels.pushes) == 3
    assert len({p["slug"] for p in kaggle.stub.kernels.pushes}) == 3
    assert kaggle.stub.kernels.most_running <= 2
    [sweep] = (kaggle.cwd / "multirun").glob("*/*_kaggle")
    with open(sweep / "summary.csv") as fh:
        rows = {r["job"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"0_logreg", "1_logreg", "2_logreg"}
    assert rows["0_logreg"]["status"] == rows["2_logreg"]["status"] == "ok"
    assert rows["1_logreg"]["status"] == "failed" and URL in rows["1_logreg"]["error"]
    assert [rows[j]["seed"] for j in sorted(rows)] == ["1", "2", "3"]
    assert "1 of 3 kernels failed" in result.stderr
    assert len(list(kaggle.subs.glob("*.csv"))) == 2


@pytest.mark.parametrize("override, words", [
    ("hydra/launcher=joblib", ["not for kaggle-run"]),
    ("tracking=mlflow", ["MLflow"]),
    ("hparams_search=cnn_optuna", ["not for kaggle-run"]),
    ("model=nope", ["bad override"]),
    ("trainer.epochs=0", ["trainer.epochs"]),
    ("kaggle.kernel.max_sessions=0", ["kaggle.kernel.max_sessions=0", "> 0"]),
    ("kaggle.kernel.poll=-1", ["kaggle.kernel.poll=-1"]),
    ("kaggle.kernel.gpu=maybe", ["true or false"]),
])
def test_bad_overrides_stop_before_anything_is_pushed(kaggle, override, words):
    message = one_line_error(kaggle.kaggle_run(override))
    for word in words:
        assert word in message, message
    assert kaggle.stub.kernels.pushes == []


def test_a_multirun_of_identical_kernels_pushes_nothing(kaggle):
    message = one_line_error(kaggle.kaggle_run("-m", "model=logreg", "data.cache=true,false"))
    assert "jobs 0 and 1 would push the same kernel" in message and "data.cache" in message
    assert kaggle.stub.kernels.pushes == []


def test_a_refused_push_is_not_repeated(kaggle):
    kaggle.stub.fail("SaveKernel", 500)
    message = one_line_error(kaggle.kaggle_run("model=logreg"))
    assert "could not push kernel tester/digit-harness-" in message and "500" in message
    assert kaggle.stub.calls.count("POST SaveKernel") == 1
    assert kaggle.left_behind() == []


def test_a_status_read_that_fails_once_is_retried(kaggle):
    kaggle.stub.fail("GetKernelSessionStatus", 503)
    kaggle.stub.fail("GetAcceleratorQuotaStatistics", 403, times=100)  # and no quota shown
    result = kaggle.kaggle_run("model=logreg")
    assert result.returncode == 0, result.stderr
    assert len(kaggle.runs()) == 1
    # the quota is only information: one warning, not one before and one after
    assert result.stderr.count("warning: could not read the GPU quota") == 1, result.stderr
    assert "rules" not in result.stderr  # a quota call speaks of the account


def test_missing_credentials_are_one_line(kaggle):
    env = {**kaggle.env(), "KAGGLE_USERNAME": None, "KAGGLE_KEY": None}
    result = run_module("src.kaggle_run", "model=logreg", *kaggle.overrides(), cwd=kaggle.cwd,
                        env=env)
    assert "no Kaggle credentials" in one_line_error(result)


# --- the package and what runs inside the session -------------------------------------

def test_the_package_holds_code_and_conf_only():
    script = kernel_package.script(["model=cnn"], "digit-recognizer")
    compile(script, "kernel.py", "exec")  # one self-contained script
    namespace = {}
    exec(script.split("# -- the job (make kaggle-run) --")[1].split("if __name__")[0], namespace)
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode(namespace["PROJECT"]))).namelist()
    assert "pyproject.toml" in names and "src/run.py" in names and "conf/config.yaml" in names
    assert "hydra_plugins/digit_harness/optuna_sweeper.py" in names
    assert not [n for n in names if n.startswith(("data/", "outputs/", "tests/", "multirun/"))
                or "__pycache__" in n]
    assert namespace["RUN_ARGS"] == ["model=cnn"]
    assert "hydra-core" in " ".join(namespace["REQUIREMENTS"])


def test_slugs_follow_the_overrides():
    first = kernel_package.slug_for("digit-harness", ["model=cnn", "seed=1"])
    assert first == kernel_package.slug_for("digit-harness", ["model=cnn", "seed=1"])
    assert first != kernel_package.slug_for("digit-harness", ["model=cnn", "seed=2"])


def test_the_session_installs_only_what_is_missing():
    assert kernel_bootstrap.missing(["numpy>=1.26", "no-such-package-zz>=1", "pandas"]) == [
        "no-such-package-zz>=1"]


def test_the_session_finds_the_competition_where_kaggle_mounts_it(tmp_path):
    nested = tmp_path / "competitions" / "digit-recognizer"
    nested.mkdir(parents=True)
    for name in ("train.csv", "test.csv"):
        (nested / name).write_text("x")
    assert kernel_bootstrap.competition_dir(tmp_path, "digit-recognizer") == nested
    with pytest.raises(SystemExit, match="no train.csv and test.csv of 'other'"):
        kernel_bootstrap.competition_dir(tmp_path, "other")


@pytest.mark.heavy
def test_a_kernel_left_by_ctrl_c_is_listed_and_fetched_later(kaggle):
    kaggle.stub.kernels.delay = 1.0  # the session has not started when the user stops waiting
    env = {**os.environ, **kaggle.env()}
    env = {k: v for k, v in env.items() if v is not None}
    process = subprocess.Popen([sys.executable, "-m", "src.kaggle_run", *kaggle.overrides(),
                                "model=logreg"], cwd=kaggle.cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=sigint_default)
    deadline = time.monotonic() + 120
    while not kaggle.stub.kernels.pushes and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # into the polling
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "stopped waiting" in err and URL + "digit-harness-" in err
    assert "Traceback" not in err
    assert kaggle.left_behind() == []  # nothing fetched, nothing staged
    kernel = re.search(r"make kaggle-run FETCH=([\w/-]+)", err).group(1)
    assert kernel == kaggle.stub.kernels.pushes[0]["slug"]

    listed = kaggle.kaggle_run("--list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(kernel)]
    assert row.split()[1] == "1" and row.endswith("model=logreg")  # version 1, its overrides

    fetched = kaggle.kaggle_run("--fetch", URL + kernel.split("/")[1])  # the URL does too
    assert fetched.returncode == 0, fetched.stderr
    assert len(kaggle.stub.kernels.pushes) == 1  # waited for and fetched, not pushed again
    [run] = kaggle.runs()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["overrides"] == ["model=logreg"]
    assert metrics["kaggle"]["kernel"] == f"{kernel}/1"  # the version pushed, from the record
    assert run.name.endswith("_logreg_kaggle")  # named for the model it fetched
    assert metrics["kaggle"]["session"]["seconds"] is None  # nobody timed it
    assert [p.name for p in kaggle.subs.glob("*.csv")] == [Path(metrics["submission"]).name]
    assert "GPU quota" not in fetched.stdout  # fetching spends none
    again = kaggle.kaggle_run("--list")
    assert str(run.relative_to(kaggle.cwd)) in again.stdout  # where it came home
    twice = one_line_error(kaggle.kaggle_run("--fetch", kernel))  # one run, one submission
    assert "came home already" in twice and str(run.relative_to(kaggle.cwd)) in twice

    # the same job run straight through comes home as the same run and submission
    assert kaggle.kaggle_run("model=logreg").returncode == 0
    direct = next(r for r in kaggle.runs() if r != run)
    files = [sorted(p.relative_to(r).as_posix() for p in r.rglob("*")) for r in (run, direct)]
    assert files[0] == files[1]
    np.testing.assert_array_equal(np.load(run / "test_proba.npy"),
                                  np.load(direct / "test_proba.npy"))
    records = [json.loads((r / "metrics.json").read_text()) for r in (run, direct)]
    assert records[0]["git"] == records[1]["git"]  # the pushed code's, kept by the record
    sent = [record["submission"] for record in records]
    assert (kaggle.cwd / sent[0]).read_bytes() == (kaggle.cwd / sent[1]).read_bytes()


def test_fetch_and_list_say_what_they_cannot_do(kaggle):
    listed = kaggle.kaggle_run("--list")
    assert listed.returncode == 0 and "no kernel pushed from here yet" in listed.stdout
    message = one_line_error(kaggle.kaggle_run("--fetch", "tester/digit-harness-00000000"))
    assert "no such kernel (404)" in message and "LIST=1" in message
    calls = len(kaggle.stub.calls)
    message = one_line_error(kaggle.kaggle_run("--fetch", "someone/a-notebook"))
    assert "not a kernel of this project" in message and "digit-harness-" in message
    assert "model=cnn" in one_line_error(kaggle.kaggle_run("--fetch", "digit-harness-1",
                                                           "model=cnn"))
    assert len(kaggle.stub.calls) == calls  # refused before asking Kaggle
    assert kaggle.left_behind() == []


@pytest.mark.parametrize("name, kernel", [
    ("tester/digit-harness-0a1b2c3d", ("tester", "digit-harness-0a1b2c3d")),
    ("tester/digit-harness-0a1b2c3d/4", ("tester", "digit-harness-0a1b2c3d")),
    ("digit-harness-0a1b2c3d", ("me", "digit-harness-0a1b2c3d")),
    (URL + "digit-harness-0a1b2c3d/", ("tester", "digit-harness-0a1b2c3d")),
])
def test_fetch_names_a_kernel_as_people_copy_it(name, kernel):
    from src.kaggle_run import _kernel_named

    found = _kernel_named(name, "me", "digit-harness")
    assert (found.owner, found.slug) == kernel


@pytest.mark.parametrize("name, words", [
    ("https://www.kaggle.com/competitions/digit-recognizer", "expected <user>/<slug>"),
    ("a/b/c/d", "expected <user>/<slug>"),
    ("tester/my-notebook", "not a kernel of this project"),
])
def test_fetch_refuses_what_is_no_kernel_of_this_project(name, words):
    from src.kaggle_run import _kernel_named

    with pytest.raises(ConfigError, match=words):
        _kernel_named(name, "me", "digit-harness")
