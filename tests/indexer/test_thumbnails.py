"""Thumbnails: made from each image item as it is prepared, stored with its row, gone with it."""

from __future__ import annotations

import io
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.backends.base import StoresThumbnails
from latentspace.indexer.collection import STORE_FILE, Collection
from latentspace.indexer.ingest import NewItem, prepare_records
from latentspace.indexer.items import ItemRecord, Thumbnail
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.thumbnails import MEDIA_TYPE, check_thumbnail_side, make_thumbnail
from tests.indexer.fake_collection import FakeCollection

LIMITS = {"max_pixels": 10_000_000, "max_text_chars": 50}


def png(size: tuple[int, int], color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    image = Image.new("RGB", size, (230, 230, 230))
    # Something to compress: a coloured disc and some noise, like a real picture.
    pixels = np.asarray(image).copy()
    yy, xx = np.mgrid[: size[1], : size[0]]
    disc = (xx - size[0] / 2) ** 2 + (yy - size[1] / 2) ** 2 < (min(size) / 3) ** 2
    pixels[disc] = color
    pixels = np.clip(pixels + np.random.default_rng(0).integers(-8, 8, pixels.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def opened(thumbnail: Thumbnail) -> Image.Image:
    image = Image.open(io.BytesIO(thumbnail.data))
    image.load()
    return image


def test_a_thumbnail_fits_the_side_keeps_the_aspect_and_is_small() -> None:
    photo = Image.open(io.BytesIO(png((1200, 800))))
    thumbnail = make_thumbnail(photo.convert("RGB"), 128)
    image = opened(thumbnail)
    assert thumbnail.media_type == MEDIA_TYPE == "image/webp"
    assert image.format == "WEBP" and image.size == (128, 85)
    assert len(thumbnail.data) < 8_000
    # The colour survives: the centre is still the disc's red.
    r, g, b = image.convert("RGB").getpixel((64, 42))
    assert r > 150 and g < 90 and b < 90


def test_a_small_image_is_not_enlarged() -> None:
    image = opened(make_thumbnail(Image.open(io.BytesIO(png((64, 40)))).convert("RGB"), 128))
    assert image.size == (64, 40)


def test_the_side_setting_is_bounded() -> None:
    assert check_thumbnail_side(0) == 0 and check_thumbnail_side(256) == 256
    for bad in (-1, 8, 4096):
        with pytest.raises(ValueError, match="thumbnail_side"):
            check_thumbnail_side(bad)


def test_prepare_records_gives_each_image_a_thumbnail_and_nothing_else_one() -> None:
    items = [NewItem("t", text="a red circle"), NewItem("i", image=png((300, 200))),
             NewItem("v", vector=np.ones(8, dtype=np.float32)), NewItem("j", image=png((50, 50), (0, 0, 255)))]
    with ThreadPoolExecutor(2) as pool:
        records, failures = prepare_records(FakeCollection(), items, decode_executor=pool, **LIMITS)
    assert failures == []
    by_id = {r.id: r for r in records}
    assert by_id["t"].thumbnail is None and by_id["v"].thumbnail is None
    assert opened(by_id["i"].thumbnail).size == (128, 85)
    assert opened(by_id["j"].thumbnail).size == (50, 50)
    smaller, _ = prepare_records(FakeCollection(), items[1:2], thumbnail_side=32, **LIMITS)
    assert opened(smaller[0].thumbnail).size == (32, 21)
    none, _ = prepare_records(FakeCollection(), items[1:2], thumbnail_side=0, **LIMITS)
    assert none[0].thumbnail is None


def make_collection(folder: Path) -> Collection:
    folder.mkdir(parents=True)
    Collection.initialize(folder, CollectionManifest.new(folder.name, None, 4, "Flat", None))
    return Collection(folder)


def record(item_id: str, thumbnail: Thumbnail | None, seed: int = 0) -> ItemRecord:
    vector = np.random.default_rng(seed).standard_normal(4).astype(np.float32)
    return ItemRecord(item_id, vector, Modality.IMAGE if thumbnail else Modality.VECTOR, {}, "", thumbnail)


def thumbnail_rows(folder: Path) -> int:
    with sqlite3.connect(folder / STORE_FILE) as conn:
        return int(conn.execute("SELECT count(*) FROM thumbnails").fetchone()[0])


def test_the_store_keeps_a_thumbnail_with_its_item_and_drops_it_with_it(tmp_path: Path) -> None:
    one, two = Thumbnail("image/webp", b"first"), Thumbnail("image/webp", b"second")
    collection = make_collection(tmp_path / "c")
    assert isinstance(collection, StoresThumbnails)
    try:
        collection.upsert([record("a", one), record("b", two), record("c", None)])
        assert collection.thumbnails(["a", "b", "c", "unknown", "a"]) == {"a": one, "b": two}
        # Replaced: the new version's thumbnail, or none when the new version has none.
        collection.upsert([record("a", two, seed=1), record("b", None, seed=1)])
        assert collection.thumbnails(["a", "b"]) == {"a": two}
        collection.delete(["a"])
        assert collection.thumbnails(["a", "b"]) == {}
        assert thumbnail_rows(tmp_path / "c") == 0
    finally:
        collection.close()
    reopened = Collection(tmp_path / "c")
    try:
        reopened.upsert([record("d", one)])
        assert reopened.thumbnails(["d"]) == {"d": one}
    finally:
        reopened.close()


def test_a_store_written_before_thumbnails_gains_the_table_and_has_none(tmp_path: Path) -> None:
    collection = make_collection(tmp_path / "old")
    collection.upsert([record("a", None)])
    collection.close()
    with sqlite3.connect(tmp_path / "old" / STORE_FILE) as conn:
        conn.execute("DROP TABLE thumbnails")
    reopened = Collection(tmp_path / "old")
    try:
        assert reopened.thumbnails(["a"]) == {}
        reopened.upsert([record("a", Thumbnail("image/webp", b"new"), seed=2)])
        assert reopened.thumbnails(["a"]) == {"a": Thumbnail("image/webp", b"new")}
    finally:
        reopened.close()
