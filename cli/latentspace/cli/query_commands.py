"""Client commands: ``latent search``, ``distance``, ``midpoint``, ``interpolate``, ``edit``, ``analogy``,
``encode``, ``decode``, ``collections``, ``get``, ``delete``, ``stats`` — each a thin layer over the Python SDK.

Every command takes ``--server HOST:PORT`` (env ``LATENTSPACE_SERVER``), ``--collection``
(env ``LATENTSPACE_COLLECTION``), ``--timeout``, ``--json``, and the API key and TLS options of
:mod:`.connection_options`. Exit codes: 0 ok, 1 the server
refused or could not be reached, 2 a usage mistake (bad point, filter, file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from latentspace.cli import connection_options, decode_command, output
from latentspace.cli.point_parsing import POINT_HELP, parse_filter, parse_point

ENV_SERVER = "LATENTSPACE_SERVER"
ENV_COLLECTION = "LATENTSPACE_COLLECTION"
DEFAULT_SERVER = "127.0.0.1:50051"

Action = Callable[[Any, argparse.Namespace], None]

# ---------------------------------------------------------------- running a command


def common_options() -> argparse.ArgumentParser:
    """The options every client command takes: server, collection, timeout, JSON output, key and TLS."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--server", metavar="HOST:PORT", help=f"server address (env {ENV_SERVER}; default {DEFAULT_SERVER})"
    )
    group.add_argument("--collection", "-c", help=f"collection to query (env {ENV_COLLECTION})")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline per call (default 30)")
    group.add_argument("--json", action="store_true", help="print JSON with stable keys, for scripts")
    connection_options.add_arguments(group)
    return common


def handler(action: Action) -> Callable[[argparse.Namespace], int]:
    """Run ``action(client, args)`` with a connected client; errors become messages and exit codes."""

    def run(args: argparse.Namespace) -> int:
        from latentspace_client import Client, LatentSpaceError, Unavailable

        # The command line is the entry point: flags win over the environment, read once here.
        address = args.server or os.environ.get(ENV_SERVER) or DEFAULT_SERVER
        collection = args.collection or os.environ.get(ENV_COLLECTION) or None
        timeout = args.timeout if args.timeout is not None else 30.0
        connection = connection_options.Connection.from_args(args)
        try:
            with Client(address, timeout=timeout, collection=collection, **connection.client_options()) as client:
                action(client, args)
        except Unavailable as error:
            if error.reason is None:  # no reason: the transport failed, not the server
                print(
                    f"error: cannot reach a latentspace server at {address} ({error.details}); "
                    f"start one with `latent serve` or point --server / {ENV_SERVER} at it",
                    file=sys.stderr,
                )
            else:
                print(f"error: {error}", file=sys.stderr)
            return 1
        except LatentSpaceError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except (ValueError, TypeError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0

    return run


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text``."""
    print(output.dumps(data) if args.json else text)


# ---------------------------------------------------------------- commands


def _search(client: Any, args: argparse.Namespace) -> None:
    hits = client.search(
        parse_point(args.point),
        k=args.k,
        filter=parse_filter(args.filter),
        exclude_ids=args.exclude,
        score_threshold=args.threshold,
        explain=args.explain,
        **_ranking(args),
    )
    emit(args, {"hits": output.hits_json(hits)}, output.hits_table(hits, explained=args.explain))


def _ranking(args: argparse.Namespace) -> dict[str, Any]:
    return {"score_mode": args.score_mode, "modality": args.modality, "diversity": args.diversity, "pool": args.pool}


def _distance(client: Any, args: argparse.Namespace) -> None:
    distance = client.distance(parse_point(args.a), parse_point(args.b))
    emit(args, distance, output.distance_line(distance))


def _step_json(step: Any) -> dict[str, Any]:
    return {**output.jsonable(step), "hits": output.hits_json(step.hits)}


def _step_text(step: Any) -> str:
    return output.step_header(step) + "\n" + output.hits_table(step.hits)


def _midpoint(client: Any, args: argparse.Namespace) -> None:
    step = client.midpoint(
        parse_point(args.a),
        parse_point(args.b),
        k=args.k,
        method="lerp" if args.lerp else "slerp",
        via=parse_point(args.via) if args.via else None,
        filter=parse_filter(args.filter),
    )
    emit(args, _step_json(step), _step_text(step))


def _interpolate(client: Any, args: argparse.Namespace) -> None:
    path = client.interpolate(
        parse_point(args.a),
        parse_point(args.b),
        ts=args.t,
        steps=None if args.t else args.steps,
        method="lerp" if args.lerp else "slerp",
        via=parse_point(args.via) if args.via else None,
        k=args.k,
        distinct=args.distinct,
        allow_extrapolation=args.extrapolate,
        filter=parse_filter(args.filter),
        **_ranking(args),
        decode=args.decode_dir is not None,
    )
    data = {"angle": round(path.angle, 6), "steps": [_step_json(s) for s in path.steps]}
    text = f"angle {path.angle:.4f} rad\n\n" + "\n\n".join(_step_text(s) for s in path.steps)
    if args.decode_dir is not None:
        named = [(decode_command.step_file(i, s.t), s.image) for i, s in enumerate(path.steps)]
        files = decode_command.write_pngs(args.decode_dir, named)
        for step, file in zip(data["steps"], files, strict=True):
            step["image_file"] = file
        text += f"\n\n{len(files)} images in {args.decode_dir}"
    emit(args, data, text)


def _edit(client: Any, args: argparse.Namespace) -> None:
    from latentspace_client import NamedDirection, TextPair

    if args.direction is not None:
        if args.from_text is not None or args.to_text is not None or args.templates:
            raise ValueError("give either --direction NAME or --from TEXT --to TEXT, not both")
        direction: Any = NamedDirection(args.direction)
    elif args.from_text is None or args.to_text is None:
        raise ValueError("give --from TEXT --to TEXT, or --direction NAME (a stored direction)")
    else:
        direction = TextPair(args.from_text, args.to_text, use_templates=args.templates)
    result = client.edit(
        parse_point(args.base),
        direction,
        mode=args.mode,
        strength=args.strength,
        k=args.k,
        filter=parse_filter(args.filter),
        explain=args.explain,
        **_ranking(args),
        decode=args.decode_dir is not None,
    )
    data = {**output.jsonable(result), "hits": output.hits_json(result.hits)}
    data.pop("vector", None)
    summary = (
        f"cos_to_base={result.cos_to_base:.4f}  projection {result.base_projection:.4f} -> "
        f"{result.result_projection:.4f}  direction_norm={result.direction_norm:.4f}"
    )
    if args.decode_dir is not None:
        files = decode_command.write_pngs(args.decode_dir, [("base.png", result.base_image),
                                                            ("edited.png", result.image)])
        data["image_files"] = files
        summary += f"\nimages: {', '.join(files)}"
    emit(args, data, summary + "\n" + output.hits_table(result.hits, explained=args.explain))


def _analogy(client: Any, args: argparse.Namespace) -> None:
    hits = client.analogy(
        parse_point(args.a),
        parse_point(args.a_star),
        parse_point(args.b),
        method=args.method,
        k=args.k,
        include_inputs=args.include_inputs,
        filter=parse_filter(args.filter),
        explain=args.explain,
    )
    emit(args, {"hits": output.hits_json(hits)}, output.hits_table(hits, explained=args.explain))


def _encode(client: Any, args: argparse.Namespace) -> None:
    encoded = list(zip(args.points, client.encode(*(parse_point(p) for p in args.points)), strict=True))
    data = {"points": [{"input": arg, **_encoded_json(point)} for arg, point in encoded]}
    rows = [
        (output.truncate(arg, 40), p.modality, len(p.vector), output.vector_preview(p.vector))
        for arg, p in encoded
    ]
    emit(args, data, output.table(("input", "modality", "dim", "vector"), rows, right=("dim",)))


def _encoded_json(point: Any) -> dict[str, Any]:
    vector = output.jsonable(point.vector)
    return {"modality": point.modality, "dimension": len(vector), "vector": vector}


def _collections(client: Any, args: argparse.Namespace) -> None:
    if args.action == "list":
        infos = client.list_collections()
        emit(args, {"collections": output.jsonable(infos)}, output.collections_table(infos))
        return
    if not args.name:
        raise ValueError(f"collections {args.action} needs a NAME")
    if args.action == "drop":
        client.drop_collection(args.name)
        emit(args, {"dropped": args.name}, f"dropped {args.name}")
        return
    if args.action == "create":
        info = client.create_collection(
            args.name,
            model=args.model,
            dimension=args.dimension,
            index_kind=args.index_kind,
            if_not_exists=args.if_not_exists,
            backend=args.backend,
        )
    else:
        info = client.describe_collection(args.name)
    emit(args, info, output.collection_details(info))


def _get(client: Any, args: argparse.Namespace) -> None:
    items = client.get(args.ids, with_vectors=args.vectors)
    missing = [i for i in args.ids if i not in {item.id for item in items}]
    rows = [
        (
            it.id,
            it.modality,
            it.sequence,
            output.truncate(it.content, output.CONTENT_WIDTH),
            output.truncate(output.compact_json(it.payload), output.PAYLOAD_WIDTH) if it.payload else "",
        )
        for it in items
    ]
    text = output.table(("id", "modality", "seq", "content", "payload"), rows, right=("seq",))
    emit(args, {"items": output.jsonable(items), "missing": missing}, text)
    if missing and not args.json:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)


def _delete(client: Any, args: argparse.Namespace) -> None:
    result = client.delete(args.ids)
    text = f"deleted {result.deleted} of {len(args.ids)} (sequence {result.sequence})"
    emit(args, {"deleted": result.deleted, "sequence": result.sequence}, text)


def _stats(client: Any, args: argparse.Namespace) -> None:
    stats = client.stats()
    head = output.key_values(
        [
            ("version", stats.version),
            ("uptime", f"{stats.uptime_seconds:.0f} s"),
            ("models", ", ".join(stats.loaded_models) or "(none loaded)"),
        ]
    )
    emit(args, stats, head + "\n\n" + output.collections_table(stats.collections))


# ---------------------------------------------------------------- parsers


def register(subparsers: Any) -> None:
    """Add the client commands to ``latent``."""
    common = common_options()
    fmt = argparse.RawDescriptionHelpFormatter

    def add(name: str, action: Action, help: str, points: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name,
            parents=[common],
            help=help,
            description=help,
            epilog=POINT_HELP if points else None,
            formatter_class=fmt,
        )
        parser.set_defaults(handler=handler(action))
        return parser

    def add_filter(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--filter", metavar="JSON", help='payload filter, e.g. \'{"color": "red"}\'')

    def add_explain(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--explain", action="store_true",
                            help="split each hit's score into the shares of the query's parts")

    def add_ranking(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("ranking (docs/latent-operations.md)")
        group.add_argument("--score-mode", choices=("raw", "calibrated"), default="raw",
                           help="raw cosine (default), or calibrated: comparable across text and image hits")
        group.add_argument("--modality", choices=("text", "image", "vector"), help="only items of this modality")
        group.add_argument("--diversity", type=float, default=0.0, metavar="L",
                           help="maximal marginal relevance in [0, 1]: 0 = plain ranking (default)")
        group.add_argument("--pool", type=int, default=0, metavar="N",
                           help="with --diversity: candidates to pick from (default 4 x k; N = k only reorders)")

    p = add("search", _search, "the items nearest to a point")
    p.add_argument("point", metavar="POINT")
    p.add_argument("--k", "-k", type=int, default=10, help="how many hits (default 10)")
    p.add_argument("--exclude", action="append", default=[], metavar="ID", help="skip this id; repeatable")
    p.add_argument("--threshold", type=float, help="drop hits scoring below this")
    add_filter(p)
    add_explain(p)
    add_ranking(p)

    p = add("distance", _distance, "how far apart two points are")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")

    p = add("midpoint", _midpoint, "the point halfway between A and B, and what lies there")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--k", "-k", type=int, default=10)
    p.add_argument("--lerp", action="store_true", help="along the chord instead of the great circle")
    p.add_argument("--via", metavar="POINT", help="go A -> VIA -> B (needed for opposite points)")
    add_filter(p)

    p = add("interpolate", _interpolate, "a path from A to B and the items nearest to each step")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--steps", type=int, default=7, help="evenly spaced steps, ends included (default 7)")
    where.add_argument("--t", type=float, nargs="+", metavar="T", help="explicit positions in [0, 1]")
    p.add_argument("--lerp", action="store_true", help="along the chord instead of the great circle")
    p.add_argument("--via", metavar="POINT", help="go A -> VIA -> B")
    p.add_argument("--k", "-k", type=int, default=3, help="neighbours per step (default 3)")
    p.add_argument("--distinct", action="store_true", help="drop the ends' ids and items already shown")
    p.add_argument("--extrapolate", action="store_true", help="allow t outside [0, 1]")
    decode_command.add_decode_dir(p, "each step")
    add_filter(p)
    add_ranking(p)

    p = add("edit", _edit, "move BASE along the direction from one text to another, or a stored direction")
    p.add_argument("base", metavar="BASE")
    p.add_argument("--from", dest="from_text", metavar="TEXT", help='e.g. "a red shape"')
    p.add_argument("--to", dest="to_text", metavar="TEXT", help='e.g. "a blue shape"')
    p.add_argument("--direction", metavar="NAME", help="a stored direction (latent direction create) instead")
    p.add_argument("--mode", choices=("add", "rotate", "remove"), default="add")
    p.add_argument("--strength", type=float, help="add/remove: 1.0, rotate: 0.5 by default")
    p.add_argument("--templates", action="store_true", help="average the direction over prompt templates")
    p.add_argument("--k", "-k", type=int, default=5)
    decode_command.add_decode_dir(p, "the base and the edited point")
    add_filter(p)
    add_explain(p)
    add_ranking(p)

    p = add("analogy", _analogy, "A is to A_STAR as B is to ?")
    for name in ("a", "a_star", "b"):
        p.add_argument(name, metavar=name.upper())
    p.add_argument("--method", choices=("cos_add", "cos_mul"), default="cos_add")
    p.add_argument("--k", "-k", type=int, default=10)
    p.add_argument("--include-inputs", action="store_true", help="allow A, A_STAR and B in the results")
    add_filter(p)
    add_explain(p)

    p = add("encode", _encode, "the unit vectors of points")
    p.add_argument("points", nargs="+", metavar="POINT")

    p = add("decode", decode_command.decode, "draw points with the collection's decoder, as PNG files")
    decode_command.add_arguments(p)

    p = add("collections", _collections, "list, describe, create or drop collections", points=False)
    p.add_argument("action", nargs="?", default="list", choices=("list", "describe", "create", "drop"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--model", help="create: model spec or alias (none: vector-only)")
    p.add_argument("--dimension", type=int, help="create: dimension of a vector-only collection")
    p.add_argument("--index-kind", help="create: FAISS index kind (default: the server's choice)")
    p.add_argument("--if-not-exists", action="store_true", help="create: no error when it exists")
    p.add_argument("--backend", choices=("embedded", "milvus"),
                   help="create: where the items live (default: the server's; milvus needs a server started "
                        "with --milvus-uri)")

    p = add("get", _get, "fetch items by id", points=False)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--vectors", action="store_true", help="include the stored vectors")

    p = add("delete", _delete, "delete items by id", points=False)
    p.add_argument("ids", nargs="+", metavar="ID")

    add("stats", _stats, "server-wide figures", points=False)
