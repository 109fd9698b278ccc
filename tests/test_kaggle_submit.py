"""make submit WAIT=1, make leaderboard, and one submit at a time with no blind resend after a
crash: the real `kaggle` client against the stand-in in tests/kaggle_stub.py (the `world` of
tests/test_kaggle.py)."""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from src.kaggle import ledger, score_wait
from src.runs import run_dir
from src.utils import file_lock
from tests import test_kaggle
from tests.helpers import ROOT, one_line_error, sigint_default

pytestmark = pytest.mark.integration  # the stand-in Kaggle server

world = test_kaggle.world  # the fixture, under its own name here
FAILURES, arrange = test_kaggle.FAILURES, test_kaggle.arrange
POLL = "kaggle.poll_interval=5"  # the client's minimum (on the fake clock below: no wait)
SLOW = "kaggle.timeout=60"  # a held call outlasts the tests' usual 5 s timeout


class FakeTime:
    """score_wait's clock, for make submit run in this process: a sleep passes at once."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(score_wait, "time", fake)
    return fake


def a_run_behind(world, sub, holdout):
    """A finished run dir that says it wrote `sub`, as src.run's metrics would."""
    run = world.root / "runs" / f"run-{sub.stem}"
    run.mkdir(parents=True)
    (run / run_dir.METRICS).write_text(json.dumps({
        "submission": str(sub), "holdout_accuracy": holdout, "model": "logreg",
        "overrides": ["model=logreg"], "git": {"commit": "0123456789abcdef"}}))


def start_submit(world, *options, overrides=()):
    """`make submit` in the background; `overrides` come after the world's, so they win."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HYDRA_FULL_ERROR": "0", **world.env()}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.submit", *options, *world.overrides(), *overrides],
        cwd=ROOT, env=env, preexec_fn=sigint_default,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(proc, words: str, timeout: float = 120) -> None:
    """Read the process's stdout up to a line with `words`. A thread reads the lines:
    select() on the pipe cannot see a line already in the text reader's buffer (two lines
    that arrive in one read), which once made this wait out its whole timeout."""
    outcome = {}
    done = threading.Event()

    def reader():
        for line in proc.stdout:
            if words in line:
                outcome["found"] = True
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), f"no {words!r} from the submit within {timeout} s"
    assert outcome.get("found"), f"the submit ended before saying {words!r}"


def killed_while(world, method, sub):
    """A submit of `sub` killed with SIGKILL while Kaggle holds its `method` call."""
    gate = world.stub.hold(method)
    proc = start_submit(world, "--file", str(sub), overrides=[SLOW])
    try:
        assert gate.reached.wait(60), proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        gate.release()
    assert proc.returncode == -signal.SIGKILL


# --- knowing what is sent ------------------------------------------------------------------

def test_submit_names_the_file_refuses_one_at_chance_and_points_at_a_better_one(world):
    chance, good, best = (world.a_submission(np.full(120, k)) for k in (1, 2, 3))
    for sub, holdout in ((chance, 0.1), (good, 0.9), (best, 0.95)):
        a_run_behind(world, sub, holdout)
    message = one_line_error(world.submit("--file", str(chance)))
    assert "holdout 0.10000" in message and "kaggle.refuse_below_holdout=0.2" in message
    assert "FORCE=1" in message and world.stub.calls == [] and world.ledger_rows() == []
    result = world.submit("--file", str(good))
    assert result.returncode == 0, result.stderr
    assert f"{good}: logreg, holdout 0.90000" in result.stdout
    assert f"note: {best} scored a better holdout (0.95000) and was never sent" in result.stdout
    assert world.submit("--file", str(best)).returncode == 0
    again = world.submit("--file", str(chance), "--force")  # sent, as asked
    assert again.returncode == 0 and "note:" not in again.stdout  # both better ones were sent
    assert len(world.stub.submissions) == 3


# --- make submit WAIT=1 ---------------------------------------------------------------------

def test_wait_records_the_score_and_prints_it_beside_the_holdout(world, fake_time):
    sub = world.a_submission(np.arange(120) % 10)
    a_run_behind(world, sub, 0.5)
    world.stub.fail("GetSubmission", 404)  # not readable yet, just after the submit
    world.stub.pending_polls = 1
    result = world.submit("--file", str(sub), "--wait", POLL)
    assert result.returncode == 0, result.stderr
    expected = world.stub.score(sub.read_bytes())[1]
    gap = f"{float(expected) - 0.5:+.5f}"
    assert f"public score {expected}, holdout 0.50000, gap {gap}" in result.stdout
    [row] = world.ledger_rows()
    assert (row["kaggle_ref"], row["status"], row["public_score"]) == (
        str(world.stub.first_ref), "complete", expected)
    assert world.stub.calls.count("POST GetSubmission") == 3  # 404, PENDING, COMPLETE
    assert fake_time.sleeps == [5, 5]  # kaggle.poll_interval between the polls


def test_a_scoring_error_is_a_ledger_status_with_kaggles_reason(world, fake_time):
    world.stub.scoring_error = "Submission contains 3 rows with a missing Label"
    message = one_line_error(world.submit("--file", str(world.a_submission()), "--wait",
                                          POLL))
    assert f"could not score sub.csv (ref {world.stub.first_ref})" in message
    assert "3 rows with a missing Label" in message
    [row] = world.ledger_rows()
    assert row["kaggle_ref"] == str(world.stub.first_ref)
    assert row["status"] == "error: Submission contains 3 rows with a missing Label"
    assert world.scores().returncode == 0  # Kaggle's list tells the same, reason and all
    assert world.ledger_rows()[0]["status"] == row["status"]


def test_wait_stops_at_its_bound_and_the_submission_stands(world, fake_time):
    world.stub.pending_polls = 100
    sub = world.a_submission()
    message = one_line_error(world.submit("--file", str(sub), "--wait", POLL,
                                          "kaggle.wait_timeout=1"))
    assert "within 1 s (kaggle.wait_timeout)" in message and "make scores" in message
    [row] = world.ledger_rows()
    assert (row["kaggle_ref"], row["status"]) == (str(world.stub.first_ref), "submitted")
    assert world.stub.calls.count("POST GetSubmission") == 1  # no poll past the bound
    assert fake_time.sleeps == []  # nor a wait for one
    assert "already submitted" in one_line_error(world.submit("--file", str(sub)))


def test_ctrl_c_stops_the_waiting_not_the_submission(world):
    world.stub.pending_polls = 100
    proc = start_submit(world, "--file", str(world.a_submission()), "--wait",
                        overrides=[POLL])
    try:
        read_until(proc, "Ctrl-C stops the waiting")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    [line] = [x for x in stderr.splitlines() if x.strip()]
    assert line.startswith("stopped waiting")
    assert f"stays submitted (ref {world.stub.first_ref})" in line
    [row] = world.ledger_rows()
    assert (row["kaggle_ref"], row["status"]) == (str(world.stub.first_ref), "submitted")
    assert len(world.stub.submissions) == 1


def test_a_failing_poll_is_one_line_and_the_submission_stands(world, fake_time):
    world.stub.fail("GetSubmission", 500, times=10)
    message = one_line_error(world.submit("--file", str(world.a_submission()), "--wait",
                                          POLL, "kaggle.retries=1"))
    assert "server error 500" in message
    assert f"stays submitted (ref {world.stub.first_ref})" in message
    [row] = world.ledger_rows()
    assert (row["kaggle_ref"], row["status"]) == (str(world.stub.first_ref), "submitted")


def test_polling_faster_than_the_client_allows_is_refused_before_sending(world):
    message = one_line_error(world.submit("--file", str(world.a_submission()), "--wait",
                                          "kaggle.poll_interval=1"))
    assert "kaggle.poll_interval=1" in message and "minimum of 5 s" in message
    assert "POST StartSubmissionUpload" not in world.stub.calls
    assert world.ledger_rows() == []


# --- make leaderboard -----------------------------------------------------------------------

def test_leaderboard_shows_the_top_your_rank_and_the_best_holdout(world):
    for name, score in (("ada", 0.999), ("bob", 0.99), ("cy", 0.98), ("di", 0.97),
                        ("eve", 0.01)):
        world.stub.add_team(name, score)
    measured = world.a_submission(np.arange(120) % 10)
    a_run_behind(world, measured, 0.5)
    other = world.a_submission(np.ones(120, int))
    for sub in (measured, other):
        assert world.submit("--file", str(sub)).returncode == 0
    assert world.scores().returncode == 0
    public, best = (world.stub.score(s.read_bytes())[1] for s in (measured, other))
    first = world.stub.first_ref
    best_ref, best = max(((first, public), (first + 1, best)), key=lambda x: float(x[1]))

    # pages of two: the team is found on the third page, and no page is read after it
    result = world.leaderboard("kaggle.leaderboard.top=2", "kaggle.leaderboard.page_size=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "public leaderboard of digit-recognizer, top 2:"
    assert lines[2].split()[:3] == ["1", "ada", "0.99900"]
    assert lines[3].split()[:3] == ["2", "bob", "0.99000"] and len(lines) == 7
    assert f"your team (tester): rank 5, leaderboard score {best}" in lines
    assert f"best public score: {best} (ref {best_ref}, " in result.stdout
    assert f"ledger's best holdout: 0.50000 (sub.csv, logreg; public {public})" in lines
    assert world.stub.calls.count("POST GetLeaderboard") == 3

    result = world.leaderboard("kaggle.leaderboard.page_size=2",
                               "kaggle.leaderboard.max_pages=2")
    assert "your team: below the first 4 entries read" in result.stdout


def test_leaderboard_before_any_scored_submission(world):
    world.stub.add_team("ada", 0.999)
    result = world.leaderboard()
    assert result.returncode == 0, result.stderr
    assert "1     ada" in result.stdout and "(you)" not in result.stdout
    assert "not on the leaderboard (no scored submission yet)" in result.stdout
    assert "best public score: none yet" in result.stdout
    assert "ledger's best holdout: none" in result.stdout


@pytest.mark.parametrize("failure", sorted(set(FAILURES) - {"403 rules"}))  # a public board
def test_leaderboard_failures_are_one_line(world, failure):
    env, args = arrange(world, failure, "GetLeaderboard")
    world.subprocess = failure == "500 server"  # once: make leaderboard's real exit and line
    message = one_line_error(world.leaderboard(*args, "kaggle.retries=1", **env))
    for word in FAILURES[failure][2]:
        assert word in message, message


# --- one submit at a time, no blind resend ---------------------------------------------------

def test_two_concurrent_submits_of_the_same_file_send_it_once(world):
    sub = world.a_submission()
    gate = world.stub.hold("GetSubmissionLimits")  # the first is past its duplicate check
    first = start_submit(world, "--file", str(sub), overrides=[SLOW])
    try:
        assert gate.reached.wait(60), first.communicate(timeout=60)
        message = one_line_error(world.submit("--file", str(sub)))
    finally:
        gate.release()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "already running" in message and "make submit" in message and "pid" in message
    assert len(world.stub.submissions) == 1
    [row] = world.ledger_rows()
    assert row["kaggle_ref"] == str(world.stub.first_ref)


def test_a_held_ledger_is_one_line_for_submit_and_scores(world):
    with file_lock.exclusive(ledger.lock_path(world.ledger), "a test"):
        message = one_line_error(world.submit("--file", str(world.a_submission())))
        assert "already running" in message and str(world.ledger) in message
        assert world.stub.calls == []
        assert "already running" in one_line_error(world.scores("kaggle.lock_wait=0"))


def test_a_submit_killed_after_sending_blocks_a_resend_until_scores_finds_it(world):
    sub = world.a_submission()
    killed_while(world, "CreateSubmission", sub)  # Kaggle has the file; the ledger has no ref
    [row] = world.ledger_rows()
    assert (row["status"], row["kaggle_ref"]) == ("sending", "")
    message = one_line_error(world.submit("--file", str(sub)))
    assert "already submitted" in message and "make scores" in message
    assert len(world.stub.submissions) == 1

    result = world.scores()
    assert result.returncode == 0, result.stderr
    assert f"Kaggle has it, as ref {world.stub.first_ref}" in result.stdout
    [row] = world.ledger_rows()
    assert (row["status"], row["kaggle_ref"]) == ("complete", str(world.stub.first_ref))
    assert f"Kaggle ref {world.stub.first_ref}" in one_line_error(world.submit("--file", str(sub)))
    assert len(world.stub.submissions) == 1


def test_a_sending_row_kaggle_never_received_becomes_not_sent(world):
    sub = world.a_submission()
    killed_while(world, "StartSubmissionUpload", sub)  # before any byte of the file went out
    assert [r["status"] for r in world.ledger_rows()] == ["sending"]
    assert "already submitted" in one_line_error(world.submit("--file", str(sub)))

    assert world.scores().returncode == 0  # too soon to tell: Kaggle may still be recording
    assert [r["status"] for r in world.ledger_rows()] == ["sending"]
    result = world.scores("kaggle.settle_after=0")
    assert result.returncode == 0, result.stderr
    assert "Kaggle never received it" in result.stdout
    assert [r["status"] for r in world.ledger_rows()] == ["not sent"]
    result = world.submit("--file", str(sub))
    assert result.returncode == 0, result.stderr
    assert len(world.stub.submissions) == 1
    assert [(r["status"], r["kaggle_ref"]) for r in world.ledger_rows()] == [
        ("not sent", ""), ("submitted", str(world.stub.first_ref))]
