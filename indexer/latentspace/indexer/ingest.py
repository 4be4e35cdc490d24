"""From raw items (text, image bytes or a vector) to records a collection can store.

One place turns what a caller sends into :class:`~latentspace.indexer.items.ItemRecord` values: the
server's Upsert RPC (which rejects the whole request on any failure) and the bulk pipeline (which
reports failures and indexes the rest) both call :func:`prepare_records`. Each item is checked on its
own, so one bad item is reported with its index and field instead of failing the batch; the good
items of a batch are then encoded with one model call per modality, because encoders are far faster
on batches than on single items.
"""

from __future__ import annotations

import hashlib
import json
import math
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
from latentspace.indexer.items import ItemRecord, JsonObject
from latentspace.indexer.modality import Modality

if TYPE_CHECKING:
    from PIL import Image

    from latentspace.indexer.backends.base import CollectionBackend

#: The longest accepted item id (the contract says 1-512 characters).
MAX_ID_CHARS = 512


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


class _Refused(Exception):
    """Internal: one item failed one check."""

    def __init__(self, field: str, reason: str, error: type[LatentSpaceError] = InvalidInput) -> None:
        super().__init__(reason)
        self.field, self.reason, self.error = field, reason, error


def prepare_records(
    collection: CollectionBackend,
    items: Sequence[NewItem],
    *,
    max_pixels: int,
    max_text_chars: int,
    decode_executor: Executor | None = None,
) -> tuple[list[ItemRecord], list[ItemFailure]]:
    """Validate, decode and encode ``items`` for ``collection``.

    Returns the records of the good items (in input order) and one :class:`ItemFailure` per bad one.
    All texts of the batch go to the model in one ``encode_texts`` call and all images in one
    ``encode_images`` call. ``decode_executor`` (e.g. the bulk pipeline's thread pool) decodes the
    images in parallel; without it they are decoded in this thread. Errors of the model itself are
    not per-item and propagate.
    """
    failures: list[ItemFailure] = []
    seen: dict[str, int] = {}
    # Index of each good item -> how it will be stored; filled in two passes (check, then encode).
    texts: dict[int, str] = {}
    image_bytes: dict[int, bytes] = {}
    vectors: dict[int, np.ndarray] = {}
    for index, item in enumerate(items):
        try:
            _check_id(item.id, seen, index)
            _check_payload(item.payload)
            if not isinstance(item.content_ref, str):
                raise _Refused("content_ref", "must be a string")
            kind = _content_kind(item)
            if kind is Modality.TEXT:
                texts[index] = _check_text(collection, item.text, max_text_chars)
            elif kind is Modality.IMAGE:
                image_bytes[index] = _check_image(collection, item.image)
            else:
                vectors[index] = _check_vector(collection, item.vector)
            seen[item.id] = index
        except _Refused as refused:
            failures.append(ItemFailure(index, _printable_id(item.id), refused.reason, refused.field,
                                        refused.error))

    images = _decode_all(image_bytes, max_pixels, decode_executor, items, failures)
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
        ))
    failures.sort(key=lambda failure: failure.index)
    return records, failures


def _printable_id(item_id: object) -> str:
    return item_id if isinstance(item_id, str) else repr(item_id)


def _check_id(item_id: object, seen: dict[str, int], index: int) -> None:
    if not isinstance(item_id, str) or not item_id:
        raise _Refused("id", "an item needs a non-empty string id")
    if len(item_id) > MAX_ID_CHARS:
        raise _Refused("id", f"id has {len(item_id)} characters; the limit is {MAX_ID_CHARS}")
    if item_id in seen:
        # Two writes of one id in one batch would leave which one wins to chance; refuse the later one.
        raise _Refused("id", f"id {item_id!r} appears twice in one batch (first at index {seen[item_id]})")


def _check_payload(payload: object) -> None:
    if not isinstance(payload, dict):
        raise _Refused("payload", f"payload must be a JSON object, not {type(payload).__name__}")
    if not all(isinstance(key, str) for key in payload):
        raise _Refused("payload", "payload keys must be strings")
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and the store keeps payloads as JSON.
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _Refused("payload", f"payload is not JSON-serialisable: {exc}") from None


def _content_kind(item: NewItem) -> Modality:
    given = [name for name in ("text", "image", "vector") if getattr(item, name) is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise _Refused("content", f"an item needs exactly one of text, image or vector; got {what}")
    return Modality(given[0])


def _check_text(collection: CollectionBackend, text: object, max_text_chars: int) -> str:
    if not isinstance(text, str):
        raise _Refused("text", f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise _Refused("text", "text is empty")
    if len(text) > max_text_chars:
        raise _Refused("text", f"text has {len(text)} characters; the limit is {max_text_chars}",
                       LimitExceeded)
    if Modality.TEXT not in collection.modalities:
        raise _Refused("text", f"collection {collection.name!r} cannot encode text; send vectors instead",
                       ModalityNotSupported)
    return text


def _check_image(collection: CollectionBackend, data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _Refused("image", f"image must be encoded image bytes, not {type(data).__name__}")
    if not data:
        raise _Refused("image", "image is empty (0 bytes)")
    if Modality.IMAGE not in collection.modalities:
        raise _Refused("image", f"collection {collection.name!r} cannot encode images; "
                       "it needs a CLIP model such as 'shapes-clip'", ModalityNotSupported)
    return bytes(data)


def _check_vector(collection: CollectionBackend, vector: object) -> np.ndarray:
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise _Refused("vector", "vector must be a sequence of numbers") from None
    if array.ndim != 1 or array.shape[0] != collection.dimension:
        raise _Refused("vector", f"vector has shape {array.shape}; collection {collection.name!r} "
                       f"needs {collection.dimension} numbers")
    if not np.all(np.isfinite(array)):
        raise _Refused("vector", "vector contains NaN or infinity")
    norm = float(np.linalg.norm(array))
    if norm == 0.0 or not math.isfinite(norm):
        raise _Refused("vector", "vector is zero (or too small to normalise); it has no direction")
    normalised: np.ndarray = array / norm
    return normalised


def _decode_all(
    image_bytes: dict[int, bytes],
    max_pixels: int,
    executor: Executor | None,
    items: Sequence[NewItem],
    failures: list[ItemFailure],
) -> dict[int, Image.Image]:
    """Decode every image; an undecodable or oversized one becomes a failure, the rest go on."""

    def decode(data: bytes) -> Image.Image | LatentSpaceError:
        try:
            return decode_image(data, max_pixels=max_pixels, field="image")
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
