"""The Parquet reader: row groups of ~1000 rows, nulls as missing; vectors-only files as blocks.

A file whose content is a list column of vectors (and no text or image column) is read as
:class:`~latentspace.indexer.pipeline.vector_blocks.VectorBlock` values: the vectors go from
pyarrow to numpy without becoming Python floats. Any other file is read row by row into the
records of :mod:`~latentspace.indexer.pipeline.records`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import JsonObject
from latentspace.indexer.pipeline.read_options import ReadOptions
from latentspace.indexer.pipeline.records import (
    PARQUET_READ_ROWS,
    SourceEntry,
    json_safe,
    record_from_row,
    require_content_columns,
)
from latentspace.indexer.pipeline.vector_blocks import VectorBlock, parquet_vector_block


def read_parquet(path: Path, options: ReadOptions = ReadOptions()) -> Iterator[SourceEntry]:
    """A Parquet file, read in row groups of ~1000 rows; nulls count as missing.

    A file whose content is a list column of vectors (no text or image column) is read as vector
    blocks: the vectors go from pyarrow to numpy without becoming Python floats.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq  # heavy-ish; only Parquet sources need it

    base = path.resolve().parent
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError mix for a bad file
        raise InvalidInput(f"cannot read {path} as Parquet: {exc}", field="source") from None
    schema = parquet.schema_arrow
    require_content_columns(path, schema.names, options)
    vector_column = options.vector_field if options.vector_field in schema.names else None
    as_blocks = (vector_column is not None and pa.types.is_list(schema.field(vector_column).type)
                 and not {options.text_field, options.image_field} & set(schema.names))
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_READ_ROWS):
        if as_blocks and vector_column is not None:
            yield _parquet_block(path, batch, vector_column, number, options)
            number += batch.num_rows
            continue
        for row in batch.to_pylist():
            number += 1
            cells = {key: value for key, value in row.items() if value is not None}
            yield record_from_row(cells, location=f"{path}:row {number}", base_dir=base,
                                  default_id=f"{path.name}:row {number}", json_cells=True, options=options)


def _parquet_block(path: Path, batch: Any, vector_column: str, before: int, options: ReadOptions) -> VectorBlock:
    """A batch of a vectors-only Parquet file: ids and payloads per row, the vectors as one array."""
    others = batch.drop_columns([vector_column])
    ids: list[str] = []
    payloads: list[JsonObject] = []
    for offset, row in enumerate(others.to_pylist()):
        cells = {key: value for key, value in row.items() if value is not None}
        if options.renames:
            cells = options.rename(cells)
        record_id = cells.pop("id", None)
        ids.append(str(record_id) if record_id not in (None, "") else f"{path.name}:row {before + offset + 1}")
        explicit = cells.pop("payload", None)
        cells.pop("content_ref", None)
        payload = {key: json_safe(value) for key, value in cells.items()}
        if isinstance(explicit, dict):
            payload.update({key: json_safe(value) for key, value in explicit.items()})
        payloads.append(payload)
    return parquet_vector_block(batch, vector_column, ids, payloads, str(path), before + 1)
