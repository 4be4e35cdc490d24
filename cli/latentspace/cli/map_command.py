"""``latent map``: a 2-D map of a collection (the ``Map`` RPC), as tables or JSON.

``latent map -c shapes --sample 500 --seed 0 --color-by color "a red circle"`` prints the clusters
(where each sits, its size, the text item that names it) and where each query point falls; with
``--points`` every sampled item too; ``--json`` gives the whole reply for plotting. The same items
and seed give the same map. Connection options and exit codes are those of the other client commands.
"""

from __future__ import annotations

import argparse
from typing import Any

from latentspace.cli import output
from latentspace.cli.point_parsing import POINT_HELP, parse_point
from latentspace.cli.query_commands import common_options, emit, handler


def _map(client: Any, args: argparse.Namespace) -> None:
    result = client.map(*[parse_point(p) for p in args.queries], sample_size=args.sample, seed=args.seed,
                        clusters=args.clusters, color_by=args.color_by)
    emit(args, result, map_text(result, args.queries, args.points))


def map_text(result: Any, queries: list[str], points: bool) -> str:
    """The map as text: a summary line, the clusters, the placed queries and (optionally) the points."""
    head = (f"{len(result.points)} of {result.count} items, {len(result.clusters)} clusters; the axes hold "
            f"{result.explained_x:.1%} and {result.explained_y:.1%} of the sample's variance")
    parts = [head, output.table(
        ["cluster", "size", "x", "y", "label"],
        ([n, c.size, f"{c.x:.3f}", f"{c.y:.3f}", output.truncate(c.label or c.nearest_id, 60)]
         for n, c in enumerate(result.clusters)),
        right=["cluster", "size", "x", "y"],
    )]
    if result.queries:
        parts.append(output.table(
            ["query", "x", "y", "cluster"],
            ([output.truncate(q, 40), f"{p.x:.3f}", f"{p.y:.3f}", p.cluster]
             for q, p in zip(queries, result.queries, strict=True)),
            right=["x", "y", "cluster"],
        ))
    if points:
        parts.append(output.table(
            ["id", "x", "y", "cluster", "modality", "color"],
            ([output.truncate(p.id, 40), f"{p.x:.3f}", f"{p.y:.3f}", p.cluster, p.modality,
              "" if p.color is None else output.compact_json(p.color)] for p in result.points),
            right=["x", "y", "cluster"],
        ))
    return "\n\n".join(parts)


def register(subparsers: Any) -> None:
    """Add ``latent map``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "map", parents=[common_options()], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="a 2-D map of a sample of the collection, its clusters, and where points fall on it",
        description="Project a seeded sample of the collection on its two principal axes, cluster it "
                    "(k-means, each cluster named by its nearest text item) and place the given points.",
        epilog=POINT_HELP,
    )
    parser.add_argument("queries", nargs="*", metavar="POINT", help="points to place on the map")
    parser.add_argument("--sample", type=int, default=0, help="items to sample (default 0: the server's, 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's and clustering's seed (default 0)")
    parser.add_argument("--clusters", type=int, default=0, help="k-means clusters (default 0: automatic)")
    parser.add_argument("--color-by", metavar="FIELD", help="a payload field whose value each point carries")
    parser.add_argument("--points", action="store_true", help="also list every sampled item")
    parser.set_defaults(handler=handler(_map))
