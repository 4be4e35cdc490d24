"""``--engine ray`` builds the collection a local run builds: same ids, vectors within 1e-5.

A real local Ray (``ray.init(num_cpus=2)``), the real minilm model in one encoder actor, a small
JSONL corpus with one bad record. A rerun writes and encodes nothing (every item unchanged); after
three rows change, a rerun encodes those three only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.pipeline import index_source, open_source
from latentspace.indexer.pipeline.stages import ItemLimits

ray = pytest.importorskip("ray")

OPTIONS = EncoderOptions(device="cpu", allow_download=False, threads=1)
LIMITS = ItemLimits(max_pixels=4096 * 4096)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def corpus(path: Path) -> Path:
    subjects = ["rivers", "violins", "old maps", "the compiler", "bread"]
    rows = [{"id": f"r{i:03d}", "text": f"Note {i} about {subjects[i % 5]}" + " and more" * (i % 4),
             "payload": {"n": i}} for i in range(60)]
    lines = [json.dumps(row) for row in rows]
    lines.insert(10, json.dumps({"id": "empty", "payload": {"n": -1}}))  # no text: rejected by both
    path.write_text("\n".join(lines) + "\n")
    return path


def contents(data_dir: Path) -> dict[str, np.ndarray]:
    with DataDir.open(data_dir, EncoderRegistry(OPTIONS)) as data:
        collection = data.collection("notes")
        ids = [item_id for page in collection.all_ids() for item_id in page]
        return {item.id: item.vector for item in collection.get(ids, with_vectors=True) if item.vector is not None}


@pytest.mark.semantic
def test_the_ray_engine_builds_what_the_local_engine_builds(tmp_path: Path, local_ray: None) -> None:
    from latentspace.indexer.pipeline.ray_runner import RayPlan, index_source_ray

    source = corpus(tmp_path / "notes.jsonl")
    with DataDir.open(tmp_path / "local", EncoderRegistry(OPTIONS)) as data:
        collection = data.create_collection("notes", "minilm")
        local = index_source(collection, open_source(source), batch_size=16, max_pixels=LIMITS.max_pixels,
                             progress=False)
    assert (local.indexed, local.skipped_count) == (60, 1)

    with DataDir.open(tmp_path / "ray", EncoderRegistry(OPTIONS)) as data:
        collection = data.create_collection("notes", "minilm")
        report = index_source_ray(collection, source, model="minilm", encoder_options=OPTIONS, limits=LIMITS,
                                  batch_size=16, plan=RayPlan(replicas=1))
        assert (report.indexed, report.unchanged, report.skipped_count) == (60, 0, 1)
        assert report.skipped[0].id == "empty"
        again = index_source_ray(collection, source, model="minilm", encoder_options=OPTIONS, limits=LIMITS,
                                 batch_size=16, plan=RayPlan(replicas=1))
        assert (again.indexed, again.unchanged, again.encoded) == (0, 60, 0)  # the replicas dropped them
        rows = source.read_text().splitlines()
        for number in (3, 30, 55):  # rows r003, r029, r054 (the bad record is line 10)
            row = json.loads(rows[number])
            rows[number] = json.dumps({**row, "text": row["text"] + ", revised"})
        changed = tmp_path / "changed.jsonl"
        changed.write_text("\n".join(rows) + "\n")
        third = index_source_ray(collection, changed, model="minilm", encoder_options=OPTIONS, limits=LIMITS,
                                 batch_size=16, plan=RayPlan(replicas=1))
        assert (third.indexed, third.unchanged, third.encoded) == (3, 57, 3)
        revised = collection.get(["r003", "r029", "r054", "r004"])
        assert [item.content.endswith(", revised") for item in revised] == [True, True, True, False]
        index_source_ray(collection, source, model="minilm", encoder_options=OPTIONS, limits=LIMITS,
                         batch_size=16, plan=RayPlan(replicas=1))  # back to the original texts

    expected, built = contents(tmp_path / "local"), contents(tmp_path / "ray")
    assert sorted(built) == sorted(expected)
    for item_id, vector in expected.items():
        np.testing.assert_allclose(built[item_id], vector, atol=1e-5)
