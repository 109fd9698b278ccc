"""The competition's own files, downloaded with the Kaggle API.

The archive is checked before anything is extracted: a readable zip whose CRCs match, no member
that would land outside the data dir, Kaggle's three files with their headers and row counts.
"""

from __future__ import annotations

import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from src.data import digits_csv
from src.kaggle import api_client
from src.submissions import submission_csv
from src.utils.atomic_io import write_bytes
from src.utils.errors import DataError

HEADERS = {
    "train.csv": ",".join(digits_csv.HEADERS["train"]),
    "test.csv": ",".join(digits_csv.HEADERS["test"]),
    "sample_submission.csv": ",".join(submission_csv.HEADER),
}


def identity(settings: dict) -> dict:
    return {"source": "kaggle", "competition": settings["competition"]}


def fetch(staging: Path, data_dir: Path, settings: dict) -> dict:
    client = api_client.connect(settings)
    print(f"kaggle: downloading {settings['competition']} ({client.source})", flush=True)
    with tempfile.TemporaryDirectory(dir=staging) as tmp:
        archive = client.download(Path(tmp))
        files = extract(archive, staging, dict(settings["expected_rows"]))
    for name, info in files.items():
        print(f"kaggle: wrote {data_dir / name} ({info['rows']} rows)", flush=True)
    return {**identity(settings), "files": files}


def extract(archive: Path, dest: Path, expected_rows: dict[str, int]) -> dict:
    """Check `archive` whole, then write its three CSVs into `dest`; return their stats."""
    problem = f"the downloaded {archive.name}"
    fix = "run `make data SOURCE=kaggle` again"
    if not zipfile.is_zipfile(archive):
        raise DataError(f"{problem} is not a zip archive (truncated, or an error page); {fix}")
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                parts = PurePosixPath(name.replace("\\", "/")).parts
                if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
                    raise DataError(f"{problem} holds '{name}', which would land outside the "
                                    "data dir: refusing it")
            missing = sorted(set(HEADERS) - set(zf.namelist()))
            if missing:
                raise DataError(f"{problem} lacks {', '.join(missing)}; {fix}")
            corrupt = zf.testzip()
            if corrupt:
                raise DataError(f"{problem} is corrupt ({corrupt} fails its CRC); {fix}")
            contents = {name: zf.read(name) for name in HEADERS}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise DataError(f"{problem} is truncated or corrupt ({err}); {fix}") from None

    stats = {}
    for name, data in contents.items():
        header, _, body = data.partition(b"\n")
        if header.decode("latin-1").strip() != HEADERS[name]:
            raise DataError(f"{problem}: {name} does not start with Kaggle's header; {fix}")
        rows = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
        expected = expected_rows[Path(name).stem]
        if rows != expected:
            raise DataError(f"{problem}: {name} has {rows} rows, expected {expected} "
                            f"(kaggle.expected_rows.{Path(name).stem}); {fix}")
        stats[name] = {"rows": rows, "bytes": len(data)}
    for name, data in contents.items():
        write_bytes(dest / name, data)
    return stats
