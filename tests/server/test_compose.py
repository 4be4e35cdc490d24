"""docker-compose.yml and the Dockerfile must agree with the CLI (no Docker engine runs here).

The latentspace services' commands are parsed by the real ``latent`` argument parser, and the
servers' commands and healthchecks are run for real, on a loopback port and a temporary data dir
(the ``milvus`` profile's server against a Milvus Lite file instead of the Milvus service).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from latentspace.cli.main import build_parser
from tests.conftest import LATENT, ServerProcess, subprocess_env

REPO = Path(__file__).resolve().parents[2]


SERVERS = ("server", "server-milvus")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def latentspace_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image", "").startswith("latentspace:")}


def test_compose_commands_are_valid_latent_invocations(compose):
    parser = build_parser()
    assert set(latentspace_services(compose)) == {"indexer", *SERVERS}
    for name, service in latentspace_services(compose).items():
        args = parser.parse_args(service["command"])
        assert callable(args.handler), name
    for name in SERVERS:
        healthcheck = compose["services"][name]["healthcheck"]["test"]
        assert healthcheck[:2] == ["CMD", "latent"]
        assert parser.parse_args(healthcheck[2:]).command == "health"


def test_a_server_without_keys_is_published_on_loopback_only(compose):
    for name in SERVERS:
        server = compose["services"][name]
        environment = server.get("environment") or {}
        has_keys = "--api-keys" in server["command"] or {"LATENTSPACE_API_KEYS", "LATENTSPACE_API_KEYS_FILE"} & set(
            environment)
        if not has_keys:
            assert "--insecure-public" in server["command"]  # it binds 0.0.0.0 inside the container
            assert all(port.startswith("127.0.0.1:") for port in server["ports"]), server["ports"]


def test_services_share_the_data_and_model_volumes(compose):
    mounts = {name: set(service["volumes"]) for name, service in compose["services"].items()}
    assert mounts["server"] == {"data:/data", "models:/models"}
    # The indexer also reads the corpus, read-only; `index /corpus` sends it through the server.
    assert mounts["indexer"] == {"data:/data", "models:/models", "./corpus:/corpus:ro"}
    assert {"data", "models"} <= set(compose["volumes"])
    assert compose["services"]["server"]["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    assert compose["services"]["indexer"]["restart"] == "no"


def test_dockerfile_entrypoint_and_paths_match_compose(compose):
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["latent"]' in dockerfile
    assert "LATENTSPACE_DATA_DIR=/data" in dockerfile and "LATENTSPACE_MODEL_CACHE=/models" in dockerfile
    port = compose["services"]["server"]["ports"][0].split(":")[-1]
    assert f"EXPOSE {port}" in dockerfile
    for folder in ("indexer", "server", "cli", "explorer", "clients/python"):
        assert re.search(rf"^COPY {re.escape(folder)} ", dockerfile, re.MULTILINE), folder


def test_the_milvus_profile_is_milvus_standalone_and_a_server_using_it(compose):
    services = compose["services"]
    profiled = {name for name, s in services.items() if "milvus" in s.get("profiles", [])}
    assert profiled == {"milvus-etcd", "milvus-minio", "milvus", "server-milvus"}
    assert all(not s.get("profiles") for name, s in services.items() if name not in profiled)  # `up` is unchanged
    milvus = services["milvus"]
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert {"ETCD_ENDPOINTS": "milvus-etcd:2379", "MINIO_ADDRESS": "milvus-minio:9000"}.items() <= \
        milvus["environment"].items()
    assert set(milvus["depends_on"]) == {"milvus-etcd", "milvus-minio"}
    assert all(port.startswith("127.0.0.1:") for name in profiled for port in services[name].get("ports", []))
    server = services["server-milvus"]
    command = server["command"]
    assert command[command.index("--milvus-uri") + 1] == "http://milvus:19530"
    assert command[command.index("--default-backend") + 1] == "milvus"
    assert server["depends_on"]["milvus"]["condition"] == "service_healthy"
    assert "LATENTSPACE_MILVUS_TOKEN" not in str(command)  # the token only ever comes from the environment
    assert 'pip install -c constraints.txt ./clients/python ".[milvus]"' in (REPO / "Dockerfile").read_text()


@pytest.mark.parametrize("name", SERVERS)
def test_server_command_serves_and_the_healthcheck_passes(compose, tmp_path, name):
    command = list(compose["services"][name]["command"])
    # The same invocation, pointed at a temporary data dir and a free loopback port (and, for the
    # Milvus profile's server, at a Milvus Lite file in place of the Milvus service).
    command[command.index("--data") + 1] = str(tmp_path / "data")
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = "0"
    if "--milvus-uri" in command:
        command[command.index("--milvus-uri") + 1] = str(tmp_path / "milvus.db")
    assert command[0] == "serve"
    server = ServerProcess(tmp_path / "data", *command[1:])
    try:
        probe = compose["services"][name]["healthcheck"]["test"][2:]
        probe[probe.index("--server") + 1] = server.address
        result = subprocess.run([*LATENT, *probe], capture_output=True, text=True, timeout=60, env=subprocess_env())
        assert result.returncode == 0, result.stderr
        assert "SERVING" in result.stdout
    finally:
        assert server.terminate() == 0
    down = subprocess.run([*LATENT, *probe], capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert down.returncode == 1


def documented_index_commands() -> list[list[str]]:
    """The ``docker compose run --rm indexer index ...`` lines of docker-compose.yml and the README."""
    found = []
    for path in (REPO / "docker-compose.yml", REPO / "README.md"):
        text = path.read_text().replace("\\\n", " ")
        for match in re.finditer(r"docker compose run --rm indexer (index [^\n#]*)", text):
            found.append(match.group(1).split())
    return found


def test_the_documented_index_command_indexes_through_a_running_server(compose, tmp_path):
    commands = documented_index_commands()
    assert len(commands) == 2 and commands[0] == commands[1], commands
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("a note about rivers")
    (corpus / "b.md").write_text("# maps\nold maps of the coast")
    server = ServerProcess(tmp_path / "data")
    try:
        command = [str(corpus) if part == "/corpus" else part for part in commands[0]]
        assert command[command.index("--server") + 1] == "server:50051"  # the compose service's port
        command[command.index("--server") + 1] = server.address
        command[command.index("--rejects") + 1] = str(tmp_path / "rejects.jsonl")
        assert "--data" not in command  # the server holds the data dir's lock
        for expected in ("2 written, 0 unchanged", "0 written, 2 unchanged"):
            result = subprocess.run([*LATENT, *command, "--no-progress"], capture_output=True, text=True,
                                    timeout=300, env=subprocess_env())
            assert result.returncode == 0, result.stdout + result.stderr
            assert expected in result.stdout, result.stdout
    finally:
        assert server.terminate() == 0
