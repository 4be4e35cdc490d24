"""From raw items (text, image bytes or a vector) to records a collection can store.

One place turns what a caller sends into :class:`~latentspace.indexer.items.ItemRecord` values: the
server's Upsert RPC (which rejects the whole request on any failure) calls :func:`prepare_records`,
and the bulk pipeline (which reports failures and indexes the rest) runs its two halves in separate
stages: :func:`check_items` (per-item checks and image decoding, no model) and :func:`to_records`
(joins the checked items with the model's vectors). Each item is checked on its own, so one bad item
is reported with its index and field instead of failing the batch; the good items of a batch are
encoded with one model call per modality, because encoders are far faster on batches than on
single items. Each image item also gets its thumbnail in :func:`check_items`, from the image the
model sees (:mod:`latentspace.indexer.thumbnails`), so every way of writing an item makes one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from latentspace.indexer.errors import (
    InvalidInput,
    LatentSpaceError,
    LimitExceeded,
    ModalityNotSupported,
    ModelMismatch,
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
    #: The source content's hash (bulk runs), stored with the item; see ``ItemRecord.content_hash``.
    content_hash: str = ""


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


@dataclass(frozen=True)
class IngestTarget:
    """What checking items needs to know about a collection.

    Plain data, so that a worker holding no collection (another thread or process) can check items.
    """

    name: str
    dimension: int
    modalities: frozenset[Modality]

    @classmethod
    def of(cls, collection: CollectionLike) -> IngestTarget:
        return cls(collection.name, collection.dimension, frozenset(collection.modalities))


class CollectionLike(Protocol):
    """The part of a collection that checking and encoding items uses."""

    name: str
    dimension: int

    @property
    def modalities(self) -> frozenset[Modality]: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


@dataclass(frozen=True)
class CheckedItem:
    """A good item, ready to store once it has its vector (vector items have it already)."""

    #: Its position in the batch it came in.
    index: int
    id: str
    modality: Modality
    payload: JsonObject
    #: The stored content reference: ``content_ref``, else the text, the image digest, or empty.
    content: str
    #: Vector items only: the given vector, normalised.
    vector: np.ndarray | None = None
    content_hash: str = ""
    #: Image items only (and only when thumbnails are made): the stored preview.
    thumbnail: Thumbnail | None = None


@dataclass
class CheckedItems:
    """A batch after the per-item checks and image decoding, before any model runs."""

    #: The good items, in batch order.
    good: list[CheckedItem]
    #: The texts of the good text items and the decoded images of the good image items, each in
    #: the order of ``good``: what the model encodes.
    texts: list[str]
    images: list[Image.Image]
    #: One per bad item, by index.
    failures: list[ItemFailure]


def prepare_records(
    collection: CollectionLike,
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
    ``encode_images`` call. ``decode_executor`` (e.g. a thread pool) decodes the images in parallel;
    without it they are decoded in this thread, one by one. ``budget`` is the request's (the server's
    Upsert): texts and decoded images draw on it. Each image record carries a thumbnail whose longer
    side is at most ``thumbnail_side`` pixels (0: none). Errors of the model itself are not per-item and
    propagate. The bulk pipeline runs the same two steps (:func:`check_items`, then the model, then
    :func:`to_records`) in separate stages.
    """
    checked = check_items(IngestTarget.of(collection), items, max_pixels=max_pixels,
                          max_text_chars=max_text_chars, decode_executor=decode_executor, budget=budget,
                          thumbnail_side=thumbnail_side)
    text_vectors = collection.encode_texts(checked.texts) if checked.texts else None
    image_vectors = collection.encode_images(checked.images) if checked.images else None
    return to_records(checked.good, text_vectors, image_vectors), checked.failures


def check_items(
    target: IngestTarget,
    items: Sequence[NewItem],
    *,
    max_pixels: int,
    max_text_chars: int,
    decode_executor: Executor | None = None,
    budget: RequestBudget | None = None,
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE,
) -> CheckedItems:
    """Check each item on its own (id, payload, content, limits), decode the images and make their
    thumbnails (longer side at most ``thumbnail_side``; 0: none), in ``decode_executor`` when given.

    Needs no model: the returned texts and images are what the model is to encode.
    """
    failures: list[ItemFailure] = []
    seen: dict[str, int] = {}
    # Index of each good item -> its content; filled in two passes (check, then decode).
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
                texts[index] = _check_text(target, item.text, max_text_chars, budget)
            elif kind is Modality.IMAGE:
                image_bytes[index] = _check_image(target, item.image)
            else:
                vectors[index] = normalised_vector(item.vector, target.dimension, "vector")
            seen[item.id] = index
        except (InvalidInput, LimitExceeded, ModalityNotSupported) as refused:
            failures.append(ItemFailure(index, _printable_id(item.id), refused.message, refused.field or "",
                                        type(refused)))

    images = _decode_all(image_bytes, max_pixels, decode_executor, items, failures, budget)
    thumbnails = _thumbnails(images, thumbnail_side, decode_executor)
    good: list[CheckedItem] = []
    for index in sorted([*texts, *images, *vectors]):
        item = items[index]
        if index in texts:
            modality, content = Modality.TEXT, texts[index]
        elif index in images:
            modality, content = Modality.IMAGE, "sha256:" + hashlib.sha256(image_bytes[index]).hexdigest()
        else:
            modality, content = Modality.VECTOR, ""
        good.append(CheckedItem(index, item.id, modality, dict(item.payload), item.content_ref or content,
                                vectors.get(index), item.content_hash, thumbnails.get(index)))
    failures.sort(key=lambda failure: failure.index)
    return CheckedItems(good=good,
                        texts=[texts[g.index] for g in good if g.modality is Modality.TEXT],
                        images=[images[g.index] for g in good if g.modality is Modality.IMAGE],
                        failures=failures)


def to_records(
    good: Sequence[CheckedItem], text_vectors: np.ndarray | None, image_vectors: np.ndarray | None
) -> list[ItemRecord]:
    """Join checked items with the vectors the model made for them.

    ``text_vectors`` has one row per text item of ``good``, in order; ``image_vectors`` likewise.
    """
    rows: dict[Modality, Iterator[np.ndarray]] = {}
    for modality, vectors in ((Modality.TEXT, text_vectors), (Modality.IMAGE, image_vectors)):
        wanted = sum(item.modality is modality for item in good)
        given = 0 if vectors is None else len(vectors)
        if given != wanted:
            raise ModelMismatch(f"the model returned {given} vectors for {wanted} {modality.value} items",
                                field="model")
        rows[modality] = iter(() if vectors is None else vectors)
    records = []
    for item in good:
        vector = item.vector if item.vector is not None else next(rows[item.modality])
        records.append(ItemRecord(
            id=item.id,
            vector=np.ascontiguousarray(vector, dtype=np.float32),
            modality=item.modality,
            payload=item.payload,
            content=item.content,
            thumbnail=item.thumbnail,
            content_hash=item.content_hash,
        ))
    return records


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


def _check_text(target: IngestTarget, text: object, max_text_chars: int, budget: RequestBudget | None) -> str:
    checked = check_query_text(text, "text", max_text_chars)
    if Modality.TEXT not in target.modalities:
        raise ModalityNotSupported(f"collection {target.name!r} cannot encode text; send vectors instead",
                                   field="text")
    if budget is not None:
        budget.spend_text(len(checked), "text")
    return checked


def _check_image(target: IngestTarget, data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"image must be encoded image bytes, not {type(data).__name__}", field="image")
    if not data:
        raise InvalidInput("image is empty (0 bytes)", field="image")
    if Modality.IMAGE not in target.modalities:
        raise ModalityNotSupported(f"collection {target.name!r} cannot encode images; "
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
