"""Build and run the gRPC server.

``build_server(settings)`` loads the API keys and TLS files (refusing to serve without keys on
a public address unless told ``insecure_public``), opens the data dir, wires both services, the
standard ``grpc.health.v1`` health service and server reflection behind the serving interceptor
(request ids, authentication, admission, deadlines, status mapping, metrics, access log), binds
the port (``port=0`` picks a free one, which tests use; with TLS when a certificate is
configured), starts the metrics endpoint when configured, and starts serving.
``serve(settings)`` runs it until SIGINT/SIGTERM, then shuts down gracefully: health
turns NOT_SERVING, in-flight calls get ``shutdown_grace`` seconds, and the collections
are snapshotted and closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from latentspace.server import auth, tls
from latentspace.server.admission import AdmissionGate
from latentspace.server.api_keys import KeyRing
from latentspace.server.collections_service import CollectionsService
from latentspace.server.interceptors import ServingInterceptor
from latentspace.server.latent_service import LatentSpaceService
from latentspace.server.metrics import Metrics
from latentspace.server.settings import Settings
from latentspace.server.state import ServerState
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc

log = logging.getLogger("latentspace.server")

SERVICE_NAMES = tuple(service.full_name for service in api.DESCRIPTOR.services_by_name.values())


@dataclass
class RunningServer:
    """A started server: its bound port, and the one way to stop it cleanly."""

    server: aio.Server
    port: int
    state: ServerState
    health: HealthServicer
    gate: AdmissionGate
    #: The bound port of the Prometheus endpoint; None when it is off.
    metrics_port: int | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, new calls refused, admitted calls finish (up to ``grace`` seconds),
        then the collections are snapshotted and closed."""
        grace = self.state.settings.shutdown_grace if grace is None else grace
        await self.health.enter_graceful_shutdown()
        stopping = asyncio.ensure_future(self.server.stop(grace))
        # Streams that never end by themselves (health watches: gRPC client-side health checking
        # keeps one per channel; reflection) would hold the stop for the whole grace period. Once
        # the admitted calls are done, end them.
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        while self.gate.in_flight and loop.time() < until:
            await asyncio.sleep(0.02)
        await self.server.stop(0)
        await stopping
        self.state.metrics.stop()
        await asyncio.to_thread(self.state.close)


async def build_server(settings: Settings) -> RunningServer:
    """Open the data dir, bind ``settings.host:settings.port`` and start serving."""
    keys = KeyRing.load(settings.api_keys_file, settings.api_keys)
    auth.check_exposure(settings.host, keys, settings.insecure_public)
    credentials = tls.server_credentials(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    authenticator = auth.Authenticator(keys)
    metrics = Metrics()
    state = await asyncio.to_thread(ServerState, settings, metrics)
    state.adopt_loop_thread()
    metrics_port = None
    try:
        limit = settings.limits.max_message_bytes
        gate = state.gate
        server = aio.server(
            interceptors=[ServingInterceptor(gate, metrics, authenticator)],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
            ],
        )
        rpc.add_CollectionsServicer_to_server(CollectionsService(state), server)
        rpc.add_LatentSpaceServicer_to_server(LatentSpaceService(state), server)
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        address = f"{settings.host}:{settings.port}"
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot bind {settings.host}:{settings.port}")
        if settings.metrics_port is not None:
            metrics_port = metrics.serve(settings.host, settings.metrics_port)
        await server.start()
    except BaseException:
        metrics.stop()
        state.close()
        raise
    for name in ("", *SERVICE_NAMES):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.log(logging.INFO if keys or auth.is_loopback(settings.host) else logging.WARNING,
            "%s", auth.describe(keys, settings.host))
    log.info("%s", tls.describe(settings.tls_cert, settings.tls_client_ca))
    log.info("serving %s on %s:%d%s", settings.data_dir, settings.host, port,
             f" (metrics on :{metrics_port})" if metrics_port is not None else "")
    return RunningServer(server=server, port=port, state=state, health=health, gate=gate,
                         metrics_port=metrics_port)


async def _serve_until_signalled(settings: Settings) -> None:
    # Handlers first: the log says "serving" inside build_server, and a SIGTERM from then on must
    # stop the server gracefully (before, it killed the process without closing the data dir).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = await build_server(settings)
    print(f"latentspace serving {settings.data_dir} on {settings.host}:{running.port}", flush=True)
    await stop.wait()
    log.info("shutting down (grace %.1fs)", settings.shutdown_grace)
    await running.stop()


def serve(settings: Settings) -> None:
    """Run the server in the foreground until SIGINT or SIGTERM."""
    asyncio.run(_serve_until_signalled(settings))
