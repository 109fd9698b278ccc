"""Where `make data` gets the competition files from.

Each source module offers `identity(settings) -> dict`, the manifest fields that say the data
in place is what was asked, and `fetch(staging, data_dir, settings) -> manifest dict`, which
writes Kaggle's three files into the empty folder `staging` (data that belongs to `data_dir`).
This module skips work already done, builds into a staging folder beside the data dir and
swaps it into place only once it is complete, manifest included: a data dir never mixes the
files of two builds, and an interrupted build leaves the old one or none.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from src.data.sources import kaggle_download, replica
from src.kaggle import api_client
from src.utils.atomic_io import new_dir, write_text
from src.utils.errors import DataError

MANIFEST = "manifest.json"
FILES = ("train.csv", "test.csv", "sample_submission.csv")
SOURCES = {"replica": replica, "kaggle": kaggle_download}
CHOICES = ("auto", *SOURCES)


def choose(source: str) -> str:
    """`auto`: Kaggle when credentials are configured, else the offline replica."""
    if source != "auto":
        return source
    if api_client.credentials_source():
        return "kaggle"
    print("data: no Kaggle credentials found, so using the offline replica (see "
          "docs/kaggle.md)", flush=True)
    return "replica"


def read_manifest(data_dir: str | Path) -> dict | None:
    path = Path(data_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is unreadable ({err}): run `make data FORCE=1`") from None


def is_complete(data_dir: Path, manifest: dict | None) -> bool:
    """True when the manifest's files are all there with the sizes it recorded."""
    if not manifest:
        return False
    files = manifest.get("files", {})
    return set(FILES) <= set(files) and all(
        (data_dir / name).is_file() and (data_dir / name).stat().st_size == info.get("bytes")
        for name, info in files.items()
    )


def fetch(source: str, data_dir: str | Path, settings: dict, force: bool = False) -> str:
    """Fill `data_dir` from `source` unless it already holds that data; return a status line."""
    if source not in SOURCES:
        raise DataError(f"unknown data source '{source}': choose one of {', '.join(CHOICES)}")
    data_dir = Path(data_dir)
    current = read_manifest(data_dir)
    wanted = SOURCES[source].identity(settings)
    if not force and is_complete(data_dir, current) and all(
        current.get(k) == v for k, v in wanted.items()
    ):
        return f"data already in {data_dir} ({describe(current)}): nothing to do (FORCE=1 rebuilds)"
    if not force and current is None and any((data_dir / name).exists() for name in FILES):
        raise DataError(f"{data_dir} holds CSVs that `make data` did not write (no {MANIFEST}): "
                        "move them away, or run `make data FORCE=1` to replace them")

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(data_dir)
    staging = new_dir(data_dir.parent, f".{data_dir.name}.tmp-")
    try:
        manifest = SOURCES[source].fetch(staging, data_dir, settings)
        write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        _swap_in(staging, data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"wrote {data_dir} ({describe(manifest)})"


def _swap_in(staging: Path, data_dir: Path) -> None:
    old = None
    if data_dir.exists():
        old = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.old-"))
        data_dir.rename(old / data_dir.name)
    staging.rename(data_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(data_dir: Path) -> None:
    """Staging folders of builds that were killed before they could clean up."""
    for pattern in (f".{data_dir.name}.tmp-*", f".{data_dir.name}.old-*"):
        for leftover in data_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def describe(manifest: dict) -> str:
    parts = [f"source {manifest.get('source')}"]
    if "seed" in manifest:
        parts.append(f"seed {manifest['seed']}")
    rows = {k: v.get("rows") for k, v in manifest.get("files", {}).items()}
    if rows:
        parts.append(", ".join(f"{k} {v} rows" for k, v in rows.items()))
    return "; ".join(parts)
