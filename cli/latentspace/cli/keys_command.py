"""``latent keys new``: make an API key, print it once, and the line that lets a server accept it.

The server stores only the line (name, scope, SHA-256 of the key), never the key: whoever is
given the key passes it as ``--api-key`` / ``LATENTSPACE_API_KEY`` or the SDK's ``api_key=``.
``--append FILE`` adds the line to a keys file (created readable by its owner only).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

SCOPES = ("read", "write", "admin")


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="make API keys for `latent serve --api-keys`",
        description="Make API keys. The key is printed once; the server keeps only its digest.",
    )
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    new = actions.add_parser(
        "new",
        help="print a fresh random key and its keys-file line",
        description="Print a fresh random key (once: it is not stored) and the line to add to the keys file.",
    )
    new.add_argument("--name", required=True, help="names the key in the access log, e.g. search-app")
    new.add_argument("--scope", required=True, choices=SCOPES,
                     help="read: queries and gets; write: also upsert and delete; admin: also create and drop")
    new.add_argument("--append", type=Path, metavar="FILE", help="also append the line to this keys file")
    new.set_defaults(handler=run_new)


def run_new(args: argparse.Namespace) -> int:
    from latentspace.indexer.errors import InvalidInput
    from latentspace.server.api_keys import KeyRing, Scope, new_key

    try:
        key, entry = new_key(args.name, Scope.parse(args.scope))
        if args.append is not None and args.append.exists():
            existing = KeyRing.from_text(args.append.read_text(encoding="utf-8"), str(args.append))
            if any(k.name == args.name for k in existing.keys):
                raise InvalidInput(f"a key named {args.name!r} is already in {args.append}", field="name")
    except InvalidInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.append is not None:
        try:
            _append_line(args.append, entry.line())
        except OSError as error:
            print(f"error: cannot append to {args.append}: {error.strerror}", file=sys.stderr)
            return 1
    print(f"key (shown once; give it to the caller, the server never stores it):\n  {key}")
    where = f"added to {args.append}" if args.append is not None else "add it to the keys file"
    print(f"keys-file line ({where}):\n  {entry.line()}")
    return 0


def _append_line(path: Path, line: str) -> None:
    # A keys file holds digests only, but who may change it decides who gets in: owner-only.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as file:
        if file.tell() > 0 and not path.read_text(encoding="utf-8").endswith("\n"):
            file.write("\n")
        file.write(line + "\n")
