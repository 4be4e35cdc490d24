"""How the client commands and ``latent health`` reach a protected server: API key and TLS files.

Flags win over the environment, read here once (the command line is the entry point):
``--api-key`` / ``LATENTSPACE_API_KEY``, ``--tls-ca`` / ``LATENTSPACE_TLS_CA`` (the CA that signed
the server's certificate), ``--tls-client-cert`` / ``LATENTSPACE_TLS_CLIENT_CERT`` and
``--tls-client-key`` / ``LATENTSPACE_TLS_CLIENT_KEY`` (mutual TLS), ``--tls`` (TLS with the
system's roots).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_API_KEY = "LATENTSPACE_API_KEY"
ENV_TLS_CA = "LATENTSPACE_TLS_CA"
ENV_TLS_CLIENT_CERT = "LATENTSPACE_TLS_CLIENT_CERT"
ENV_TLS_CLIENT_KEY = "LATENTSPACE_TLS_CLIENT_KEY"


def add_arguments(group: Any, *, api_key: bool = True) -> None:
    """Add the TLS flags (and ``--api-key`` unless ``api_key=False``) to a parser or argument group."""
    if api_key:
        group.add_argument("--api-key", metavar="KEY",
                           help=f"API key for a server that requires one (env {ENV_API_KEY}, which keeps it "
                                "out of the process list)")
    group.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's CAs")
    group.add_argument("--tls-ca", type=Path, metavar="PEM",
                       help=f"connect with TLS, trusting this CA certificate (env {ENV_TLS_CA})")
    group.add_argument("--tls-client-cert", type=Path, metavar="PEM",
                       help=f"client certificate for mutual TLS (env {ENV_TLS_CLIENT_CERT})")
    group.add_argument("--tls-client-key", type=Path, metavar="PEM",
                       help=f"the client certificate's private key (env {ENV_TLS_CLIENT_KEY})")


@dataclass(frozen=True)
class Connection:
    """The key and TLS files a command connects with; :meth:`client_options` are the SDK's keywords."""

    api_key: str | None
    tls: bool
    tls_ca: Path | None
    tls_client_cert: Path | None
    tls_client_key: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Connection:
        def path(flag: Path | None, env: str) -> Path | None:
            return flag if flag is not None else (Path(environ[env]) if environ.get(env) else None)

        return cls(
            api_key=getattr(args, "api_key", None) or environ.get(ENV_API_KEY) or None,
            tls=args.tls,
            tls_ca=path(args.tls_ca, ENV_TLS_CA),
            tls_client_cert=path(args.tls_client_cert, ENV_TLS_CLIENT_CERT),
            tls_client_key=path(args.tls_client_key, ENV_TLS_CLIENT_KEY),
        )

    def client_options(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "tls": self.tls,
            "tls_ca": self.tls_ca,
            "tls_client_cert": self.tls_client_cert,
            "tls_client_key": self.tls_client_key,
        }
