"""A collection as a Parquet file: ``latent export`` writes one, ``latent index`` reads it back.

Columns, one row per item:

=========  ===================================  ==============================================
id         string                               the item id
modality   string                               ``text``, ``image`` or ``vector``
vector     fixed_size_list<float32>[dimension]  the stored unit vector, bit for bit
payload    string                               the payload, a JSON object
content    string                               the text itself, or the image's reference
=========  ===================================  ==============================================

The file's key-value metadata ``latentspace.export`` (JSON) says what the rows came from: the
collection, its model and the model's weights fingerprint, dimension, metric, index kind, and the
item count and sequence of the moment they were read. Reading a file back writes each row as it was
stored, with no model run: the vectors travel, so a model collection is re-created without
re-encoding, and only into a collection of the same model fingerprint (its vectors would not be
comparable otherwise). Any Parquet reader can read the file: the payload is a JSON string rather
than a struct because payloads of one collection need not share a schema.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from latentspace.indexer.errors import InvalidInput, ModelMismatch
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.store.atomic_files import replacing
from latentspace.indexer.store.item_store import encode_payload

if TYPE_CHECKING:
    import pyarrow as pa

    from latentspace.indexer.backends.base import CollectionBackend

METADATA_KEY = b"latentspace.export"
#: The export format this code writes and reads.
EXPORT_FORMAT = 1
COLUMNS = ("id", "modality", "vector", "payload", "content")
#: Rows per Parquet row group when writing, and per batch when reading.
ROWS_PER_GROUP = 8192


@dataclass(frozen=True)
class ExportHeader:
    """What an export's rows came from (the file's ``latentspace.export`` metadata)."""

    collection: str
    model: str | None
    fingerprint: str | None
    dimension: int
    index_kind: str
    #: Items in the file, and the collection's sequence at the moment they were read.
    count: int
    sequence: int
    metric: str = "cosine"
    format: int = EXPORT_FORMAT


class ExportableItem(Protocol):
    """An item as read from a collection, locally (``StoredItem``) or through the SDK (``Item``)."""

    @property
    def id(self) -> str: ...

    @property
    def modality(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def content(self) -> str: ...

    @property
    def vector(self) -> Any: ...


def write_export(path: Path, header: ExportHeader, pages: Iterable[Sequence[ExportableItem]]) -> int:
    """Write ``pages`` of items to the Parquet file ``path`` (replaced atomically when complete).

    Returns the number of rows; a count other than ``header.count`` is refused (the file is not
    written), since then the pages were not one whole collection.
    """
    import pyarrow.parquet as pq

    schema = _schema(header.dimension).with_metadata({METADATA_KEY: json.dumps(dataclasses.asdict(header))})
    written = 0
    with replacing(Path(path)) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        pending: list[ExportableItem] = []
        for page in pages:
            pending.extend(page)
            if len(pending) >= ROWS_PER_GROUP:
                writer.write_table(_table(pending, schema, header.dimension))
                written += len(pending)
                pending = []
        if pending or written == 0:
            writer.write_table(_table(pending, schema, header.dimension))
            written += len(pending)
        if written != header.count:
            raise InvalidInput(f"the export of collection {header.collection!r} holds {written} items, "
                               f"not the {header.count} it started with", field="count")
    return written


def _schema(dimension: int) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("modality", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("content", pa.string(), nullable=False),
    ])


def _table(items: Sequence[ExportableItem], schema: pa.Schema, dimension: int) -> pa.Table:
    import pyarrow as pa

    vectors = np.empty((len(items), dimension), dtype=np.float32)
    for row, item in enumerate(items):
        vectors[row] = np.asarray(item.vector, dtype=np.float32)
    columns = [
        pa.array([item.id for item in items], pa.string()),
        pa.array([Modality(item.modality).value for item in items], pa.string()),
        pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dimension),
        pa.array([encode_payload(item.payload) for item in items], pa.string()),
        pa.array([item.content for item in items], pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


# ---------------------------------------------------------------- reading


def read_export_header(path: Path) -> ExportHeader | None:
    """The header of a latentspace export, or None for any other file (another Parquet file too)."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not Parquet at all: the corpus readers report that in their words
        return None
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
        header = ExportHeader(**fields)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{path.name} has latentspace export metadata that cannot be read: {exc}",
                           field="source") from None
    if header.format != EXPORT_FORMAT:
        raise InvalidInput(f"{path.name} is a latentspace export of format {header.format}; this latentspace "
                           f"reads format {EXPORT_FORMAT}", field="source")
    return header


def read_export(path: Path, header: ExportHeader, batch_size: int = ROWS_PER_GROUP) -> Iterator[list[ItemRecord]]:
    """The rows of an export as records, ``batch_size`` at a time, exactly as they were stored."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=list(COLUMNS)):
        vectors = _vectors(batch.column("vector"), header.dimension, path.name)
        records = []
        for row, (item_id, modality, payload, content) in enumerate(zip(
                batch.column("id").to_pylist(), batch.column("modality").to_pylist(),
                batch.column("payload").to_pylist(), batch.column("content").to_pylist(), strict=True)):
            where = f"{path.name}: row {number + row + 1}"
            try:
                records.append(ItemRecord(id=item_id, vector=vectors[row], modality=Modality(modality),
                                          payload=json.loads(payload), content=content))
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"{where} is not an exported item: {exc}", field="source") from None
        number += len(records)
        yield records


def _vectors(column: Any, dimension: int, name: str) -> np.ndarray:
    """A column of fixed-size (or equal-length) float lists as one ``(rows, dimension)`` float32 array."""
    import pyarrow as pa

    if column.null_count:
        raise InvalidInput(f"{name}: the vector column has empty rows", field="source")
    if not pa.types.is_fixed_size_list(column.type):
        lengths = np.diff(np.asarray(column.offsets))
        if np.any(lengths != dimension):
            raise InvalidInput(f"{name}: vectors must each have {dimension} numbers", field="source")
    values = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return values.reshape(len(column), dimension)


def check_target(header: ExportHeader, collection: CollectionBackend) -> None:
    """Refuse to load an export into a collection of another dimension or model fingerprint."""
    manifest = collection.manifest
    if manifest.dimension != header.dimension:
        raise InvalidInput(f"the export holds {header.dimension}-d vectors; collection {collection.name!r} "
                           f"holds {manifest.dimension}-d ones", field="dimension")
    if (manifest.model, manifest.fingerprint) != (header.model, header.fingerprint):
        raise ModelMismatch(
            f"the export holds vectors of model {header.model or 'none (vector-only)'} (fingerprint "
            f"{header.fingerprint or 'none'}); collection {collection.name!r} has model "
            f"{manifest.model or 'none (vector-only)'} (fingerprint {manifest.fingerprint or 'none'}). "
            "Load it into a new collection, which takes the export's model", field="model")


def load_export(collection: CollectionBackend, path: Path, header: ExportHeader,
                batch_size: int = ROWS_PER_GROUP) -> int:
    """Upsert every row of an export into ``collection`` (checked with :func:`check_target`), one
    durable batch at a time; returns the number of items written."""
    check_target(header, collection)
    written = 0
    for records in read_export(Path(path), header, batch_size):
        if records:
            collection.upsert(records)
            written += len(records)
    return written
