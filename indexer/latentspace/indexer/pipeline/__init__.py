"""Bulk indexing: read a corpus (folder, JSONL, CSV, Parquet), encode it in batches, write it.

The three stages stay apart so each can be swapped on its own (a resumable runner, a Ray runner):

- :mod:`~latentspace.indexer.pipeline.sources` reads a corpus into :class:`SourceRecord` values and
  :class:`BadRecord` entries; it never touches a model or a collection.
- :func:`~latentspace.indexer.ingest.prepare_records` turns a batch of loaded items into records.
- :mod:`~latentspace.indexer.pipeline.bulk` runs the batch loop: load, prepare, upsert, report.
"""

from latentspace.indexer.pipeline.bulk import BatchResult, IndexReport, index_source
from latentspace.indexer.pipeline.sources import (
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    BadRecord,
    IgnoredFile,
    SourceEntry,
    SourceRecord,
    open_source,
    read_csv,
    read_folder,
    read_jsonl,
    read_parquet,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "BadRecord",
    "BatchResult",
    "IgnoredFile",
    "IndexReport",
    "SourceEntry",
    "SourceRecord",
    "index_source",
    "open_source",
    "read_csv",
    "read_folder",
    "read_jsonl",
    "read_parquet",
]
