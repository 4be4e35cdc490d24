"""The standard health and reflection services answer a client in another process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import subprocess_env

CLIENT = textwrap.dedent(
    """
    import sys, grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(sys.argv[1])
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "latentspace.v1.LatentSpace", "latentspace.v1.Collections"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        print("health", service or "<server>", health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    for response in reflection.ServerReflectionInfo(iter([request]), timeout=10):
        for service in response.list_services_response.service:
            print("service", service.name)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="latentspace.v1.LatentSpace")
    for response in reflection.ServerReflectionInfo(iter([request]), timeout=10):
        print("descriptor-bytes", sum(len(f) for f in response.file_descriptor_response.file_descriptor_proto))
    """
)


def test_health_and_reflection_from_a_separate_process(tmp_path, server_process):
    server = server_process(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, server.address],
        capture_output=True, text=True, timeout=60, env=subprocess_env(),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "health <server> SERVING" in lines
    assert "health latentspace.v1.LatentSpace SERVING" in lines
    assert "health latentspace.v1.Collections SERVING" in lines
    services = {line.split()[1] for line in lines if line.startswith("service ")}
    assert {"latentspace.v1.LatentSpace", "latentspace.v1.Collections", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= services
    descriptor_bytes = int(next(line for line in lines if line.startswith("descriptor-bytes")).split()[1])
    assert descriptor_bytes > 1000
