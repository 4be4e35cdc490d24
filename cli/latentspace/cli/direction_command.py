"""``latent direction create|list|delete``: named directions stored in a collection.

A direction is made from one of: a text pair (``--from TEXT --to TEXT``, with ``--templates``),
examples (``--positive POINT ... [--negative POINT ...]``), payload labels (``--labels FIELD
POSITIVE NEGATIVE``, with ``--filter``) or a raw vector (``--vector POINT``), then used by name:
``latent edit BASE --direction NAME``, or as a point ``dir:NAME`` (search by it ranks items by their
projection on it). Connection options and exit codes are those of the other client commands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from latentspace.cli import output
from latentspace.cli.point_parsing import parse_filter, parse_point
from latentspace.cli.query_commands import common_options, emit, handler

METHODS = ("mean_difference", "least_squares", "logistic")
DESCRIPTION = (
    "A direction is made from a text pair (--from TEXT --to TEXT [--templates]), examples (--positive POINT ... "
    "[--negative POINT ...]), payload labels (--labels FIELD POSITIVE NEGATIVE [--filter JSON]) or a raw vector "
    "(--vector POINT), then used by name: `latent edit BASE --direction NAME`, or as the point dir:NAME."
)


def _source(args: argparse.Namespace) -> Any:
    from latentspace_client import Examples, Labels, TextPair

    given = [name for name, value in (("--from/--to", args.from_text or args.to_text), ("--labels", args.labels),
                                      ("--positive", args.positive), ("--vector", args.vector)) if value]
    if len(given) != 1:
        got = ", ".join(given) or "none"
        raise ValueError("give one source: --from TEXT --to TEXT, --labels FIELD POSITIVE NEGATIVE, "
                         f"--positive POINT ... [--negative POINT ...] or --vector POINT (got {got})")
    if args.negative and not args.positive:
        raise ValueError("--negative goes with --positive")
    if args.filter and not args.labels:
        raise ValueError("--filter goes with --labels")
    if args.labels:
        field, positive, negative = args.labels
        return Labels(field, _label_value(positive), _label_value(negative), parse_filter(args.filter))
    if args.positive:
        return Examples([parse_point(p) for p in args.positive], [parse_point(p) for p in args.negative])
    if args.vector:
        return parse_point(args.vector)
    if not (args.from_text and args.to_text):
        raise ValueError("a text pair needs both --from TEXT and --to TEXT")
    return TextPair(args.from_text, args.to_text, use_templates=args.templates)


def _label_value(text: str) -> Any:
    """A label as typed: JSON when it parses as a scalar (3, true, null, "quoted"), else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(value, dict | list) else text


def _create(client: Any, args: argparse.Namespace) -> None:
    info = client.create_direction(args.name, _source(args), method=args.method, holdout=args.holdout,
                                   seed=args.seed)
    data = output.jsonable(info)
    data.pop("vector", None)
    emit(args, data, output.direction_details(info))


def _list(client: Any, args: argparse.Namespace) -> None:
    directions = client.list_directions()
    emit(args, {"directions": output.jsonable(directions)}, output.directions_table(directions))


def _delete(client: Any, args: argparse.Namespace) -> None:
    client.delete_direction(args.name)
    emit(args, {"deleted": args.name}, f"deleted direction {args.name}")


def register(subparsers: Any) -> None:
    """Add ``latent direction`` to the CLI."""
    common = common_options()
    direction = subparsers.add_parser(
        "direction", help="create, list or delete named directions of a collection",
        description=DESCRIPTION)
    actions = direction.add_subparsers(dest="direction_action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create", parents=[common], help="make a direction, measure it and store it under NAME",
        description="Make a direction from one source, report how well it separates what it was made "
                    "from (AUC on a held-out share) and its norm before normalising, and store it as NAME.")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--from", dest="from_text", metavar="TEXT",
                        help='text pair: the neutral end, e.g. "a red circle"')
    create.add_argument("--to", dest="to_text", metavar="TEXT", help="text pair: the target end")
    create.add_argument("--templates", action="store_true", help="text pair: average over prompt templates")
    create.add_argument("--labels", nargs=3, metavar=("FIELD", "POSITIVE", "NEGATIVE"),
                        help="items whose payload FIELD equals POSITIVE against those where it equals NEGATIVE")
    create.add_argument("--filter", metavar="JSON", help="labels: only items matching this payload filter")
    create.add_argument("--positive", nargs="+", default=[], metavar="POINT", help="examples the direction points to")
    create.add_argument("--negative", nargs="+", default=[], metavar="POINT", help="examples it points away from")
    create.add_argument("--vector", metavar="POINT", help="a raw vector (vec:..., @FILE)")
    create.add_argument("--method", choices=METHODS, default="mean_difference",
                        help="how examples and labels are fitted (default mean_difference)")
    create.add_argument("--holdout", type=float, metavar="SHARE", help="share held out to measure AUC (default 0.25)")
    create.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    create.set_defaults(handler=handler(_create))

    listing = actions.add_parser("list", parents=[common], help="the collection's stored directions")
    listing.set_defaults(handler=handler(_list))

    delete = actions.add_parser("delete", parents=[common], help="delete a stored direction")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=handler(_delete))
