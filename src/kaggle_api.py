"""The one place that talks to Kaggle, through the official client's `KaggleApi`.

`import kaggle` would authenticate at import time and exit the process when it finds no
credentials, so this module imports `KaggleApi` itself, checks for credentials first, and wraps
every call: a timeout (the client has none), bounded retries with back-off for calls that are
safe to repeat (downloads, reads; never a submission), and one-line errors that say what to do.
No message that leaves this module contains a key or token.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from .errors import HarnessError

SETTINGS_URL = "https://www.kaggle.com/settings"
UPLOAD_FAILED = "Could not submit to competition"  # KaggleApi's message for a failed upload


class KaggleError(HarnessError):
    """Kaggle refused, failed or could not be reached. `transient`: the same call might work
    later (server error, rate limit, network, timeout)."""

    def __init__(self, message: str, transient: bool = False, status: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.status = status


def credentials_source() -> str | None:
    """Where the client will find credentials, in its own order of preference; None if
    nowhere. Warns about a kaggle.json that other users can read."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    for name in ("access_token", "access_token.txt"):  # read from HOME, as the client does
        if (Path.home() / ".kaggle" / name).is_file():
            return f"~/.kaggle/{name}"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    kaggle_json = _config_dir() / "kaggle.json"
    if kaggle_json.is_file():
        if kaggle_json.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {kaggle_json} is readable by other users: run "
                  f"`chmod 600 {kaggle_json}`", file=sys.stderr)
        return str(kaggle_json)
    return None


def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")


def missing_credentials() -> KaggleError:
    return KaggleError(
        f"no Kaggle credentials: create an API token at {SETTINGS_URL} (API section) and save "
        f"the kaggle.json it gives you as {_config_dir() / 'kaggle.json'} (chmod 600), or set "
        "KAGGLE_USERNAME and KAGGLE_KEY"
    )


def _secrets() -> list[str]:
    found = [os.environ.get(name) for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found.append(json.loads((_config_dir() / "kaggle.json").read_text()).get("key"))
    for name in ("access_token", "access_token.txt"):
        with contextlib.suppress(OSError):
            found.append((Path.home() / ".kaggle" / name).read_text().strip())
    return [s for s in found if s and len(s) >= 4]


def scrub(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def connect(settings: dict) -> Client:
    source = credentials_source()
    if source is None:
        raise missing_credentials()
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its help text on failure
            api.authenticate()
    except SystemExit:
        raise missing_credentials() from None
    return Client(api, settings, source)


class Client:
    def __init__(self, api, settings: dict, source: str):
        self.api = api
        self.settings = settings
        self.source = source
        self.competition = settings["competition"]

    def download(self, dest: Path) -> Path:
        """The competition's data archive, downloaded into `dest`."""
        self._call("download the data", self.api.competition_download_files, self.competition,
                   path=str(dest), force=True, quiet=True, retry=True)
        return dest / f"{self.competition}.zip"

    def allowed_now(self) -> int:
        """Submissions the team may still make today: as Kaggle reports it or, where the
        endpoint is not offered, the configured daily limit less today's submissions."""
        try:
            limits = self._call("read the submission limits",
                                self.api.competition_get_submission_limits, self.competition,
                                retry=True)
            return int(limits.num_allowed_now)
        except KaggleError as err:
            if err.status not in (404, 405, 501):
                raise
        today = datetime.now(UTC).date()
        made = sum(1 for s in self.submissions()
                   if s.date and s.date.replace(tzinfo=UTC).date() == today)
        return self.settings["daily_limit"] - made

    def submissions(self) -> list:
        return self._call("list your submissions", self.api.competition_submissions,
                          self.competition, retry=True) or []

    def submit(self, path: Path, message: str) -> int:
        """Send a submission once; return its Kaggle ref."""
        try:
            response = self._call("submit", self.api.competition_submit, str(path), message,
                                  self.competition, quiet=True, retry=False)
        except KaggleError as err:
            if err.transient:  # the file may have reached Kaggle before the failure
                raise KaggleError(f"{err}. Kaggle may have recorded it anyway: run "
                                  "`make scores` before sending it again") from None
            raise
        if not response.ref or response.message == UPLOAD_FAILED:
            raise KaggleError(f"the upload of {path.name} failed ({response.message or 'no ref'})"
                              ": nothing was submitted; try again later")
        return int(response.ref)

    def _call(self, what: str, fn, *args, retry: bool, **kwargs):
        attempts = 1 + (self.settings["retries"] if retry else 0)
        for attempt in range(attempts):
            try:
                return _with_timeout(fn, args, kwargs, self.settings["timeout"])
            except Exception as err:  # noqa: BLE001 - every failure becomes one line
                retryable, message = self._explain(what, err)
                if not retryable or attempt == attempts - 1:
                    if retryable and attempts > 1:
                        message += f" (after {attempts} tries)"
                    status = getattr(getattr(err, "response", None), "status_code", None)
                    raise KaggleError(scrub(message), retryable, status) from None
                time.sleep(self.settings["backoff"] * 2**attempt)

    def _explain(self, what: str, err: Exception) -> tuple[bool, str]:
        """(safe to retry, one-line message) for a failed call."""
        import requests

        comp = self.competition
        if isinstance(err, TimeoutError):
            return True, (f"could not {what}: Kaggle did not answer within "
                          f"{self.settings['timeout']} s (kaggle.timeout)")
        if isinstance(err, requests.HTTPError) and err.response is not None:
            status = err.response.status_code
            detail = " ".join(str(err).split()) or err.response.reason
            if status == 401:
                return False, (f"Kaggle refused the credentials from {self.source} (401): check "
                               f"the username and key, or create a new token at {SETTINGS_URL}")
            if status == 403:
                if "participate" in detail:
                    return False, (f"could not {what}: no access to competition '{comp}' (403:"
                                   f" {detail}); check kaggle.competition")
                return False, (f"could not {what}: Kaggle says 403 ({detail}); accept the "
                               "competition's rules on its page: "
                               f"https://www.kaggle.com/competitions/{comp}/rules")
            if status == 404:
                return False, (f"could not {what}: competition '{comp}' not found (404); "
                               "check kaggle.competition")
            if status == 429:
                return True, f"could not {what}: rate limited by Kaggle (429); wait and retry"
            if status == 400 and ("allowance" in detail.lower() or "limit" in detail.lower()):
                return False, (f"could not {what}: the daily submission limit is reached "
                               f"({detail}); try again after midnight UTC")
            if status >= 500:
                return True, f"could not {what}: Kaggle server error {status} ({detail})"
            return False, f"could not {what}: Kaggle answered {status} ({detail})"
        if isinstance(err, requests.Timeout):
            return True, f"could not {what}: the connection to Kaggle timed out"
        if isinstance(err, requests.ConnectionError):
            return True, (f"could not {what}: cannot reach Kaggle "
                          f"({type(err).__name__}); check your network or proxy settings")
        if isinstance(err, ValueError):  # the client's bare ValueError for a bad archive
            return False, f"could not {what}: {err}"
        raise err


def _with_timeout(fn, args, kwargs, timeout: float):
    """Run `fn` in a daemon thread and give up after `timeout` seconds: the client sets no
    timeout of its own, and a hung call must not hang the harness."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    # The client prints progress and errors; this thread's redirect ends with the wait.
    with contextlib.redirect_stdout(io.StringIO()):
        worker.start()
        worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]
