"""What a running server holds: the data dir, the models, the request threads, and per collection
the objects that serve it.

Handlers hand their blocking work to :meth:`ServerState.run` (one hop to a request thread, with the
request's context, so its id and deadline go along). Request threads mostly wait: model calls and
FAISS searches run in micro-batches (:mod:`.batching`), one model batch at a time per model and a
few search batches at a time per collection, so the CPU is shared by batches, not by threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import faiss

from latentspace.indexer import deadline
from latentspace.indexer.backends.base import CollectionBackend, CollectionCatalog
from latentspace.indexer.backup import BackupDir
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.decoders.base import Decoder
from latentspace.indexer.decoders.registry import DecoderRegistry
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.errors import BackupDirNotSet
from latentspace.indexer.operations import LatentOperations
from latentspace.server.admission import AdmissionGate
from latentspace.server.batched_encoder import BatchedEncoder
from latentspace.server.batched_search import BatchedSearch
from latentspace.server.hit_protos import HitProtos
from latentspace.server.metrics import Metrics
from latentspace.server.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class CollectionServing:
    """One open collection as the handlers use it: operations over batched search, hit messages."""

    collection: CollectionBackend
    operations: LatentOperations
    hits: HitProtos


class ServerState:
    """Shared by both servicers; created by ``build_server`` and closed on shutdown."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.model_access = settings.model_access()
        self.metrics = metrics or Metrics()
        #: The bound on calls in flight (the interceptor admits through it).
        self.gate = AdmissionGate(settings.max_in_flight)
        faiss.omp_set_num_threads(settings.search_threads)
        self.encoders = EncoderRegistry(
            settings.encoder_options(),
            wrap=self._batched if settings.micro_batching else None,
            on_load=self.metrics.model_loaded,
        )
        # Before the data dir's lock is taken: a backup folder that cannot be made fails the start cleanly.
        self._backups = BackupDir(settings.backup_dir) if settings.backup_dir is not None else None
        catalogs = _catalogs(settings)
        try:
            self.data = DataDir.open(settings.data_dir, self.encoders, snapshot_every=settings.snapshot_every,
                                     report=self.metrics.maintenance_ran, auto_policy=settings.auto_index_policy(),
                                     catalogs=catalogs, default_backend=settings.default_backend)
        except BaseException:
            for catalog in catalogs:
                catalog.close()
            raise
        self.metrics.watch_collections(self._collection_sizes)
        self.decoders = DecoderRegistry()
        self.started = time.monotonic()
        # OpenMP's thread count is per thread: set in this one only, the request threads (which run
        # the searches) would use every core per search, and a team waiting at a barrier for a
        # descheduled sibling stalls on a shared machine (benchmarks/README.md).
        self._executor = ThreadPoolExecutor(settings.request_threads(), thread_name_prefix="latent-request",
                                            initializer=faiss.omp_set_num_threads,
                                            initargs=(settings.search_threads,))
        self._serving: dict[str, CollectionServing] = {}
        self._lock = threading.Lock()

    def _batched(self, encoder: Encoder) -> Encoder:
        return BatchedEncoder(encoder, max_batch=self.settings.batch_size,
                              max_wait=self.settings.batch_wait_ms / 1000, observer=self.metrics,
                              encoded=self.metrics.items_encoded)

    def adopt_loop_thread(self) -> None:
        """Call on the event loop's thread: it runs short searches too (:meth:`with_serving`), with
        the request threads' FAISS threads."""
        faiss.omp_set_num_threads(self.settings.search_threads)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work on a request thread, keeping the request's context (id, deadline).

        A request whose caller gave up while it waited for a thread is dropped there, unstarted.
        """
        context = contextvars.copy_context()
        call = functools.partial(context.run, _started, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def with_serving(self, name: str, work: Callable[[CollectionServing], T], *, short: bool = False) -> T:
        """``work(the serving objects of collection name)`` on a request thread, in one hop.

        ``short`` work (a k-NN search needing no model: about a millisecond) runs on the event loop
        itself when the call is alone: no other call is waiting for the loop, and the hop would cost
        two thread wake-ups and ~0.1 ms of CPU (benchmarks/README.md, Benchmark 1).
        """
        if short and self.gate.alone():
            serving = self._opened(name)
            if serving is not None:
                return _started(work, serving)
        return await self.run(lambda: work(self.serving(name)))

    def _opened(self, name: str) -> CollectionServing | None:
        """The serving objects of an open embedded collection already served, else None (without
        opening anything: the caller is on the event loop)."""
        collection = self.data.opened(name)
        # No lock: serving() holds it while it builds serving objects (a model may load meanwhile);
        # one dict read is atomic.
        cached = self._serving.get(name)
        return cached if cached is not None and collection is not None and cached.collection is collection else None

    def collection(self, name: str) -> CollectionBackend:
        return self.data.collection(name)

    def backups(self) -> BackupDir:
        """The operator's backup folder; FAILED_PRECONDITION naming the setting when there is none."""
        if self._backups is None:
            raise BackupDirNotSet("this server keeps no snapshots: its operator has not set a backup folder "
                                  "(latent serve --backup-dir, or LATENTSPACE_BACKUP_DIR)")
        return self._backups

    def serving(self, name: str) -> CollectionServing:
        """The serving objects of a collection, rebuilt if it was dropped and created again."""
        collection = self.data.collection(name)
        with self._lock:
            cached = self._serving.get(name)
            if cached is None or cached.collection is not collection:
                cached = self._serve(collection)
                self._serving[name] = cached
            return cached

    def drop_collection(self, name: str) -> None:
        """Drop a collection and forget its serving objects, so nothing keeps its model in memory."""
        self.data.drop_collection(name)
        with self._lock:
            self._serving.pop(name, None)

    def _serve(self, collection: CollectionBackend) -> CollectionServing:
        settings = self.settings
        searcher = BatchedSearch(collection, max_batch=settings.search_batch_size,
                                 max_wait=settings.batch_wait_ms / 1000,
                                 concurrency=settings.search_batches_at_once(),
                                 enabled=settings.micro_batching, observer=self.metrics)
        manifest = collection.manifest

        def decoder() -> Decoder:
            return self.decoders.for_collection(collection.name, manifest.model, manifest.fingerprint)

        operations = LatentOperations(searcher, self.limits, decoder=decoder)
        return CollectionServing(collection, operations, HitProtos())

    def _collection_sizes(self) -> dict[str, int]:
        with self._lock:
            serving = list(self._serving.values())
        sizes = {}
        for s in serving:
            try:
                sizes[s.collection.name] = s.collection.count()
            except Exception:  # dropped or closed since: not worth a metric
                continue
        return sizes

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.data.close()


def _catalogs(settings: Settings) -> list[CollectionCatalog]:
    """The catalogs of the backends the operator configured (Milvus connects here, at start)."""
    target = settings.milvus_target()
    if target is None:
        return []
    from latentspace.indexer.backends.milvus import MilvusCatalog

    return [MilvusCatalog(target)]


def _started(fn: Callable[..., T], *args: object) -> T:
    deadline.check("the request")  # its caller may have given up while it waited for a thread
    return fn(*args)
