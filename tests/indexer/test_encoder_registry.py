"""The encoder registry: one load per spec, concurrent loads of different specs, lazy heavy imports."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from latentspace.indexer.encoders.base import Encoder, EncoderOptions
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.errors import ModelUnavailable
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelFamily, ModelSpec, parse_model_spec

BACKEND = f"{__name__}:SlowEncoder"


class SlowEncoder(Encoder):
    """Takes a while to load and records every load, so tests can see overlap and repeats."""

    loads: list[tuple[str, float, float]] = []
    fail_next = False
    lock = threading.Lock()

    def __init__(self, spec: ModelSpec, options: EncoderOptions) -> None:
        start = time.perf_counter()
        time.sleep(0.3)
        if SlowEncoder.fail_next:
            SlowEncoder.fail_next = False
            raise ModelUnavailable(f"{spec} is not here", field="model")
        with SlowEncoder.lock:
            SlowEncoder.loads.append((spec.canonical, start, time.perf_counter()))
        self.spec, self.dimension, self.fingerprint = spec, 4, "f" * 16
        self.modalities = frozenset({Modality.TEXT})

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32) / 2


@pytest.fixture
def registry() -> EncoderRegistry:
    SlowEncoder.loads = []
    SlowEncoder.fail_next = False
    backends = {ModelFamily.SENTENCE_TRANSFORMERS: BACKEND, ModelFamily.OPEN_CLIP: BACKEND}
    return EncoderRegistry(EncoderOptions(allow_download=False), backends)


def in_threads(fn, n: int) -> list:
    results: list = [None] * n

    def run(i: int) -> None:
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_model_loads_once_for_concurrent_callers(registry):
    spec = parse_model_spec("minilm")
    encoders = in_threads(lambda i: registry.get(parse_model_spec("sentence-transformers:all-MiniLM-L6-v2")
                                                 if i % 2 else spec), 8)
    assert len(SlowEncoder.loads) == 1
    assert all(e is encoders[0] for e in encoders)
    assert registry.loaded() == ["sentence-transformers:all-MiniLM-L6-v2"]


def test_different_models_load_concurrently(registry):
    specs = [parse_model_spec("minilm"), parse_model_spec("shapes-clip")]
    in_threads(lambda i: registry.get(specs[i]), 2)
    (_, s1, e1), (_, s2, e2) = sorted(SlowEncoder.loads)
    assert s1 < e2 and s2 < e1  # the two loads overlapped in time
    assert registry.loaded() == sorted(s.canonical for s in specs)


def test_a_failed_load_is_retried_next_time(registry):
    SlowEncoder.fail_next = True
    with pytest.raises(ModelUnavailable):
        registry.get(parse_model_spec("minilm"))
    assert registry.loaded() == []
    assert registry.get(parse_model_spec("minilm")).dimension == 4


def test_a_backend_that_cannot_be_imported_is_model_unavailable():
    registry = EncoderRegistry(EncoderOptions(), {ModelFamily.OPEN_CLIP: "no_such_module_xyz:Encoder"})
    with pytest.raises(ModelUnavailable) as caught:
        registry.get(parse_model_spec("shapes-clip"))
    assert "pip install open_clip_torch" in caught.value.message and caught.value.field == "model"
    with pytest.raises(ModelUnavailable, match="no encoder backend"):
        registry.get(parse_model_spec("minilm"))


def test_importing_the_library_and_registry_does_not_import_torch():
    code = ("import sys, latentspace.indexer, latentspace.indexer.encoders.registry, "
            "latentspace.indexer.operations, latentspace.indexer.model_spec; "
            "sys.exit(1 if 'torch' in sys.modules or 'sentence_transformers' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_the_last_user_to_release_a_model_evicts_it(registry):
    minilm, clip = parse_model_spec("minilm"), parse_model_spec("shapes-clip")
    for spec in (minilm, minilm, clip):
        registry.acquire(spec)
    first = registry.get(minilm)
    registry.get(clip)
    registry.release(minilm)
    assert registry.loaded() == sorted([minilm.canonical, clip.canonical])  # one user left
    registry.release(minilm)
    registry.release(clip)
    assert registry.loaded() == []
    # Asked for again, it is loaded again (a new object).
    registry.acquire(minilm)
    assert registry.get(minilm) is not first and len(SlowEncoder.loads) == 3
    registry.release(minilm)
    registry.release(minilm)  # one release too many is harmless
    assert registry.loaded() == []
