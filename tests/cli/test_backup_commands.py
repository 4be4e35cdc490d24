"""``latent snapshot``, ``snapshots``, ``restore``, ``export`` and ``latent index EXPORT.parquet`` as a
user runs them: child processes against a real server, and on data dirs directly."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.cli.main import main
from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace_client import Client, Item
from tests.conftest import LATENT, ServerThread, subprocess_env

TIMEOUT = 300
DIM = 8


def latent(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, *map(str, args)], capture_output=True, text=True, env=subprocess_env(),
                          timeout=TIMEOUT, check=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(tmp_path / "data", backup_dir=tmp_path / "backups").start()
    yield running
    running.stop()


def local_items(data_dir: Path, name: str) -> tuple[dict[str, Item], dict[str, object]]:
    """Every item of a collection of a (stopped) data dir, as the SDK's items, and its manifest."""
    with DataDir.open(data_dir, background=False) as data:
        collection = data.collection(name)
        with collection.export_items() as frozen:
            rows = [row for page in iter(lambda: frozen.next_page(1000, 1 << 30), []) for row in page]
        manifest = collection.manifest.to_json()
    return {r.id: Item(r.id, r.modality.value, r.payload, r.content, r.sequence, r.vector) for r in rows}, manifest


def assert_same_items(mine: dict[str, Item], theirs: dict[str, Item]) -> None:
    assert mine.keys() == theirs.keys()
    for key, item in mine.items():
        other = theirs[key]
        assert np.array_equal(item.vector, other.vector), key  # bit for bit
        assert (item.payload, item.content, item.modality) == (other.payload, other.content, other.modality), key


def test_snapshot_restore_and_export_through_a_server(server: ServerThread, tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    with Client(server.address, collection="v", timeout=60) as client:
        client.create_collection("v", dimension=DIM)
        client.upsert([{"id": f"i{n}", "vector": rng.normal(size=DIM), "payload": {"n": n, "x": n / 7}}
                       for n in range(120)])
        address = ("--server", server.address)

        taken = latent("snapshot", *address, "--collection", "v", "--name", "s1", "--json")
        assert taken.returncode == 0, taken.stderr
        assert json.loads(taken.stdout) | {"created_at": "-", "size_bytes": 0} == {
            "name": "s1", "collection": "v", "created_at": "-", "sequence": 1, "count": 120, "model": "",
            "dimension": DIM, "index_kind": "auto", "fingerprint": "", "has_index": True, "size_bytes": 0}
        listed = latent("snapshots", *address, "--json")
        assert [s["name"] for s in json.loads(listed.stdout)["snapshots"]] == ["s1"]
        on_disk = latent("snapshots", "--backup-dir", tmp_path / "backups")  # the folder itself, no server
        assert on_disk.returncode == 0 and "s1" in on_disk.stdout and "120" in on_disk.stdout

        restored = latent("restore", "s1", "--name", "v2", *address)
        assert restored.returncode == 0, restored.stderr
        restored_info = client.describe_collection("v2")
        assert (restored_info.count, restored_info.index_kind) == (120, "auto (Flat)")  # still follows its size
        again = latent("restore", "s1", "--name", "v2", *address)
        assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
        bad = latent("snapshot", *address, "--collection", "v", "--name", "../x")
        assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr
        busy = latent("snapshot", "--data", tmp_path / "data", "--backup-dir", tmp_path / "backups",
                      "--collection", "v")
        assert busy.returncode == 1 and "in use" in busy.stderr  # the server holds the data dir

        exported = latent("export", tmp_path / "v.parquet", *address, "--collection", "v")
        assert exported.returncode == 0, exported.stderr
        assert "exported 120 items of collection 'v'" in exported.stdout
        served = {item.id: item for item in client.export("v")}

    loaded = latent("index", tmp_path / "v.parquet", "--collection", "w", "--data", tmp_path / "other",
                    "--model", "none")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded   120 items; the collection now holds 120" in loaded.stdout
    wrong = latent("index", tmp_path / "v.parquet", "--collection", "w2", "--data", tmp_path / "other",
                   "--model", "minilm")
    assert wrong.returncode == 1 and "leave out --model" in wrong.stderr
    items, manifest = local_items(tmp_path / "other", "w")
    assert_same_items(served, items)
    # The server describes the kind as "auto (Flat)"; the export records the kind it was created with.
    assert (manifest["model"], manifest["dimension"], manifest["index_kind"]) == (None, DIM, "auto")


def test_snapshot_restore_and_export_on_a_stopped_data_dir(tmp_path: Path) -> None:
    data, backups = tmp_path / "data", tmp_path / "backups"
    (tmp_path / "v.jsonl").write_text("".join(
        json.dumps({"id": f"i{n}", "vector": [n + 1.0, *([0.5] * (DIM - 1))], "payload": {"big": 2**60 + n}}) + "\n"
        for n in range(30)))
    assert latent("index", tmp_path / "v.jsonl", "--collection", "v", "--dimension", DIM, "--data", data,
                  "--no-progress").returncode == 0
    taken = latent("snapshot", "--data", data, "--backup-dir", backups, "--collection", "v", "--name", "s")
    assert taken.returncode == 0, taken.stderr
    restored = latent("restore", "s", "--name", "copy", "--data", data, "--backup-dir", backups)
    assert restored.returncode == 0 and "restored snapshot 's' as collection 'copy': 30 items" in restored.stdout
    exported = latent("export", tmp_path / "copy.parquet", "--data", data, "--collection", "copy")
    assert exported.returncode == 0, exported.stderr
    assert latent("index", tmp_path / "copy.parquet", "--collection", "again", "--data", data).returncode == 0
    original, _ = local_items(data, "v")
    for name in ("copy", "again"):
        assert_same_items(original, local_items(data, name)[0])
    assert original["i3"].payload == {"big": 2**60 + 3}  # beyond 2**53: exact through the Parquet file
    missing = latent("snapshot", "--data", data, "--collection", "v")
    assert missing.returncode == 2 and "--backup-dir" in missing.stderr


@pytest.mark.semantic
def test_a_model_collection_is_exported_and_loaded_back_without_encoding(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["a red circle", "a small blue square", "a green triangle", "a large yellow star"]
    with Client(server.address, collection="shapes", timeout=120) as client:
        info = client.create_collection("shapes", model="shapes-clip")
        client.upsert([{"id": f"t{n}", "text": t, "payload": {"n": n}} for n, t in enumerate(texts)]
                      + [{"id": "raw", "vector": np.ones(info.dimension), "content_ref": "ones"}])
        exported = latent("export", tmp_path / "shapes.parquet", "--server", server.address,
                          "--collection", "shapes")
        assert exported.returncode == 0, exported.stderr
        served = {item.id: item for item in client.export()}

    def no_encoding(*args: object) -> None:
        raise AssertionError("an export is loaded without running the model")

    monkeypatch.setattr(Collection, "encode_texts", no_encoding)
    monkeypatch.setattr(Collection, "encode_images", no_encoding)
    code = main(["index", str(tmp_path / "shapes.parquet"), "--collection", "copy", "--data",
                 str(tmp_path / "other"), "--no-download", "--device", "cpu"])
    assert code == 0
    items, manifest = local_items(tmp_path / "other", "copy")
    assert_same_items(served, items)
    assert items["t0"].modality == "text" and items["t0"].content == "a red circle"
    assert items["raw"].modality == "vector" and items["raw"].content == "ones"
    assert (manifest["model"], manifest["fingerprint"]) == (info.model, info.fingerprint)
