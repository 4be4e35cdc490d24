"""Bulk indexing on this machine: source entries in, durable batches written, a report out.

:func:`index_source` runs the four stages of :mod:`~latentspace.indexer.pipeline.stages` with the
local runner: the source is read in one thread, each batch is prepared (files read, items checked,
images decoded, texts tokenised) in another, encoded in a third and written in a fourth, so the
model never waits for reading, tokenising or writing. Bounded queues between the threads keep a
few batches in memory whatever the corpus size. A bad record, an unreadable file or an undecodable
image is reported and passed over; it never aborts the run.

Runs are incremental where the backend keeps content hashes (``KeepsContentHashes``: the embedded
one): an item whose id already holds its content hash is neither encoded nor written again (see
:mod:`~latentspace.indexer.pipeline.stages`); elsewhere every item is encoded and written. On any
backend ``delete_missing`` removes the ids the source no longer has, once the whole source was read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from tqdm import tqdm

from latentspace.indexer.backends.base import KeepsContentHashes
from latentspace.indexer.ingest import IngestTarget
from latentspace.indexer.limits import Limits
from latentspace.indexer.pipeline.local_runner import DEFAULT_QUEUE_SIZE, Stage, run_stages
from latentspace.indexer.pipeline.rejects import Reject, RejectsFile
from latentspace.indexer.pipeline.sources import BadRecord, SourceEntry, SourceRecord
from latentspace.indexer.pipeline.stages import (
    BatchResult,
    ItemLimits,
    StoredHashes,
    encode_batch,
    prepare_batch,
    read_batches,
    write_batch,
)
from latentspace.indexer.pipeline.vector_blocks import VectorBlock
from latentspace.indexer.thumbnails import DEFAULT_THUMBNAIL_SIDE

if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionBackend
    from latentspace.indexer.encoders.base import Encoder

#: Records per written batch, and the most images in one (see index_source).
DEFAULT_BATCH_SIZE = 512
DEFAULT_IMAGES_PER_BATCH = 64
#: File reading and image decoding threads of the prepare stage. PIL and file reads release the
#: GIL; more threads than this only compete with the model for the same cores.
DEFAULT_WORKERS = 4
#: Reasons kept in a report; beyond this only the count grows, so a corpus of bad rows cannot fill memory.
MAX_REASONS_KEPT = 10_000
#: Ids per delete when removing the ids that left the source.
DELETE_BATCH = 4096


@dataclass(frozen=True)
class IndexReport:
    """The outcome of one :func:`index_source` run."""

    indexed: int
    skipped: list[Reject]
    seconds: float
    items_per_second: float
    #: Total bad records; ``skipped`` keeps the first :data:`MAX_REASONS_KEPT` of them.
    skipped_count: int = 0
    #: Folder files that are neither images nor text files.
    ignored: int = 0
    batches: int = 0
    sequence: int = 0
    #: Records read from the source: indexed + unchanged + rejected (ignored files not counted).
    read: int = 0
    #: Records whose id already held their content hash: neither encoded nor written.
    unchanged: int = 0
    #: Texts and images the model encoded.
    encoded: int = 0
    #: Ids removed because the source no longer has them (``delete_missing``).
    deleted: int = 0


@dataclass
class _Tally:
    indexed: int = 0
    skipped: list[Reject] = field(default_factory=list)
    skipped_count: int = 0
    ignored: int = 0
    batches: int = 0
    sequence: int = 0
    unchanged: int = 0
    encoded: int = 0

    def add(self, result: BatchResult) -> None:
        self.indexed += result.indexed
        self.unchanged += result.unchanged
        self.encoded += result.encoded
        self.ignored += result.ignored
        self.sequence = result.sequence or self.sequence
        self.batches += result.read > 0
        self.skipped_count += len(result.skipped)
        self.skipped += result.skipped[:max(0, MAX_REASONS_KEPT - len(self.skipped))]


def index_source(
    collection: CollectionBackend,
    records: Iterable[SourceEntry],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_images_per_batch: int = DEFAULT_IMAGES_PER_BATCH,
    max_pixels: int,
    max_text_chars: int = Limits.max_text_chars,
    progress: bool | None = None,
    total: int | None = None,
    workers: int = DEFAULT_WORKERS,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_batch: Callable[[BatchResult], None] | None = None,
    incremental: bool = True,
    delete_missing: bool = False,
    rejects: RejectsFile | None = None,
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE,
) -> IndexReport:
    """Index a stream of source entries into ``collection``, ``batch_size`` records at a time.

    Each batch is upserted (and so durable) in order; ``on_batch`` is called, in this thread, after
    each written batch that read any records. ``progress``: True shows a tqdm bar on stderr (rate,
    and an ETA when ``total`` records are expected), False none, None one when stderr
    is a terminal. Errors of the collection or the model (not of one record) propagate; the
    batches written before stay. At most about ``3 * queue_size + 4`` batches are in memory.

    A batch closes early at ``max_images_per_batch`` images: decoded images wait in memory for the
    model, and photos are large. Texts gain from big batches, because the encoder sorts a call's
    texts by length and pads less: minilm encoded the stdlib corpus ~1.6x faster in calls of 1024
    than of 64 (2 CPU cores).

    ``incremental``: skip the items whose id already holds their content hash (off: encode and
    write every item). ``delete_missing``: once the source is read to its end, delete the
    collection's ids that it did not name (a run that fails before deletes nothing). ``rejects``
    gets every record passed over, batch by batch (the report keeps the first few thousand only).
    """
    seen: set[str] | None = set() if delete_missing else None
    batches = read_batches(_noting_ids(records, seen), batch_size=batch_size, max_images=max_images_per_batch)
    limits = ItemLimits(max_pixels=max_pixels, max_text_chars=max_text_chars, thumbnail_side=thumbnail_side)

    def encoder() -> Encoder:
        return collection.encoder  # loaded on first use: a source of vectors needs no model

    tally = _Tally()
    started = time.perf_counter()
    bar = tqdm(desc=f"indexing {collection.name}", unit=" records", total=total, file=sys.stderr, dynamic_ncols=True,
               disable=not progress if progress is not None else not sys.stderr.isatty())
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="latent-load") as pool, bar:
        stages = [
            Stage("prepare", partial(prepare_batch, target=IngestTarget.of(collection), encoder=encoder,
                                     limits=limits, pool=pool,
                                     stored_hashes=_stored_hashes(collection) if incremental else None)),
            Stage("encode", partial(encode_batch, encoder=encoder)),
            Stage("write", partial(write_batch, collection=collection)),
        ]
        with run_stages(batches, stages, queue_size=queue_size, thread_prefix="latent-index") as results:
            for result in results:
                tally.add(result)
                if rejects is not None:
                    rejects.write(result.skipped)
                bar.update(result.read)
                bar.set_postfix(unchanged=tally.unchanged, skipped=tally.skipped_count, refresh=False)
                if on_batch is not None and result.read:
                    on_batch(result)
    deleted = _delete_missing(collection, seen) if seen is not None else 0
    seconds = time.perf_counter() - started
    return IndexReport(
        indexed=tally.indexed,
        skipped=tally.skipped,
        seconds=seconds,
        items_per_second=tally.indexed / seconds if seconds > 0 else 0.0,
        skipped_count=tally.skipped_count,
        ignored=tally.ignored,
        batches=tally.batches,
        sequence=collection.sequence if deleted else tally.sequence,
        read=tally.indexed + tally.unchanged + tally.skipped_count,
        unchanged=tally.unchanged,
        encoded=tally.encoded,
        deleted=deleted,
    )


def _noting_ids(entries: Iterable[SourceEntry], seen: set[str] | None) -> Iterator[SourceEntry]:
    """The entries as they come, adding each record's id to ``seen`` (when given) on the way.

    A bad record's id counts too: the source still names it, so its item is kept, not deleted."""
    for entry in entries:
        if seen is not None and isinstance(entry, SourceRecord | BadRecord) and entry.id:
            seen.add(entry.id)
        elif seen is not None and isinstance(entry, VectorBlock):
            seen.update(entry.ids)
        yield entry


def _stored_hashes(collection: CollectionBackend) -> StoredHashes | None:
    """The collection's stored content hashes, or None on a backend that keeps none (every item is
    then encoded and written again)."""
    return collection.content_hashes if isinstance(collection, KeepsContentHashes) else None


def _delete_missing(collection: CollectionBackend, seen: set[str]) -> int:
    """Delete the collection's ids not in ``seen``; returns how many."""
    stale = [item_id for page in collection.all_ids() for item_id in page if item_id not in seen]
    deleted = 0
    for start in range(0, len(stale), DELETE_BATCH):
        deleted += collection.delete(stale[start:start + DELETE_BATCH])[0]
    return deleted
