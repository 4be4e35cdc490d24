"""The ``latent`` command: one entry point, one sub-command module per concern.

Each sub-command module exposes ``register(subparsers)``, which adds its parsers and sets
``handler`` on them; heavy imports happen inside handlers so ``latent --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from latentspace.cli import (
    backup_commands,
    demo_command,
    direction_command,
    explore_command,
    index_command,
    keys_command,
    map_command,
    query_commands,
    serve_command,
)

COMMAND_MODULES = (
    index_command, serve_command, keys_command, demo_command, query_commands, direction_command, backup_commands,
    map_command, explore_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latent",
        description="latentspace: index text and images into a shared latent space and query it over gRPC.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
