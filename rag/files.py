"""Small file helpers shared by the stages: the one sha256 of a file or a text, and the one way to write a file
all at once or not at all."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    """The sha256 of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """The sha256 of a text's UTF-8 bytes (content hashes, embedding cache keys, chunk ids)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(dest: Path, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write `dest` all at once or not at all. Yields a binary file beside it under a hidden name that keeps
    dest's suffix (its `.name` can be read back before it is placed); when the block ends without an error the
    file is flushed, fsynced and moved into place, with os.replace, or with os.link when `overwrite` is False
    (FileExistsError if `dest` appeared meanwhile). On an error nothing is placed and the temporary is removed."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{dest.suffix}")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(dest: Path, data: str | bytes, overwrite: bool = True) -> None:
    """atomic_file for a whole text (UTF-8) or bytes."""
    with atomic_file(dest, overwrite) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def swap_folder(tmp: Path, dest: Path) -> None:
    """Put the finished folder `tmp` at `dest` (a sibling), replacing what was there: the old one is renamed
    aside first and removed after, so `dest` is always the old folder or the whole new one."""
    old = None
    if dest.exists() or dest.is_symlink():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(dest, old)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
