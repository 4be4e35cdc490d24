"""What a running server holds: the data dir, the loaded models, and the worker pool.

Model calls and FAISS searches are blocking and CPU-bound, so handlers hand them to
:meth:`ServerState.run`, which runs them on a bounded thread pool off the event loop
(torch and FAISS release the GIL). This is the one place a later micro-batcher slots in.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import faiss
from PIL import Image

from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.images import decode_image
from latentspace.indexer.operations import LatentOperations
from latentspace.server.settings import Settings

T = TypeVar("T")


class ServerState:
    """Shared by both servicers; created by ``build_server`` and closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = settings.limits
        # Same reasoning for FAISS's OpenMP pool as for torch's (EncoderOptions.threads).
        faiss.omp_set_num_threads(settings.threads_per_call())
        self.encoders = EncoderRegistry(settings.encoder_options())
        self.data = DataDir.open(settings.data_dir, self.encoders)
        self.started = time.monotonic()
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="latent-worker")
        self._operations: dict[str, tuple[Collection, LatentOperations]] = {}
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work on the worker pool, keeping the request's context (its id for logs)."""
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def with_operations(self, name: str, work: Callable[[LatentOperations], T]) -> T:
        """``work(operations of collection name)`` on the worker pool, in one hop."""
        return await self.run(lambda: work(self.operations(name)))

    def collection(self, name: str) -> Collection:
        return self.data.collection(name)

    def operations(self, name: str) -> LatentOperations:
        """The operations object of a collection, rebuilt if the collection was dropped and re-created."""
        collection = self.data.collection(name)
        with self._lock:
            cached = self._operations.get(name)
            if cached is None or cached[0] is not collection:
                max_pixels = self.limits.max_image_pixels

                def decoder(data: bytes, field: str) -> Image.Image:
                    return decode_image(data, max_pixels=max_pixels, field=field)

                cached = (collection, LatentOperations(collection, self.limits, image_decoder=decoder))
                self._operations[name] = cached
            return cached[1]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.data.close()
