"""Each RPC's scope comes from the contract; the docs table is that table; the loopback rule and
the TLS settings stop a misconfigured server at start; the documented openssl commands work."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

import latentspace_client.errors as sdk_errors
from latentspace.indexer.errors import InvalidInput
from latentspace.server import tls
from latentspace.server.api_keys import KeyRing, Scope, new_key
from latentspace.server.auth import check_exposure, is_loopback, method_scopes, scope_table_markdown
from latentspace.server.background import BackgroundServer
from latentspace.server.errors import STATUS_TABLE
from latentspace.server.settings import Settings
from latentspace_client import Client
from latentspace_client._generated.latentspace.v1 import latentspace_pb2, options_pb2
from tests.conftest import ServerThread
from tests.tls_files import Pki, make_pki

REPO = Path(__file__).resolve().parents[2]
SECURITY_DOC = REPO / "docs" / "security.md"

READ = {"Encode", "Search", "SearchBatch", "Distance", "DistanceMatrix", "Interpolate", "Edit", "Decode", "Get",
        "ListCollections", "DescribeCollection", "Stats", "Export", "GetThumbnails", "Map", "ListDirections"}
WRITE = {"Upsert", "UpsertStream", "Delete", "CreateDirection", "DeleteDirection"}
ADMIN = {"CreateCollection", "DropCollection", "Snapshot", "ListSnapshots", "Restore", "Reindex"}


def test_every_rpc_declares_the_scope_the_design_gives_it() -> None:
    scopes = method_scopes()
    every_rpc = {
        f"/{service.full_name}/{method.name}"
        for service in latentspace_pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(scopes) == every_rpc
    by_name = {path.rsplit("/", 1)[-1]: scope for path, scope in scopes.items()}
    assert {n for n, s in by_name.items() if s is Scope.READ} == READ
    assert {n for n, s in by_name.items() if s is Scope.WRITE} == WRITE
    assert {n for n, s in by_name.items() if s is Scope.ADMIN} == ADMIN


def test_an_rpc_without_a_scope_keeps_the_server_from_starting() -> None:
    proto = descriptor_pb2.FileDescriptorProto(
        name="tests/unscoped.proto", package="tests.unscoped", syntax="proto3",
        dependency=["latentspace/v1/options.proto"],
    )
    proto.message_type.add(name="Empty")
    service = proto.service.add(name="Admin")
    scoped = service.method.add(name="Scoped", input_type=".tests.unscoped.Empty", output_type=".tests.unscoped.Empty")
    scoped.options.Extensions[options_pb2.scope] = options_pb2.SCOPE_READ
    service.method.add(name="Compact", input_type=".tests.unscoped.Empty", output_type=".tests.unscoped.Empty")
    pool = descriptor_pool.Default()
    pool.Add(proto)
    with pytest.raises(RuntimeError, match=r"/tests.unscoped.Admin/Compact declares no scope"):
        method_scopes([pool.FindFileByName("tests/unscoped.proto")])


def test_the_docs_scope_table_is_the_contracts() -> None:
    text = SECURITY_DOC.read_text()
    match = re.search(r"<!-- scope-table:begin -->\n(.*?)\n<!-- scope-table:end -->", text, re.DOTALL)
    assert match, "docs/security.md lost its scope-table markers"
    expected = scope_table_markdown()
    assert match.group(1) == expected, f"docs/security.md's scope table is stale; it should read:\n{expected}"


def test_both_sdks_have_a_class_for_every_code_the_server_sends() -> None:
    # The TypeScript table is kept equal to the Python SDK's by clients/typescript/test/errors.test.ts.
    sent = {code for _, code in STATUS_TABLE} | {grpc.StatusCode.INTERNAL}
    assert sent <= set(sdk_errors.ERROR_CLASSES)
    assert sdk_errors.ERROR_CLASSES[grpc.StatusCode.UNAUTHENTICATED] is sdk_errors.Unauthenticated
    assert sdk_errors.ERROR_CLASSES[grpc.StatusCode.PERMISSION_DENIED] is sdk_errors.PermissionDenied


# ---------------------------------------------------------------- the loopback rule


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False), ("example.org", False)],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_host_needs_keys_or_the_insecure_flag() -> None:
    keys = KeyRing([new_key("app", Scope.READ)[1]])
    check_exposure("127.0.0.1", KeyRing(), insecure_public=False)
    check_exposure("0.0.0.0", keys, insecure_public=False)
    check_exposure("0.0.0.0", KeyRing(), insecure_public=True)
    with pytest.raises(InvalidInput) as caught:
        check_exposure("0.0.0.0", KeyRing(), insecure_public=False)
    assert caught.value.field == "host"
    assert "--api-keys FILE" in caught.value.message and "--insecure-public" in caught.value.message


def test_the_server_refuses_to_start_public_without_keys_before_opening_anything(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", host="0.0.0.0", port=0, device="cpu", allow_download=False)
    with pytest.raises(InvalidInput, match="not a loopback address"):
        BackgroundServer(settings).start()
    assert not (tmp_path / "data").exists()  # refused before the data dir was opened or created


def test_security_settings_come_from_the_environment() -> None:
    line = new_key("app", Scope.WRITE)[1].line()
    settings = Settings.load({
        "LATENTSPACE_API_KEYS": line, "LATENTSPACE_API_KEYS_FILE": "/etc/latentspace/keys",
        "LATENTSPACE_INSECURE_PUBLIC": "1", "LATENTSPACE_TLS_CERT": "/c.pem", "LATENTSPACE_TLS_KEY": "/k.pem",
        "LATENTSPACE_TLS_CLIENT_CA": "/ca.pem",
    })
    assert settings.api_keys == line and settings.api_keys_file == Path("/etc/latentspace/keys")
    assert settings.insecure_public is True
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (Path("/c.pem"), Path("/k.pem"),
                                                                             Path("/ca.pem"))
    assert Settings.load({"LATENTSPACE_INSECURE_PUBLIC": "1"}, insecure_public=None).insecure_public is True


# ---------------------------------------------------------------- TLS settings


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_settings_that_cannot_work_stop_the_server_at_start(pki: Pki, tmp_path: Path) -> None:
    assert tls.server_credentials(None, None, None) is None
    assert tls.server_credentials(pki.cert, pki.key, pki.client_ca) is not None
    cases = [
        ((pki.cert, None, None), "tls_key", "needs both a certificate"),
        ((None, pki.key, None), "tls_cert", "needs both a certificate"),
        ((None, None, pki.client_ca), "tls_client_ca", "needs the server's own certificate"),
        ((pki.cert, pki.client_key, None), "tls_cert", "do not form a usable pair"),
        ((pki.cert, tmp_path / "missing.key", None), "tls_key", "cannot read"),
        ((pki.cert, pki.key, pki.key), "tls_client_ca", "not a PEM CA certificate"),
    ]
    for (cert, key, client_ca), field, fragment in cases:
        with pytest.raises(InvalidInput) as caught:
            tls.server_credentials(cert, key, client_ca)
        assert caught.value.field == field, (field, caught.value)
        assert fragment in caught.value.message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_documented_openssl_commands_make_working_tls_and_mutual_tls(tmp_path: Path) -> None:
    block = re.search(r"<!-- tls-commands:begin -->\n```sh\n(.*?)```\n<!-- tls-commands:end -->",
                      SECURITY_DOC.read_text(), re.DOTALL)
    assert block, "docs/security.md lost its tls-commands markers"
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(["bash", "-euc", block.group(1)], cwd=certs, check=True, capture_output=True, timeout=60)
    server = ServerThread(tmp_path / "data", tls_cert=certs / "server.pem", tls_key=certs / "server.key",
                          tls_client_ca=certs / "ca.pem").start()
    try:
        with Client(server.address, timeout=5.0, tls_ca=certs / "ca.pem", tls_client_cert=certs / "client.pem",
                    tls_client_key=certs / "client.key") as client:
            assert client.stats().version
    finally:
        server.stop()
