"""Precomputed vectors read as arrays: ``NAME.npy`` files and Parquet ``vector`` columns (runs of
JSONL vector records become blocks in :mod:`~latentspace.indexer.pipeline.records`).

A :class:`VectorBlock` is many rows of vectors in one ``(n, dimension)`` array, with their ids and
payloads; it flows through the stages as one batch. Vectors never become Python floats one by one:
a ``.npy`` file is memory-mapped and read in slices, a Parquet list column is flattened by pyarrow
into one numpy array, a run of JSONL vector lists becomes one array in one call, and the checks
(dimension, finite, non-zero) and the normalisation run on the whole array at once
(:func:`check_block`). What remains per row is the id, the payload, the content hash and the
record the store writes.

``NAME.npy`` takes its ids from ``NAME.ids.txt`` beside it (one a line, as many lines as rows), or
numbers its rows (``"0"``, ``"1"``, ...) when there is no such file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.ingest import CheckedItem, NewItem
from latentspace.indexer.items import JsonObject
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.content_hash import item_hash
from latentspace.indexer.pipeline.rejects import Reject
from latentspace.indexer.validation import MIN_NORM, UNIT_TOLERANCE, check_id

if TYPE_CHECKING:
    import pyarrow as pa

#: Rows per block read from a ``.npy`` file.
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class VectorBlock:
    """Rows of precomputed vectors: ``vectors[i]`` is the vector of ``ids[i]``."""

    ids: list[str]
    vectors: np.ndarray
    #: Row payloads, or None when every row's payload is empty.
    payloads: list[JsonObject] | None
    #: Where row 0 came from is ``f"{source}:row {first_row}"``; row i is ``first_row + i``.
    source: str
    first_row: int
    #: Rows whose vector was missing or not numbers, as ``(row in block, reason)``.
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    #: Each row's location, when rows are not numbered (JSONL lines); None: ``source:row N``.
    locations: list[str] | None = None

    def location(self, row: int) -> str:
        if self.locations is not None:
            return self.locations[row]
        return f"{self.source}:row {self.first_row + row}"


def ids_file(path: Path) -> Path:
    """``vectors.npy`` -> ``vectors.ids.txt``."""
    return path.with_name(path.stem + ".ids.txt")


def read_npy(path: Path) -> Iterator[VectorBlock]:
    """A ``(rows, dimension)`` ``.npy`` array in blocks of :data:`BLOCK_ROWS` rows (memory-mapped)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"cannot read {path} as a .npy array: {exc}", field="source") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InvalidInput(f"{path} holds a {array.dtype} array of shape {array.shape}; expected numbers "
                           "of shape (rows, dimension)", field="source")
    names = ids_file(path)
    ids: Sequence[str] | None = None
    if names.is_file():
        ids = names.read_text(encoding="utf-8").splitlines()
        if len(ids) != len(array):
            raise InvalidInput(f"{names} has {len(ids)} lines but {path} has {len(array)} rows; give one id "
                               "a line, a line per row", field="source")
    return _npy_blocks(path, array, ids)


def _npy_blocks(path: Path, array: np.ndarray, ids: Sequence[str] | None) -> Iterator[VectorBlock]:
    for start in range(0, len(array), BLOCK_ROWS):
        end = min(start + BLOCK_ROWS, len(array))
        block_ids = list(ids[start:end]) if ids is not None else [str(i) for i in range(start, end)]
        yield VectorBlock(block_ids, np.asarray(array[start:end]), None, str(path), start)


def parquet_vector_block(batch: pa.RecordBatch, column: str, ids: list[str], payloads: list[JsonObject],
                         source: str, first_row: int) -> VectorBlock:
    """The rows of a Parquet batch whose content is its list column ``column``, as one block."""
    import pyarrow.compute as pc

    values = batch.column(column)
    lengths = pc.fill_null(pc.list_value_length(values), -1).to_numpy(zero_copy_only=False)
    width = int(lengths.max(initial=0))
    bad = [(row, "record has no vector") if length < 0 else (row, f"vector has {length} numbers, others "
           f"in this file {width}") for row, length in enumerate(lengths) if length != width]
    good = np.flatnonzero(lengths == width)
    flat = pc.list_flatten(values.filter(lengths == width)).to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, dtype=np.float64).reshape(len(good), width) if width else np.zeros((0, 0))
    full = np.zeros((len(lengths), width), dtype=np.float64)
    full[good] = vectors
    return VectorBlock(ids, full, payloads, source, first_row, bad)


def check_block(block: VectorBlock, dimension: int) -> tuple[list[CheckedItem], list[str], list[Reject]]:
    """Check and normalise every row at once; the good rows as checked items (with their content
    hashes) and their locations, and a reject per bad row."""
    rejects = [Reject(block.location(row), block.ids[row], reason) for row, reason in block.bad_rows]
    bad = {row for row, _ in block.bad_rows}
    vectors = np.asarray(block.vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[1] != dimension:
        reason = f"vector has shape ({vectors.shape[-1]},); this collection needs {dimension} numbers"
        rejects += [Reject(block.location(row), block.ids[row], reason)
                    for row in range(len(block.ids)) if row not in bad]
        return [], [], rejects
    finite = np.asarray(np.isfinite(vectors).all(axis=1), dtype=bool)
    norms = np.linalg.norm(np.where(finite[:, None], vectors, 0.0), axis=1)
    unit = np.abs(norms - 1.0) <= UNIT_TOLERANCE
    # Rows already unit are kept bit for bit (as normalised_vector does): an export loads back exactly.
    normalised = np.where(unit[:, None], vectors, vectors / np.where(norms >= MIN_NORM, norms, 1.0)[:, None])
    rows32 = normalised.astype(np.float32)
    given32 = vectors.astype(np.float32)
    good: list[CheckedItem] = []
    locations: list[str] = []
    seen: set[str] = set()
    for row, item_id in enumerate(block.ids):
        if row in bad:
            continue
        reason = _row_problem(item_id, bool(finite[row]), float(norms[row]), seen)
        if reason:
            rejects.append(Reject(block.location(row), item_id if isinstance(item_id, str) else "", reason))
            continue
        seen.add(item_id)
        payload = block.payloads[row] if block.payloads is not None else {}
        digest = item_hash(NewItem(item_id, vector=given32[row], payload=payload))
        good.append(CheckedItem(row, item_id, Modality.VECTOR, payload, "", rows32[row], digest))
        locations.append(block.location(row))
    return good, locations, rejects


def _row_problem(item_id: object, finite: bool, norm: float, seen: set[str]) -> str:
    try:
        check_id(item_id, "id")
    except InvalidInput as exc:
        return exc.message
    if item_id in seen:
        return f"id {item_id!r} appears twice in one block of rows"
    if not finite:
        return "vector contains NaN or infinity"
    if norm < MIN_NORM:
        return "vector is zero (it has no direction)"
    return ""
