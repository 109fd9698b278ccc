"""The one place that talks to Kaggle, through the official client's `KaggleApi`.

The client authenticates as a side effect of being imported (and `import kaggle` exits the
process when it finds no credentials), may make a network call while doing so, and sets no
timeout on any request. So this module looks for credentials itself first, imports and
authenticates the client under a timeout, and wraps every call: a timeout, bounded retries
with back-off for calls that are safe to repeat (downloads, reads; never a submission), and
one-line errors that say what to do. No message that leaves this module contains a key or token.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from src.utils.errors import HarnessError

SETTINGS_URL = "https://www.kaggle.com/settings"
UPLOAD_FAILED = "Could not submit to competition"  # KaggleApi's message for a failed upload


class KaggleError(HarnessError):
    """Kaggle refused, failed or could not be reached. `transient`: the same call might work
    later (server error, rate limit, network, timeout). `reached`: the request may have
    been acted on (a server error, a timeout, a connection lost mid-request), as against
    refused by Kaggle's answer or never sent (no connection made)."""

    def __init__(self, message: str, transient: bool = False, reached: bool = True):
        super().__init__(message)
        self.transient, self.reached = transient, reached


def config_dir() -> Path:
    """The client's config dir: KAGGLE_CONFIG_DIR, else ~/.kaggle, else (Linux, when
    ~/.kaggle does not exist) $XDG_CONFIG_HOME/kaggle."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"])
    home = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not home.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return home


def _token_files() -> list[Path]:
    # The client reads these from HOME even when KAGGLE_CONFIG_DIR is set.
    return [Path.home() / ".kaggle" / name for name in ("access_token", "access_token.txt")]


def credentials_source() -> str | None:
    """Where the client will find credentials, in its own order; None if nowhere."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    for path in _token_files():
        if path.is_file():
            return str(path)
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for path in (config_dir() / "kaggle.json", Path.home() / ".kaggle" / "credentials.json"):
        if path.is_file():
            return str(path)
    return None


def missing_credentials() -> KaggleError:
    return KaggleError(
        f"no Kaggle credentials: create an API token at {SETTINGS_URL} (API section) and save "
        f"the kaggle.json it gives you as {config_dir() / 'kaggle.json'} (chmod 600), or set "
        "KAGGLE_USERNAME and KAGGLE_KEY"
    )


def _warn_if_readable_by_others() -> None:
    kaggle_json = config_dir() / "kaggle.json"
    if kaggle_json.is_file() and kaggle_json.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: {kaggle_json} is readable by other users: run "
              f"`chmod 600 {kaggle_json}`", file=sys.stderr)


def _secrets() -> list[str]:
    found = [os.environ.get("KAGGLE_KEY"), os.environ.get("KAGGLE_API_TOKEN")]
    token_paths = [*_token_files()]
    if found[1] and Path(found[1]).is_file():  # KAGGLE_API_TOKEN may name a file
        token_paths.append(Path(found[1]))
    for path in token_paths:
        with contextlib.suppress(OSError):
            found.append(path.read_text().strip())
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found.append(json.loads((config_dir() / "kaggle.json").read_text()).get("key"))
    return [s for s in found if s and len(s) >= 4]


def scrub(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def connect(settings: dict) -> Client:
    source = credentials_source()
    if source is None:
        raise missing_credentials()
    _warn_if_readable_by_others()
    # The client's verbose mode prints request headers, credentials included.
    for name in ("VERBOSE", "VERBOSE_OUTPUT"):
        os.environ.pop(name, None)

    def authenticate():
        from kaggle.api.kaggle_api_extended import KaggleApi

        api = KaggleApi()
        api.authenticate()
        return api

    try:
        api = _attempts("sign in", "sign in to Kaggle", authenticate, settings, source,
                        retry=True)
    except SystemExit:  # the client's way of saying no credentials worked
        raise KaggleError(f"Kaggle did not accept the credentials from {source}: check them, "
                          f"or create a new token at {SETTINGS_URL}") from None
    return Client(api, settings, source)


class Client:
    def __init__(self, api, settings: dict, source: str):
        self.api = api
        self.settings = settings
        self.source = source
        self.competition = settings["competition"]

    def download(self, dest: Path) -> Path:
        """The competition's data archive, downloaded into a fresh folder under `dest` on
        each attempt, so an abandoned attempt never writes into the one that succeeds."""
        def attempt():
            folder = Path(tempfile.mkdtemp(dir=dest, prefix="download-"))
            self.api.competition_download_files(self.competition, path=str(folder),
                                                force=True, quiet=True)
            return folder / f"{self.competition}.zip"

        return self.call("download", "download the data", attempt, retry=True)

    def allowed_now(self) -> int | None:
        """Submissions the team may still make today; None when Kaggle does not say (it
        reports all zeros for a user who has not joined the competition yet)."""
        limits = self.call("limits", "read the submission limits",
                            lambda: self.api.competition_get_submission_limits(self.competition),
                            retry=True)
        if not (limits.num_today or limits.num_total or limits.num_allowed_now):
            return None
        return int(limits.num_allowed_now)

    def submissions(self) -> list:
        return self.call("submissions", "list your submissions",
                          lambda: self.api.competition_submissions(self.competition,
                                                                   page_size=200),
                          retry=True) or []

    def submit(self, path: Path, message: str) -> int:
        """Send a submission once; return its Kaggle ref."""
        try:
            response = self.call("submit", "submit", lambda: self.api.competition_submit(
                str(path), message, self.competition, quiet=True), retry=False)
        except KaggleError as err:
            if err.transient and err.reached:  # the file may be on Kaggle despite the failure
                raise KaggleError(f"{err}. Kaggle may have recorded it anyway: run "
                                  "`make scores` before sending it again", True) from None
            raise
        if not response.ref or response.message == UPLOAD_FAILED:
            raise KaggleError(f"the upload of {path.name} failed ({response.message or 'no ref'})"
                              ": nothing was submitted; try again later")
        return int(response.ref)

    def call(self, kind: str, what: str, fn, retry: bool):
        """`fn()` (a call on `self.api`) under this module's timeout, retries (when `retry`:
        only for calls safe to repeat) and one-line errors; `kind` (a key of KINDS) picks
        them, `what` completes "could not ..."."""
        return _attempts(kind, what, fn, self.settings, self.source, retry, self.competition)


def _attempts(kind, what, fn, settings, source, retry, competition=None):
    attempts = 1 + (settings["retries"] if retry else 0)
    for attempt in range(attempts):
        try:
            return _with_timeout(fn, settings["timeout"])
        except SystemExit:
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes one line
            retryable, message = explain(kind, what, err, settings, source, competition)
            if not retryable or attempt == attempts - 1:
                if retryable and attempts > 1:
                    message += f" (after {attempts} tries)"
                raise KaggleError(scrub(message), retryable, may_have_acted(err)) from None
            time.sleep(settings["backoff"] * 2**attempt)


def may_have_acted(err: Exception) -> bool:
    """Whether Kaggle may have acted on the failed request: not when it answered with a
    refusal (a status under 500) or when no connection was ever made; yes for a server
    error, a timeout or anything unclear."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(err, requests.HTTPError) and err.response is not None:
        return err.response.status_code >= 500
    if isinstance(err, requests.ConnectTimeout):
        return False
    if isinstance(err, requests.ConnectionError):  # refused, or lost mid-request?
        seen, causes = set(), [err]
        while causes:
            cause = causes.pop()
            if id(cause) in seen:
                continue
            seen.add(id(cause))
            if isinstance(cause, NewConnectionError | ConnectTimeoutError):
                return False  # the connection itself failed: no byte reached Kaggle
            causes += [a for a in getattr(cause, "args", ()) if isinstance(a, BaseException)]
            causes += [c for c in (getattr(cause, "reason", None),
                                   getattr(cause, "original_error", None), cause.__cause__,
                                   cause.__context__) if isinstance(c, BaseException)]
    return True


# What each call is, for its one-line errors: a call on the competition (where 403 means this
# account has no access to it and 404 that it does not exist), on a kernel, or on the account.
COMPETITION, KERNEL, ACCOUNT, QUOTA = "competition", "kernel", "account", "quota"
KINDS = {"sign in": ACCOUNT, "download": COMPETITION, "limits": COMPETITION,
         "submissions": COMPETITION, "submit": COMPETITION, "submission status": COMPETITION,
         "leaderboard": COMPETITION, "kernel push": KERNEL, "kernel status": KERNEL,
         "kernel output": KERNEL, "quota": QUOTA}
RULES = "https://www.kaggle.com/competitions/{comp}/rules"
# (kind of call, HTTP status) -> (safe to retry, the one line); ("*", status) for any kind;
# a status missing here: "Kaggle answered <status>", retried when it is 500 or more (a kernel's
# 403 is such: an expired output URL as often as a refusal).
# Filled with {what} (completes "could not ..."), {status}, {detail} (Kaggle's words),
# {comp} and {source} (where the credentials came from).
ANSWERS = {
    ("*", 401): (False, "Kaggle refused the credentials from {source} (401): check the "
                        "username and key, or create a new token at " + SETTINGS_URL),
    (COMPETITION, 400): (False, "could not {what}: Kaggle refused it (400: {detail}); when "
                                "that is the daily submission limit, try again after "
                                "midnight UTC"),
    (COMPETITION, 403): (False, "could not {what}: no access to competition '{comp}' (403: "
                                "{detail}): check its name (kaggle.competition) and that this "
                                "account has joined it: accept its rules on " + RULES),
    (COMPETITION, 404): (False, "could not {what}: competition '{comp}' not found (404); "
                                "check kaggle.competition"),
    (ACCOUNT, 403): (False, "could not {what}: Kaggle refused this account (403: {detail})"),
    (QUOTA, 403): (False, "could not {what}: Kaggle refused this account (403: {detail}); GPU "
                          "sessions need a verified account (a phone number)"),
    (KERNEL, 404): (False, "could not {what}: no such kernel (404); make kaggle-run LIST=1 "
                           "lists those pushed from here"),
    ("*", 429): (True, "could not {what}: rate limited by Kaggle (429); wait and retry"),
}


def explain(kind: str, what: str, err: Exception, settings: dict, source: str,
            competition: str | None) -> tuple[bool, str]:
    """(safe to retry, one-line message) for a failed call of `kind` (a key of KINDS): by the
    kind and Kaggle's status (ANSWERS), never by the words of Kaggle's message."""
    import requests

    comp = competition or settings["competition"]
    if isinstance(err, TimeoutError):
        return True, (f"could not {what}: Kaggle did not answer within {settings['timeout']} s "
                      "(kaggle.timeout)")
    if isinstance(err, requests.HTTPError) and err.response is not None:
        status = err.response.status_code
        detail = " ".join(str(err).split()) or err.response.reason
        retry, line = ANSWERS.get((KINDS[kind], status)) or ANSWERS.get(("*", status)) or (
            (True, "could not {what}: Kaggle server error {status} ({detail})") if status >= 500
            else (False, "could not {what}: Kaggle answered {status} ({detail})"))
        return retry, line.format(what=what, status=status, detail=detail, comp=comp,
                                  source=source)
    if isinstance(err, requests.Timeout):
        return True, f"could not {what}: the connection to Kaggle timed out"
    if isinstance(err, requests.ConnectionError):
        return True, (f"could not {what}: cannot reach Kaggle ({type(err).__name__}); check "
                      "your network or proxy settings")
    if isinstance(err, ValueError):  # the client's bare ValueError, e.g. a size mismatch
        return True, f"could not {what}: {err}"
    raise err


def _with_timeout(fn, timeout: float):
    """Run `fn` in a daemon thread and give up after `timeout` seconds: the client sets no
    timeout of its own, and a hung call must not hang the harness."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed back to the caller
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    # The client prints progress, help text and errors; this redirect ends with the wait.
    with contextlib.redirect_stdout(io.StringIO()):
        worker.start()
        worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]
