"""``latent index``: bulk-index a folder, JSONL, CSV or Parquet file into a collection of a data dir."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentspace.cli import connection_options

if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionBackend, CollectionCatalog
    from latentspace.indexer.backends.milvus import MilvusTarget
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.pipeline.bulk import IndexReport
    from latentspace.indexer.pipeline.read_options import ReadOptions
    from latentspace.indexer.pipeline.rejects import RejectsFile
    from latentspace.indexer.pipeline.stages import ItemLimits
    from latentspace.server.settings import Settings
    from latentspace_client import Client

#: Skip reasons printed in full; the rest are counted.
SHOWN_SKIPS = 20


def register(subparsers: Any) -> None:
    """Add ``latent index`` to the CLI."""
    parser = subparsers.add_parser(
        "index",
        help="index a folder, JSONL, CSV or Parquet file into a collection",
        description=(
            "Encode a corpus with the collection's model and write it into a collection of a data dir, "
            "batch by batch (each batch is durable once written). SOURCE is a folder (images and "
            ".txt/.md files, recursively), or a .jsonl, .csv or .parquet file with the columns id, "
            "text or image (a path relative to the file) or vector, and payload; other columns go "
            "into the payload. Bad records are reported and passed over. A Parquet file written by "
            "`latent export` is loaded as exported (same ids, vectors, payloads and contents, no "
            "re-encoding; a new collection takes its model, or dimension, and index kind). Runs are "
            "incremental: each item's content hash is stored, so running again skips the items already "
            "indexed unchanged (a killed run resumes this way) and re-encodes the changed ones. Flags "
            "override LATENTSPACE_* variables."
        ),
    )
    parser.add_argument("source", type=Path, metavar="SOURCE",
                        help="folder, .jsonl, .csv or .parquet file, or NAME.npy (ids in NAME.ids.txt)")
    parser.add_argument("--collection", required=True, help="collection name (created when missing)")
    parser.add_argument("--model", help="model spec or alias (minilm, shapes-clip, open_clip:ARCH/TAG, ...); "
                        "needed to create the collection")
    parser.add_argument("--dimension", type=int, help="create a vector-only collection (no model) of this "
                        "dimension, for sources of precomputed vectors")
    parser.add_argument("--data", type=Path, help="data dir (LATENTSPACE_DATA_DIR, default ./data)")
    parser.add_argument("--batch-size", type=int, help="records per written batch (default 512; a batch holds "
                        "at most LATENTSPACE_BATCH_SIZE images, the model's batch, default 64)")
    parser.add_argument("--index-kind", help="FAISS index kind for a new collection, e.g. Flat or HNSW32")
    parser.add_argument("--backend", choices=("embedded", "milvus"),
                        help="where a new collection's items live (default embedded: the data dir); milvus "
                             "needs --milvus-uri")
    parser.add_argument("--milvus-uri", metavar="URI",
                        help="Milvus for --backend milvus: http://host:19530 or a Milvus Lite file ending in .db "
                             "(LATENTSPACE_MILVUS_URI; the token from LATENTSPACE_MILVUS_TOKEN)")
    parser.add_argument("--model-cache", type=Path, help="model weights cache (LATENTSPACE_MODEL_CACHE)")
    parser.add_argument("--allow-download", action="store_true",
                        help="fetch hub weights missing from the cache (LATENTSPACE_ALLOW_DOWNLOAD=1; default off)")
    parser.add_argument("--no-download", action="store_true",
                        help="never fetch model weights from the network (the default; LATENTSPACE_ALLOW_DOWNLOAD=0)")
    parser.add_argument("--device", help="auto, cpu or cuda (LATENTSPACE_DEVICE)")
    parser.add_argument("--threads", type=int, help="CPU threads for the model (default: every core, or "
                        "LATENTSPACE_COMPUTE_THREADS when set)")
    parser.add_argument("--id-field", default="id", metavar="NAME", help="the column of the item ids (default id)")
    parser.add_argument("--text-field", default="text", metavar="NAME", help="the column of the texts (default text)")
    parser.add_argument("--image-field", default="image", metavar="NAME",
                        help="the column of the image paths or bytes (default image)")
    parser.add_argument("--vector-field", default="vector", metavar="NAME",
                        help="the column of precomputed vectors (default vector)")
    parser.add_argument("--payload-fields", metavar="A,B,...",
                        help="the columns to keep in the payload (default: every other column)")
    parser.add_argument("--fetch-urls", action="store_true",
                        help="fetch images given as http(s) URLs (10 s timeout, 32 MiB each); without it they "
                        "are rejected")
    parser.add_argument("--rejects", type=Path, metavar="PATH",
                        help="where to write the records that could not be indexed, one JSON line each "
                        "(location, id, reason); default SOURCE.rejects.jsonl beside the source")
    parser.add_argument("--delete-missing", action="store_true",
                        help="after reading the whole source, delete the collection's items whose ids it no longer has")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true",
                          help="show the progress bar even when stderr is not a terminal")
    progress.add_argument("--no-progress", action="store_true", help="no progress bar, and no library's either")
    remote = parser.add_argument_group(
        "indexing through a running server",
        "With --server the records are read and hashed here and streamed to the server (UpsertStream), "
        "which encodes and writes them: the way to index while `latent serve` holds the data dir. Items "
        "the collection already holds unchanged are skipped by the server without encoding.")
    remote.add_argument("--server", metavar="ADDR", help="index through the server at ADDR (host:port) "
                        "instead of opening a data dir")
    connection_options.add_arguments(remote)
    engine = parser.add_argument_group("encoding on a Ray cluster (the `ray` extra; docs/ray.md)")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: threads on this machine (default); ray: a Ray Data pipeline with one "
                        "encoder actor per model replica, written into the collection from here")
    engine.add_argument("--ray-address", metavar="ADDR", help="the cluster to join (ray.init address: auto, "
                        "ray://HEAD:10001); default a local Ray")
    engine.add_argument("--replicas", type=int, default=1, help="encoder actors (model replicas) for --engine ray")
    parser.set_defaults(handler=run_index)


def run_index(args: argparse.Namespace) -> int:
    """Handler of ``latent index``: 0 when anything was indexed (now or by an earlier run) or nothing
    was bad, 1 otherwise."""
    from latentspace.cli.index_target import open_or_create
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.errors import LatentSpaceError
    from latentspace.indexer.export_file import read_export_header
    from latentspace.indexer.pipeline import RejectsFile, default_rejects_path, index_source, open_source
    from latentspace.indexer.pipeline.bulk import DEFAULT_BATCH_SIZE
    from latentspace.indexer.pipeline.source_size import estimate_records
    from latentspace.server.settings import Settings

    if args.server is not None:
        return run_index_through_server(args)
    try:
        if args.batch_size is not None and args.batch_size < 1:
            return fail(f"--batch-size must be at least 1, got {args.batch_size}")
        if args.threads is not None and args.threads < 1:
            return fail(f"--threads must be at least 1, got {args.threads}")
        settings = Settings.load(
            os.environ,
            data_dir=args.data,
            model_cache=args.model_cache,
            allow_download=False if args.no_download else (True if args.allow_download else None),
            device=args.device,
            milvus_uri=args.milvus_uri,
        )
        target = settings.milvus_target()
        export = read_export_header(args.source)
        if export is not None:  # a `latent export` file: its rows are loaded as they were stored
            from latentspace.cli.backup_commands import index_export

            loaded, total, backend = index_export(args, export, settings, _catalogs(target))
            print(f"{args.source} (export of collection {export.collection!r}) -> collection "
                  f"{args.collection!r} in {_where(settings, target, backend)}\nloaded   {loaded} items; "
                  f"the collection now holds {total}")
            return 0
        # Opened before any model loads: a wrong path fails in milliseconds, not after a model load.
        records = open_source(args.source, read_options(args))
        catalogs = _catalogs(target)
        # The operator's own tool: any model folder, and any hub spec when downloads are on.
        encoders = EncoderRegistry(indexing_encoder_options(settings, args.threads))
        rejects = RejectsFile(args.rejects or default_rejects_path(args.source))
        with DataDir.open(settings.data_dir, encoders, catalogs=catalogs) as data, rejects:
            collection = open_or_create(data, args.collection, args.model, args.index_kind, args.dimension,
                                        args.backend)
            show_progress = not args.no_progress and (args.progress or sys.stderr.isatty())
            if args.engine == "ray":
                report = index_with_ray(args, collection, settings, rejects)
            else:
                report = index_source(
                    collection,
                    records,
                    batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
                    max_images_per_batch=min(settings.batch_size, args.batch_size or settings.batch_size),
                    max_pixels=settings.limits.max_image_pixels,
                    max_text_chars=settings.limits.max_text_chars,
                    progress=show_progress,
                    total=estimate_records(args.source) if show_progress else None,
                    delete_missing=args.delete_missing,
                    rejects=rejects,
                    thumbnail_side=settings.thumbnail_side,
                )
            total = collection.count()
    except LatentSpaceError as error:
        return fail(str(error))
    except OSError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        print("interrupted; the batches written before stay indexed", file=sys.stderr)
        return 130
    print(f"{args.source} -> collection {args.collection!r} in "
          f"{_where(settings, target, collection.manifest.backend)}")
    print(summary(report, total=total, rejects=rejects.path if rejects.count else None))
    return 0 if report.indexed + report.unchanged > 0 or report.skipped_count == 0 else 1


def index_with_ray(args: argparse.Namespace, collection: CollectionBackend, settings: Settings,
                   rejects: RejectsFile) -> IndexReport:
    """``--engine ray``: encode on a Ray cluster (or a local Ray), write into ``collection`` from here."""
    from latentspace.indexer.errors import InvalidInput
    from latentspace.indexer.pipeline.ray_runner import RayPlan, index_source_ray
    from latentspace.indexer.pipeline.stages import ItemLimits

    if collection.manifest.model is None:
        raise InvalidInput("--engine ray encodes texts and images; this collection has no model", field="engine")
    if args.replicas < 1:
        raise InvalidInput(f"--replicas must be at least 1, got {args.replicas}", field="replicas")
    return index_source_ray(
        collection, args.source, model=collection.manifest.model,
        encoder_options=indexing_encoder_options(settings, args.threads),
        limits=ItemLimits(max_pixels=settings.limits.max_image_pixels,
                          max_text_chars=settings.limits.max_text_chars, thumbnail_side=settings.thumbnail_side),
        batch_size=args.batch_size or 256, plan=RayPlan(address=args.ray_address, replicas=args.replicas),
        rejects=rejects)


def index_with_ray_into_server(args: argparse.Namespace, client: Client, settings: Settings, limits: ItemLimits,
                               rejects: RejectsFile) -> IndexReport:
    """``--engine ray --server``: encode on Ray, write the vectors through the server."""
    from latentspace.cli.server_indexing import ServerSink, server_target
    from latentspace.indexer.errors import InvalidInput
    from latentspace.indexer.pipeline.ray_runner import RayPlan, index_source_ray

    model = client.describe_collection(args.collection).model
    if not model:
        raise InvalidInput("--engine ray encodes texts and images; this collection has no model", field="engine")
    return index_source_ray(
        (server_target(client, args.collection), ServerSink(client, args.collection)), args.source, model=model,
        encoder_options=indexing_encoder_options(settings, args.threads), limits=limits,
        batch_size=args.batch_size or 256, plan=RayPlan(address=args.ray_address, replicas=args.replicas),
        rejects=rejects)


def run_index_through_server(args: argparse.Namespace) -> int:
    """``latent index --server``: read and hash here, encode and write on the server."""
    from latentspace.cli.connection_options import Connection
    from latentspace.cli.server_indexing import ensure_collection, index_through_server
    from latentspace.indexer.errors import LatentSpaceError as LibraryError
    from latentspace.indexer.pipeline import RejectsFile, default_rejects_path, open_source
    from latentspace.indexer.pipeline.bulk import DEFAULT_BATCH_SIZE
    from latentspace.indexer.pipeline.stages import ItemLimits
    from latentspace.server.settings import Settings
    from latentspace_client import Client, LatentSpaceError

    if args.delete_missing:
        return fail("--delete-missing is not available with --server yet; run `latent delete` with the ids")
    if args.batch_size is not None and args.batch_size < 1:
        return fail(f"--batch-size must be at least 1, got {args.batch_size}")
    settings = Settings.load(os.environ, model_cache=args.model_cache, device=args.device,
                             allow_download=False if args.no_download else (True if args.allow_download else None))
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    try:
        records = open_source(args.source, read_options(args))
        rejects = RejectsFile(args.rejects or default_rejects_path(args.source))
        with Client(args.server, timeout=None, **Connection.from_args(args).client_options()) as client, rejects:
            ensure_collection(client, args.collection, args.model, args.dimension, args.index_kind)
            limits = ItemLimits(max_pixels=settings.limits.max_image_pixels,
                                max_text_chars=settings.limits.max_text_chars)
            if args.engine == "ray":  # encoded on Ray, written through the server
                report = index_with_ray_into_server(args, client, settings, limits, rejects)
            else:
                report = index_through_server(
                    client, args.collection, records, batch_size=batch_size,
                    max_images_per_batch=min(settings.batch_size, batch_size), limits=limits,
                    rejects=rejects, progress=not args.no_progress and (args.progress or sys.stderr.isatty()))
            total = client.describe_collection(args.collection).count
    except (LatentSpaceError, LibraryError, OSError, ValueError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        print("interrupted; the batches the server acknowledged stay indexed", file=sys.stderr)
        return 130
    print(f"{args.source} -> collection {args.collection!r} on {args.server}")
    print(summary(report, total=total, rejects=rejects.path if rejects.count else None))
    return 0 if report.indexed + report.unchanged > 0 or report.skipped_count == 0 else 1


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The column mapping and URL fetching the flags ask for."""
    from latentspace.indexer.pipeline.read_options import ReadOptions

    fields = tuple(name.strip() for name in args.payload_fields.split(",") if name.strip()) \
        if args.payload_fields is not None else None
    return ReadOptions(id_field=args.id_field, text_field=args.text_field, image_field=args.image_field,
                       vector_field=args.vector_field, payload_fields=fields, fetch_urls=args.fetch_urls)


def indexing_encoder_options(settings: Settings, threads: int | None) -> EncoderOptions:
    """The operator tool's encoder options, with ``--threads`` (when given) for the model.

    By default the model gets every core (``Settings.threads_per_call``): nothing else runs beside
    the pipeline, whose other stages mostly wait on I/O or release the GIL.
    """
    options = settings.encoder_options(operator_tool=True)
    return dataclasses.replace(options, threads=threads) if threads else options


def _catalogs(target: MilvusTarget | None) -> list[CollectionCatalog]:
    """The Milvus catalog when a Milvus is configured (connected here: an unreachable one fails first)."""
    if target is None:
        return []
    from latentspace.indexer.backends.milvus import MilvusCatalog

    return [MilvusCatalog(target)]


def _where(settings: Settings, target: MilvusTarget | None, backend: str) -> str:
    """Where the collection lives, as the summary names it (a Milvus without its credentials)."""
    return f"Milvus at {target.location}" if target is not None and backend == "milvus" else str(settings.data_dir)


def summary(report: IndexReport, *, total: int | None = None, rejects: Path | None = None) -> str:
    """Indexed, read (written, unchanged, rejected, encoded), the first few rejects with their
    reasons and where the rest are, ignored files, time and throughput."""
    lines = [
        f"indexed  {report.indexed} items in {report.seconds:.1f} s ({report.items_per_second:.1f} items/s)"
        + (f"; the collection now holds {total}" if total is not None else ""),
        f"read     {report.read} records: {report.indexed} written, {report.unchanged} unchanged (already "
        f"indexed), {report.skipped_count} rejected; the model encoded {report.encoded} "
        f"({report.read / report.seconds if report.seconds > 0 else 0.0:.1f} records/s)",
    ]
    if report.deleted:
        lines.append(f"deleted  {report.deleted} items whose ids are no longer in the source")
    if report.skipped_count:
        lines.append(f"rejected {report.skipped_count}:")
        lines += [f"  {reject.location}: {reject.reason}" for reject in report.skipped[:SHOWN_SKIPS]]
        if report.skipped_count > SHOWN_SKIPS:
            lines.append(f"  ... and {report.skipped_count - SHOWN_SKIPS} more")
        if rejects is not None:
            lines.append(f"  (all {report.skipped_count} in {rejects})")
    if report.ignored:
        lines.append(f"ignored  {report.ignored} files that are neither images nor .txt/.md")
    return "\n".join(lines)


def fail(message: str) -> int:
    """Print a one-line error (no traceback: the user can act on the message) and return exit code 1."""
    print(f"latent index: error: {' '.join(message.split())}", file=sys.stderr)
    return 1
