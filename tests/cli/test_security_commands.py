"""``latent keys new``, the serve-side loopback rule, and client commands with a key and TLS, as
subprocesses against a real server that requires both."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from latentspace.server.api_keys import KeyRing, Scope
from tests.conftest import LATENT, ServerThread, subprocess_env
from tests.tls_files import Keys, Pki, make_keys, make_pki


def latent(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, *args], capture_output=True, text=True, timeout=120, env=subprocess_env(**env))


def test_keys_new_prints_the_key_once_and_a_line_that_accepts_it(tmp_path: Path) -> None:
    result = latent("keys", "new", "--name", "search-app", "--scope", "read")
    assert result.returncode == 0, result.stderr
    key = re.search(r"^  (ls_\S+)$", result.stdout, re.MULTILINE)
    line = re.search(r"^  (search-app read sha256:[0-9a-f]{64})$", result.stdout, re.MULTILINE)
    assert key and line, result.stdout
    found = KeyRing.from_text(line.group(1), "output").find(key.group(1))
    assert found is not None and found.scope is Scope.READ


def test_keys_new_appends_to_an_owner_only_file_and_refuses_a_repeated_name(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    for name in ("app", "ops"):
        result = latent("keys", "new", "--name", name, "--scope", "admin", "--append", str(path))
        assert result.returncode == 0, result.stderr
    assert [k.name for k in KeyRing.load(path, "").keys] == ["app", "ops"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = latent("keys", "new", "--name", "app", "--scope", "read", "--append", str(path))
    assert again.returncode == 2
    assert "a key named 'app' is already in" in again.stderr
    assert len(path.read_text().splitlines()) == 2


def test_serve_refuses_a_public_host_without_keys_and_says_how_to_fix_it(tmp_path: Path) -> None:
    result = latent("serve", "--data", str(tmp_path / "data"), "--host", "0.0.0.0", "--port", "0",
                    "--device", "cpu")
    assert result.returncode == 1
    assert "error: host: '0.0.0.0' is not a loopback address and no API keys are configured" in result.stderr
    assert "--insecure-public" in result.stderr and "latent keys new" in result.stderr


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Pki, Keys]]:
    folder = tmp_path_factory.mktemp("protected")
    pki, keys = make_pki(folder / "pki"), make_keys(folder / "keys.txt")
    server = ServerThread(folder / "data", tls_cert=pki.cert, tls_key=pki.key, api_keys_file=keys.file).start()
    yield server.address, pki, keys
    server.stop()


def test_client_commands_take_the_key_from_the_environment_and_the_ca_from_a_flag(protected) -> None:
    address, pki, keys = protected
    created = latent("collections", "create", "c", "--dimension", "2", "--server", address, "--tls-ca", str(pki.ca),
                     "--json", LATENTSPACE_API_KEY=keys.admin)
    assert created.returncode == 0, created.stderr
    stats = latent("stats", "--json", "--server", address, LATENTSPACE_TLS_CA=str(pki.ca),
                   LATENTSPACE_API_KEY=keys.read)
    assert stats.returncode == 0, stats.stderr
    assert [c["name"] for c in json.loads(stats.stdout)["collections"]] == ["c"]


def test_client_commands_report_a_missing_key_and_a_small_scope(protected) -> None:
    address, pki, keys = protected
    anonymous = latent("stats", "--server", address, "--tls-ca", str(pki.ca))
    assert anonymous.returncode == 1
    assert anonymous.stderr.startswith("error: UNAUTHENTICATED (API_KEY_MISSING): this server needs an API key")
    reader = latent("collections", "drop", "c", "--server", address, "--tls-ca", str(pki.ca), "--api-key", keys.read)
    assert reader.returncode == 1
    assert reader.stderr.startswith("error: PERMISSION_DENIED (SCOPE_INSUFFICIENT): key 'read-app' has scope read; "
                                    "Collections/DropCollection needs admin")


def test_health_checks_over_tls_without_a_key(protected) -> None:
    address, pki, _ = protected
    healthy = latent("health", "--server", address, "--tls-ca", str(pki.ca))
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.strip().endswith("SERVING")
    plain = latent("health", "--server", address)
    assert plain.returncode == 1
    assert "unhealthy" in plain.stderr and "UNAVAILABLE" in plain.stderr
