"""Backups: ``latent snapshot``, ``snapshots``, ``restore`` and ``export``, and loading an export back
with ``latent index``.

Each command works through a running server (``--server``, through the SDK: its snapshots live in the
backup folder its operator set) or, with ``--data``, on a data dir directly, which needs the data
dir's lock: no server may be serving it. ``latent snapshots --backup-dir DIR`` lists a folder
without any data dir. Exit codes as for the client commands: 0 ok, 1 refused or unreachable, 2 a
usage mistake.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentspace.cli import output

# The client commands' connection options and error handling (so these commands connect the same way).
from latentspace.cli.query_commands import common_options, handler

if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionCatalog
    from latentspace.indexer.export_file import ExportHeader

#: The deadline of a whole export through a server when --timeout is not given.
EXPORT_TIMEOUT = 3600.0
#: Items per page of an export through a server.
EXPORT_PAGE_SIZE = 512
_SNAPSHOT_FIELDS = ("name", "collection", "created_at", "sequence", "count", "model", "dimension",
                    "index_kind", "fingerprint", "has_index", "size_bytes")


def register(subparsers: Any) -> None:
    """Add the backup commands to ``latent``."""
    common = common_options()

    def add(name: str, help: str, remote: Callable[[Any, argparse.Namespace], None],
            local: Callable[[argparse.Namespace], None], local_when: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(name, parents=[common], help=help,
                                                                description=help)
        parser.set_defaults(handler=_either(handler(remote), _local(local), local_when))
        return parser

    p = add("snapshot", "write a consistent copy of a collection into the backup folder, while it serves",
            _remote_snapshot, _local_snapshot, "data")
    p.add_argument("--name", help="the snapshot's name (default: <collection>-<UTC date>-<time>-<hex>)")
    _local_options(p, backup_dir=True)

    p = add("snapshots", "list the snapshots in the backup folder, newest first", _remote_snapshots,
            _local_snapshots, "backup_dir")
    p.add_argument("--backup-dir", type=Path, help="list this folder directly (no server)")

    p = add("restore", "bring a snapshot back as a new collection", _remote_restore, _local_restore, "data")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="the snapshot's name (see `latent snapshots`)")
    p.add_argument("--name", help="the new collection's name (default: the collection the snapshot was "
                   "taken of; an existing collection is never overwritten)")
    _local_options(p, backup_dir=True)

    p = add("export", "write every item of a collection (vector, payload, content) to a Parquet file",
            _remote_export, _local_export, "data")
    p.add_argument("out", type=Path, metavar="OUT.parquet", help="the file to write (replaced when complete)")
    p.epilog = ("Columns: id, modality, vector (float32, as stored), payload (JSON), content; the file's "
                "metadata names the collection, model and fingerprint. `latent index OUT.parquet "
                "--collection NEW` loads it back into an identical collection, without re-encoding. "
                f"Through a server the whole export has one deadline (--timeout, default {EXPORT_TIMEOUT:.0f} s).")
    _local_options(p, backup_dir=False)


def _local_options(parser: argparse.ArgumentParser, *, backup_dir: bool) -> None:
    group = parser.add_argument_group("without a server (the data dir must not be in use)")
    group.add_argument("--data", type=Path, help="work on this data dir directly instead of through --server")
    if backup_dir:
        group.add_argument("--backup-dir", type=Path, help="the backup folder (LATENTSPACE_BACKUP_DIR)")


def _either(remote: Callable[[argparse.Namespace], int], local: Callable[[argparse.Namespace], int],
            local_when: str) -> Callable[[argparse.Namespace], int]:
    return lambda args: local(args) if getattr(args, local_when) is not None else remote(args)


def _local(action: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """Run ``action`` on the local files, with the client commands' exit codes."""

    def run(args: argparse.Namespace) -> int:
        from latentspace.indexer.errors import InvalidInput, LatentSpaceError

        try:
            action(args)
        except InvalidInput as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except (LatentSpaceError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0

    return run


def _settings(args: argparse.Namespace) -> Any:
    from latentspace.server.settings import Settings

    return Settings.load(os.environ, data_dir=getattr(args, "data", None), backup_dir=getattr(args, "backup_dir", None))


def _backups(args: argparse.Namespace) -> Any:
    from latentspace.indexer.backup import BackupDir
    from latentspace.indexer.errors import InvalidInput

    folder = _settings(args).backup_dir
    if folder is None:
        raise InvalidInput("no backup folder: pass --backup-dir or set LATENTSPACE_BACKUP_DIR")
    return BackupDir(folder)


def _collection_name(args: argparse.Namespace) -> str:
    from latentspace.indexer.errors import InvalidInput

    name: str | None = args.collection or os.environ.get("LATENTSPACE_COLLECTION")
    if not name:
        raise InvalidInput("which collection? pass --collection (or set LATENTSPACE_COLLECTION)")
    return name


# ---------------------------------------------------------------- snapshots


def _remote_snapshot(client: Any, args: argparse.Namespace) -> None:
    _print_snapshot(args, client.snapshot(name=args.name))


def _local_snapshot(args: argparse.Namespace) -> None:
    from latentspace.indexer.data_dir import DataDir

    backups = _backups(args)
    with DataDir.open(_settings(args).data_dir) as data:
        _print_snapshot(args, backups.snapshot(data.collection(_collection_name(args)), args.name))


def _remote_snapshots(client: Any, args: argparse.Namespace) -> None:
    _print_snapshots(args, client.list_snapshots())


def _local_snapshots(args: argparse.Namespace) -> None:
    _print_snapshots(args, _backups(args).snapshots())


def _snapshot_json(info: Any) -> dict[str, Any]:
    """The same keys for a server's answer (the SDK's SnapshotInfo) and a local one (the library's)."""
    values = {name: getattr(info, name, None) for name in _SNAPSHOT_FIELDS}
    if values["has_index"] is None:
        values["has_index"] = info.index_sequence is not None
    values["model"] = values["model"] or ""
    values["fingerprint"] = values["fingerprint"] or ""
    return values


def _print_snapshot(args: argparse.Namespace, info: Any) -> None:
    data = _snapshot_json(info)
    text = output.key_values([(key, value) for key, value in data.items()])
    print(output.dumps(data) if args.json else text)


def _print_snapshots(args: argparse.Namespace, infos: Sequence[Any]) -> None:
    rows = [_snapshot_json(info) for info in infos]
    text = output.table(
        ("name", "collection", "count", "sequence", "created", "size", "index"),
        [(r["name"], r["collection"], r["count"], r["sequence"], r["created_at"], _size(r["size_bytes"]),
          "yes" if r["has_index"] else "no") for r in rows],
        right=("count", "sequence", "size"),
    ) if rows else "(no snapshots)"
    print(output.dumps({"snapshots": rows}) if args.json else text)


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


# ---------------------------------------------------------------- restore


def _remote_restore(client: Any, args: argparse.Namespace) -> None:
    info = client.restore(args.snapshot, args.name)
    print(output.dumps(output.jsonable(info)) if args.json else output.collection_details(info))


def _local_restore(args: argparse.Namespace) -> None:
    from latentspace.indexer.data_dir import DataDir

    backups = _backups(args)
    with DataDir.open(_settings(args).data_dir) as data:
        collection = backups.restore(data, args.snapshot, args.name)
        result = {"name": collection.name, "count": collection.count(), "sequence": collection.sequence}
    text = f"restored snapshot {args.snapshot!r} as collection {result['name']!r}: {result['count']} items"
    print(output.dumps(result) if args.json else text)


# ---------------------------------------------------------------- export


def _remote_export(client: Any, args: argparse.Namespace) -> None:
    from latentspace.indexer.export_file import ExportHeader, write_export

    with client.export(page_size=EXPORT_PAGE_SIZE, timeout=args.timeout or EXPORT_TIMEOUT) as stream:
        info = stream.collection
        header = ExportHeader(info.name, info.model or None, info.fingerprint or None, info.dimension,
                              _created_kind(info.index_kind), info.count, info.sequence, info.metric)
        written = write_export(args.out, header, _chunks(stream, EXPORT_PAGE_SIZE))
    _print_export(args, header, written)


def _local_export(args: argparse.Namespace) -> None:
    from latentspace.indexer.backends.base import exporter_of
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.export_file import ExportHeader, write_export

    with DataDir.open(_settings(args).data_dir) as data:
        collection = data.collection(_collection_name(args))
        manifest = collection.manifest
        with exporter_of(collection).export_items() as items:
            header = ExportHeader(collection.name, manifest.model, manifest.fingerprint, manifest.dimension,
                                  manifest.index_kind, items.count, items.sequence, manifest.metric)
            pages = iter(lambda: items.next_page(EXPORT_PAGE_SIZE, 1 << 24), [])
            written = write_export(args.out, header, pages)
    _print_export(args, header, written)


def _created_kind(described: str) -> str:
    """The kind a collection was created with, from the kind a server describes: a collection whose
    kind follows its size is described as ``auto (HNSW32)``, and its export loads back as ``auto``."""
    from latentspace.indexer.index.auto_kind import AUTO

    return AUTO if described.split(" ", 1)[0] == AUTO else described


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _print_export(args: argparse.Namespace, header: ExportHeader, written: int) -> None:
    result = {"file": str(args.out), "collection": header.collection, "count": written,
              "sequence": header.sequence, "model": header.model or "", "dimension": header.dimension}
    text = (f"exported {written} items of collection {header.collection!r} (sequence {header.sequence}) "
            f"to {args.out}")
    print(output.dumps(result) if args.json else text)


# ---------------------------------------------------------------- latent index EXPORT.parquet


def index_export(args: argparse.Namespace, header: ExportHeader, settings: Any,
                 catalogs: Sequence[CollectionCatalog] = ()) -> tuple[int, int, str]:
    """Load an export into ``args.collection`` of the data dir (or of a catalog: ``--backend``),
    creating it like the exported one (its model, or vector-only of its dimension; its index kind
    unless ``--index-kind``) when missing. The vectors are written as exported: the model is loaded
    only to prove it is the same (fingerprint). Returns ``(items loaded, items in the collection,
    its backend)``."""
    from latentspace.cli.index_target import check_backend_of
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.errors import InvalidInput, ModelMismatch
    from latentspace.indexer.export_file import load_export
    from latentspace.indexer.model_spec import parse_model_spec

    if args.model is None:
        named = header.model
    else:  # "none": vector-only
        named = None if args.model.lower() == "none" else parse_model_spec(args.model).canonical
    if named != header.model:
        raise InvalidInput(f"{args.source.name} holds vectors of model {header.model or 'none (vector-only)'}; "
                           "leave out --model (the export names its model)", field="model")
    if args.dimension is not None and args.dimension != header.dimension:
        raise InvalidInput(f"{args.source.name} holds {header.dimension}-d vectors, not {args.dimension}",
                           field="dimension")
    # The operator's own tool, as for any `latent index`: any model folder, any hub spec when downloads are on.
    registry = EncoderRegistry(settings.encoder_options(operator_tool=True))
    with DataDir.open(settings.data_dir, registry, catalogs=catalogs) as data:
        if args.collection in data.names():
            collection = data.collection(args.collection)
            check_backend_of(collection, args.backend)
        else:
            if header.model is not None:
                loaded = registry.get(parse_model_spec(header.model)).fingerprint
                if loaded != header.fingerprint:
                    raise ModelMismatch(
                        f"{args.source.name} was encoded by {header.model} of fingerprint {header.fingerprint}, "
                        f"but the weights here have fingerprint {loaded}: its vectors would not be comparable",
                        field="model")
            collection = data.create_collection(args.collection, header.model,
                                                dimension=None if header.model else header.dimension,
                                                index_kind=args.index_kind or header.index_kind,
                                                backend=args.backend)
        loaded_count = load_export(collection, args.source, header)
        return loaded_count, collection.count(), collection.manifest.backend
