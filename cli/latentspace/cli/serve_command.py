"""``latent serve`` and ``latent health``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any


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
    serve.add_argument("--no-download", action="store_true",
                       help="never fetch model weights from the network (LATENTSPACE_ALLOW_DOWNLOAD=0)")
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
    serve.set_defaults(handler=run_serve)

    health = subparsers.add_parser(
        "health",
        help="check a server with the standard gRPC health service",
        description="Exit 0 when the server answers SERVING (used by the Docker healthcheck).",
    )
    health.add_argument("--server", default=None, help="HOST:PORT (LATENTSPACE_SERVER, default 127.0.0.1:50051)")
    health.add_argument("--service", default="", help="service name; empty = the whole server")
    health.add_argument("--timeout", type=float, default=3.0)
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
            allow_download=False if args.no_download else None,
            device=args.device,
            workers=args.workers,
            max_in_flight=args.max_in_flight,
            metrics_port=args.metrics_port,
            micro_batching=False if args.no_micro_batching else None,
            log_level=args.log_level,
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

    address = args.server or os.environ.get("LATENTSPACE_SERVER", "127.0.0.1:50051")
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"unhealthy: {address}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{address}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1
