"""``latent index --server``: the pipeline's reading stage, with the server doing the encoding and writing.

Records are read, their files loaded and their content hashed here exactly as in a local run
(:func:`~latentspace.indexer.pipeline.stages.read_batches`, ``load_items``, ``item_hash``), then
sent through the SDK's ``UpsertStream`` with each item's hash. The server skips (counts as
unchanged) the items whose id already holds their hash, before decoding or encoding them, so the
resume rules are the local run's: a rerun over an unchanged corpus writes and encodes nothing.

Back-pressure: the records of at most ``window`` batches are in memory. Each window is one stream,
pulled by gRPC as its flow control allows; the next window is read while the server works (one
reading thread, two windows at most). Items are checked here as in a local run (decoded, sized,
matched to the collection's modalities), so bad ones go to the rejects file without a round trip.
An item the server still refuses (a limit set lower there) stops its stream with an error naming it
(``requests[n].items[i]``): the batches before it are committed, the item goes to the rejects file,
and the window is sent again without it (what was committed comes back as unchanged, for one
hash lookup a batch). So after a refusal, the items its window committed before it are counted as
unchanged, not written: the acknowledgement comes at a stream's end only. The server's own
``latentspace_encoded_items`` counter is exact.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tqdm import tqdm

from latentspace.indexer.ingest import IngestTarget, NewItem, check_items
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.bulk import IndexReport
from latentspace.indexer.pipeline.content_hash import item_hash
from latentspace.indexer.pipeline.local_runner import Stage, run_stages
from latentspace.indexer.pipeline.rejects import Reject, RejectsFile
from latentspace.indexer.pipeline.sources import SourceEntry
from latentspace.indexer.pipeline.stages import ItemLimits, RecordBatch, load_items, read_batches
from latentspace.indexer.pipeline.vector_blocks import check_block
from latentspace_client import Client, LatentSpaceError

#: Batches a stream carries: what is held in memory (twice: one sent, one read ahead).
DEFAULT_WINDOW = 8
#: Reasons kept for the summary; the rejects file has them all.
MAX_REASONS_KEPT = 1000
#: Where a refused item is named in an UpsertStream error.
_REFUSED_ITEM = re.compile(r"(?:requests\[(\d+)\]\.)?items\[(\d+)\]")


@dataclass(frozen=True)
class SendBatch:
    """A batch ready to send: the items as SDK dicts with their source locations, and its rejects."""

    items: list[dict[str, Any]]
    locations: list[str]
    rejects: list[Reject]
    read: int
    ignored: int


@dataclass
class _Tally:
    written: int = 0
    unchanged: int = 0
    ignored: int = 0
    batches: int = 0
    sequence: int = 0
    skipped: list[Reject] = field(default_factory=list)
    skipped_count: int = 0

    def reject(self, rejects: list[Reject], out: RejectsFile | None) -> None:
        self.skipped_count += len(rejects)
        self.skipped += rejects[:max(0, MAX_REASONS_KEPT - len(self.skipped))]
        if out is not None:
            out.write(rejects)


def index_through_server(
    client: Client,
    collection: str,
    records: Iterable[SourceEntry],
    *,
    batch_size: int,
    max_images_per_batch: int,
    limits: ItemLimits,
    rejects: RejectsFile | None = None,
    progress: bool = True,
    window: int = DEFAULT_WINDOW,
    workers: int = 4,
) -> IndexReport:
    """Send ``records`` to ``collection`` on the server ``client`` is connected to; see the module.

    ``limits`` are the server's (the defaults unless the operator changed them): an item over them
    is rejected here.
    """
    target = server_target(client, collection)
    batches = read_batches(records, batch_size=batch_size, max_images=max_images_per_batch)
    tally = _Tally()
    started = time.perf_counter()
    bar = tqdm(desc=f"indexing {collection}", unit=" items", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or not sys.stderr.isatty())
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="latent-load") as pool, bar:
        load = Stage("load", partial(load_batch, pool=pool, target=target, limits=limits))
        with run_stages(_windows(batches, window), [Stage("load", partial(_load_all, load=load))],
                        thread_prefix="latent-index") as loaded:
            for sends in loaded:
                for send in sends:
                    tally.reject(send.rejects, rejects)
                    tally.ignored += send.ignored
                    tally.batches += send.read > 0
                _send_window(client, collection, sends, batch_size, tally, rejects)
                bar.update(sum(send.read for send in sends))
                bar.set_postfix(unchanged=tally.unchanged, skipped=tally.skipped_count, refresh=False)
    seconds = time.perf_counter() - started
    return IndexReport(
        indexed=tally.written, skipped=tally.skipped, seconds=seconds,
        items_per_second=tally.written / seconds if seconds > 0 else 0.0,
        skipped_count=tally.skipped_count, ignored=tally.ignored, batches=tally.batches,
        sequence=tally.sequence, read=tally.written + tally.unchanged + tally.skipped_count,
        unchanged=tally.unchanged,
        # The server encoded every text and image it wrote (vectors need no model).
        encoded=tally.written,
    )


def load_batch(batch: RecordBatch, *, pool: ThreadPoolExecutor, target: IngestTarget, limits: ItemLimits) -> SendBatch:
    """Read a batch's files (in ``pool``), hash each item and check it as the local prepare stage
    does, so that the server refuses (and a window is resent) only in rare cases."""
    if batch.block is not None:  # rows of precomputed vectors, checked and hashed as a block
        good_rows, locations, rejected = check_block(batch.block, target.dimension)
        rows = [{"id": row.id, "vector": row.vector, "payload": row.payload, "content_hash": row.content_hash,
                 "content_ref": row.content or None} for row in good_rows]
        return SendBatch(rows, list(locations), [*batch.header.skipped, *rejected], batch.header.read,
                         batch.header.ignored)
    loaded, skipped = load_items(batch.records, pool, max_text_chars=limits.max_text_chars)
    checked = check_items(target, [item for _, item in loaded], max_pixels=limits.max_pixels,
                          max_text_chars=limits.max_text_chars, decode_executor=pool,
                          thumbnail_side=0)  # the server makes the thumbnails of what it writes
    skipped += [Reject(loaded[failure.index][0].location, loaded[failure.index][0].id, failure.reason)
                for failure in checked.failures]
    good = [loaded[item.index] for item in checked.good]
    return SendBatch([_as_upsert(item) for _, item in good], [record.location for record, _ in good],
                     [*batch.header.skipped, *skipped], batch.header.read, batch.header.ignored)


def _as_upsert(item: NewItem) -> dict[str, Any]:
    sent: dict[str, Any] = {"id": item.id, "payload": item.payload, "content_hash": item_hash(item)}
    if item.content_ref:
        sent["content_ref"] = item.content_ref
    if item.text is not None:
        sent["text"] = item.text
    elif item.image is not None:
        sent["image"] = bytes(item.image)
    else:
        sent["vector"] = item.vector
    return sent


def _windows(batches: Iterator[RecordBatch], window: int) -> Iterator[list[RecordBatch]]:
    group: list[RecordBatch] = []
    for batch in batches:
        group.append(batch)
        if len(group) >= window:
            yield group
            group = []
    if group:
        yield group


def _load_all(group: list[RecordBatch], *, load: Stage) -> list[SendBatch]:
    return [load.run(batch) for batch in group]


def _send_window(client: Client, collection: str, sends: list[SendBatch], batch_size: int, tally: _Tally,
                 rejects: RejectsFile | None) -> None:
    """Stream one window's items; on a refused item, reject it and send the window again without it."""
    items = [item for send in sends for item in send.items]
    locations = [location for send in sends for location in send.locations]
    while items:
        try:
            result = client.upsert(items, collection=collection, batch_size=batch_size)
        except LatentSpaceError as error:
            refused = _REFUSED_ITEM.search(error.details)
            if refused is None:
                raise  # not one item's fault (the collection, the server): stop the run
            position = int(refused[1] or 0) * batch_size + int(refused[2])
            reason = error.details.split(": ", 1)[-1] if ": " in error.details else error.details
            tally.reject([Reject(locations[position], items[position]["id"], reason)], rejects)
            del items[position], locations[position]
            continue
        tally.written += result.upserted
        tally.unchanged += result.unchanged
        tally.sequence = result.sequence or tally.sequence
        return


def ensure_collection(client: Client, name: str, model: str | None, dimension: int | None,
                      index_kind: str | None) -> None:
    """Create ``name`` on the server when missing (with ``model`` or of ``dimension``); refuse one of
    another model, as the local run does."""
    from latentspace.indexer.model_spec import parse_model_spec
    from latentspace_client import NotFound

    try:
        info = client.describe_collection(name)
    except NotFound:
        if model is None and dimension is None:
            raise ValueError(f"collection {name!r} does not exist on the server; pass --model to create it "
                             "(or --dimension for precomputed vectors)") from None
        client.create_collection(name, model=model, dimension=dimension, index_kind=index_kind,
                                 if_not_exists=True)
        return
    if model is not None and parse_model_spec(model).canonical != (info.model or None):
        raise ValueError(f"collection {name!r} already holds vectors of model {info.model}, not {model}; "
                         "leave out --model to add to it, or choose another --collection")


class ServerSink:
    """Where ``--engine ray --server`` writes: vectors with their content hashes, through the server
    (which skips the unchanged ones). A refused item is retried alone, so one bad item costs itself."""

    def __init__(self, client: Client, collection: str) -> None:
        self.client, self.collection = client, collection

    def write(self, records: Sequence[ItemRecord]) -> tuple[int, int, int, list[tuple[str, str]]]:
        items: list[dict[str, Any]] = [
            {"id": r.id, "vector": r.vector, "payload": r.payload, "content_hash": r.content_hash,
             "content_ref": r.content or None} for r in records]
        try:
            result = self.client.upsert(items, collection=self.collection, batch_size=len(items))
            return result.upserted, result.unchanged, result.sequence, []
        except LatentSpaceError:
            pass
        written = unchanged = sequence = 0
        refused: list[tuple[str, str]] = []
        for item in items:
            try:
                result = self.client.upsert([item], collection=self.collection)
            except LatentSpaceError as error:
                refused.append((item["id"], error.details))
                continue
            written, unchanged = written + result.upserted, unchanged + result.unchanged
            sequence = result.sequence or sequence
        return written, unchanged, sequence, refused


def server_target(client: Client, collection: str) -> IngestTarget:
    """What to check items against: the server's collection's dimension and modalities."""
    info = client.describe_collection(collection)
    return IngestTarget(info.name, info.dimension, frozenset(Modality(name) for name in info.modalities))
