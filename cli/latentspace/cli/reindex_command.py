"""``latent reindex COLLECTION --index-kind KIND``: rebuild a collection's index as another kind from
its stored vectors, without re-encoding anything.

Through a running server (``--server``, the SDK's ``reindex``: the rebuild runs as the server's
background job, searches keep being answered by the old index until the swap) or, with ``--data``,
on a data dir directly, which needs the data dir's lock: no server may be serving it. The kind is
checked as at create time (the grammar, then a trial run in a child process for kinds that train).
Exit codes as for the client commands: 0 done, 1 refused or unreachable, 2 a usage mistake.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from latentspace.cli import output
from latentspace.cli.backup_commands import _either, _local, _settings
from latentspace.cli.query_commands import common_options, handler

#: The deadline of a reindex through a server when --timeout is not given: a million vectors take
#: minutes (benchmarks/README.md). A call that runs out leaves the rebuild running on the server.
REINDEX_TIMEOUT = 3600.0


def register(subparsers: Any) -> None:
    """Add ``latent reindex``."""
    about = "rebuild a collection's index as another kind from its stored vectors (no re-encoding)"
    parser: argparse.ArgumentParser = subparsers.add_parser("reindex", parents=[common_options()], help=about,
                                                            description=about)
    parser.add_argument("target", metavar="COLLECTION", nargs="?",
                        help="the collection (default: --collection / LATENTSPACE_COLLECTION)")
    parser.add_argument("--index-kind", required=True, metavar="KIND",
                        help='a FAISS kind as for `collections create` (Flat, HNSW32, IVF4096,PQ96x8, ...) or '
                             '"auto": the kind follows the collection\'s size')
    group = parser.add_argument_group("without a server (the data dir must not be in use)")
    group.add_argument("--data", type=Path, help="work on this data dir directly instead of through --server")
    parser.epilog = (f"Through a server the call waits for the swap (--timeout, default {REINDEX_TIMEOUT:.0f} s); "
                     "searches and writes go on meanwhile.")
    parser.set_defaults(handler=_either(handler(_remote), _local(_local_reindex), "data"))


def _name(args: argparse.Namespace) -> str:
    from latentspace.indexer.errors import InvalidInput

    name: str | None = args.target or args.collection or os.environ.get("LATENTSPACE_COLLECTION")
    if not name:
        raise InvalidInput("which collection? name it: latent reindex COLLECTION --index-kind KIND")
    return name


def _remote(client: Any, args: argparse.Namespace) -> None:
    timeout = args.timeout if args.timeout is not None else REINDEX_TIMEOUT
    info = client.reindex(args.index_kind, _name(args), timeout=timeout)
    _emit(args, info.name, info.index_kind, info.count)


def _local_reindex(args: argparse.Namespace) -> None:
    from latentspace.indexer.backends.base import reindexer_of
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.validation import check_index_kind

    settings = _settings(args)
    with DataDir.open(settings.data_dir, background=False) as data:
        collection = data.collection(_name(args))
        kind = check_index_kind(args.index_kind, collection.dimension, settings.limits.index_kind_limits())
        reindexer_of(collection).start_reindex(kind).result()  # no maintenance thread here: it ran inline
        _emit(args, collection.name, collection.index_kind, collection.count())


def _emit(args: argparse.Namespace, name: str, index_kind: str, count: int) -> None:
    data = {"collection": name, "index_kind": index_kind, "count": count}
    print(output.dumps(data) if args.json else f"reindexed {name}: index {index_kind}, {count} items")
