"""``latent explore``: serve the explorer, a web page over the Python SDK, for a running server.

``latent explore --server 127.0.0.1:50051 --port 8080`` then open http://127.0.0.1:8080/. The page
calls the explorer, which calls the server with the SDK (read calls only), with the API key and TLS
options of :mod:`.connection_options`. The explorer binds 127.0.0.1 unless ``--host`` says otherwise:
anyone who can reach it can read the collections with its key.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType
from typing import Any

from latentspace.cli import connection_options

ENV_SERVER = "LATENTSPACE_SERVER"
DEFAULT_SERVER = "127.0.0.1:50051"


def register(subparsers: Any) -> None:
    explore = subparsers.add_parser(
        "explore",
        help="serve a web page to explore a running server's collections",
        description="Serve the explorer (search, morph paths, edits, maps) for a running latentspace server.",
    )
    explore.add_argument("--server", metavar="HOST:PORT",
                         help=f"the latentspace server (env {ENV_SERVER}; default {DEFAULT_SERVER})")
    explore.add_argument("--port", type=int, default=8080, help="the page's port (default 8080; 0: a free one)")
    explore.add_argument("--host", default="127.0.0.1",
                         help="address the page binds (default 127.0.0.1; anyone reaching it reads with its key)")
    explore.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="deadline per call")
    connection_options.add_arguments(explore)
    explore.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latentspace.explorer.api import ExplorerApi
    from latentspace.explorer.http_app import ExplorerServer
    from latentspace_client import Client

    address = args.server or os.environ.get(ENV_SERVER) or DEFAULT_SERVER
    connection = connection_options.Connection.from_args(args)
    with Client(address, timeout=args.timeout, **connection.client_options()) as client:
        try:
            server = ExplorerServer(ExplorerApi(client), args.host, args.port)
        except OSError as error:
            print(f"error: cannot serve on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
            return 1

        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        # Printed once the socket is bound: tests and scripts wait for this line.
        print(f"latentspace explorer on {server.url} (server {address})", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0
