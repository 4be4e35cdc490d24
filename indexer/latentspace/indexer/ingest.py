"""From raw items (text, image bytes or a vector) to records a collection can store.

One place turns what a caller sends into :class:`~latentspace.indexer.items.ItemRecord` values: the
server's Upsert RPC (which rejects the whole request on any failure) and the bulk pipeline (which
reports failures and indexes the rest) both call :func:`prepare_records`. Each item is checked on its
own, so one bad item is reported with its index and field instead of failing the batch; the good
items of a batch are then encoded with one model call per modality, because encoders are far faster
on batches than on single items. Each image item also gets its thumbnail here, from the image the
model sees (:mod:`latentspace.indexer.thumbnails`), so every way of writing an item makes one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.errors import (
    InvalidInput,
    LatentSpaceError,
    LimitExceeded,
    ModalityNotSupported,
)
from latentspace.indexer.images import decode_image
from latentspace.indexer.items import ItemRecord, JsonObject, Thumbnail
from latentspace.indexer.limits import RequestBudget
from latentspace.indexer.modality import Modality
from latentspace.indexer.thumbnails import DEFAULT_THUMBNAIL_SIDE, make_thumbnail
from latentspace.indexer.validation import (
    check_id,
    check_payload_object,
    check_query_text,
    check_text,
    normalised_vector,
)

if TYPE_CHECKING:
    from PIL import Image

    from latentspace.indexer.collection import Collection

@dataclass(frozen=True)
class NewItem:
    """An item to upsert: an id and exactly one of ``text``, ``image`` (encoded bytes) or ``vector``.

    ``content_ref`` overrides the stored content reference (by default the text itself, the image's
    ``sha256:<hex>`` digest, or empty for a vector).
    """

    id: str
    text: str | None = None
    image: bytes | None = None
    vector: np.ndarray | None = None
    payload: JsonObject = field(default_factory=dict)
    content_ref: str = ""


@dataclass(frozen=True)
class ItemFailure:
    """Why one item of a batch was refused.

    ``field`` is relative to the item (``"id"``, ``"text"``, ``"image"``, ``"vector"``, ``"payload"``);
    ``error`` is the library error class the failure stands for, so the server can map it to the
    right status (e.g. :class:`LimitExceeded` to RESOURCE_EXHAUSTED).
    """

    index: int
    id: str
    reason: str
    field: str
    error: type[LatentSpaceError] = InvalidInput

    def as_error(self, prefix: str = "items") -> LatentSpaceError:
        """The failure as a raisable error whose field is ``<prefix>[<index>].<field>``."""
        return self.error(self.reason, field=f"{prefix}[{self.index}].{self.field}")


def prepare_records(
    collection: Collection,
    items: Sequence[NewItem],
    *,
    max_pixels: int,
    max_text_chars: int,
    decode_executor: Executor | None = None,
    budget: RequestBudget | None = None,
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE,
) -> tuple[list[ItemRecord], list[ItemFailure]]:
    """Validate, decode and encode ``items`` for ``collection``.

    Returns the records of the good items (in input order) and one :class:`ItemFailure` per bad one.
    All texts of the batch go to the model in one ``encode_texts`` call and all images in one
    ``encode_images`` call. ``decode_executor`` (e.g. the bulk pipeline's thread pool) decodes the
    images in parallel; without it they are decoded in this thread, one by one. ``budget`` is the
    request's (the server's Upsert): texts and decoded images draw on it. Each image record carries a
    thumbnail whose longer side is at most ``thumbnail_side`` pixels (0: none), made in the same
    executor. Errors of the model itself are not per-item and propagate.
    """
    failures: list[ItemFailure] = []
    seen: dict[str, int] = {}
    # Index of each good item -> how it will be stored; filled in two passes (check, then encode).
    texts: dict[int, str] = {}
    image_bytes: dict[int, bytes] = {}
    vectors: dict[int, np.ndarray] = {}
    for index, item in enumerate(items):
        try:
            _check_id(item.id, seen)
            check_payload_object(item.payload, "payload")
            check_text(item.content_ref, "content_ref", "content_ref")
            kind = _content_kind(item)
            if kind is Modality.TEXT:
                texts[index] = _check_text(collection, item.text, max_text_chars, budget)
            elif kind is Modality.IMAGE:
                image_bytes[index] = _check_image(collection, item.image)
            else:
                vectors[index] = normalised_vector(item.vector, collection.dimension, "vector")
            seen[item.id] = index
        except (InvalidInput, LimitExceeded, ModalityNotSupported) as refused:
            failures.append(ItemFailure(index, _printable_id(item.id), refused.message, refused.field or "",
                                        type(refused)))

    images = _decode_all(image_bytes, max_pixels, decode_executor, items, failures, budget)
    thumbnails = _thumbnails(images, thumbnail_side, decode_executor)
    encoded: dict[int, np.ndarray] = dict(vectors)
    if texts:
        encoded.update(zip(texts, collection.encode_texts(list(texts.values())), strict=True))
    if images:
        encoded.update(zip(images, collection.encode_images(list(images.values())), strict=True))

    records = []
    for index in sorted(encoded):
        item = items[index]
        if index in texts:
            modality, content = Modality.TEXT, texts[index]
        elif index in images:
            modality, content = Modality.IMAGE, "sha256:" + hashlib.sha256(image_bytes[index]).hexdigest()
        else:
            modality, content = Modality.VECTOR, ""
        records.append(ItemRecord(
            id=item.id,
            vector=np.ascontiguousarray(encoded[index], dtype=np.float32),
            modality=modality,
            payload=dict(item.payload),
            content=item.content_ref or content,
            thumbnail=thumbnails.get(index),
        ))
    failures.sort(key=lambda failure: failure.index)
    return records, failures


def _printable_id(item_id: object) -> str:
    return item_id if isinstance(item_id, str) else repr(item_id)


def _check_id(item_id: object, seen: dict[str, int]) -> None:
    check_id(item_id, "id")
    if item_id in seen:
        # Two writes of one id in one batch would leave which one wins to chance; refuse the later one.
        raise InvalidInput(f"id {item_id!r} appears twice in one batch (first at index {seen[item_id]})",
                           field="id")


def _content_kind(item: NewItem) -> Modality:
    given = [name for name in ("text", "image", "vector") if getattr(item, name) is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise InvalidInput(f"an item needs exactly one of text, image or vector; got {what}", field="content")
    return Modality(given[0])


def _check_text(collection: Collection, text: object, max_text_chars: int, budget: RequestBudget | None) -> str:
    checked = check_query_text(text, "text", max_text_chars)
    if Modality.TEXT not in collection.modalities:
        raise ModalityNotSupported(f"collection {collection.name!r} cannot encode text; send vectors instead",
                                   field="text")
    if budget is not None:
        budget.spend_text(len(checked), "text")
    return checked


def _check_image(collection: Collection, data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"image must be encoded image bytes, not {type(data).__name__}", field="image")
    if not data:
        raise InvalidInput("image is empty (0 bytes)", field="image")
    if Modality.IMAGE not in collection.modalities:
        raise ModalityNotSupported(f"collection {collection.name!r} cannot encode images; "
                                   "it needs a CLIP model such as 'shapes-clip'", field="image")
    return bytes(data)


def _decode_all(
    image_bytes: dict[int, bytes],
    max_pixels: int,
    executor: Executor | None,
    items: Sequence[NewItem],
    failures: list[ItemFailure],
    budget: RequestBudget | None,
) -> dict[int, Image.Image]:
    """Decode every image; an undecodable or oversized one becomes a failure, the rest go on."""

    def decode(data: bytes) -> Image.Image | LatentSpaceError:
        try:
            return decode_image(data, max_pixels=max_pixels, field="image", budget=budget)
        except (InvalidInput, LimitExceeded) as exc:
            return exc

    indexes = list(image_bytes)
    payloads = [image_bytes[i] for i in indexes]
    results = list(executor.map(decode, payloads)) if executor else [decode(p) for p in payloads]
    images: dict[int, Image.Image] = {}
    for index, result in zip(indexes, results, strict=True):
        if isinstance(result, LatentSpaceError):
            failures.append(ItemFailure(index, items[index].id, result.message, "image", type(result)))
        else:
            images[index] = result
    return images


def _thumbnails(images: dict[int, Image.Image], side: int, executor: Executor | None) -> dict[int, Thumbnail]:
    """Each decoded image's thumbnail (none when ``side`` is 0), in ``executor`` when there is one."""
    if side <= 0 or not images:
        return {}

    def make(image: Image.Image) -> Thumbnail:
        return make_thumbnail(image, side)

    indexes = list(images)
    pictures = [images[i] for i in indexes]
    made = list(executor.map(make, pictures)) if executor else [make(p) for p in pictures]
    return dict(zip(indexes, made, strict=True))
