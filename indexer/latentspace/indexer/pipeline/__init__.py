"""Bulk indexing: read a corpus (folder, JSONL, CSV, Parquet), encode it in batches, write it.

The parts stay apart so each can be swapped on its own (a resumable runner, a cluster runner):

- :mod:`~latentspace.indexer.pipeline.sources` reads a corpus into :class:`SourceRecord` values and
  :class:`BadRecord` entries; it never touches a model or a collection.
- :mod:`~latentspace.indexer.pipeline.stages` has the stages (read, prepare, encode, write) as
  functions over plain batch values.
- :mod:`~latentspace.indexer.pipeline.local_runner` runs stages in threads with bounded queues.
- :mod:`~latentspace.indexer.pipeline.bulk` joins them into :func:`index_source` and its report.
"""

from latentspace.indexer.pipeline.bulk import IndexReport, index_source
from latentspace.indexer.pipeline.parquet_source import read_parquet
from latentspace.indexer.pipeline.rejects import Reject, RejectsFile, default_rejects_path
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
)
from latentspace.indexer.pipeline.stages import BatchResult

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "BadRecord",
    "BatchResult",
    "IgnoredFile",
    "IndexReport",
    "Reject",
    "RejectsFile",
    "SourceEntry",
    "SourceRecord",
    "default_rejects_path",
    "index_source",
    "open_source",
    "read_csv",
    "read_folder",
    "read_jsonl",
    "read_parquet",
]
