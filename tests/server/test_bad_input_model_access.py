"""The server reads only what its operator allowed: model folders under the model root, downloads from
the allow-list, models evicted when no collection uses them, and no server path in any error.

Each refusal asserts its exact code, reason and field, and that the server still answers a search.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

import latentspace.indexer
from latentspace.indexer.shapes import MODEL_DIR
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search, vector_items

DIM = 8
VECTORS = np.random.default_rng(3).normal(size=(20, DIM)).astype(np.float32)
DENIED, FAILED = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION


class Served:
    """A running server, its stubs, and the server-side paths no error may show."""

    def __init__(self, root: Path, **settings) -> None:
        from tests.conftest import ServerThread

        self.data, self.models, self.cache = root / "data", root / "models", root / "cache"
        for folder in (self.models, self.cache):
            folder.mkdir()
        self.server = ServerThread(self.data, model_cache=self.cache, **settings).start()
        self.stubs = Stubs(self.server.address)
        self.stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
        self.stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(VECTORS)), timeout=30)

    def secret_paths(self) -> list[str]:
        package = Path(latentspace.indexer.__file__).parent
        return [str(p) for p in (self.data, self.models, self.cache, package, Path.home() / ".cache")]

    def create(self, model: str, name: str = "m", **fields) -> api.CollectionInfo:
        return self.stubs.collections.CreateCollection(
            api.CreateCollectionRequest(name=name, model=model, **fields), timeout=120)

    def loaded(self) -> list[str]:
        return list(self.stubs.collections.Stats(api.StatsRequest(), timeout=30).loaded_models)

    def close(self) -> None:
        self.stubs.close()
        self.server.stop()


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """Defaults: no model root, downloads off."""
    served = Served(tmp_path_factory.mktemp("closed"))
    yield served
    served.close()


@pytest.fixture(scope="module")
def rooted(tmp_path_factory):
    """A model root with the shapes model copied in, a symlink out of it, and downloads on (allow-list)."""
    root = tmp_path_factory.mktemp("rooted")
    outside = root / "outside"
    shutil.copytree(MODEL_DIR, outside)
    served = Served(root, model_root=root / "models", allow_download=True)
    shutil.copytree(MODEL_DIR, served.models / "shapes")
    (served.models / "escape").symlink_to(outside, target_is_directory=True)
    (served.models / "empty").mkdir()
    (served.models / "config-only").mkdir()
    shutil.copy(MODEL_DIR / "open_clip_config.json", served.models / "config-only")
    (served.models / "bad-config").mkdir()
    (served.models / "bad-config" / "open_clip_config.json").write_text("{not json")
    (served.models / "st-broken").mkdir()
    (served.models / "st-broken" / "config.json").write_text('{"model_type": "no-such-architecture"}')
    yield served
    served.close()


def refused(served: Served, call: Callable[[Served], object], code: grpc.StatusCode, reason: str,
            field: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(served)
    error = caught.value
    assert error.code() is code, error.details()
    assert reason_of(error) == reason
    assert error.details().startswith(f"{field}: "), error.details()
    for path in served.secret_paths():
        assert path not in error.details()
    assert search(served.stubs, "vec", pb.Query(id="v3"), k=3)[0].id == "v3"
    return error


def create(model: str, **fields) -> Callable[[Served], object]:
    return lambda served: served.create(model, **fields)


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize("model", ["open_clip:/etc", "sentence-transformers:/etc", "open_clip:../x", "openclip:~/x"])
def test_without_a_model_root_no_folder_is_read(closed, model):
    error = refused(closed, create(model), DENIED, "MODEL_PATH_NOT_ALLOWED", "model")
    assert "LATENTSPACE_MODEL_ROOT" in error.details() and "--model-root" in error.details()
    # Refused before anything was read: before, this said "/etc/open_clip_config.json not found".
    assert "open_clip_config" not in error.details() and "/etc" not in error.details()
    assert closed.loaded() == []


@pytest.mark.parametrize("where", ["../outside", "escape", "shapes/../../outside"])
def test_a_folder_outside_the_root_is_refused_however_it_is_reached(rooted, where):
    error = refused(rooted, create(f"open_clip:{rooted.models}/{where}"), DENIED, "MODEL_PATH_NOT_ALLOWED", "model")
    assert "outside" in error.details() and "LATENTSPACE_MODEL_ROOT" in error.details()


def test_an_unresolvable_folder_is_bad_input(closed):
    refused(closed, create("open_clip:~no-such-user-here/x"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT",
            "model")


# ---------------------------------------------------------------- downloads


@pytest.mark.semantic  # imports the model backends (no weights are loaded)
def test_downloads_are_off_by_default(closed):
    error = refused(closed, create("clip-vit-b-32"), FAILED, "MODEL_UNAVAILABLE", "model")
    assert "LATENTSPACE_ALLOW_DOWNLOAD" in error.details() and "open_clip:ViT-B-32/laion2b_s34b_b79k" in error.details()


@pytest.mark.semantic
@pytest.mark.parametrize("model", ["open_clip:ViT-B-32/openai", "sentence-transformers:paraphrase-MiniLM-L3-v2"])
def test_downloads_on_still_fetch_only_the_allow_list(rooted, model):
    # Neither is cached and neither is an alias: refused before any network access.
    error = refused(rooted, create(model), DENIED, "DOWNLOAD_NOT_ALLOWED", "model")
    assert "LATENTSPACE_DOWNLOAD_ALLOW" in error.details()
    assert rooted.loaded() == []


# ---------------------------------------------------------------- inside the root; eviction


@pytest.mark.semantic
@pytest.mark.parametrize(("folder", "says"), [
    ("missing", "no such model folder"),
    ("empty", "no open_clip_config.json"),
    ("config-only", "no checkpoint"),
    ("bad-config", "no valid model_cfg"),
])
def test_a_bad_folder_under_the_root_is_named_without_its_path(rooted, folder, says):
    error = refused(rooted, create(f"open_clip:{rooted.models}/{folder}"), FAILED, "MODEL_UNAVAILABLE", "model")
    assert says in error.details() and f".../{folder}" in error.details()


@pytest.mark.semantic
def test_a_folder_that_fails_to_load_says_so_without_the_loaders_text(rooted):
    refused(rooted, create(f"sentence-transformers:{rooted.models}/st-broken"), FAILED, "MODEL_UNAVAILABLE",
            "model")


@pytest.mark.semantic
def test_a_folder_under_the_root_loads_and_is_evicted_when_unused(rooted):
    spec = f"open_clip:{(rooted.models / 'shapes').resolve()}"
    info = rooted.create(spec, name="mine")
    assert info.dimension == 128 and rooted.loaded() == [spec]
    rooted.create(spec, name="mine2")
    encode = functools.partial(rooted.stubs.latent.Encode, timeout=60)
    assert len(encode(api.EncodeRequest(collection="mine", queries=[pb.Query(text="a red circle")])).points) == 1
    rooted.stubs.collections.DropCollection(api.DropCollectionRequest(name="mine"), timeout=30)
    assert rooted.loaded() == [spec]  # "mine2" still uses it
    rooted.stubs.collections.DropCollection(api.DropCollectionRequest(name="mine2"), timeout=30)
    assert rooted.loaded() == []
    # A create that fails after loading its model releases it too.
    refused(rooted, create(spec, name="wrong", dimension=3), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT",
            "dimension")
    assert rooted.loaded() == []


# ---------------------------------------------------------------- no server path in any error


@pytest.mark.semantic
def test_no_error_shows_a_server_path(rooted):
    models = rooted.models
    (rooted.data / "collections" / "broken").mkdir()
    (rooted.data / "collections" / "broken" / "collection.json").write_text("{truncated")
    calls: list[Callable[[Served], object]] = [
        create("open_clip:/etc"),
        create(f"open_clip:{models}/missing"),
        create(f"open_clip:{models}/empty"),
        create(f"open_clip:{models}/bad-config"),
        create(f"sentence-transformers:{models}/empty"),
        create(f"sentence-transformers:{models}/st-broken"),
        create(f"sentence-transformers:{models}/shapes"),
        create("open_clip:ViT-B-32/openai"),
        create("open_clip:ViT-B-32/no-such-tag"),
        create("open_clip:~no-such-user-here/x"),
        create("shapes-clip", dimension=5),
        lambda s: s.stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM + 1)),
        lambda s: s.stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="broken"), timeout=30),
        lambda s: s.stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="nope"), timeout=30),
        lambda s: s.stubs.collections.DropCollection(api.DropCollectionRequest(name="nope"), timeout=30),
        lambda s: s.stubs.collections.Upsert(api.UpsertRequest(collection="nope"), timeout=30),
        lambda s: search(s.stubs, "vec", pb.Query(image=b"\x89PNG\r\n\x1a\n garbage")),
        lambda s: search(s.stubs, "vec", pb.Query(text="a red circle")),
    ]
    seen = 0
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call(rooted)
        details = caught.value.details() or ""
        for path in rooted.secret_paths():
            assert path not in details, (path, details)
        seen += 1
    assert seen == len(calls)
    assert search(rooted.stubs, "vec", pb.Query(id="v3"), k=3)[0].id == "v3"


def test_latent_serve_takes_the_model_root_flag(tmp_path, server_process):
    (tmp_path / "models").mkdir()
    served = server_process(tmp_path / "data", "--model-root", str(tmp_path / "models"))
    stubs = Stubs(served.address)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stubs.collections.CreateCollection(api.CreateCollectionRequest(name="m", model="open_clip:/etc"),
                                               timeout=60)
        assert caught.value.code() is DENIED and "outside the operator's model root" in caught.value.details()
        assert str(tmp_path) not in caught.value.details()
    finally:
        stubs.close()
