"""Write files so that a reader never sees half of one.

Every writer goes to a temporary file in the destination's folder (same file system), flushes
and fsyncs it, then renames it into place. `create_new` links instead of renaming, so an
existing file is never replaced.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = _new_file(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp_path
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, with the permissions a plain open() would give
    (0666 less the umask, applied by the OS: mkstemp's 0600 would hide results from other
    users, and reading the umask means changing it, process-wide)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def new_dir(parent: Path, prefix: str) -> Path:
    """A new directory in `parent` named `prefix` and a random tail, with the permissions a
    plain mkdir gives (0777 less the umask, as `_new_file` does for files: mkdtemp's 0700
    would stay on data a build renames into place)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir(0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free directory name {prefix}* in {parent}")


def write_with(path: str | os.PathLike, writer: Callable[[BinaryIO], None]) -> Path:
    """Call `writer(fh)` on a temporary file, then atomically replace `path` with it."""
    path = Path(path)
    with _staged(path) as (fh, tmp):
        writer(fh)
    os.replace(tmp, path)
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_with(path, lambda fh: fh.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def create_new(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; raise FileExistsError rather than replace a file."""
    path = Path(path)
    with _staged(path) as (fh, tmp):
        fh.write(data)
    try:
        os.link(tmp, path)  # link() refuses an existing target, unlike rename()
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_array(path: Path, array) -> None:
    """One numpy array as .npy."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getvalue())


def write_arrays(path: Path, compressed: bool = False, **arrays) -> Path:
    """Named numpy arrays as one .npz (deflated with `compressed`)."""
    import numpy as np

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())
