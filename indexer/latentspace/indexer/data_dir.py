"""A data directory: the collections one process serves, under an exclusive lock.

Layout::

    <data>/LOCK                      held with flock by the one process using the dir (pid, host, start)
    <data>/collections/<name>/       one folder per collection (see ``collection.py``)
    <data>/collections/.tmp-*        a collection being created (renamed into place when complete)
    <data>/collections/.trash-*      a dropped collection being removed

Creating a collection builds it in a temp folder and renames it into place, so a crash mid-create
leaves only a ``.tmp-*`` folder, which the next open removes; it never leaves half a collection.

The data dir's lock guards only the cache of open collections and the renames that commit a create
or a drop. Slow work is done outside it, so that requests on other collections never wait for it:
a create loads the model, trial-runs the index kind and writes the new folder before taking it; a
drop renames the folder away under it, then waits for work in flight and deletes outside it;
opening a collection (loading a large index) happens outside it, and other requests for that
collection wait for the open, each no longer than its own deadline.

Index snapshots and compactions run on one background thread per data dir
(:class:`~latentspace.indexer.maintenance.MaintenanceQueue`).

Collections of other backends (Milvus) are not folders: a :class:`CollectionCatalog` per backend
lists, creates, opens and drops them, and keeps their manifests where every process sees them. The
data dir hands them out beside its own, by name (a name is unique across backends).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from latentspace.indexer import deadline
from latentspace.indexer.backends.base import CollectionBackend, CollectionCatalog
from latentspace.indexer.collection import SNAPSHOT_EVERY, Collection
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    AlreadyExists,
    CollectionNotFound,
    DataDirLocked,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    LatentSpaceError,
    ModelUnavailable,
    Unavailable,
)
from latentspace.indexer.index.auto_kind import AUTO, AutoIndexPolicy
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits
from latentspace.indexer.live_index import MaintenanceReport
from latentspace.indexer.maintenance import MaintenanceQueue
from latentspace.indexer.manifest import EMBEDDED, MANIFEST_FILE, MAX_DIMENSION, CollectionManifest
from latentspace.indexer.model_access import ModelAccess
from latentspace.indexer.model_spec import ModelSpec, parse_model_spec
from latentspace.indexer.store.atomic_files import fsync_dir
from latentspace.indexer.validation import check_backend, check_index_kind

log = logging.getLogger(__name__)

LOCK_FILE = "LOCK"
COLLECTIONS_FOLDER = "collections"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class EncoderSource(Protocol):
    """What the data dir needs from the encoder registry: a (shared, cached) encoder per spec, and a
    count of its users so that a model no open collection uses is evicted."""

    def get(self, spec: ModelSpec) -> Encoder:
        """The loaded encoder for ``spec``."""
        ...

    def acquire(self, spec: ModelSpec) -> None:
        """One more user of ``spec``'s model (an open collection, a create in progress)."""
        ...

    def release(self, spec: ModelSpec) -> None:
        """One user fewer; the last one's release evicts the model."""
        ...


def check_name(name: object) -> str:
    """A collection name: 1-64 of ``[A-Za-z0-9_-]``, starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"collection name {name!r} is not valid: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit", field="name")
    return name


class DataDir:
    """The collections of one data directory; see the module docstring for the layout."""

    def __init__(self, path: Path, lock_fd: int, encoder_registry: EncoderSource | None, snapshot_every: int,
                 background: bool = True, report: MaintenanceReport | None = None,
                 auto_policy: AutoIndexPolicy | None = None, catalogs: Sequence[CollectionCatalog] = (),
                 default_backend: str = EMBEDDED):
        """Use :meth:`DataDir.open`, which takes the lock first."""
        self._catalogs = {catalog.backend: catalog for catalog in catalogs}
        self.default_backend = default_backend
        self.auto_policy = auto_policy or AutoIndexPolicy()
        self.path = path
        self._collections_path = path / COLLECTIONS_FOLDER
        self._lock_fd: int | None = lock_fd
        self._registry = encoder_registry
        self._snapshot_every = snapshot_every
        self._report = report
        self.maintenance = MaintenanceQueue() if background else None
        self._open: dict[str, CollectionBackend] = {}
        # Collections being opened outside the lock: other callers wait on the future.
        self._opening: dict[str, _Opening] = {}
        # Guards the cache and folder changes; collections lock themselves for their own work.
        self._lock = threading.RLock()
        # Names whose dropped collection object is still closing (it may still write into its old
        # folder path until then): a new collection of that name waits for it. Signalled on _changed.
        self._dropping: set[str] = set()
        self._changed = threading.Condition(self._lock)

    @classmethod
    def open(
        cls,
        path: Path | str,
        encoder_registry: EncoderSource | None = None,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        background: bool = True,
        report: MaintenanceReport | None = None,
        auto_policy: AutoIndexPolicy | None = None,
        catalogs: Sequence[CollectionCatalog] = (),
        default_backend: str = EMBEDDED,
    ) -> DataDir:
        """Lock and open a data dir (created if absent); :class:`DataDirLocked` at once if in use.

        ``background=False`` runs snapshots and compactions inline, in the writer's thread (tools
        that write and exit); ``report(job, collection, seconds)`` hears about each one.
        ``catalogs`` add the collections of other backends (closed with the data dir);
        ``default_backend`` is where a create that names none puts a collection.
        """
        root = Path(path).expanduser().resolve()
        (root / COLLECTIONS_FOLDER).mkdir(parents=True, exist_ok=True)
        fd = _acquire_lock(root)
        data_dir = cls(root, fd, encoder_registry, snapshot_every, background, report, auto_policy, catalogs,
                       default_backend)
        data_dir._remove_leftovers()
        return data_dir

    def _remove_leftovers(self) -> None:
        """Remove half-created and half-dropped collection folders (we hold the lock: none is live)."""
        for entry in self._collections_path.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir():
                log.info("removing leftover folder %s", entry)
                shutil.rmtree(entry, ignore_errors=True)

    # ------------------------------------------------------------------ collections
    def create_collection(
        self,
        name: str,
        model: str | None,
        dimension: int | None = None,
        index_kind: str | None = None,
        if_not_exists: bool = False,
        index_kind_limits: IndexKindLimits | None = None,
        backend: str | None = None,
        model_access: ModelAccess | None = None,
    ) -> CollectionBackend:
        """Create a collection for ``model`` (a spec or alias) or, with ``model=None``, raw vectors.

        For a model, the encoder is loaded to learn its dimension and weights fingerprint; a given
        ``dimension`` must match it. A vector-only collection needs ``dimension`` (1..65536).
        With ``if_not_exists`` an existing collection of the same model is returned as is.
        ``index_kind`` None (or ``auto``) lets the kind follow the collection's size (see
        :mod:`~latentspace.indexer.index.auto_kind`); ``index_kind_limits`` bound the kinds a
        caller may name (default: ``IndexKindLimits()``). ``backend`` (default: the data dir's
        default) is ``embedded`` or the backend of a configured catalog (``milvus``).
        ``model_access`` is what a remote caller may name (the server passes its operator's; local
        tools pass None, full access): checked before anything is read for the model.
        """
        check_name(name)
        spec = parse_model_spec(model) if model is not None else None
        if spec is not None and model_access is not None:
            model_access.check(spec)
        kind = (index_kind or AUTO).strip()
        catalog = self._catalog_for(backend)
        with self._lock:
            self._check_open()
            if (self._collections_path / name).exists():
                return self._existing(name, spec, dimension, if_not_exists)
        if self._catalogs and self._in_catalog(name) is not None:
            return self._existing(name, spec, dimension, if_not_exists)
        # A create in progress uses its model: held until the new collection, open, holds it itself,
        # and released on failure, so a failed create leaves no model loaded.
        if spec is not None and self._registry is not None:
            self._registry.acquire(spec)
        try:
            if catalog is not None:
                return self._create_in(catalog, name, spec, dimension, kind, if_not_exists, index_kind_limits)
            return self._create(name, spec, dimension, kind, if_not_exists, index_kind_limits)
        finally:
            if spec is not None and self._registry is not None:
                self._registry.release(spec)

    def _create(self, name: str, spec: ModelSpec | None, dimension: int | None, kind: str,
                if_not_exists: bool, index_kind_limits: IndexKindLimits | None) -> CollectionBackend:
        # The slow part runs without the data dir's lock: loading the model, trial-running the index
        # kind and writing the new folder must not stall requests on other collections.
        manifest = self._new_manifest(name, spec, dimension, kind, index_kind_limits)
        tmp = self._collections_path / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            Collection.initialize(tmp, manifest)
            fsync_dir(tmp)
            with self._lock:
                self._changed.wait_for(lambda: name not in self._dropping)
                self._check_open()
                folder = self._collections_path / name
                if folder.exists():  # created meanwhile by another caller
                    return self._existing(name, spec, dimension, if_not_exists)
                os.rename(tmp, folder)  # the commit point: before it, no collection; after, a whole one
                fsync_dir(self._collections_path)
                return self._open_collection(name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already once renamed into place

    def _catalog_for(self, backend: str | None) -> CollectionCatalog | None:
        """The catalog of ``backend`` (None: the embedded one); FailedPrecondition when not configured."""
        backend = check_backend(backend) or self.default_backend
        if backend == EMBEDDED:
            return None
        catalog = self._catalogs.get(backend)
        if catalog is None:
            raise FailedPrecondition(f"backend {backend!r} is not configured on this server; its operator sets "
                                     f"--{backend}-uri (LATENTSPACE_{backend.upper()}_URI)", field="backend",
                                     reason="BACKEND_NOT_CONFIGURED")
        return catalog

    def _in_catalog(self, name: str) -> CollectionCatalog | None:
        """The catalog that holds collection ``name`` (None: none does)."""
        for catalog in self._catalogs.values():
            if catalog.exists(name):
                return catalog
        return None

    def _create_in(self, catalog: CollectionCatalog, name: str, spec: ModelSpec | None, dimension: int | None,
                   kind: str, if_not_exists: bool, limits: IndexKindLimits | None) -> CollectionBackend:
        """Create ``name`` in another backend's catalog: the same manifest, the backend's index kinds."""
        manifest = self._new_manifest(name, spec, dimension, kind, limits, catalog)
        try:
            catalog.create(manifest)
        except AlreadyExists:  # created meanwhile by another caller or another server
            return self._existing(name, spec, dimension, if_not_exists)
        collection = self.collection(name)
        if collection.manifest != manifest:  # another server created it at the same moment
            return self._existing(name, spec, dimension, if_not_exists)
        return collection

    def add_collection(self, name: str, populate: Callable[[Path], None]) -> CollectionBackend:
        """Create collection ``name`` from whole files, e.g. a backup being restored.

        ``populate(folder)`` writes a collection's files (its manifest and store, optionally an index
        snapshot) into an empty temp folder; the manifest is given the name ``name``, and the folder
        is committed by one rename, as a create is. The collection is then opened (outside the lock),
        which catches its index up from its store or rebuilds it. ALREADY_EXISTS if ``name`` is taken.
        """
        check_name(name)
        with self._lock:
            self._check_open()
            if (self._collections_path / name).exists():
                raise self._taken(name)
        if self._catalogs and self._in_catalog(name) is not None:  # a name is unique across backends
            raise self._taken(name)
        tmp = self._collections_path / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            populate(tmp)
            manifest = CollectionManifest.load(tmp)
            if manifest.name != name:
                dataclasses.replace(manifest, name=name).save(tmp)
            fsync_dir(tmp)
            with self._lock:
                self._changed.wait_for(lambda: name not in self._dropping)
                self._check_open()
                if (self._collections_path / name).exists():  # created meanwhile
                    raise self._taken(name)
                os.rename(tmp, self._collections_path / name)
                fsync_dir(self._collections_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.collection(name)

    @staticmethod
    def _taken(name: str) -> AlreadyExists:
        return AlreadyExists(f"collection {name!r} already exists; drop it first or choose another name",
                             field="name")

    def _existing(self, name: str, spec: ModelSpec | None, dimension: int | None,
                  if_not_exists: bool) -> CollectionBackend:
        existing = self.collection(name)
        wanted = spec.canonical if spec is not None else None
        same = existing.manifest.model == wanted and dimension in (None, existing.dimension)
        if if_not_exists and same:
            return existing
        held = _shown(existing.manifest.model)
        raise AlreadyExists(
            f"collection {name!r} already exists with model {held} and dimension {existing.dimension}"
            + ("" if same else f"; you asked for model {spec.redacted if spec else 'none (vector-only)'}"
               + (f" and dimension {dimension}" if dimension is not None else ""))
            + ". Drop it first or choose another name.", field="name")

    def _new_manifest(self, name: str, spec: ModelSpec | None, dimension: int | None, kind: str,
                      index_kind_limits: IndexKindLimits | None = None,
                      catalog: CollectionCatalog | None = None) -> CollectionManifest:
        fingerprint = None
        if spec is not None:
            if self._registry is None:
                raise ModelUnavailable(f"cannot create collection {name!r} with model {spec.redacted}: this data dir "
                                       "was opened without an encoder registry", field="model")
            encoder = self._registry.get(spec)
            if dimension is not None and dimension != encoder.dimension:
                raise InvalidInput(f"model {spec.redacted} gives {encoder.dimension}-d vectors, not {dimension}; "
                                   "leave dimension unset for a model", field="dimension")
            dimension, fingerprint = encoder.dimension, encoder.fingerprint
        elif isinstance(dimension, bool) or not isinstance(dimension, int) \
                or not 1 <= dimension <= MAX_DIMENSION:
            raise InvalidInput(f"a vector-only collection needs a dimension in 1..{MAX_DIMENSION}, "
                               f"got {dimension!r}", field="dimension")
        if catalog is not None:  # the backend builds its own kinds, in its own processes
            catalog.check_index_kind(kind, dimension, index_kind_limits)
            return CollectionManifest.new(name, spec.canonical if spec else None, dimension, kind, fingerprint,
                                          backend=catalog.backend)
        kind = check_index_kind(kind, dimension, index_kind_limits)
        return CollectionManifest.new(name, spec.canonical if spec else None, dimension, kind, fingerprint)

    def collection(self, name: str) -> CollectionBackend:
        """The open collection ``name``; :class:`CollectionNotFound` naming the known ones.

        A collection that is not open yet is opened outside the data dir's lock (its index may take
        a while to load); concurrent callers for it wait, each at most until its request's deadline.
        """
        with self._lock:
            self._check_open()
            if name in self._open:
                if self._still_current(self._open[name]):
                    return self._open[name]
                self._close(self._open.pop(name), dropped=True)  # gone from its backend: look again
            opening = self._opening.get(name)
            leader = opening is None
            if opening is None:
                if not self._on_disk(name) and not (self._catalogs and self._in_catalog(name)):
                    raise self._not_found(name)
                opening = self._opening[name] = _Opening()
        if not leader:
            return opening.wait(name)
        try:
            collection = self._make_collection(name)
        except BaseException as failure:
            with self._lock:
                del self._opening[name]
            opening.finish(error=failure)
            raise
        with self._lock:
            del self._opening[name]
            if self._lock_fd is None or name in self._dropping or not self._exists(name, collection):
                # Closed or dropped while it was opening: hand out nothing of it.
                self._close(collection, dropped=self._lock_fd is not None)
                gone: LatentSpaceError = Unavailable(f"data dir {self.path.name!r} is closed") \
                    if self._lock_fd is None else self._not_found(name)
                opening.finish(error=gone)
                raise gone
            self._open[name] = collection
        opening.finish(collection=collection)
        return collection

    def opened(self, name: str) -> CollectionBackend | None:
        """The collection ``name`` if it is open and embedded, else None; never opens one or asks a
        remote catalog (for callers that must not wait)."""
        # No lock: a drop may hold it across a remote call. One dict read is atomic, and a
        # collection closed just after it is read refuses its searches as closed.
        collection = self._open.get(name)
        return collection if collection is not None and collection.manifest.backend == EMBEDDED else None

    def _still_current(self, collection: CollectionBackend) -> bool:
        catalog = self._catalogs.get(collection.manifest.backend)
        return catalog is None or catalog.is_current(collection)

    def _exists(self, name: str, collection: CollectionBackend) -> bool:
        return self._on_disk(name) if collection.manifest.backend == EMBEDDED else self._still_current(collection)

    def _on_disk(self, name: str) -> bool:
        return isinstance(name, str) and bool(NAME_PATTERN.fullmatch(name)) \
            and (self._collections_path / name / MANIFEST_FILE).is_file()

    def _not_found(self, name: str) -> CollectionNotFound:
        known = ", ".join(repr(n) for n in self.names()) or "none"
        # Names only: a caller must never learn where the server keeps its data.
        return CollectionNotFound(f"no collection {name!r} (known: {known})", field="name")

    def _open_collection(self, name: str) -> CollectionBackend:
        collection = self._make_collection(name)
        self._open[name] = collection
        return collection

    def _make_collection(self, name: str) -> CollectionBackend:
        """Open a collection; while open it counts as a user of its model (see :meth:`_close`)."""
        if not self._on_disk(name):
            return self._open_from_catalog(name)
        folder = self._collections_path / name
        model = CollectionManifest.load(folder).model
        spec = parse_model_spec(model) if model is not None and self._registry is not None else None
        if spec is not None and self._registry is not None:
            self._registry.acquire(spec)
        try:
            return Collection(folder, self._loader(spec), snapshot_every=self._snapshot_every,
                              maintenance=self.maintenance.schedule if self.maintenance else None,
                              report=self._report, auto_policy=self.auto_policy)
        except BaseException:
            if spec is not None and self._registry is not None:
                self._registry.release(spec)
            raise

    def _open_from_catalog(self, name: str) -> CollectionBackend:
        catalog = self._in_catalog(name) if self._catalogs else None
        if catalog is None:
            raise self._not_found(name)
        collection = catalog.open(name, lambda manifest: self._loader(self._spec_of(manifest)),
                                  self.maintenance.schedule if self.maintenance else None)
        # Counted once open (its model loads lazily, on first use), released by _close as an embedded one.
        spec = self._spec_of(collection.manifest)
        if spec is not None and self._registry is not None:
            self._registry.acquire(spec)
        return collection

    def _spec_of(self, manifest: CollectionManifest) -> ModelSpec | None:
        return parse_model_spec(manifest.model) if manifest.model is not None and self._registry is not None \
            else None

    def _loader(self, spec: ModelSpec | None) -> Callable[[], Encoder] | None:
        registry = self._registry
        if spec is None or registry is None:
            return None
        return lambda: registry.get(spec)

    def _close(self, collection: CollectionBackend, *, dropped: bool = False) -> None:
        """Close a collection this data dir opened, and release its model (evicted if it was the last user)."""
        try:
            collection.close(dropped=dropped)
        finally:
            if collection.manifest.model is not None and self._registry is not None:
                self._registry.release(parse_model_spec(collection.manifest.model))

    def names(self) -> list[str]:
        """Names of the collections in this data dir and in the configured catalogs, sorted."""
        names = {
            entry.name for entry in self._collections_path.iterdir()
            if NAME_PATTERN.fullmatch(entry.name) and (entry / MANIFEST_FILE).is_file()
        }
        for catalog in self._catalogs.values():
            names.update(n for n in catalog.names() if NAME_PATTERN.fullmatch(n))
        return sorted(names)

    def list_collections(self) -> list[CollectionBackend]:
        """Every collection, opened (one that cannot be opened is logged and left out)."""
        collections = []
        for name in self.names():
            try:
                collections.append(self.collection(name))
            except CollectionNotFound:
                continue  # dropped meanwhile
            except (LatentSpaceError, OSError, sqlite3.Error):
                log.exception("collection %r cannot be opened; leaving it out", name)
        return collections

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its folder. Holders of its object get CollectionNotFound after.

        Under the data dir's lock the folder is renamed away (the name is free from then on); the
        wait for the collection's work in flight and the deletion run outside it. A new collection
        of the same name waits until the old object is closed, as that may still write by path.
        """
        while True:
            with self._lock:
                opening = self._opening.get(name)
            if opening is None:
                break
            opening.settled.wait()  # let an open in progress finish, then drop what it opened
        with self._lock:
            self._check_open()
            collection = self._open.get(name)
            if not self._on_disk(name) and self._catalogs:
                self._drop_from_catalog(name, collection)
                return
            if collection is None and not self._on_disk(name):
                raise self._not_found(name)
            if collection is not None:
                collection.mark_dropped()  # new calls on it fail at once, even before close()
                del self._open[name]
                self._dropping.add(name)
            trash = self._collections_path / f".trash-{name}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self._collections_path / name, trash)  # atomic: the name is free from here on
                fsync_dir(self._collections_path)
            except BaseException:
                if collection is not None:
                    self._dropping.discard(name)
                    self._changed.notify_all()
                raise
        try:
            if collection is not None:
                # Takes the collection's lock: an in-flight write or search finishes first.
                self._close(collection, dropped=True)
        finally:
            if collection is not None:
                with self._lock:
                    self._dropping.discard(name)
                    self._changed.notify_all()
            shutil.rmtree(trash, ignore_errors=True)

    def _drop_from_catalog(self, name: str, collection: CollectionBackend | None) -> None:
        """Drop a collection of another backend (under the data dir's lock, held by the caller)."""
        catalog = self._in_catalog(name)
        if catalog is None:
            if collection is not None:  # dropped elsewhere already: forget ours
                self._close(self._open.pop(name), dropped=True)
            raise self._not_found(name)
        if collection is not None:
            collection.mark_dropped()
            del self._open[name]
        try:
            catalog.drop(name)
        finally:
            if collection is not None:
                self._close(collection, dropped=True)

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise Unavailable("the server is shutting down (its data dir is closed)")

    def wait_for_maintenance(self, timeout: float | None = None) -> bool:
        """Wait until no snapshot or compaction is queued or running (tests and tools use it)."""
        return self.maintenance.wait_idle(timeout) if self.maintenance else True

    def close(self) -> None:
        """Close every collection (snapshotting their indexes) and release the lock (idempotent)."""
        if self.maintenance is not None:
            self.maintenance.close()  # queued jobs are dropped: close() snapshots what changed
        with self._lock:
            if self._lock_fd is None:
                return
            self._changed.wait_for(lambda: not self._dropping)  # drops in progress finish closing
            if self._lock_fd is None:
                return
            for collection in self._open.values():
                self._close(collection)
            self._open.clear()
            for catalog in self._catalogs.values():
                catalog.close()
            fd, self._lock_fd = self._lock_fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # while still holding it, so a new holder's details are never erased
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r})"


def _shown(model: str | None) -> str:
    """A stored model spec as messages to callers show it (a local folder without its path)."""
    return parse_model_spec(model).redacted if model is not None else "none (vector-only)"


class _Opening:
    """A collection being opened by one caller, which others wait for."""

    def __init__(self) -> None:
        self.settled = threading.Event()
        self._collection: CollectionBackend | None = None
        self._error: BaseException | None = None

    def finish(self, collection: CollectionBackend | None = None, error: BaseException | None = None) -> None:
        self._collection, self._error = collection, error
        self.settled.set()

    def wait(self, name: str) -> CollectionBackend:
        remaining = deadline.remaining()
        if not self.settled.wait(None if remaining is None else max(remaining, 0.0)):
            raise DeadlineExceeded(f"collection {name!r} is still opening (loading its index); "
                                   "try again shortly or allow a longer deadline", field="collection")
        if self._error is not None:
            raise self._error
        assert self._collection is not None
        return self._collection


def _acquire_lock(root: Path) -> int:
    """Take ``<root>/LOCK`` with a non-blocking flock and write who holds it; fail at once if held.

    flock is released by the kernel when the holder dies (even by SIGKILL), so a stale LOCK file
    never blocks a restart. The fd is not inherited by child processes (Python's default).
    """
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_holder(fd) if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
        os.close(fd)
        if holder is None and exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise FailedPrecondition(f"cannot lock data dir {root}: {exc}") from exc
        raise DataDirLocked(f"data dir {root} is in use by {holder}; stop that process or use another --data",
                            field="data_dir") from None
    info = {"pid": os.getpid(), "hostname": socket.gethostname(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    """Describe the lock holder from the file; it may still be writing it, so retry briefly."""
    for _ in range(10):
        try:
            info = json.loads(os.pread(fd, 4096, 0))
            return f"pid {info['pid']} on {info['hostname']} (started {info['started_at']})"
        except (ValueError, KeyError, TypeError, OSError):
            time.sleep(0.02)
    return "another process (its pid could not be read from the LOCK file)"
