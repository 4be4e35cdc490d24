"""Snapshots of collections in a backup folder, and restoring them into a data dir.

Layout::

    <backups>/<snapshot>/snapshot.json       what it holds: the collection, sequence, count, and each
                                              file's size and SHA-256; written last
    <backups>/<snapshot>/collection.json     the collection's manifest
    <backups>/<snapshot>/items.sqlite3       the item store as of ``sequence`` (one self-contained file)
    <backups>/<snapshot>/index.faiss         the collection's index snapshot and its meta file, as of
    <backups>/<snapshot>/index.meta.json     ``index_sequence`` <= ``sequence`` (absent: none to copy)
    <backups>/.tmp-<snapshot>-*              a snapshot being written

A snapshot is written into a temp folder and renamed into place, so a snapshot folder is always
whole; a crash leaves only a ``.tmp-*`` folder, which can be deleted. It is taken while the
collection serves (:meth:`~latentspace.indexer.collection.Collection.backup`: searches never wait,
writes only while an out-of-date index snapshot is written, never while the store is copied). The
store is the truth; the index is a head start that saves rebuilding it: restoring copies the files
into a new collection folder of a data dir (checking every digest on the way) under the name asked
for, commits it with one rename like a create, and opening it catches the index up from the store
copy, or rebuilds it when the snapshot has none.

Callers name snapshots; nothing here takes a path from a caller. Names are 1-128 letters, digits,
``_`` or ``-``, starting with a letter or digit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentspace.indexer.backends.base import CollectionBackend
from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.errors import AlreadyExists, FailedPrecondition, InvalidInput, SnapshotNotFound
from latentspace.indexer.store.atomic_files import fsync_dir, fsync_file, write_atomic

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.json"
#: The snapshot.json format this code writes and reads.
SNAPSHOT_FORMAT = 1
SNAPSHOT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_CHUNK = 1 << 20


def check_snapshot_name(name: object, field: str = "name") -> str:
    """A snapshot name: 1-128 of ``[A-Za-z0-9_-]``, starting with a letter or digit (so never a path)."""
    if not isinstance(name, str) or not SNAPSHOT_NAME_PATTERN.fullmatch(name):
        raise InvalidInput(f"snapshot name {name!r} is not valid: use 1-128 letters, digits, '_' or '-', "
                           "starting with a letter or digit", field=field)
    return name


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot holds (``snapshot.json``)."""

    name: str
    #: The name of the collection it was taken of.
    collection: str
    #: When it was taken (UTC, ISO 8601).
    created_at: str
    #: The store's sequence and item count as of the snapshot.
    sequence: int
    count: int
    #: The sequence of the index snapshot it holds; None: none (restoring rebuilds the index).
    index_sequence: int | None
    model: str | None
    dimension: int
    index_kind: str
    fingerprint: str | None
    #: Each file's ``{"bytes": size, "sha256": hex digest}``.
    files: dict[str, dict[str, Any]]

    @property
    def size_bytes(self) -> int:
        """The snapshot's size on disk."""
        return sum(int(f["bytes"]) for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, raw: Any, name: str) -> SnapshotInfo:
        """Parse ``snapshot.json``; the folder's name wins over the one recorded in it."""
        if not isinstance(raw, dict) or raw.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a snapshot of format {SNAPSHOT_FORMAT}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in raw.items() if k in known}, "name": name})


class BackupDir:
    """A folder of collection snapshots (see the module docstring); shared safely by several writers."""

    def __init__(self, path: Path | str):
        """Use (and create, when missing) the backup folder ``path``."""
        self.path = Path(path).expanduser().resolve()
        self.path.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ taking
    def snapshot(self, collection: CollectionBackend, name: str | None = None) -> SnapshotInfo:
        """Write a consistent copy of ``collection`` as snapshot ``name`` (default
        ``<collection>-<UTC date>-<time>-<4 hex>``) while it serves; ALREADY_EXISTS if the name is taken.
        Embedded collections only: another backend's collection is FAILED_PRECONDITION (its engine
        keeps its own backups)."""
        if not isinstance(collection, Collection):
            raise FailedPrecondition(
                f"collection {collection.name!r} is on the {collection.manifest.backend} backend, whose engine keeps "
                "its own backups (for Milvus, its backup tool); snapshots here copy embedded collections",
                field="collection", reason="BACKEND_UNSUPPORTED")
        name = _new_name(collection.name) if name is None else check_snapshot_name(name)
        if (self.path / name).exists():
            raise _exists(name)
        tmp = self.path / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            copied = collection.backup(tmp)
            manifest = collection.manifest
            files = {path.name: _describe(path) for path in sorted(tmp.iterdir())}
            info = SnapshotInfo(
                name=name, collection=collection.name,
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                sequence=copied.sequence, count=copied.count, index_sequence=copied.index_sequence,
                model=manifest.model, dimension=manifest.dimension, index_kind=manifest.index_kind,
                fingerprint=manifest.fingerprint, files=files)
            write_atomic(tmp / SNAPSHOT_FILE, (json.dumps(info.to_json(), indent=2) + "\n").encode("utf-8"))
            fsync_dir(tmp)
            try:
                os.rename(tmp, self.path / name)  # the commit point: a whole snapshot, or none
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise _exists(name) from None  # taken meanwhile by another writer
                raise
            fsync_dir(self.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already once renamed into place
        log.info("snapshot %r of collection %r: %d items at sequence %d", name, collection.name,
                 info.count, info.sequence)
        return info

    # ------------------------------------------------------------------ reading
    def snapshots(self) -> list[SnapshotInfo]:
        """Every whole snapshot in the folder, newest first (unreadable ones are logged and left out)."""
        snapshots = []
        for entry in self.path.iterdir():
            if SNAPSHOT_NAME_PATTERN.fullmatch(entry.name) and (entry / SNAPSHOT_FILE).is_file():
                try:
                    snapshots.append(self.describe(entry.name))
                except (SnapshotNotFound, FailedPrecondition):
                    log.warning("snapshot folder %s is not readable; leaving it out", entry)
        return sorted(snapshots, key=lambda s: (s.created_at, s.name), reverse=True)

    def describe(self, name: str, field: str = "snapshot") -> SnapshotInfo:
        """The snapshot ``name``; NOT_FOUND naming the known ones when there is none."""
        check_snapshot_name(name, field)
        path = self.path / name / SNAPSHOT_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(repr(s) for s in sorted(e.name for e in self.path.iterdir()
                                                      if (e / SNAPSHOT_FILE).is_file())) or "none"
            raise SnapshotNotFound(f"no snapshot {name!r} (known: {known})", field=field) from None
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"snapshot {name!r} is unreadable: {exc.__class__.__name__}",
                                     field=field) from None
        try:
            return SnapshotInfo.from_json(raw, name)
        except (TypeError, ValueError) as exc:
            raise FailedPrecondition(f"snapshot {name!r} is not valid: {exc}", field=field) from None

    # ------------------------------------------------------------------ restoring
    def restore(self, data: DataDir, snapshot: str, name: str | None = None) -> CollectionBackend:
        """Bring snapshot ``snapshot`` back as collection ``name`` (default: the collection it was
        taken of) in ``data``; ALREADY_EXISTS when that collection exists (nothing is overwritten)."""
        info = self.describe(snapshot)
        source = self.path / snapshot
        return data.add_collection(name or info.collection, lambda folder: _copy_verified(source, info, folder))


def _new_name(collection: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{collection}-{stamp}-{uuid.uuid4().hex[:4]}"


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"snapshot {name!r} already exists; choose another name", field="name")


def _describe(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _copy_verified(source: Path, info: SnapshotInfo, target: Path) -> None:
    """Copy the snapshot's files into ``target``, hashing as they go; a file that does not match
    its recorded size and digest refuses the restore (the backup was damaged)."""
    for file_name, expected in info.files.items():
        if Path(file_name).name != file_name or file_name == SNAPSHOT_FILE:
            raise FailedPrecondition(f"snapshot {info.name!r} lists a file it may not hold: {file_name!r}",
                                     field="snapshot")
        digest = hashlib.sha256()
        size = 0
        try:
            with (source / file_name).open("rb") as reader, (target / file_name).open("wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    writer.write(chunk)
        except FileNotFoundError:
            raise FailedPrecondition(f"snapshot {info.name!r} is damaged: {file_name} is missing",
                                     field="snapshot") from None
        if size != expected.get("bytes") or digest.hexdigest() != expected.get("sha256"):
            raise FailedPrecondition(f"snapshot {info.name!r} is damaged: {file_name} does not match its "
                                     "recorded digest", field="snapshot")
        fsync_file(target / file_name)
