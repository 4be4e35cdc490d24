"""The explorer's JSON API: each endpoint is one or two SDK calls, and their results as JSON.

Nothing here computes anything about the space: every number the page shows (scores, cosines,
projections, map coordinates, clusters) is a field of an RPC's reply, so the page, the CLI and the
SDKs can never disagree. What this module adds is translation: JSON points (``{"text"}``, ``{"id"}``,
``{"image"}`` as base64) into SDK points, and results into JSON with each image hit's thumbnail
inlined as a ``data:`` URI (one ``GetThumbnails`` call per reply). Content references of image
items (which may be the server's paths or URIs) are never sent to the page.

Stored directions (``ListDirections``) are offered by name with their measured quality and used as
``NamedDirection``. Paths and edits ask for decoded images (``decode``); a collection whose model has
no decoder answers NO_DECODER, and the call is made again without (see :meth:`ExplorerApi._drawn`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc

from latentspace_client import Client, FailedPrecondition, Hit, Id, LatentSpaceError, NamedDirection, TextPair

Json = dict[str, Any]

#: Items sampled to list the payload fields a page can filter and colour by.
FIELD_SAMPLE = 500
#: Distinct values listed per field; a field with more is offered for colouring only.
MAX_FIELD_VALUES = 24
MAX_K, MAX_STEPS = 100, 32


class BadRequest(ValueError):
    """A request the page should not have sent (HTTP 400), with what is wrong."""


class ExplorerApi:
    """The endpoints, over one SDK client (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.routes: dict[str, Callable[[Json], Json]] = {
            "collections": self.collections,
            "fields": self.fields,
            "directions": self.directions,
            "search": self.search,
            "interpolate": self.interpolate,
            "edit": self.edit,
            "map": self.map,
            "thumbnails": self.thumbnails,
        }

    # ------------------------------------------------------------ what there is

    def collections(self, request: Json) -> Json:
        """The server's collections and what this explorer can show of them."""
        return {
            "collections": [
                {"name": c.name, "model": c.model, "count": c.count, "dimension": c.dimension,
                 "modalities": list(c.modalities)}
                for c in self.client.list_collections()
            ],
            "capabilities": {"directions": True, "decode": True},
        }

    def fields(self, request: Json) -> Json:
        """The payload fields of a sample of the collection, each with its distinct scalar values."""
        # The Map RPC's seeded sample, spread over the whole collection (an export's first page would
        # hold only the items written first: all the images of a corpus and none of its captions).
        sample = self.client.map(sample_size=FIELD_SAMPLE, clusters=1, collection=_name(request))
        values: dict[str, dict[str, Any]] = {}
        for item in sample.points:
            for key, value in item.payload.items():
                if isinstance(value, str | int | float | bool):
                    seen = values.setdefault(key, {})
                    if len(seen) <= MAX_FIELD_VALUES:
                        seen[json.dumps(value)] = value  # as JSON, so True and 1 stay apart
        # A field with too many values is offered for colouring the map, not as a filter menu.
        return {"fields": [
            {"name": key, "values": sorted(seen.values(), key=str) if len(seen) <= MAX_FIELD_VALUES else []}
            for key, seen in sorted(values.items())
        ]}

    def directions(self, request: Json) -> Json:
        """The collection's stored directions: each name, what it was made from, and how well it
        separates that (AUC, None when nothing was held out)."""
        try:
            listed = self.client.list_directions(collection=_name(request))
        except LatentSpaceError as error:
            if error.code is not grpc.StatusCode.UNIMPLEMENTED:
                raise
            listed = []  # a server older than named directions: text pairs only
        return {"directions": [{"name": d.name, "description": d.description, "source": d.source,
                                "method": d.method, "auc": d.quality.auc, "norm": d.norm} for d in listed]}

    # ------------------------------------------------------------ the views

    def search(self, request: Json) -> Json:
        collection = _name(request)
        hits = self.client.search(point(request.get("query")), k=_count(request, "k", 24, MAX_K),
                                  filter=_filter(request), score_mode=str(request.get("score_mode") or "raw"),
                                  collection=collection)
        return {"hits": self._hits(collection, hits)}

    def interpolate(self, request: Json) -> Json:
        collection = _name(request)
        a, b = point(request.get("a")), point(request.get("b"))
        steps_wanted, k = _count(request, "steps", 7, MAX_STEPS, low=2), _count(request, "k", 4, MAX_K)
        path = self._drawn(lambda decode: self.client.interpolate(
            a, b, steps=steps_wanted, k=k, distinct=bool(request.get("distinct", False)), filter=_filter(request),
            decode=decode, collection=collection))
        shown = self._hits(collection, [h for s in path.steps for h in s.hits])
        steps, start = [], 0
        for step in path.steps:
            steps.append({"t": step.t, "cos_to_a": step.cos_to_a, "cos_to_b": step.cos_to_b,
                          "decoded": _png(step.image), "hits": shown[start: start + len(step.hits)]})
            start += len(step.hits)
        return {"angle": path.angle, "steps": steps}

    def edit(self, request: Json) -> Json:
        collection = _name(request)
        strength = request.get("strength")
        if strength is not None and not isinstance(strength, int | float):
            raise BadRequest("strength must be a number")
        base, direction = point(request.get("base")), self._direction(request.get("direction"))
        mode, k = str(request.get("mode") or "add"), _count(request, "k", 24, MAX_K)
        result = self._drawn(lambda decode: self.client.edit(
            base, direction, mode=mode, strength=strength, k=k, filter=_filter(request), decode=decode,
            collection=collection))
        return {"decoded_base": _png(result.base_image), "decoded": _png(result.image),
                "cos_to_base": result.cos_to_base, "base_projection": result.base_projection,
                "result_projection": result.result_projection, "direction_norm": result.direction_norm,
                "hits": self._hits(collection, result.hits)}

    def map(self, request: Json) -> Json:
        collection = _name(request)
        queries = [point(q) for q in request.get("queries") or []]
        result = self.client.map(*queries, sample_size=_count(request, "sample_size", 500, 10_000, low=1),
                                 seed=_count(request, "seed", 0, 2**31, low=0),
                                 clusters=_count(request, "clusters", 0, 64, low=0),
                                 color_by=str(request.get("color_by") or "") or None, collection=collection)
        return {
            "count": result.count, "explained": [result.explained_x, result.explained_y],
            "points": [{"id": p.id, "x": p.x, "y": p.y, "cluster": p.cluster, "modality": p.modality,
                        "payload": p.payload, "text": p.content if p.modality == "text" else None,
                        "color": p.color} for p in result.points],
            "clusters": [{"x": c.x, "y": c.y, "size": c.size, "label": c.label, "label_id": c.label_id,
                          "nearest_id": c.nearest_id} for c in result.clusters],
            "queries": [{"x": q.x, "y": q.y, "cluster": q.cluster} for q in result.queries],
        }

    def thumbnails(self, request: Json) -> Json:
        ids = request.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not 1 <= len(ids) <= 256:
            raise BadRequest("ids must be a list of 1 to 256 item ids")
        return {"thumbnails": self._thumbnails(_name(request), ids)}

    # ------------------------------------------------------------ translation

    def _hits(self, collection: str, hits: Sequence[Hit]) -> list[Json]:
        pictures = self._thumbnails(collection, [h.id for h in hits if h.modality == "image"])
        return [{"id": h.id, "score": h.score, "modality": h.modality, "payload": h.payload,
                 "text": h.content if h.modality == "text" else None, "thumbnail": pictures.get(h.id)}
                for h in hits]

    def _thumbnails(self, collection: str, ids: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        try:
            found = self.client.get_thumbnails(wanted, collection=collection)
        except FailedPrecondition:  # an engine that keeps no thumbnails: the page shows placeholders
            return {}
        return {t.id: f"data:{t.media_type};base64,{base64.b64encode(t.data).decode()}" for t in found.thumbnails}

    def _direction(self, spec: Any) -> Any:
        if not isinstance(spec, dict):
            raise BadRequest("direction must be {neutral, target} or {name}")
        if "name" in spec:
            return NamedDirection(_text(spec, "name"))
        return TextPair(_text(spec, "neutral"), _text(spec, "target"))

    @staticmethod
    def _drawn(call: Callable[[bool], Any]) -> Any:
        """``call(decode=True)``; again without decoding when the collection's model has no decoder."""
        try:
            return call(True)
        except FailedPrecondition as error:
            if error.reason != "NO_DECODER":
                raise
            return call(False)


def _png(data: bytes | None) -> str | None:
    """A decoded image (PNG bytes) as a ``data:`` URI, or None."""
    return f"data:image/png;base64,{base64.b64encode(data).decode()}" if data else None


def point(spec: Any) -> Any:
    """A JSON point as an SDK point: ``{"text": ...}``, ``{"id": ...}`` or ``{"image": <base64>}``."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise BadRequest("a point is one of {text}, {id} or {image} (base64)")
    (kind, value), = spec.items()
    if kind == "text":
        return _text(spec, "text")
    if kind == "id":
        return Id(_text(spec, "id"))
    if kind == "image" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise BadRequest("image must be base64") from None
    raise BadRequest(f"unknown point kind {kind!r}; use text, id or image")


def _name(request: Json) -> str:
    return _text(request, "collection")


def _text(request: Json, key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def _count(request: Json, key: str, default: int, high: int, low: int = 1) -> int:
    value = request.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}")
    return value


def _filter(request: Json) -> dict[str, Any] | None:
    """``{"field": value, ...}``: items whose payload field equals the value (all must hold)."""
    spec = request.get("filter") or None
    if spec is None:
        return None
    if not isinstance(spec, dict) or not all(isinstance(v, str | int | float | bool) for v in spec.values()):
        raise BadRequest("filter must map payload fields to single values")
    return spec
