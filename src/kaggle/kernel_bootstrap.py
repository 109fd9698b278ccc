"""What runs inside a Kaggle session for `make kaggle-run`: the kernel's script is this file
with the project and the job appended (src/kaggle/kernel_package.py writes them as PROJECT,
REQUIREMENTS, COMPETITION, RUN_ARGS and RUN_DIR, SUBMISSION_DIR below).

It unpacks the project outside the working dir (Kaggle keeps everything in /kaggle/working as
the session's output, and the code is not output), pip-installs only the packages the Kaggle
image lacks (its TensorFlow matches its CUDA, so nothing present is upgraded), and runs
`python -m src.run` on the read-only competition input, writing the run dir and the submission
into the working dir. Standard library only: nothing of the project is importable yet.
"""

import base64
import importlib.metadata
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Where Kaggle mounts a session's inputs; the loopback stand-in that tests `make kaggle-run`
# points it at a read-only copy of its data.
INPUT_ROOT = Path(os.environ.get("DIGIT_HARNESS_KAGGLE_INPUT", "/kaggle/input"))
DATA_FILES = ("train.csv", "test.csv")

# The job, written after this file's text by kernel_package.py.
PROJECT = ""  # base64 of a zip of the project's code and conf
REQUIREMENTS: list = []  # pyproject.toml's dependencies
COMPETITION = ""
RUN_ARGS: list = []  # the job's overrides, as typed after `make kaggle-run`
RUN_DIR = ""  # in the working dir: the run dir, and the submission's dir
SUBMISSION_DIR = ""


def competition_dir(root: Path, competition: str) -> Path:
    """The competition's files: /kaggle/input/<competition>, or wherever under the input root
    Kaggle mounted them (its layout has changed before)."""
    candidates = [root / competition, *sorted(root.glob(f"**/{competition}"))]
    for path in candidates:
        if all((path / name).is_file() for name in DATA_FILES):
            return path
    sys.exit(f"kaggle-run: no {' and '.join(DATA_FILES)} of '{competition}' under {root}: "
             "is the competition the kernel's data source (competition_sources)?")


def missing(requirements: list) -> list:
    """Requirements whose distribution is not installed at all; a present one is kept
    whatever its version."""
    absent = []
    for requirement in requirements:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            absent.append(requirement)
    return absent


def main() -> int:
    working = Path.cwd()  # /kaggle/working: what Kaggle keeps as the session's output
    project = Path(tempfile.mkdtemp(prefix="digit-harness-"))
    zipfile.ZipFile(io.BytesIO(base64.b64decode(PROJECT))).extractall(project)
    absent = missing(REQUIREMENTS)
    if absent:
        print("kaggle-run: installing what the Kaggle image lacks:", " ".join(absent), flush=True)
        installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *absent])
        if installed.returncode:
            sys.exit("kaggle-run: pip could not install " + " ".join(absent)
                     + ": the kernel needs internet (kaggle.kernel.internet=true)")
    data = competition_dir(INPUT_ROOT, COMPETITION)
    command = [sys.executable, "-m", "src.run", *RUN_ARGS, f"data.dir={data}",
               "data.cache=false",  # the input is read-only: no cache beside the CSVs
               f"hydra.run.dir={working / RUN_DIR}", f"submission.dir={working / SUBMISSION_DIR}"]
    print("kaggle-run:", " ".join(command[1:]), flush=True)
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(command, cwd=project, env=env).returncode
