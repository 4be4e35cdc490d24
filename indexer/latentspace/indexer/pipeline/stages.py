"""The four stages of bulk indexing, as functions over plain batches.

    read_batches    source entries -> RecordBatch     (group records; bad records ride along)
    prepare_batch   RecordBatch    -> PreparedBatch   (read files, hash, drop the unchanged, check
                                                       items, decode, tokenise)
    encode_batch    PreparedBatch  -> EncodedBatch    (the model: one call per modality)
    write_batch     EncodedBatch   -> BatchResult     (upsert; durable on return)

Each batch value is plain data (records, checked items, prepared model input, vectors); none holds a
collection, a model or an open file. A runner decides where each stage runs: the local runner
(:mod:`~latentspace.indexer.pipeline.local_runner`) gives each one a thread, and a cluster runner can
map ``prepare_batch`` and ``encode_batch`` over a dataset and write from the driver. A bad record,
an unreadable file or an undecodable image becomes a ``(location, reason)`` entry of its batch;
no stage stops for one. Errors of the model or the collection (not of one record) propagate.

Re-runs are incremental: the prepare stage hashes each item's source content
(:func:`~latentspace.indexer.pipeline.content_hash.item_hash`) and drops the items whose id already
holds that hash in the collection, before any decoding or model work; the write stage stores each
item's hash in the same transaction as the item. A run killed at any moment therefore resumes by
running again: what was committed is skipped, the rest is encoded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from latentspace.indexer.encoders.base import Encoder, PreparedInput
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.ingest import CheckedItem, IngestTarget, NewItem, check_items, to_records
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.content_hash import item_hash
from latentspace.indexer.pipeline.read_options import fetch_url
from latentspace.indexer.pipeline.rejects import Reject
from latentspace.indexer.pipeline.sources import BadRecord, IgnoredFile, SourceEntry, SourceRecord
from latentspace.indexer.pipeline.vector_blocks import VectorBlock, check_block
from latentspace.indexer.thumbnails import DEFAULT_THUMBNAIL_SIDE

#: Gives the collection's encoder, loading it on first call; never called for a batch without
#: texts or images, so vector-only collections need no model.
EncoderSource = Callable[[], Encoder]
#: The content hashes already stored for some ids (``Collection.content_hashes``).
StoredHashes = Callable[[Sequence[str]], dict[str, str]]
#: UTF-8 needs at most 4 bytes a character: a bigger text file is over the limit without reading it.
_UTF8_MAX_BYTES = 4


class Writable(Protocol):
    """What the write stage needs of a collection."""

    def upsert(self, records: Sequence[ItemRecord]) -> int: ...


@dataclass(frozen=True)
class ItemLimits:
    """Per-item bounds the prepare stage enforces."""

    max_pixels: int
    max_text_chars: int = Limits.max_text_chars
    #: The longer side of image items' thumbnails (0: none).
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE


@dataclass(frozen=True)
class BatchHeader:
    """What every stage passes on: which batch, what it read, and what has been passed over so far."""

    number: int
    #: Source records in the batch (bad records and ignored files not counted).
    read: int
    #: The location of the batch's last record: where a resumed run would continue after.
    last_location: str
    #: Bad records, in source order within each stage's share.
    skipped: tuple[Reject, ...] = ()
    #: Folder files that are neither images nor text files.
    ignored: int = 0
    #: Records whose id already holds their content hash: not encoded or written again.
    unchanged: int = 0

    def skipping(self, more: Iterable[Reject]) -> BatchHeader:
        return dataclasses.replace(self, skipped=(*self.skipped, *more))


@dataclass(frozen=True)
class RecordBatch:
    """Read -> prepare: source records not yet loaded."""

    header: BatchHeader
    records: list[SourceRecord]
    #: Precomputed vectors read as one array (then ``records`` is empty).
    block: VectorBlock | None = None


@dataclass(frozen=True)
class PreparedBatch:
    """Prepare -> encode: checked items and model-ready input; decoded images already dropped."""

    header: BatchHeader
    good: list[CheckedItem]
    #: The source location of each item of ``good``.
    locations: list[str]
    texts: PreparedInput | None = None
    images: PreparedInput | None = None


@dataclass(frozen=True)
class EncodedBatch:
    """Encode -> write: records with their vectors."""

    header: BatchHeader
    records: list[ItemRecord]
    locations: list[str]
    #: Texts and images the model encoded.
    encoded: int = 0


@dataclass(frozen=True)
class BatchResult:
    """What one written batch did; the local runner passes it to ``on_batch`` (the seam for checkpoints)."""

    number: int
    indexed: int
    skipped: list[Reject]
    #: The collection's sequence after the batch's upsert (0 when nothing was written).
    sequence: int
    #: The location of the batch's last record: where a resumed run would continue after.
    last_location: str
    #: Source records the batch read (indexed + unchanged + those of its skips that were records).
    read: int = 0
    ignored: int = 0
    unchanged: int = 0
    #: Texts and images the model encoded for the batch.
    encoded: int = 0


# ---------------------------------------------------------------------------------------------- read
def read_batches(entries: Iterable[SourceEntry], *, batch_size: int, max_images: int) -> Iterator[RecordBatch]:
    """Group source records into batches of ``batch_size`` (or ``max_images`` images, whichever first).

    Bad records and ignored files travel with the batch they were read in. A batch also closes at
    ``batch_size`` bad records, so a source of nothing but bad lines never piles them up in memory;
    such a batch has no records. Raises :class:`InvalidInput` at once (not on first iteration) for a
    batch size below 1.
    """
    if batch_size < 1 or max_images < 1:
        raise InvalidInput(f"batch sizes must be at least 1, got {batch_size} records and "
                           f"{max_images} images", field="batch_size")
    return _record_batches(entries, batch_size, max_images)


def _record_batches(entries: Iterable[SourceEntry], batch_size: int, max_images: int) -> Iterator[RecordBatch]:
    records: list[SourceRecord] = []
    skipped: list[Reject] = []
    ignored = images = 0
    number = 0

    def close() -> RecordBatch:
        nonlocal number
        number += 1
        last = records[-1].location if records else (skipped[-1][0] if skipped else "")
        header = BatchHeader(number, len(records), last, tuple(skipped), ignored)
        return RecordBatch(header, list(records))

    for entry in entries:
        if isinstance(entry, VectorBlock):
            if records or skipped or ignored:
                yield close()
                records, skipped, ignored, images = [], [], 0, 0
            number += 1
            last = entry.location(len(entry.ids) - 1) if entry.ids else ""
            yield RecordBatch(BatchHeader(number, len(entry.ids), last), [], entry)
            continue
        if isinstance(entry, BadRecord):
            skipped.append(Reject(entry.location, entry.id, entry.reason))
        elif isinstance(entry, IgnoredFile):
            ignored += 1
        else:
            records.append(entry)
            images += entry.modality is Modality.IMAGE
        if len(records) >= batch_size or images >= max_images or len(skipped) >= batch_size:
            yield close()
            records, skipped, ignored, images = [], [], 0, 0
    if records or skipped or ignored:
        yield close()


# ------------------------------------------------------------------------------------------- prepare
def prepare_batch(
    batch: RecordBatch,
    *,
    target: IngestTarget,
    encoder: EncoderSource,
    limits: ItemLimits,
    pool: Executor | None = None,
    stored_hashes: StoredHashes | None = None,
) -> PreparedBatch:
    """Read the batch's files, hash each item, drop the unchanged, check the rest, decode images,
    and tokenise / transform for the model.

    ``pool`` reads files and decodes images in parallel (PIL and file reads release the GIL).
    ``stored_hashes`` gives the hashes already stored for the batch's ids; without it every item is
    prepared.
    """
    if batch.block is not None:
        return _prepare_block(batch, batch.block, target, stored_hashes)
    loaded, skipped = load_items(batch.records, pool, max_text_chars=limits.max_text_chars)
    loaded = [(record, dataclasses.replace(item, content_hash=item_hash(item))) for record, item in loaded]
    unchanged = 0
    if stored_hashes is not None and loaded:
        stored = stored_hashes([item.id for _, item in loaded])
        changed = [(record, item) for record, item in loaded if stored.get(item.id) != item.content_hash]
        unchanged, loaded = len(loaded) - len(changed), changed
    checked = check_items(target, [item for _, item in loaded], max_pixels=limits.max_pixels,
                          max_text_chars=limits.max_text_chars, decode_executor=pool,
                          thumbnail_side=limits.thumbnail_side)
    skipped += [Reject(loaded[failure.index][0].location, loaded[failure.index][0].id, failure.reason)
                for failure in checked.failures]
    texts = encoder().prepare_texts(checked.texts) if checked.texts else None
    images = encoder().prepare_images(checked.images) if checked.images else None
    header = dataclasses.replace(batch.header.skipping(skipped), unchanged=unchanged)
    return PreparedBatch(header, checked.good,
                         [loaded[item.index][0].location for item in checked.good], texts, images)


def _prepare_block(batch: RecordBatch, block: VectorBlock, target: IngestTarget,
                   stored_hashes: StoredHashes | None) -> PreparedBatch:
    good, locations, rejects = check_block(block, target.dimension)
    unchanged = 0
    if stored_hashes is not None and good:
        stored = stored_hashes([item.id for item in good])
        keep = [i for i, item in enumerate(good) if stored.get(item.id) != item.content_hash]
        unchanged = len(good) - len(keep)
        good, locations = [good[i] for i in keep], [locations[i] for i in keep]
    header = dataclasses.replace(batch.header.skipping(rejects), unchanged=unchanged)
    return PreparedBatch(header, good, locations)


def load_items(
    batch: Sequence[SourceRecord], pool: Executor | None, *, max_text_chars: int
) -> tuple[list[tuple[SourceRecord, NewItem]], list[Reject]]:
    """Read the files a batch names (in ``pool``) and pair each record with the item to prepare."""

    def load(record: SourceRecord) -> NewItem | str:
        try:
            return _to_item(record, max_text_chars)
        except _Unloadable as exc:
            return str(exc)
        except OSError as exc:
            if record.url is not None:
                return str(exc)
            return f"cannot read {exc.filename or record.path}: {exc.strerror or exc}"
        except UnicodeDecodeError:
            return "text file is not UTF-8"

    # Inline texts and vectors need no thread; only records that name a file go to the pool.
    outcomes = list(pool.map(load, batch)) if pool is not None and _reads_files(batch) else map(load, batch)
    loaded: list[tuple[SourceRecord, NewItem]] = []
    skipped: list[Reject] = []
    for record, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, str):
            skipped.append(Reject(record.location, record.id, outcome))
        else:
            loaded.append((record, outcome))
    return loaded, skipped


# -------------------------------------------------------------------------------------------- encode
def encode_batch(batch: PreparedBatch, *, encoder: EncoderSource) -> EncodedBatch:
    """Run the model on the batch's prepared texts and images and join the vectors to their items."""
    text_vectors = encoder().encode_prepared(batch.texts) if batch.texts is not None else None
    image_vectors = encoder().encode_prepared(batch.images) if batch.images is not None else None
    encoded = sum(prepared.count for prepared in (batch.texts, batch.images) if prepared is not None)
    return EncodedBatch(batch.header, to_records(batch.good, text_vectors, image_vectors), batch.locations,
                        encoded)


# --------------------------------------------------------------------------------------------- write
def write_batch(batch: EncodedBatch, *, collection: Writable) -> BatchResult:
    """Upsert the batch (durable on return); a record the store refuses is skipped, the rest written."""
    sequence, refused = write_records(collection, batch.records)
    where = dict(zip((record.id for record in batch.records), batch.locations, strict=True))
    header = batch.header.skipping(Reject(where[record_id], record_id, reason) for record_id, reason in refused)
    return BatchResult(number=header.number, indexed=len(batch.records) - len(refused),
                       skipped=list(header.skipped), sequence=sequence, last_location=header.last_location,
                       read=header.read, ignored=header.ignored, unchanged=header.unchanged,
                       encoded=batch.encoded)


def write_records(collection: Writable, records: Sequence[ItemRecord]) -> tuple[int, list[tuple[str, str]]]:
    """Upsert ``records``; returns the sequence after the write and the (id, reason) of refused ones.

    The prepare stage already checked every record, so a refusal here is rare (a rule only the store
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


# ----------------------------------------------------------------------------------------- internals
class _Unloadable(Exception):
    """A record's file that is refused before it is read."""


def _reads_files(batch: Sequence[SourceRecord]) -> bool:
    return any(record.path is not None or record.url is not None for record in batch)


def _to_item(record: SourceRecord, max_text_chars: int) -> NewItem:
    if record.modality is Modality.VECTOR:
        vector = np.asarray(record.vector, dtype=np.float32)
        return NewItem(record.id, vector=vector, payload=record.payload, content_ref=record.content_ref)
    if record.modality is Modality.IMAGE:
        data = fetch_url(record.url) if record.url is not None else \
            record.image if record.path is None else record.path.read_bytes()
        return NewItem(record.id, image=data, payload=record.payload, content_ref=record.content_ref)
    text = record.text
    if record.path is not None:
        size = record.path.stat().st_size
        if size > max_text_chars * _UTF8_MAX_BYTES:
            # Refused without reading it: a file this big cannot fit, and it may not fit in memory.
            raise _Unloadable(f"text file has {size} bytes; the limit is {max_text_chars} characters")
        text = record.path.read_text(encoding="utf-8")
    return NewItem(record.id, text=text, payload=record.payload, content_ref=record.content_ref)
