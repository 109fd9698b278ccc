"""The folder `kaggle kernels push` sends for one `make kaggle-run` job: `kernel-metadata.json`
and one script, which is src/kaggle/kernel_bootstrap.py with the project (code and conf, not
data, not runs) and the job's overrides written after it.

A script kernel holds a single file, so the project travels inside it as a base64 zip; what it
holds is the work tree as it is now (uncommitted edits included: what you run here is what runs
there), and its git state goes into the run's record.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ("src", "conf", "hydra_plugins")  # with pyproject.toml: all a run needs
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
METADATA = "kernel-metadata.json"  # the client's KERNEL_METADATA_FILE
# In the session's working dir (/kaggle/working): where the job's run dir and submission go.
RUN_DIR, SUBMISSION_DIR = "run", "submissions"
BOOTSTRAP = Path(__file__).with_name("kernel_bootstrap.py")


def slug_for(prefix: str, overrides: list[str]) -> str:
    """The kernel's slug: the same overrides push new versions of the same kernel, different
    ones (a sweep's jobs) get kernels of their own, so they can run at once."""
    digest = hashlib.sha256("\0".join(overrides).encode()).hexdigest()[:8]
    return f"{prefix}-{digest}"


def project_zip(root: Path = ROOT) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(root / "pyproject.toml", "pyproject.toml")
        for top in PACKAGED:
            for path in sorted((root / top).rglob("*")):
                if path.is_file() and path.suffix != ".pyc" \
                        and not SKIPPED_PARTS & set(path.relative_to(root).parts):
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def requirements(root: Path = ROOT) -> list[str]:
    with open(root / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def script(overrides: list[str], competition: str, root: Path = ROOT) -> str:
    job = {
        "PROJECT": base64.b64encode(project_zip(root)).decode("ascii"),
        "REQUIREMENTS": requirements(root),
        "COMPETITION": competition,
        "RUN_ARGS": list(overrides),
        "RUN_DIR": RUN_DIR,
        "SUBMISSION_DIR": SUBMISSION_DIR,
    }
    lines = [f"{name} = {value!r}" for name, value in job.items()]
    return "\n".join([BOOTSTRAP.read_text(), "", "# -- the job (make kaggle-run) --", *lines, "",
                      'if __name__ == "__main__":', "    sys.exit(main())", ""])


def metadata(owner: str, slug: str, settings: dict, competition: str) -> dict:
    """kernel-metadata.json, in the fields `kernels_push` reads; the title slugifies to the
    slug, as the client wants."""
    return {
        "id": f"{owner}/{slug}",
        "title": slug,
        "code_file": f"{slug}.py",
        "language": "python",
        "kernel_type": "script",
        "is_private": bool(settings["private"]),
        "enable_gpu": bool(settings["gpu"]),
        "enable_internet": bool(settings["internet"]),
        "competition_sources": [competition],
        "dataset_sources": [],
        "kernel_sources": [],
        "model_sources": [],
    }


def write(folder: Path, owner: str, slug: str, overrides: list[str], settings: dict,
          competition: str) -> Path:
    """The push folder for one job, in `folder` (made fresh by the caller)."""
    meta = metadata(owner, slug, settings, competition)
    (folder / meta["code_file"]).write_text(script(overrides, competition), encoding="utf-8")
    (folder / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return folder
