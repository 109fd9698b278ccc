"""The kernels half of the Kaggle stand-in (tests/kaggle_stub.py): the calls the client makes
for `make kaggle-run` (POST /api/v1/kernels.KernelsApiService/<Method>), in the wire format of
kagglesdk/kernels/types/kernels_api_service.py.

A pushed kernel is "run" for real: its script is executed in a fresh working dir by this
Python, with the competition's files mounted read-only under a session input root (the script
finds it through DIGIT_HARNESS_KAGGLE_INPUT, where Kaggle's sessions have /kaggle/input). What the
script leaves in its working dir is the session's output, listed with the log once it ended and
served by plain GETs, as Kaggle serves signed URLs. `kernel_mode` makes a session misbehave.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

OUTPUT_PATH = "/kernel-output/"
SITE = "https://www.kaggle.com"
# run: execute the script | no-input: execute it without the competition mounted (the script
# fails) | lose-output: execute it, then list no output files | cancel: the session is
# cancelled | queued: the session never leaves the queue | expired-urls: its files are listed,
# but their URLs answer 403, as an expired signed URL does
KERNEL_MODES = ("run", "no-input", "lose-output", "cancel", "queued", "expired-urls")


class KernelSessions:
    """The stand-in's kernels and their sessions; made by KaggleStub as `stub.kernels`."""

    def __init__(self, data_dir: Path, competition: str, files: tuple[str, ...]):
        self.root = Path(tempfile.mkdtemp(prefix="kaggle-stub-kernels-"))
        self.input_root = self.root / "input"
        self.data_dir, self.competition, self.files = data_dir, competition, files
        self.mode = "run"
        self.modes: list[str] = []  # modes for the next pushes, one each, before `mode`
        self.running = self.most_running = 0  # sessions running now, and the most at once
        self.delay = 0.0  # seconds a session waits before its script starts
        self.pushes: list[dict] = []  # every SaveKernel request, as sent
        self.sessions: dict[tuple[str, str, int], dict] = {}
        self._lock = threading.Lock()

    def mount_input(self) -> Path:
        """The competition's files under the input root, read-only (as root, the mode bits
        alone do not stop a write: tests compare the files before and after)."""
        mounted = self.input_root / self.competition
        if not mounted.is_dir():
            mounted.mkdir(parents=True)
            for name in self.files:
                shutil.copy(self.data_dir / name, mounted / name)
                (mounted / name).chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            mounted.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
        return mounted

    def push(self, owner: str, slug: str, request: dict) -> int:
        with self._lock:
            self.pushes.append(request)
            version = 1 + sum(1 for (o, s, _) in self.sessions if (o, s) == (owner, slug))
            session = {"status": "QUEUED", "failure": "", "log": [], "files": [],
                       "working": self.root / "sessions" / owner / slug / f"v{version}",
                       "timeout": request.get("sessionTimeoutSeconds"),
                       "mode": self.modes.pop(0) if self.modes else self.mode}
            self.sessions[(owner, slug, version)] = session
        assert session["mode"] in KERNEL_MODES, session["mode"]
        if session["mode"] != "queued":
            threading.Thread(target=self._run, args=(session, request), daemon=True).start()
        return version

    def latest(self, owner: str, slug: str, version_label: str | None) -> dict | None:
        versions = [v for (o, s, v) in self.sessions if (o, s) == (owner, slug)]
        if not versions:
            return None
        version = int(version_label.lstrip("v")) if version_label else max(versions)
        return self.sessions.get((owner, slug, version))

    def _run(self, session: dict, request: dict) -> None:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self._execute(session, request)
        finally:
            with self._lock:
                self.running -= 1

    def _execute(self, session: dict, request: dict) -> None:
        working = session["working"]
        working.mkdir(parents=True)
        script = working.parent / f"{working.name}-{request['slug'].split('/')[1]}.py"
        script.write_text(request["text"], encoding="utf-8")
        session["status"] = "RUNNING"
        if session["mode"] == "cancel":
            session.update(status="CANCEL_ACKNOWLEDGED", failure="")
            return
        input_root = self.input_root if session["mode"] != "no-input" \
            else self.root / "empty-input"
        if session["mode"] != "no-input":
            self.mount_input()
        input_root.mkdir(parents=True, exist_ok=True)
        scratch = working.parent / f"{working.name}-tmp"  # a session's /tmp ends with it;
        scratch.mkdir()  # here it lies beside the session, not in the machine's /tmp
        env = {**os.environ, "DIGIT_HARNESS_KAGGLE_INPUT": str(input_root),
               "KAGGLE_KERNEL_RUN_TYPE": "Batch", "TMPDIR": str(scratch)}
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            env.pop(name, None)  # a session talks to nothing of ours
        started = time.monotonic()
        timeout = session["timeout"]
        time.sleep(self.delay)
        left = None if timeout is None else max(timeout - (time.monotonic() - started), 0.1)
        try:
            done = subprocess.run([sys.executable, str(script)], cwd=working, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=left)
            output, code = done.stdout.decode(errors="replace"), done.returncode
            failure = "" if code == 0 else f"The kernel exited with status {code}"
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"").decode(errors="replace")
            failure = f"Your notebook tried to run longer than {timeout} seconds"
        session["log"] = [{"stream_name": "stdout", "time": round(time.monotonic() - started, 3),
                           "data": line} for line in output.splitlines(keepends=True)]
        if session["mode"] != "lose-output":
            session["files"] = sorted(p.relative_to(working).as_posix()
                                      for p in working.rglob("*") if p.is_file())
        session["status"] = "ERROR" if failure else "COMPLETE"
        session["failure"] = failure

    def stop(self) -> None:
        for path in self.root.rglob("*"):  # read-only parts of the mount
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(self.root, ignore_errors=True)


class KernelsHandlers:
    """Mixed into the stand-in's request handler: one `_api_<Method>` per kernels call."""

    def _kernel_session(self, request):
        sessions = self.owner.kernels
        session = sessions.latest(request.get("userName", ""), request.get("kernelSlug", ""),
                                  request.get("versionLabel"))
        if session is None:
            self._error(404, f"Kernel {request.get('userName')}/{request.get('kernelSlug')} "
                             "not found")
        return session

    def _api_SaveKernel(self, request):
        stub = self.owner
        owner, _, slug = (request.get("slug") or "").partition("/")
        if owner != stub.username:
            return self._error(403, "Permission 'kernels.create' was denied")
        if len(slug) < 5 or request.get("kernelType") != "script" or not request.get("text"):
            return self._error(400, "invalid kernel: slug, kernelType or text")
        invalid = [c for c in request.get("competitionDataSources", []) if c != stub.competition]
        if invalid:
            return self._json(200, {"ref": "", "url": "", "invalidCompetitionSources": invalid})
        version = stub.kernels.push(owner, slug, request)
        self._json(200, {"ref": f"/code/{owner}/{slug}", "url": f"{SITE}/code/{owner}/{slug}",
                         "versionNumber": version, "kernelId": 7000 + len(stub.kernels.pushes)})

    def _api_GetKernelSessionStatus(self, request):
        session = self._kernel_session(request)
        if session is not None:
            self._json(200, {"status": session["status"],
                             "failureMessage": session["failure"] or None})

    def _api_ListKernelSessionOutput(self, request):
        session = self._kernel_session(request)
        if session is None:
            return
        ended = session["status"] in ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
        files = session["files"] if ended else []
        start = int(request.get("pageToken") or 0)
        size = int(request.get("pageSize") or 20)
        base = (f"http://localhost{OUTPUT_PATH}{request['userName']}/{request['kernelSlug']}/"
                f"{session['working'].name}/")
        page = [{"url": base + name, "fileName": name} for name in files[start:start + size]]
        more = start + size < len(files)
        self._json(200, {"files": page, "log": json.dumps(session["log"]) if ended else "",
                         "nextPageToken": str(start + size) if more else None})

    def _api_GetAcceleratorQuotaStatistics(self, request):
        used = sum(float(s["log"][-1]["time"]) for s in self.owner.kernels.sessions.values()
                   if s["log"])
        self._json(200, {"quotaRefreshTime": datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z"),
                         "gpuQuota": {"timeUsed": f"{used:.3f}s", "totalTimeAllowed": "108000s",
                                      "timeReserved": "0s", "minimumTimeAllowed": "0s"}})

    def _kernel_output_file(self, path: str) -> bool:
        """A GET of a session's output file; False if `path` is not one."""
        if not path.startswith(OUTPUT_PATH):
            return False
        owner, slug, version, name = path[len(OUTPUT_PATH):].split("/", 3)
        session = self.owner.kernels.sessions.get((owner, slug, int(version.lstrip("v"))))
        if session is not None and session["mode"] == "expired-urls":
            self._error(403, "Request has expired")
            return True
        if session is None or name not in session["files"]:
            self._error(404, f"no output file {name}")
            return True
        self._send(200, (session["working"] / name).read_bytes(), "application/octet-stream")
        return True
