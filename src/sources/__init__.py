"""Where `make data` gets the competition files from.

Each source module offers `fetch(data_dir, settings) -> manifest dict`, which fills `data_dir`
with Kaggle's three files (each written atomically) and returns what it did, and
`identity(settings) -> dict`, the manifest fields that say the data in place is what was asked.
This module picks the source, skips work already done, and writes the manifest last, so a data
dir with a manifest is always complete.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic_io import write_text
from ..errors import DataError
from . import replica

MANIFEST = "manifest.json"
FILES = ("train.csv", "test.csv", "sample_submission.csv")
SOURCES = {"replica": replica}


def read_manifest(data_dir: str | Path) -> dict | None:
    path = Path(data_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is unreadable ({err}): delete it and run `make data`") from None


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
        raise DataError(f"unknown data source '{source}': choose one of {', '.join(SOURCES)}")
    data_dir = Path(data_dir)
    current = read_manifest(data_dir)
    wanted = SOURCES[source].identity(settings)
    if not force and is_complete(data_dir, current) and all(
        current.get(k) == v for k, v in wanted.items()
    ):
        return f"data already in {data_dir} ({describe(current)}): nothing to do (FORCE=1 rebuilds)"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MANIFEST).unlink(missing_ok=True)  # the dir is incomplete until the end
    manifest = SOURCES[source].fetch(data_dir, settings)
    write_text(data_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return f"wrote {data_dir} ({describe(manifest)})"


def describe(manifest: dict) -> str:
    parts = [f"source {manifest.get('source')}"]
    if "seed" in manifest:
        parts.append(f"seed {manifest['seed']}")
    rows = {k: v.get("rows") for k, v in manifest.get("files", {}).items()}
    if rows:
        parts.append(", ".join(f"{k} {v} rows" for k, v in rows.items()))
    return "; ".join(parts)
