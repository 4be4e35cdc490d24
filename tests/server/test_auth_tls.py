"""API keys, scopes and TLS through the real server: each refusal has its exact code and reason,
fails fast (short deadlines, no hang), and the server answers a correct call right after it."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from latentspace_client import (
    AsyncClient,
    Client,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.conftest import ServerThread
from tests.server.wire import reason_of, trailers, vector_items
from tests.tls_files import Keys, Pki, make_keys, make_pki

DIM = 8
VECTORS = np.random.default_rng(11).normal(size=(20, DIM)).astype(np.float32)
FAST = 5.0  # seconds: every call here has a deadline, so a refusal can never hang a test


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys") / "api-keys.txt")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki, keys: Keys) -> Iterator[ServerThread]:
    """TLS and API keys; a vector collection 'vec' with 20 items."""
    started = ServerThread(tmp_path_factory.mktemp("data"), tls_cert=pki.cert, tls_key=pki.key,
                           api_keys_file=keys.file).start()
    with Client(started.address, timeout=FAST, tls_ca=pki.ca, api_key=keys.admin, collection="vec") as admin:
        admin.create_collection("vec", dimension=DIM)
        admin.upsert([{"id": f"v{i}", "vector": row} for i, row in enumerate(VECTORS)])
    yield started
    started.stop()


class Wire:
    """Raw stubs over a TLS channel that trusts the test CA: metadata exactly as a test gives it."""

    def __init__(self, address: str, ca: Path) -> None:
        self.channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca.read_bytes()))
        self.collections = rpc.CollectionsStub(self.channel)
        self.latent = rpc.LatentSpaceStub(self.channel)


@pytest.fixture(scope="module")
def wire(server: ServerThread, pki: Pki) -> Iterator[Wire]:
    stubs = Wire(server.address, pki.ca)
    yield stubs
    stubs.channel.close()


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def search(wire: Wire, metadata: Any) -> api.SearchResponse:
    request = api.SearchRequest(collection="vec", query=pb.Query(id="v1"), options=api.SearchOptions(k=3))
    return wire.latent.Search(request, timeout=FAST, metadata=metadata)


def assert_still_serving(wire: Wire, keys: Keys) -> None:
    assert search(wire, bearer(keys.read)).hits[0].id == "v1"


# ---------------------------------------------------------------- who may call what

Call = Callable[[Wire, Keys], Any]


def upsert_as(key: Callable[[Keys], str]) -> Call:
    items = vector_items(VECTORS[:2], prefix="new")
    return lambda w, k: w.collections.Upsert(api.UpsertRequest(collection="vec", items=items), timeout=FAST,
                                             metadata=bearer(key(k)))


REFUSED: dict[str, tuple[Call, grpc.StatusCode, str, str]] = {
    "no key": (lambda w, k: search(w, ()), grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING",
               "authorization: Bearer <key>"),
    "no key, unknown collection (auth before anything else)": (
        lambda w, k: w.collections.DescribeCollection(api.DescribeCollectionRequest(name="nope"), timeout=FAST),
        grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING", "needs an API key"),
    "unknown key": (lambda w, k: search(w, bearer("ls_not-a-key-anyone-issued")),
                    grpc.StatusCode.UNAUTHENTICATED, "API_KEY_UNKNOWN", "not one this server knows"),
    "not a bearer token": (lambda w, k: search(w, (("authorization", f"Basic {k.admin}"),)),
                           grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING", "needs an API key"),
    "read key upserting": (upsert_as(lambda k: k.read), grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT",
                           "key 'read-app' has scope read; Collections/Upsert needs write"),
    "read key streaming upserts": (
        lambda w, k: w.collections.UpsertStream(
            iter([api.UpsertRequest(collection="vec", items=vector_items(VECTORS[:1], prefix="s"))]),
            timeout=FAST, metadata=bearer(k.read)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "UpsertStream needs write"),
    "read key deleting": (
        lambda w, k: w.collections.Delete(api.DeleteRequest(collection="vec", ids=["v1"]), timeout=FAST,
                                          metadata=bearer(k.read)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "Collections/Delete needs write"),
    "write key creating": (
        lambda w, k: w.collections.CreateCollection(api.CreateCollectionRequest(name="other", dimension=DIM),
                                                    timeout=FAST, metadata=bearer(k.write)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT",
        "key 'write-app' has scope write; Collections/CreateCollection needs admin"),
    "no key exporting (a server stream is checked too)": (
        lambda w, k: list(w.collections.Export(api.ExportRequest(collection="vec"), timeout=FAST)),
        grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING", "needs an API key"),
    "write key snapshotting (refused before the missing backup folder is noticed)": (
        lambda w, k: w.collections.Snapshot(api.SnapshotRequest(collection="vec"), timeout=FAST,
                                            metadata=bearer(k.write)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "Collections/Snapshot needs admin"),
    "read key listing snapshots": (
        lambda w, k: w.collections.ListSnapshots(api.ListSnapshotsRequest(), timeout=FAST, metadata=bearer(k.read)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "ListSnapshots needs admin"),
    "write key restoring": (
        lambda w, k: w.collections.Restore(api.RestoreRequest(snapshot="s1"), timeout=FAST, metadata=bearer(k.write)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "Collections/Restore needs admin"),
    "write key dropping": (
        lambda w, k: w.collections.DropCollection(api.DropCollectionRequest(name="vec"), timeout=FAST,
                                                  metadata=bearer(k.write)),
        grpc.StatusCode.PERMISSION_DENIED, "SCOPE_INSUFFICIENT", "DropCollection needs admin"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_calls_get_their_code_and_reason_and_the_server_keeps_serving(case: str, wire: Wire,
                                                                             keys: Keys) -> None:
    call, code, reason, fragment = REFUSED[case]
    with pytest.raises(grpc.RpcError) as caught:
        call(wire, keys)
    error = caught.value
    assert error.code() is code, error.details()
    assert reason_of(error) == reason
    assert fragment in error.details()
    assert trailers(error).get("latentspace-request-id")
    assert_still_serving(wire, keys)
    assert len(wire.collections.DescribeCollection(api.DescribeCollectionRequest(name="vec"), timeout=FAST,
                                                   metadata=bearer(keys.read)).name) > 0


def test_a_refused_write_changed_nothing(wire: Wire, keys: Keys) -> None:
    with pytest.raises(grpc.RpcError):
        upsert_as(lambda k: k.read)(wire, keys)
    got = wire.collections.Get(api.GetRequest(collection="vec", ids=["new0"]), timeout=FAST, metadata=bearer(keys.read))
    assert list(got.items) == []
    assert wire.collections.DescribeCollection(api.DescribeCollectionRequest(name="vec"), timeout=FAST,
                                               metadata=bearer(keys.read)).count == len(VECTORS)


def test_each_scope_does_what_it_allows(server: ServerThread, pki: Pki, keys: Keys) -> None:
    def client(key: str) -> Client:
        return Client(server.address, timeout=FAST, tls_ca=pki.ca, api_key=key, collection="vec")

    with client(keys.read) as reader:
        assert [h.id for h in reader.search(VECTORS[3], k=1)] == ["v3"]
        assert reader.get(["v2"])[0].id == "v2"
        assert [c.name for c in reader.list_collections()] == ["vec"]
        assert reader.describe_collection().count == len(VECTORS)
        assert reader.stats().version
        assert reader.distance(VECTORS[0], VECTORS[0]).cosine == pytest.approx(1.0, abs=1e-5)
        assert len(reader.encode(VECTORS[4])[0].vector) == DIM
        with reader.export() as exported:
            assert sorted(item.id for item in exported) == sorted(f"v{i}" for i in range(len(VECTORS)))
        with pytest.raises(PermissionDenied) as denied:
            reader.delete(["v0"])
        assert denied.value.reason == "SCOPE_INSUFFICIENT"
    with client(keys.write) as writer:
        assert writer.upsert([{"id": "w1", "vector": VECTORS[5]}]).upserted == 1
        assert writer.delete(["w1"]).deleted == 1
        assert [h.id for h in writer.search(VECTORS[5], k=1)] == ["v5"]
        with pytest.raises(PermissionDenied):
            writer.drop_collection("vec")
    with client(keys.admin) as admin:
        admin.create_collection("scratch", dimension=2)
        assert admin.upsert([{"id": "a", "vector": [1.0, 0.0]}], collection="scratch").upserted == 1
        assert [h.id for h in admin.search([1.0, 0.0], k=1, collection="scratch")] == ["a"]
        assert admin.delete(["a"], collection="scratch").deleted == 1
        admin.drop_collection("scratch")
        assert [c.name for c in admin.list_collections()] == ["vec"]
        with pytest.raises(FailedPrecondition) as no_folder:  # admin passes the scope check
            admin.list_snapshots()
        assert no_folder.value.reason == "BACKUP_DIR_NOT_SET"


def test_without_a_key_the_sdk_raises_unauthenticated(server: ServerThread, pki: Pki, keys: Keys) -> None:
    with Client(server.address, timeout=FAST, tls_ca=pki.ca) as anonymous, pytest.raises(Unauthenticated) as caught:
        anonymous.list_collections()
    assert caught.value.reason == "API_KEY_MISSING"
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_answer_without_a_key(wire: Wire, keys: Keys) -> None:
    health = health_pb2_grpc.HealthStub(wire.channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service="latentspace.v1.LatentSpace"), timeout=FAST)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(wire.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = {s.name for r in reflection.ServerReflectionInfo(iter([request]), timeout=FAST)
             for s in r.list_services_response.service}
    assert "latentspace.v1.Collections" in names
    assert_still_serving(wire, keys)


def test_the_access_log_names_the_key_never_the_key_itself(wire: Wire, keys: Keys,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="latentspace.access")
    search(wire, bearer(keys.write))
    with pytest.raises(grpc.RpcError):
        upsert_as(lambda k: k.read)(wire, keys)
    with pytest.raises(grpc.RpcError):
        search(wire, ())

    def access_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "latentspace.access"]

    # The server writes a call's line just after its status goes out: wait for the last one (bounded).
    for _ in range(200):
        if len(access_lines()) >= 3:
            break
        time.sleep(0.05)
    lines = access_lines()
    assert any(" write-app /latentspace.v1.LatentSpace/Search OK " in line for line in lines), lines
    assert any(" read-app /latentspace.v1.Collections/Upsert PERMISSION_DENIED " in line for line in lines), lines
    assert any(" - /latentspace.v1.LatentSpace/Search UNAUTHENTICATED " in line for line in lines), lines
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert all(key not in logged for key in (keys.read, keys.write, keys.admin))


# ---------------------------------------------------------------- TLS


def test_a_plain_text_client_fails_cleanly_against_tls(server: ServerThread, keys: Keys, pki: Pki) -> None:
    with Client(server.address, timeout=FAST, api_key=keys.read, collection="vec") as plain, \
            pytest.raises(Unavailable) as caught:
        plain.stats()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert caught.value.reason is None  # the transport failed: the server never answered
    with Client(server.address, timeout=FAST, tls_ca=pki.ca, api_key=keys.read) as good:
        assert good.stats().version


@pytest.mark.parametrize("ca", ["other_ca", "client_ca"])
def test_a_client_trusting_another_ca_fails_cleanly(ca: str, server: ServerThread, keys: Keys, pki: Pki) -> None:
    with Client(server.address, timeout=FAST, tls_ca=getattr(pki, ca), api_key=keys.read) as client, \
            pytest.raises(Unavailable) as caught:
        client.stats()
    assert caught.value.reason is None
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.details
    with Client(server.address, timeout=FAST, tls_ca=pki.ca, api_key=keys.read) as good:
        assert good.stats().version


def test_an_expired_server_certificate_fails_cleanly(tmp_path: Path, pki: Pki, start_server: Any) -> None:
    expired = start_server(tmp_path / "data", tls_cert=pki.expired_cert, tls_key=pki.expired_key)
    with Client(expired.address, timeout=FAST, tls_ca=pki.ca) as client, pytest.raises(Unavailable) as caught:
        client.stats()
    assert caught.value.reason is None
    assert "certificate has expired" in caught.value.details
    # The server is up and still completes handshakes (one that skips the date check succeeds, and
    # shows the certificate it serves is the expired one): the refusal was the client's.
    context = ssl.create_default_context(cafile=pki.ca)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    host, port = expired.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=FAST) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
        assert served.not_valid_after_utc < datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerThread]:
    """Mutual TLS, no API keys (loopback): the client certificate alone lets callers in."""
    started = ServerThread(tmp_path_factory.mktemp("mtls"), tls_cert=pki.cert, tls_key=pki.key,
                           tls_client_ca=pki.client_ca).start()
    yield started
    started.stop()


def test_mutual_tls_refuses_a_client_without_a_certificate(mutual: ServerThread, pki: Pki) -> None:
    with Client(mutual.address, timeout=FAST, tls_ca=pki.ca) as client, pytest.raises(Unavailable) as caught:
        client.stats()
    assert caught.value.reason is None
    with Client(mutual.address, timeout=FAST, tls_ca=pki.ca, tls_client_cert=pki.stranger_cert,
                tls_client_key=pki.stranger_key) as stranger, pytest.raises(Unavailable):
        stranger.stats()
    with Client(mutual.address, timeout=FAST, tls_ca=pki.ca, tls_client_cert=pki.client_cert,
                tls_client_key=pki.client_key) as client:
        assert client.stats().version


def test_the_async_client_takes_the_same_ca_key_and_client_certificate(mutual: ServerThread, server: ServerThread,
                                                                       pki: Pki, keys: Keys) -> None:
    async def run() -> tuple[list[str], str, str | None, str | None]:
        async with AsyncClient(server.address, timeout=FAST, tls_ca=pki.ca, api_key=keys.read,
                               collection="vec") as reader:
            hits = [h.id for h in await reader.search(VECTORS[7], k=1)]
            try:
                await reader.delete(["v7"])
                denied = None
            except PermissionDenied as error:
                denied = error.reason
        async with AsyncClient(mutual.address, timeout=FAST, tls_ca=pki.ca, tls_client_cert=pki.client_cert,
                               tls_client_key=pki.client_key) as client:
            version = (await client.stats()).version
        async with AsyncClient(server.address, timeout=FAST, api_key=keys.read) as plain:
            try:
                await plain.stats()
                transport = "answered"
            except Unavailable as error:
                transport = error.reason
        return hits, version, denied, transport

    hits, version, denied, transport = asyncio.run(run())
    assert hits == ["v7"] and version
    assert denied == "SCOPE_INSUFFICIENT"
    assert transport is None


def test_client_tls_options_are_checked_before_connecting(pki: Pki) -> None:
    with pytest.raises(ValueError, match="both tls_client_cert and tls_client_key"):
        Client("127.0.0.1:1", tls_ca=pki.ca, tls_client_cert=pki.client_cert)
    with pytest.raises(ValueError, match="either credentials or"):
        Client("127.0.0.1:1", tls_ca=pki.ca, credentials=grpc.ssl_channel_credentials())
    with pytest.raises(ValueError, match="api_key"):
        Client("127.0.0.1:1", api_key="two words")
    with pytest.raises(FileNotFoundError):
        Client("127.0.0.1:1", tls_ca=pki.ca.parent / "missing.pem")
