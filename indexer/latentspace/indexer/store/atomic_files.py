"""Crash-safe file replacement: write a temp file, fsync it, rename it over the target, fsync the folder.

A reader (or the next process after a crash) sees either the old file or the new one, never a
half-written one. The folder fsync makes the rename itself durable; without it a power loss can
bring back the old name after the write was reported done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: The names ``replacing`` gives its temp files: ``.<target name>.<12 hex digits>.tmp``.
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new names, renames, unlinks) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush one file's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on a clean exit it atomically becomes ``path``.

    The caller writes the temp file by any means (``faiss.write_index``, ``open``...). On an
    exception the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    # Same folder, so os.replace is a rename within one file system (atomic), never a copy.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes | memoryview) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def remove_temp_files(folder: Path) -> int:
    """Delete the temp files ``replacing`` left in ``folder`` when a process died mid-write (a
    killed snapshot leaves one as large as the index); return how many.

    Only while nothing writes into ``folder`` (a collection calls it as it opens, under the data
    dir's lock).
    """
    removed = 0
    for entry in Path(folder).iterdir():
        if _TEMP_NAME.fullmatch(entry.name) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    if removed:
        log.info("removed %d leftover temp file(s) in %s", removed, Path(folder).name)
    return removed
