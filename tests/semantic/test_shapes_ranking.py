"""Calibrated scores and diverse results on the shapes CLIP, through the real server and the SDK.

The demo collection (``latent demo build``: 480 images, 20 of them red circles, and 144 captions, 6
of them about a red circle) is built once for this module; the session's shapes collection (288
images, 12 red circles, 24 captions) is the other mixed collection. Figures print with ``pytest -s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from latentspace_client import Client

pytestmark = pytest.mark.semantic

QUERY = "a red circle"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    from latentspace.indexer.demo.build import SHAPES_COLLECTION, build_demo
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from tests.conftest import ServerThread

    data_dir: Path = tmp_path_factory.mktemp("shapes-demo")
    build_demo(data_dir, encoders=EncoderRegistry(EncoderOptions(device="cpu", allow_download=False)),
               progress=False, collections=[SHAPES_COLLECTION])
    server = ServerThread(data_dir).start()
    client = Client(server.address, collection=SHAPES_COLLECTION, timeout=300)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def red_circle_image(hit) -> bool:
    return hit.modality == "image" and (hit.payload.get("color"), hit.payload.get("shape")) == ("red", "circle")


def red_circle_images(client: Client) -> int:
    return sum(red_circle_image(h) for h in client.search(QUERY, k=1000, modality="image"))


def test_calibrated_puts_red_circle_images_in_the_top_10_of_the_demo(demo):
    raw = sum(map(red_circle_image, demo.search(QUERY, k=10)))
    calibrated_hits = demo.search(QUERY, k=10, score_mode="calibrated")
    calibrated = sum(map(red_circle_image, calibrated_hits))
    print(f"\ndemo, {QUERY!r}, red-circle images in the top 10: raw {raw}, calibrated {calibrated}")
    assert calibrated >= 5 and raw <= calibrated
    # Interleaved: captions and images both, every hit about a red circle.
    assert {h.modality for h in calibrated_hits} == {"text", "image"}
    assert all((h.payload["color"], h.payload["shape"]) == ("red", "circle") for h in calibrated_hits)


def test_calibrated_recall_against_an_image_filter(demo, shapes):
    for name, client in (("demo", demo), ("session shapes", shapes)):
        total = red_circle_images(client)
        calibrated = client.search(QUERY, k=20, score_mode="calibrated")
        filtered = client.search(QUERY, k=20, modality="image")
        raw = client.search(QUERY, k=20)
        recall = {label: sum(map(red_circle_image, hits)) / total
                  for label, hits in (("raw", raw), ("calibrated", calibrated), ("image filter", filtered))}
        captions = sum(h.modality == "text" for h in calibrated)
        print(f"{name}: recall@20 of its {total} red-circle images: "
              + ", ".join(f"{k} {v:.2f}" for k, v in recall.items()) + f" (calibrated lists {captions} captions)")
        assert recall["calibrated"] >= recall["raw"]
        # Calibration is increasing in the cosine within a modality: its images come in the filter's
        # order, so only the matching captions it interleaves stand between it and the filter's recall.
        images = [h.id for h in client.search(QUERY, k=20 + captions, score_mode="calibrated") if h.modality == "image"]
        assert images == [h.id for h in filtered]
        if total + captions <= 20:  # room for every red-circle image and caption: no worse than the filter
            assert recall["calibrated"] >= recall["image filter"]


def test_diversity_on_the_demo_shows_more_kinds_and_zero_is_plain(demo):
    def kinds(hits):
        return {(h.modality, h.payload.get("color"), h.payload.get("shape"), h.payload.get("size")) for h in hits}

    plain = demo.search(QUERY, k=10)
    assert [(h.id, h.score) for h in demo.search(QUERY, k=10, diversity=0.0, pool=40)] == [
        (h.id, h.score) for h in plain]
    diverse = demo.search(QUERY, k=10, diversity=0.5, explain=True)
    same_pool = demo.search(QUERY, k=10, diversity=0.5, pool=10)
    print(f"demo, {QUERY!r}, kinds (modality, colour, shape, size) in the top 10: plain {len(kinds(plain))}, "
          f"diversity 0.5 {len(kinds(diverse))}; pool = k keeps the same {len(same_pool)} hits")
    assert len(kinds(diverse)) > len(kinds(plain))
    assert {h.id for h in same_pool} == {h.id for h in plain}
    assert diverse[0].id == plain[0].id
    for rank, hit in enumerate(diverse):
        e = hit.explanation
        assert sum(t.share for t in e.terms) == pytest.approx(e.cosine, abs=1e-5)
        assert hit.score == pytest.approx(e.cosine, abs=1e-5) and (e.redundancy is None) == (rank == 0)


def test_calibrated_and_diverse_explanations_through_the_server(demo):
    hits = demo.search(QUERY, k=10, score_mode="calibrated", diversity=0.3, explain=True)
    for rank, hit in enumerate(hits):
        e = hit.explanation
        assert sum(t.share for t in e.terms) == pytest.approx(e.cosine, abs=1e-5)
        assert hit.score == pytest.approx((e.cosine - e.calibration_offset) / e.calibration_scale, abs=1e-4)
        assert e.calibration_scale > 0 and (e.redundancy is None) == (rank == 0)
    path = demo.interpolate("a red circle", "a blue square", steps=3, k=5, diversity=0.5, score_mode="calibrated")
    assert all(len(step.hits) == 5 for step in path.steps)


def test_the_collection_reports_its_modality_statistics(demo):
    info = demo.describe_collection("shapes")
    counts = {s.modality: (s.count, s.sampled) for s in info.modality_stats}
    assert counts == {"text": (144, 144), "image": (480, 256)}
    assert all(0 < s.centroid_norm < 1 for s in info.modality_stats)
    pairs = {(d.a, d.b): d for d in info.cosine_distributions}
    assert set(pairs) == {("text", "text"), ("text", "image"), ("image", "image")}
    assert pairs["text", "text"].pairs == 144 * 143 // 2 and pairs["text", "image"].pairs == 144 * 256
    for d in pairs.values():
        assert -1 <= d.p05 <= d.p50 <= d.p95 <= 1 and d.std > 0
    print("demo cosine distributions: " + "; ".join(
        f"{a}-{b} mean {d.mean:.3f} std {d.std:.3f} p95 {d.p95:.3f}" for (a, b), d in pairs.items()))
