"""A stand-in for Kaggle's competition API on 127.0.0.1, for testing the real `kaggle` client.

The client reaches it through a proxy setting (see docs/kaggle.md, "Testing against a stand-in"):

    KAGGLE_API_ENVIRONMENT=LOCALHOST HTTP_PROXY=http://127.0.0.1:PORT HTTPS_PROXY=... NO_PROXY=

so every request arrives with an absolute URL on http://localhost. It speaks the calls a
download/submit harness makes (POST /api/v1/competitions.CompetitionApiService/<Method>),
serves a zip of a data dir, accepts uploads, scores them against its own answer key, keeps a
public leaderboard, and can be told to fail: an HTTP status for a method, a hang, a truncated
or hostile zip, a refused upload, a score that stays pending or ends in ERROR, a call held
until the test lets it go. It listens on loopback only and stops with its owner.

    python -m tests.kaggle_stub --data DIR --key KEY.csv [--port N]   # run it by hand
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from tests.kaggle_kernels_stub import KernelSessions, KernelsHandlers

API = "/api/v1/competitions.CompetitionApiService/"
KERNELS_API = "/api/v1/kernels.KernelsApiService/"  # handled by tests/kaggle_kernels_stub.py
INTROSPECT = "/api/v1/security.OAuthService/IntrospectToken"
FILES = ("train.csv", "test.csv", "sample_submission.csv")
MAX_HANG = 30.0  # seconds: a hang is bounded so a test can never block forever


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that went away mid-answer (a test killed it) is no error of the stand-in's;
        anything else prints its traceback as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class KaggleStub:
    def __init__(self, data_dir: Path, key: np.ndarray, username: str = "tester",
                 api_key: str = "stub-key-0000", token: str | None = None,
                 competition: str = "digit-recognizer", daily_limit: int = 5):
        self.data_dir = Path(data_dir)
        self.key = np.asarray(key)
        self.username, self.api_key, self.token = username, api_key, token
        self.competition = competition
        self.daily_limit = daily_limit
        self.rules_accepted = True
        # good | truncated | zipslip | missing-file | not-a-zip | bad-crc | bad-header
        self.zip_mode = "good"
        self.record_then_fail = False  # CreateSubmission records the file, then answers 500
        self.pending_polls = 0  # a new submission answers PENDING to this many GetSubmission
        self.scoring_error: str | None = None  # a new submission ends in ERROR, this the reason
        self.team_name = username  # this account's team on the leaderboard
        self.other_teams: list[dict] = []  # {teamName, score, date} beside it (add_team)
        self.gates: dict[str, Gate] = {}
        self.upload_status = 200
        self.failures: dict[str, list[dict]] = {}
        self.submissions: list[dict] = []
        # Kaggle's refs never repeat: a stand-in started again does not reuse the last one's
        self.first_ref = 1000 + int(time.time() * 10) % 10**9
        self.blobs: dict[str, bytes] = {}
        self.upload_names: dict[str, str] = {}
        self.echo_credentials = False  # a careless server that repeats the key in errors
        self.calls: list[str] = []
        self.kernels = KernelSessions(self.data_dir, competition, FILES)  # make kaggle-run
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- what tests use ----------------------------------------------------------------
    def fail(self, method: str, status: int = 500, message: str | None = None,
             times: int = 1, hang: float | None = None) -> None:
        """Make the next `times` calls of `method` fail with `status` (or hang `hang` s)."""
        action = {"status": status, "message": message or f"stub: {method} failed",
                  "hang": hang}
        self.failures.setdefault(method, []).extend([action] * times)

    def hold(self, method: str) -> Gate:
        """Hold every call of `method` until the gate is released. CreateSubmission is held
        after it recorded the file (Kaggle has it, the answer is slow); others before they
        do anything."""
        self.gates[method] = Gate()
        return self.gates[method]

    def add_team(self, name: str, score: float, day: int = 1) -> None:
        self.other_teams.append({"teamName": name, "score": f"{score:.5f}",
                                 "date": datetime(2026, 1, day, tzinfo=UTC)})

    def leaderboard(self) -> list[dict]:
        """Every team's best public score, best first; a tie goes to the earlier one."""
        teams = list(self.other_teams)
        scored = [s for s in self.submissions if s["status"] == "COMPLETE"]
        if scored:
            best = max(scored, key=lambda s: (float(s["publicScore"]), -s["when"].timestamp()))
            teams.append({"teamName": self.team_name, "score": best["publicScore"],
                          "date": best["when"]})
        teams.sort(key=lambda t: (-float(t["score"]), t["date"]))
        return [{"teamId": 5000 + i, **t} for i, t in enumerate(teams)]

    def start(self, port: int = 0) -> int:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = _Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.port

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        self.kernels.stop()

    def client_env(self) -> dict[str, str]:
        """Environment that points the real client here and nowhere else."""
        proxy = f"http://127.0.0.1:{self.port}"
        return {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "HTTP_PROXY": proxy, "http_proxy": proxy,
                "HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}

    # -- the competition ---------------------------------------------------------------
    def data_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in FILES:
                if self.zip_mode == "missing-file" and name == "test.csv":
                    continue
                data = (self.data_dir / name).read_bytes()
                if self.zip_mode == "bad-header" and name == "train.csv":
                    data = data.replace(b"label,", b"digit,", 1)
                zf.writestr(name, data)
            if self.zip_mode == "zipslip":
                zf.writestr("../escaped.csv", "ImageId,Label\n")
        raw = buffer.getvalue()
        if self.zip_mode == "bad-crc":  # one flipped byte inside the first member's data
            raw = raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:]
        if self.zip_mode == "truncated":
            return raw[: len(raw) // 2]
        if self.zip_mode == "not-a-zip":
            return b"<html>maintenance</html>" * 100
        return raw

    def score(self, blob: bytes) -> tuple[str, str]:
        """(status, public score) for an uploaded submission."""
        try:
            rows = np.loadtxt(io.StringIO(blob.decode()), delimiter=",", skiprows=1,
                              dtype=np.int64, ndmin=2)
            if rows.shape != (len(self.key), 2):
                return "ERROR", ""
            return "COMPLETE", f"{np.mean(rows[:, 1] == self.key):.5f}"
        except ValueError:
            return "ERROR", ""

    def submissions_today(self) -> int:
        today = datetime.now(UTC).date()
        return sum(1 for s in self.submissions if s["when"].date() == today)


class Gate:
    """A held call: `reached` is set once one arrives; it goes on after `release()` (or
    MAX_HANG), with whoever sent it perhaps gone by then."""

    def __init__(self):
        self.reached = threading.Event()
        self._open = threading.Event()

    def release(self) -> None:
        self._open.set()

    def pass_through(self) -> None:
        self.reached.set()
        self._open.wait(MAX_HANG)


def serving_tiny_data(root: Path, **settings) -> KaggleStub:
    """A started stand-in whose competition is a tiny generated data set made under
    `root`/kaggle-side (tests/helpers.py), its answer key the data set's own."""
    from tests.helpers import make_data_dir

    source = make_data_dir(root / "kaggle-side")
    key = np.loadtxt(root / "kaggle-side" / "answer_key" / "key.csv", delimiter=",",
                     skiprows=1, dtype=int)[:, 1]
    stub = KaggleStub(source, key, **settings)
    stub.start()
    return stub


class _Handler(KernelsHandlers, BaseHTTPRequestHandler):
    owner: KaggleStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: tests read state, not logs
        pass

    # The proxied request line carries an absolute URL; a direct one only a path.
    def _path(self) -> str:
        return urlsplit(self.path).path

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict):
        self._send(status, json.dumps(payload).encode())

    def _error(self, status: int, message: str):
        self._json(status, {"code": status, "message": message})

    def _authorized(self) -> bool:
        stub = self.owner
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            expected = base64.b64encode(f"{stub.username}:{stub.api_key}".encode()).decode()
            return header == f"Basic {expected}"
        return bool(stub.token) and header == f"Bearer {stub.token}"

    def do_GET(self):
        stub, path = self.owner, self._path()
        stub.calls.append(f"GET {path}")
        if path == f"/files/{stub.competition}.zip":
            body = stub.data_zip()
            self._send(200, body, "application/zip",
                       {"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})
        elif not self._kernel_output_file(path):
            self._error(404, f"no file at {path}")

    def do_PUT(self):
        stub, path = self.owner, self._path()
        stub.calls.append(f"PUT {path}")
        body = self._body()
        if not path.startswith("/upload/"):
            return self._error(404, "no such upload")
        if stub.upload_status >= 400:
            return self._send(stub.upload_status, b"upload refused", "text/plain")
        with stub._lock:
            stub.blobs[path.rsplit("/", 1)[1]] = body
        self._send(200, b"{}")

    def do_POST(self):
        stub, path = self.owner, self._path()
        body = self._body()
        service = next((s for s in (API, KERNELS_API) if path.startswith(s)), None)
        method = path[len(service):] if service else path
        stub.calls.append(f"POST {method}")
        action = None
        with stub._lock:
            if stub.failures.get(method):
                action = stub.failures[method].pop(0)
        if action and action["hang"]:
            time.sleep(min(action["hang"], MAX_HANG))
            return self._error(504, "stub: hung")
        if action:
            message = action["message"]
            if stub.echo_credentials:
                message += f" (key {stub.api_key})"
            return self._error(action["status"], message)
        if path == INTROSPECT:
            token = json.loads(body or b"{}").get("token")
            active = bool(stub.token) and token == stub.token
            return self._json(200, {"active": active, "username": stub.username if active else ""})
        if service is None:
            return self._error(404, f"unknown endpoint {path}")
        if not self._authorized():
            said = self.headers.get("Authorization", "") if self.owner.echo_credentials else ""
            return self._error(401, f"Unauthenticated {said}".strip())
        request = json.loads(body or b"{}")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, f"stub does not implement {method}")
        competition = request.get("competitionName")
        if competition is not None and competition != stub.competition:
            return self._error(404, f"Competition '{competition}' not found")
        if method in ("DownloadDataFiles", "CreateSubmission", "StartSubmissionUpload") \
                and not stub.rules_accepted:
            return self._error(403, "You must accept this competition's rules before you'll "
                                    "be able to download files or submit.")
        if method in stub.gates and method != "CreateSubmission":
            stub.gates[method].pass_through()
        return handler(request)

    def _api_ListDataFiles(self, request):
        files = [{"name": n, "totalBytes": (self.owner.data_dir / n).stat().st_size}
                 for n in FILES]
        self._json(200, {"files": files})

    def _api_DownloadDataFiles(self, request):
        location = f"http://localhost/files/{self.owner.competition}.zip"
        self._send(302, b"", "text/plain", {"Location": location})

    def _api_StartSubmissionUpload(self, request):
        token = f"blob-{len(self.owner.blobs) + 1}-{int(time.time() * 1000)}"
        self.owner.upload_names[token] = request.get("fileName", "submission.csv")
        self._json(200, {"token": token, "createUrl": f"http://localhost/upload/{token}"})

    def _api_CreateSubmission(self, request):
        stub = self.owner
        with stub._lock:
            if stub.submissions_today() >= stub.daily_limit:
                return self._error(400, "Your team has used its submission allowance "
                                        f"({stub.daily_limit}) for today.")
            blob = stub.blobs.get(request.get("blobFileTokens", ""))
            if blob is None:
                return self._error(400, "unknown blob token")
            status, score = stub.score(blob)
            error = ""
            if stub.scoring_error is not None:
                status, score, error = "ERROR", "", stub.scoring_error
            ref = stub.first_ref + len(stub.submissions)
            stub.submissions.append({
                "ref": ref,
                "fileName": stub.upload_names.get(request.get("blobFileTokens"), "?"),
                "when": datetime.now(UTC), "description": request.get("submissionDescription", ""),
                "status": status, "publicScore": score, "privateScore": "",
                "errorDescription": error, "teamName": stub.team_name,
                "pendingPolls": stub.pending_polls,
            })
        if "CreateSubmission" in stub.gates:
            stub.gates["CreateSubmission"].pass_through()
        if stub.record_then_fail:
            return self._error(500, "stub: recorded, then failed to answer")
        self._json(200, {"message": "Successfully submitted to Digit Recognizer", "ref": ref})

    def _submission_json(self, s):
        shown = {k: v for k, v in s.items() if k not in ("when", "pendingPolls")}
        if s.get("pendingPolls"):  # not scored yet: no score, no error
            shown.update(status="PENDING", publicScore="", errorDescription="")
        return {**shown, "date": s["when"].strftime("%Y-%m-%dT%H:%M:%S.000Z")}

    def _api_ListSubmissions(self, request):
        listed = [self._submission_json(s) for s in reversed(self.owner.submissions)]
        self._json(200, {"submissions": listed})

    def _api_GetSubmission(self, request):
        for s in self.owner.submissions:
            if s["ref"] == request.get("ref"):
                shown = self._submission_json(s)
                if s.get("pendingPolls"):
                    s["pendingPolls"] -= 1
                return self._json(200, shown)
        self._error(404, "no such submission")

    def _api_GetLeaderboard(self, request):
        # the page token is the offset of the page's first entry
        board = self.owner.leaderboard()
        start = int(request.get("pageToken") or 0)
        end = start + int(request.get("pageSize") or 20)
        page = [{"teamId": t["teamId"], "teamName": t["teamName"], "score": t["score"],
                 "submissionDate": t["date"].strftime("%Y-%m-%dT%H:%M:%S.000Z")}
                for t in board[start:end]]
        self._json(200, {"submissions": page,
                         "nextPageToken": str(end) if end < len(board) else ""})

    def _api_GetSubmissionLimits(self, request):
        stub = self.owner
        today = stub.submissions_today()
        if not stub.rules_accepted:  # Kaggle reports zeros for a user not on a team yet
            return self._json(200, {"numToday": 0, "numTotal": 0, "numAllowedNow": 0,
                                    "limitedByTotal": False})
        self._json(200, {"numToday": today, "numTotal": len(stub.submissions),
                         "numAllowedNow": max(stub.daily_limit - today, 0),
                         "limitedByTotal": False})


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Kaggle stand-in by hand.")
    parser.add_argument("--data", required=True, help="a data dir with Kaggle's three CSVs")
    parser.add_argument("--key", required=True, help="ImageId,Label answer key CSV")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", default="tester")
    parser.add_argument("--api-key", default="stub-key-0000")
    args = parser.parse_args()
    key = np.loadtxt(args.key, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)[:, 1]
    stub = KaggleStub(Path(args.data), key, args.username, args.api_key)
    port = stub.start(args.port)
    state = tempfile.mkdtemp(prefix="kaggle-stand-in-")
    print(f"Kaggle stand-in on 127.0.0.1:{port}; point the client at it with:")
    for name, value in stub.client_env().items():
        print(f"  export {name}={value}")
    print(f"  export KAGGLE_USERNAME={args.username} KAGGLE_KEY={args.api_key}")
    # the ledger and the kernel record of what is sent to the stand-in, apart from yours
    print(f"  export DIGIT_HARNESS_KAGGLE_STATE={state}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
