"""``latent serve`` and ``latent health``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from latentspace.cli import connection_options


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a data dir over gRPC",
        description="Serve the collections of a data dir over gRPC (flags override LATENTSPACE_* variables).",
    )
    serve.add_argument("--data", type=Path, help="data dir (LATENTSPACE_DATA_DIR, default ./data)")
    serve.add_argument("--host", help="address to bind (LATENTSPACE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port; 0 picks a free one (LATENTSPACE_PORT, default 50051)")
    serve.add_argument("--model-cache", type=Path, help="model weights cache (LATENTSPACE_MODEL_CACHE)")
    serve.add_argument("--backup-dir", type=Path,
                       help="folder for collection snapshots (LATENTSPACE_BACKUP_DIR; default: none, "
                       "snapshots are refused)")
    serve.add_argument("--allow-download", action="store_true",
                       help="fetch hub weights missing from the cache, for the specs of LATENTSPACE_DOWNLOAD_ALLOW "
                       "(default: the documented aliases) (LATENTSPACE_ALLOW_DOWNLOAD=1; default off)")
    serve.add_argument("--no-download", action="store_true",
                       help="never fetch model weights from the network (the default; LATENTSPACE_ALLOW_DOWNLOAD=0)")
    serve.add_argument("--model-root", type=Path,
                       help="callers may name local model folders under this folder only "
                       "(LATENTSPACE_MODEL_ROOT; default: none at all)")
    serve.add_argument("--device", help="auto, cpu or cuda (LATENTSPACE_DEVICE)")
    serve.add_argument("--max-in-flight", type=int,
                       help="calls admitted at once; more are refused (LATENTSPACE_MAX_IN_FLIGHT, default 64)")
    serve.add_argument("--workers", type=int,
                       help="request threads (LATENTSPACE_WORKERS; default: the in-flight bound)")
    serve.add_argument("--metrics-port", type=int,
                       help="serve Prometheus /metrics on this port (LATENTSPACE_METRICS_PORT; default off)")
    serve.add_argument("--no-micro-batching", action="store_true",
                       help="run each encode and search alone (LATENTSPACE_MICRO_BATCHING=0)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING (LATENTSPACE_LOG_LEVEL)")
    milvus = serve.add_argument_group("Milvus backend (docs/milvus.md)")
    milvus.add_argument("--milvus-uri", metavar="URI",
                        help="serve collections kept in Milvus: http://host:19530 or a Milvus Lite file "
                             "ending in .db (LATENTSPACE_MILVUS_URI; the token is read from "
                             "LATENTSPACE_MILVUS_TOKEN only)")
    milvus.add_argument("--default-backend", choices=("embedded", "milvus"),
                        help="where CreateCollection puts a collection that names no backend "
                             "(LATENTSPACE_DEFAULT_BACKEND, default embedded)")
    security = serve.add_argument_group("security (docs/security.md)")
    security.add_argument("--api-keys", type=Path, metavar="FILE",
                          help="require API keys listed in FILE (LATENTSPACE_API_KEYS_FILE; or the lines "
                               "in LATENTSPACE_API_KEYS); make them with `latent keys new`")
    security.add_argument("--insecure-public", action="store_true",
                          help="serve without API keys on a non-loopback host (LATENTSPACE_INSECURE_PUBLIC)")
    security.add_argument("--tls-cert", type=Path, metavar="PEM",
                          help="serve TLS with this certificate chain (LATENTSPACE_TLS_CERT)")
    security.add_argument("--tls-key", type=Path, metavar="PEM",
                          help="the certificate's private key (LATENTSPACE_TLS_KEY)")
    security.add_argument("--tls-client-ca", type=Path, metavar="PEM",
                          help="mutual TLS: require client certificates signed by this CA "
                               "(LATENTSPACE_TLS_CLIENT_CA)")
    serve.set_defaults(handler=run_serve)

    health = subparsers.add_parser(
        "health",
        help="check a server with the standard gRPC health service",
        description="Exit 0 when the server answers SERVING (used by the Docker healthcheck).",
    )
    health.add_argument("--server", default=None, help="HOST:PORT (LATENTSPACE_SERVER, default 127.0.0.1:50051)")
    health.add_argument("--service", default="", help="service name; empty = the whole server")
    health.add_argument("--timeout", type=float, default=3.0)
    connection_options.add_arguments(health, api_key=False)  # health needs no key, TLS only
    health.set_defaults(handler=run_health)


def run_serve(args: argparse.Namespace) -> int:
    # Before torch and FAISS load OpenMP, which reads it once. Idle OpenMP workers then sleep
    # rather than spin: a spinning worker of the model's thread took the cores from the request
    # threads' own work (text calls 4x slower under a 32-client soak on 2 busy cores). An operator's
    # own OMP_WAIT_POLICY wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from latentspace.indexer.errors import LatentSpaceError
    from latentspace.server.app import serve
    from latentspace.server.settings import Settings

    try:
        settings = Settings.load(
            os.environ,
            data_dir=args.data,
            host=args.host,
            port=args.port,
            model_cache=args.model_cache,
            backup_dir=args.backup_dir,
            allow_download=False if args.no_download else (True if args.allow_download else None),
            model_root=args.model_root,
            device=args.device,
            workers=args.workers,
            max_in_flight=args.max_in_flight,
            metrics_port=args.metrics_port,
            micro_batching=False if args.no_micro_batching else None,
            log_level=args.log_level,
            api_keys_file=args.api_keys,
            insecure_public=True if args.insecure_public else None,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            milvus_uri=args.milvus_uri,
            default_backend=args.default_backend,
        )
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        serve(settings)
    except LatentSpaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def run_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from latentspace_client.calls import channel_credentials

    address = args.server or os.environ.get("LATENTSPACE_SERVER", "127.0.0.1:50051")
    tls = connection_options.Connection.from_args(args)
    try:
        credentials = channel_credentials(None, tls.tls, tls.tls_ca, tls.tls_client_cert, tls.tls_client_key)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with (grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"unhealthy: {address}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{address}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1
