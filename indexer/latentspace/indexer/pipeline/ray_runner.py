"""The Ray runner: the bulk pipeline's stages as a Ray Data pipeline, for corpora one machine cannot encode.

    ray.data.read_json / read_csv / read_parquet / read_binary_files   (the source, read in parallel)
    map_batches(_EncodeReplica, concurrency=replicas, num_gpus=...)     (records -> checked items -> vectors)
    iter_batches on the driver -> write_records                          (upsert; durable per batch)

Each encoder actor is one model replica: it loads the model once and runs the same steps as the
local prepare and encode stages (``record_from_row``, ``load_items``, ``item_hash``,
``check_items``, the model). Rows travel between stages as plain columns (ids, vectors, JSON
payloads, content hashes, rejects). The driver reads the content hashes the collection already
holds once (:class:`~latentspace.indexer.pipeline.known_hashes.KnownHashes`, 16 bytes an item,
shared through the object store) and each replica drops an item whose id holds its content hash
before checking or encoding it, so a rerun encodes only what changed; the driver checks again
as it writes, batch by batch in source order (``preserve_order``), so the collection ends as a
local run would leave it.

Ray is imported by this module only (the ``ray`` extra); the server and the SDKs never import it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from latentspace.indexer.backends.base import CollectionBackend, KeepsContentHashes
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.ingest import IngestTarget, check_items, to_records
from latentspace.indexer.items import ItemRecord, Thumbnail
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.bulk import IndexReport
from latentspace.indexer.pipeline.content_hash import item_hash
from latentspace.indexer.pipeline.known_hashes import KnownHashes
from latentspace.indexer.pipeline.rejects import Reject, RejectsFile
from latentspace.indexer.pipeline.sources import (
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    BadRecord,
    SourceRecord,
    record_from_row,
)
from latentspace.indexer.pipeline.stages import ItemLimits, load_items, write_records

#: Reasons kept for the summary; the rejects file has them all.
MAX_REASONS_KEPT = 1000


@dataclass(frozen=True)
class RayPlan:
    """Where and how wide to run: the cluster, the replicas, and what each replica gets."""

    #: ``ray.init`` address (``"auto"``, ``"ray://head:10001"``); None: the one already initialised,
    #: else a local Ray.
    address: str | None = None
    #: Encoder actors (model replicas).
    replicas: int = 1
    #: GPUs per replica; None: one when the cluster has GPUs, else none.
    gpus_per_replica: float | None = None
    #: Shipped to the workers (``pip``, ``env_vars``, ...); see docs/ray.md.
    runtime_env: dict[str, Any] | None = None


class BatchSink(Protocol):
    """Where the driver writes encoded batches: a collection here, or a server (the CLI's ``--server``)."""

    def write(self, records: Sequence[ItemRecord]) -> tuple[int, int, int, list[tuple[str, str]]]:
        """Write ``records`` (each with its content hash), skipping those whose id holds their hash:
        (written, unchanged, sequence or 0, (id, reason) of the refused)."""
        ...


class CollectionSink:
    """Writes into a local collection, skipping unchanged items by their stored content hash (on a
    backend that keeps none, such as Milvus, every item is written)."""

    def __init__(self, collection: CollectionBackend) -> None:
        self.collection = collection

    def write(self, records: Sequence[ItemRecord]) -> tuple[int, int, int, list[tuple[str, str]]]:
        stored = (self.collection.content_hashes([record.id for record in records])
                  if isinstance(self.collection, KeepsContentHashes) else {})
        fresh = [record for record in records if stored.get(record.id) != record.content_hash]
        sequence, refused = write_records(self.collection, fresh)
        return len(fresh) - len(refused), len(records) - len(fresh), sequence, refused


def index_source_ray(
    collection: CollectionBackend | tuple[IngestTarget, BatchSink],
    source: Path,
    *,
    model: str,
    encoder_options: EncoderOptions,
    limits: ItemLimits,
    batch_size: int = 256,
    plan: RayPlan = RayPlan(),
    rejects: RejectsFile | None = None,
) -> IndexReport:
    """Index ``source`` (a folder, .jsonl, .csv or .parquet file) into ``collection`` on Ray.

    ``collection`` is a local collection, or what to check items against and where to write them
    (a server's collection: the server skips the unchanged items itself).
    """
    import ray

    if not ray.is_initialized():
        ray.init(address=plan.address, runtime_env=plan.runtime_env, log_to_driver=False,
                 logging_level=logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # written in source order, as a local run
    context.enable_progress_bars = False
    # One summary at the end, as a local run: not Ray Data's per-dataset log lines and warnings.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    gpus = plan.gpus_per_replica
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    known: KnownHashes | None = None
    if isinstance(collection, tuple):
        target, sink = collection  # a server's collection: the server skips the unchanged itself
    else:
        target, sink = IngestTarget.of(collection), CollectionSink(collection)
        known = KnownHashes.of(collection)
    dataset = read_dataset(source)
    encoded = dataset.map_batches(
        _EncodeReplica,
        fn_constructor_kwargs={"model": model, "options": encoder_options, "target": target,
                               "limits": limits, "base_dir": str(_base_dir(source)),
                               "source": str(source),
                               "known": ray.put(known) if known is not None and len(known) else None},
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=plan.replicas,
        num_gpus=gpus,
    )
    started = time.perf_counter()
    written = unchanged = unchanged_before = skipped_count = batches = sequence = 0
    skipped: list[Reject] = []
    for batch in encoded.iter_batches(batch_size=batch_size, batch_format="numpy"):
        records, batch_rejects, batch_unchanged_before = _from_columns(batch)
        unchanged_before += batch_unchanged_before
        if records:
            batch_written, batch_unchanged, sequence_now, refused = sink.write(records)
            written, unchanged = written + batch_written, unchanged + batch_unchanged
            sequence = sequence_now or sequence
            batch_rejects += [Reject(record_id, record_id, reason) for record_id, reason in refused]
        skipped_count += len(batch_rejects)
        skipped += batch_rejects[:max(0, MAX_REASONS_KEPT - len(skipped))]
        if rejects is not None:
            rejects.write(batch_rejects)
        batches += 1
    seconds = time.perf_counter() - started
    return IndexReport(indexed=written, skipped=skipped, seconds=seconds,
                       items_per_second=written / seconds if seconds > 0 else 0.0,
                       skipped_count=skipped_count, batches=batches, sequence=sequence,
                       read=written + unchanged + unchanged_before + skipped_count,
                       unchanged=unchanged + unchanged_before,
                       # What the replicas dropped was not encoded; what the driver found unchanged was.
                       encoded=written + unchanged)


def read_dataset(source: Path) -> Any:
    """The source as a Ray dataset of rows in the tabular record shape (a folder: ``path`` rows)."""
    import ray

    suffix = source.suffix.lower()
    if source.is_dir():
        files = sorted(str(path) for path in source.rglob("*")
                       if path.suffix.lower() in IMAGE_EXTENSIONS | TEXT_EXTENSIONS
                       and not any(part.startswith(".") for part in path.relative_to(source).parts))
        return ray.data.from_items([{"path": name} for name in files])
    if suffix in (".jsonl", ".ndjson"):
        return ray.data.read_json(str(source), lines=True)
    if suffix == ".csv":
        return ray.data.read_csv(str(source))
    if suffix in (".parquet", ".pq"):
        return ray.data.read_parquet(str(source))
    raise ValueError(f"--engine ray reads a folder, .jsonl, .csv or .parquet file, not {source.name}")


def _base_dir(source: Path) -> Path:
    return source.resolve() if source.is_dir() else source.resolve().parent


class _EncodeReplica:
    """One model replica: rows in, one output row per input record (a vector, or a reject)."""

    def __init__(self, model: str, options: EncoderOptions, target: IngestTarget, limits: ItemLimits,
                 base_dir: str, source: str, known: Any = None) -> None:
        from latentspace.indexer.encoders.registry import EncoderRegistry
        from latentspace.indexer.model_spec import parse_model_spec

        self.encoder = EncoderRegistry(options).get(parse_model_spec(model))
        self.target, self.limits = target, limits
        self.base_dir, self.source = Path(base_dir), source
        import ray

        # ``known``: an object reference to the driver's KnownHashes (read from the object store,
        # shared by the replicas of a node), or None.
        self.known: KnownHashes | None = ray.get(known) if known is not None else None

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:
        records: list[SourceRecord] = []
        rejects: list[Reject] = []
        for row in batch.to_pylist():
            entry = self._record(row)
            if isinstance(entry, BadRecord):
                rejects.append(Reject(entry.location, entry.id, entry.reason))
            else:
                records.append(entry)
        loaded, load_rejects = load_items(records, None, max_text_chars=self.limits.max_text_chars)
        rejects += load_rejects
        items = [item for _, item in loaded]
        items = [dataclasses.replace(item, content_hash=item_hash(item)) for item in items]
        unchanged: list[str] = []
        if self.known is not None and items:
            same = self.known.unchanged([item.id for item in items], [item.content_hash for item in items])
            unchanged = [item.id for item, skip in zip(items, same, strict=True) if skip]
            loaded = [entry for entry, skip in zip(loaded, same, strict=True) if not skip]
            items = [item for item, skip in zip(items, same, strict=True) if not skip]
        checked = check_items(self.target, items, max_pixels=self.limits.max_pixels,
                              max_text_chars=self.limits.max_text_chars,
                              thumbnail_side=self.limits.thumbnail_side)
        rejects += [Reject(loaded[f.index][0].location, loaded[f.index][0].id, f.reason) for f in checked.failures]
        texts = self.encoder.encode_texts(checked.texts) if checked.texts else None
        images = self.encoder.encode_images(checked.images) if checked.images else None
        built = to_records(checked.good, texts, images)
        return _to_columns(built, rejects, unchanged, self.target.dimension)

    def _record(self, row: dict[str, Any]) -> SourceRecord | BadRecord:
        if set(row) == {"path"}:  # a folder's file, as read_folder makes it
            file = Path(row["path"])
            relative = file.relative_to(self.base_dir).as_posix()
            payload = {"path": relative, "folder": str(Path(relative).parent.as_posix())}
            if file.suffix.lower() in IMAGE_EXTENSIONS:
                return SourceRecord(relative, relative, Modality.IMAGE, path=file, payload=payload,
                                    content_ref=str(file))
            return SourceRecord(relative, relative, Modality.TEXT, path=file, payload=payload)
        cells = {key: value for key, value in row.items() if value is not None}
        location = f"{self.source}:id {cells.get('id', '?')}"
        entry = record_from_row(cells, location=location, base_dir=self.base_dir,
                                default_id=location, json_cells=True)
        return entry if isinstance(entry, (SourceRecord, BadRecord)) else BadRecord(location, "unreadable row")


def _to_columns(records: Sequence[ItemRecord], rejects: Sequence[Reject], unchanged: Sequence[str],
                dimension: int) -> dict[str, np.ndarray]:
    """One row per record, then per reject, then per unchanged id (an id alone, ``unchanged`` set)."""
    rest = len(rejects) + len(unchanged)
    count = len(records) + rest
    vectors = np.zeros((count, dimension), dtype=np.float32)
    if records:
        vectors[:len(records)] = np.stack([record.vector for record in records])

    def strings(values: Sequence[str | bytes]) -> np.ndarray:
        return np.array(values, dtype=object)

    return {
        "id": strings([r.id for r in records] + [r.id for r in rejects] + list(unchanged)),
        "vector": vectors,
        "modality": strings([r.modality.value for r in records] + [""] * rest),
        "payload": strings([json.dumps(r.payload, ensure_ascii=False) for r in records] + ["{}"] * rest),
        "content": strings([r.content for r in records] + [""] * rest),
        "content_hash": strings([r.content_hash for r in records] + [""] * rest),
        "thumbnail_type": strings([r.thumbnail.media_type if r.thumbnail else "" for r in records] + [""] * rest),
        "thumbnail": strings([r.thumbnail.data if r.thumbnail else b"" for r in records] + [b""] * rest),
        "location": strings([""] * len(records) + [r.location for r in rejects] + [""] * len(unchanged)),
        "reason": strings([""] * len(records) + [r.reason for r in rejects] + [""] * len(unchanged)),
        "unchanged": np.array([False] * (len(records) + len(rejects)) + [True] * len(unchanged), dtype=bool),
    }


def _from_columns(batch: dict[str, np.ndarray]) -> tuple[list[ItemRecord], list[Reject], int]:
    """The batch's records, its rejects, and how many items a replica found unchanged."""
    records, rejects, unchanged = [], [], 0
    for i in range(len(batch["id"])):
        if batch["unchanged"][i]:
            unchanged += 1
            continue
        if batch["reason"][i]:
            rejects.append(Reject(str(batch["location"][i]), str(batch["id"][i]), str(batch["reason"][i])))
            continue
        records.append(ItemRecord(id=str(batch["id"][i]), vector=np.ascontiguousarray(batch["vector"][i]),
                                  modality=Modality(str(batch["modality"][i])),
                                  payload=json.loads(str(batch["payload"][i])),
                                  content=str(batch["content"][i]), content_hash=str(batch["content_hash"][i]),
                                  thumbnail=(Thumbnail(str(batch["thumbnail_type"][i]), bytes(batch["thumbnail"][i]))
                                             if batch["thumbnail_type"][i] else None)))
    return records, rejects, unchanged
