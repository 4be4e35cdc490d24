"""The bulk-indexing batch loop: source entries in, durable batches written, a report out.

Three steps per batch, each its own function so a later runner can reuse or replace one of them
(a resumable runner checkpoints after :func:`write_records`; a Ray runner maps :func:`load_items` and
``prepare_records`` over a dataset and writes from the driver):

1. :func:`load_items` reads the batch's files (images, text files) in a small thread pool;
2. :func:`~latentspace.indexer.ingest.prepare_records` decodes images (same pool) and encodes the
   batch with one model call per modality;
3. :func:`write_records` upserts the batch; it is durable when the call returns.

Only one batch is held at a time, so memory stays flat whatever the corpus size. A bad record, an
unreadable file or an undecodable image is reported and passed over; it never aborts the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.ingest import NewItem, prepare_records
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.sources import BadRecord, IgnoredFile, SourceEntry, SourceRecord
from latentspace.indexer.thumbnails import DEFAULT_THUMBNAIL_SIDE

if TYPE_CHECKING:
    from latentspace.indexer.collection import Collection

#: Records per written batch, and the most images in one (see index_source).
DEFAULT_BATCH_SIZE = 512
DEFAULT_IMAGES_PER_BATCH = 64
#: File reading and image decoding threads. PIL and file reads release the GIL; more threads than
#: this only compete with the model for the same cores.
DEFAULT_WORKERS = 4
#: Reasons kept in a report; beyond this only the count grows, so a corpus of bad rows cannot fill memory.
MAX_REASONS_KEPT = 10_000
#: UTF-8 needs at most 4 bytes a character: a bigger text file is over the limit without reading it.
_UTF8_MAX_BYTES = 4

Skip = tuple[str, str]  # (location, reason)


@dataclass(frozen=True)
class BatchResult:
    """What one written batch did; passed to ``on_batch`` (the seam for checkpoints)."""

    number: int
    indexed: int
    skipped: list[Skip]
    #: The collection's sequence after the batch's upsert (0 when nothing was written).
    sequence: int
    #: The location of the batch's last record: where a resumed run would continue after.
    last_location: str


@dataclass(frozen=True)
class IndexReport:
    """The outcome of one :func:`index_source` run."""

    indexed: int
    skipped: list[Skip]
    seconds: float
    items_per_second: float
    #: Total bad records; ``skipped`` keeps the first :data:`MAX_REASONS_KEPT` of them.
    skipped_count: int = 0
    #: Folder files that are neither images nor text files.
    ignored: int = 0
    batches: int = 0
    sequence: int = 0


@dataclass
class _Tally:
    indexed: int = 0
    skipped: list[Skip] = field(default_factory=list)
    skipped_count: int = 0
    ignored: int = 0
    batches: int = 0
    sequence: int = 0

    def skip(self, location: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_REASONS_KEPT:
            self.skipped.append((location, reason))


def index_source(
    collection: Collection,
    records: Iterable[SourceEntry],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_images_per_batch: int = DEFAULT_IMAGES_PER_BATCH,
    max_pixels: int,
    max_text_chars: int = Limits.max_text_chars,
    progress: bool = True,
    workers: int = DEFAULT_WORKERS,
    on_batch: Callable[[BatchResult], None] | None = None,
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE,
) -> IndexReport:
    """Index a stream of source entries into ``collection``, ``batch_size`` records at a time.

    Each batch is upserted (and so durable) before the next one is read. ``progress`` shows a tqdm bar
    on stderr when stderr is a terminal. ``on_batch`` is called after each written batch. Errors of
    the collection or the model (not of one record) propagate; the batches written before stay.

    A batch closes early at ``max_images_per_batch`` images: decoded images wait in memory for the
    model, and photos are large. Texts gain from big batches, because the encoder sorts a call's
    texts by length and pads less: minilm encoded the stdlib corpus ~1.6x faster in calls of 1024
    than of 64 (2 CPU cores).
    """
    if batch_size < 1 or max_images_per_batch < 1:
        raise InvalidInput(f"batch sizes must be at least 1, got {batch_size} records and "
                           f"{max_images_per_batch} images", field="batch_size")
    tally = _Tally()
    started = time.perf_counter()
    bar = tqdm(desc=f"indexing {collection.name}", unit=" items", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or not sys.stderr.isatty())
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="latent-load") as pool, bar:
        for number, batch in enumerate(_batches(records, batch_size, max_images_per_batch, tally), start=1):
            result = index_batch(collection, batch, number=number, pool=pool, max_pixels=max_pixels,
                                 max_text_chars=max_text_chars, thumbnail_side=thumbnail_side)
            tally.indexed += result.indexed
            tally.batches += 1
            tally.sequence = result.sequence or tally.sequence
            for location, reason in result.skipped:
                tally.skip(location, reason)
            bar.update(len(batch))
            bar.set_postfix(skipped=tally.skipped_count, refresh=False)
            if on_batch is not None:
                on_batch(result)
    seconds = time.perf_counter() - started
    return IndexReport(
        indexed=tally.indexed,
        skipped=tally.skipped,
        seconds=seconds,
        items_per_second=tally.indexed / seconds if seconds > 0 else 0.0,
        skipped_count=tally.skipped_count,
        ignored=tally.ignored,
        batches=tally.batches,
        sequence=tally.sequence,
    )


def index_batch(
    collection: Collection,
    batch: Sequence[SourceRecord],
    *,
    number: int,
    pool: Executor,
    max_pixels: int,
    max_text_chars: int,
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE,
) -> BatchResult:
    """Load, prepare and write one batch (image items with their thumbnails); every per-record problem
    ends up in ``skipped``."""
    loaded, skipped = load_items(batch, pool, max_text_chars=max_text_chars)
    items = [item for _, item in loaded]
    records, failures = prepare_records(collection, items, max_pixels=max_pixels,
                                        max_text_chars=max_text_chars, decode_executor=pool,
                                        thumbnail_side=thumbnail_side)
    skipped += [(loaded[failure.index][0].location, failure.reason) for failure in failures]
    locations: dict[str, str] = {}
    for source, item in loaded:
        locations.setdefault(item.id, source.location)
    sequence, refused = write_records(collection, records)
    skipped += [(locations[record_id], reason) for record_id, reason in refused]
    return BatchResult(number=number, indexed=len(records) - len(refused), skipped=skipped,
                       sequence=sequence, last_location=batch[-1].location)


def load_items(
    batch: Sequence[SourceRecord], pool: Executor, *, max_text_chars: int
) -> tuple[list[tuple[SourceRecord, NewItem]], list[Skip]]:
    """Read the files a batch names (in ``pool``) and pair each record with the item to prepare."""

    def load(record: SourceRecord) -> NewItem | str:
        try:
            return _to_item(record, max_text_chars)
        except _Unloadable as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read {exc.filename or record.path}: {exc.strerror or exc}"
        except UnicodeDecodeError:
            return "text file is not UTF-8"

    loaded: list[tuple[SourceRecord, NewItem]] = []
    skipped: list[Skip] = []
    for record, outcome in zip(batch, pool.map(load, batch), strict=True):
        if isinstance(outcome, str):
            skipped.append((record.location, outcome))
        else:
            loaded.append((record, outcome))
    return loaded, skipped


def write_records(collection: Collection, records: Sequence[ItemRecord]) -> tuple[int, list[tuple[str, str]]]:
    """Upsert ``records``; returns the sequence after the write and the (id, reason) of refused ones.

    ``prepare_records`` already checked every record, so a refusal here is rare (a rule only the store
    knows). Then the batch is written one record at a time, so one bad record costs only itself.
    """
    if not records:
        return 0, []
    try:
        return collection.upsert(records), []
    except InvalidInput:
        pass
    sequence, refused = 0, []
    for record in records:
        try:
            sequence = collection.upsert([record])
        except InvalidInput as exc:
            refused.append((record.id, str(exc)))
    return sequence, refused


class _Unloadable(Exception):
    """A record's file that is refused before it is read."""


def _to_item(record: SourceRecord, max_text_chars: int) -> NewItem:
    if record.modality is Modality.VECTOR:
        vector = np.asarray(record.vector, dtype=np.float32)
        return NewItem(record.id, vector=vector, payload=record.payload, content_ref=record.content_ref)
    if record.modality is Modality.IMAGE:
        data = record.image if record.path is None else record.path.read_bytes()
        return NewItem(record.id, image=data, payload=record.payload, content_ref=record.content_ref)
    text = record.text
    if record.path is not None:
        size = record.path.stat().st_size
        if size > max_text_chars * _UTF8_MAX_BYTES:
            # Refused without reading it: a file this big cannot fit, and it may not fit in memory.
            raise _Unloadable(f"text file has {size} bytes; the limit is {max_text_chars} characters")
        text = record.path.read_text(encoding="utf-8")
    return NewItem(record.id, text=text, payload=record.payload, content_ref=record.content_ref)


def _batches(
    entries: Iterable[SourceEntry], batch_size: int, max_images: int, tally: _Tally
) -> Iterator[list[SourceRecord]]:
    """Group records into batches; bad records and ignored files go straight to the tally."""
    batch: list[SourceRecord] = []
    images = 0
    for entry in entries:
        if isinstance(entry, BadRecord):
            tally.skip(entry.location, entry.reason)
        elif isinstance(entry, IgnoredFile):
            tally.ignored += 1
        else:
            batch.append(entry)
            images += entry.modality is Modality.IMAGE
            if len(batch) >= batch_size or images >= max_images:
                yield batch
                batch, images = [], 0
    if batch:
        yield batch
