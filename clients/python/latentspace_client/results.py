"""What calls return: frozen dataclasses built from response messages by ``from_proto``.

Modalities are lower-case strings ("text", "image", "vector"); payloads are plain dicts
(see :mod:`latentspace_client.payloads` on numbers); vectors are float32 numpy arrays when
numpy is installed, else lists of floats, and None unless asked for (``with_vectors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb
from latentspace_client.payloads import from_struct
from latentspace_client.vectors import FloatVector, matrix, unpack_optional, unpack_vector

_MODALITY_NAMES = {
    tpb.MODALITY_UNSPECIFIED: "unspecified",
    tpb.MODALITY_TEXT: "text",
    tpb.MODALITY_IMAGE: "image",
    tpb.MODALITY_VECTOR: "vector",
}


def modality_name(value: Any) -> str:
    """A wire ``Modality`` as "text", "image", "vector" (or "unspecified")."""
    return _MODALITY_NAMES.get(value, "unspecified")


_SCORE_FORMS = {tpb.SCORE_FORM_SUM: "sum", tpb.SCORE_FORM_PRODUCT: "product"}
_DIRECTION_METHODS = {
    pb.DIRECTION_METHOD_UNSPECIFIED: "mean_difference",
    pb.DIRECTION_METHOD_MEAN_DIFFERENCE: "mean_difference",
    pb.DIRECTION_METHOD_LEAST_SQUARES: "least_squares",
    pb.DIRECTION_METHOD_LOGISTIC: "logistic",
}


@dataclass(frozen=True)
class ScoreTerm:
    """One leaf of the query in a hit's score, named by its request ``path``.

    Form "sum": ``share = coefficient * cosine``, and the shares add up to the score. Form "product"
    (3CosMul): the score is the product of ``factor ** exponent``.
    """

    path: str
    cosine: float
    coefficient: float
    share: float
    factor: float
    exponent: int

    @classmethod
    def from_proto(cls, message: tpb.ScoreTerm) -> ScoreTerm:
        return cls(path=message.path, cosine=message.cosine, coefficient=message.coefficient, share=message.share,
                   factor=message.factor, exponent=message.exponent)


@dataclass(frozen=True)
class DirectionProjection:
    """A hit's projection on a direction its query used (``name`` is "" for an inline direction)."""

    path: str
    name: str
    projection: float

    @classmethod
    def from_proto(cls, message: tpb.DirectionProjection) -> DirectionProjection:
        return cls(path=message.path, name=message.name, projection=message.projection)


@dataclass(frozen=True)
class Explanation:
    """Why a hit scored as it did (``explain=True``): the query's leaves' terms and direction projections."""

    form: str
    terms: tuple[ScoreTerm, ...]
    projections: tuple[DirectionProjection, ...]
    #: The raw cosine; ``score = (cosine - calibration_offset) / calibration_scale`` (0 and 1 unless calibrated).
    cosine: float = 0.0
    calibration_offset: float = 0.0
    calibration_scale: float = 1.0
    #: With diversity: the hit's largest similarity to a hit ranked before it (None for the first).
    redundancy: float | None = None

    @classmethod
    def from_proto(cls, message: tpb.Explanation) -> Explanation:
        return cls(
            form=_SCORE_FORMS.get(message.form, "unspecified"),
            terms=tuple(ScoreTerm.from_proto(t) for t in message.terms),
            projections=tuple(DirectionProjection.from_proto(p) for p in message.projections),
            cosine=message.cosine,
            calibration_offset=message.calibration_offset,
            calibration_scale=message.calibration_scale,
            redundancy=message.redundancy if message.HasField("redundancy") else None,
        )

    def shares(self) -> dict[str, float]:
        """``{leaf path: share}`` (sum form; a path used twice adds up)."""
        out: dict[str, float] = {}
        for term in self.terms:
            out[term.path] = out.get(term.path, 0.0) + term.share
        return out


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is the cosine similarity (3CosMul score for cos_mul analogies, the
    calibrated score with ``score_mode="calibrated"``).

    ``explanation`` is set when the call asked for it (``explain=True``).
    """

    id: str
    score: float
    modality: str
    payload: dict[str, Any]
    content: str
    vector: FloatVector | None = None
    explanation: Explanation | None = None

    @classmethod
    def from_proto(cls, message: tpb.Hit) -> Hit:
        return cls(
            id=message.id,
            score=message.score,
            modality=modality_name(message.modality),
            payload=from_struct(message.payload),
            content=message.content,
            vector=unpack_optional(message),
            explanation=Explanation.from_proto(message.explanation) if message.HasField("explanation") else None,
        )


def hits_from_proto(messages: Any) -> list[Hit]:
    """A repeated ``Hit`` field as a list of :class:`Hit`."""
    return [Hit.from_proto(m) for m in messages]


@dataclass(frozen=True)
class Item:
    """A stored item; ``sequence`` is the write sequence number of its last upsert."""

    id: str
    modality: str
    payload: dict[str, Any]
    content: str
    sequence: int
    vector: FloatVector | None = None

    @classmethod
    def from_proto(cls, message: tpb.Item) -> Item:
        return cls(
            id=message.id,
            modality=modality_name(message.modality),
            payload=from_struct(message.payload),
            content=message.content,
            sequence=message.sequence,
            vector=unpack_optional(message),
        )

    @classmethod
    def from_export(cls, message: pb.ExportedItem) -> Item:
        """An exported item: its vector always, its payload exactly as stored (JSON numbers keep
        their type: an integer stays an int of any size, a float stays a float)."""
        return cls(
            id=message.id,
            modality=modality_name(message.modality),
            payload=json.loads(message.payload_json),
            content=message.content,
            sequence=message.sequence,
            vector=unpack_vector(message.vector),
        )


@dataclass(frozen=True)
class ModalityStats:
    """One item modality of a collection: its count, centroid norm and sample size."""

    modality: str
    count: int
    centroid_norm: float
    sampled: int


@dataclass(frozen=True)
class CosineDistribution:
    """Cosines between sampled items of modalities ``a`` and ``b`` (distinct pairs when equal)."""

    a: str
    b: str
    pairs: int
    mean: float
    std: float
    p05: float
    p50: float
    p95: float


@dataclass(frozen=True)
class CollectionInfo:
    """A collection: its model (empty for vector-only), dimension, index and item count, and the
    statistics of its item modalities (what calibrated scores are measured against)."""

    name: str
    model: str
    dimension: int
    metric: str
    index_kind: str
    count: int
    modalities: tuple[str, ...]
    fingerprint: str
    sequence: int
    modality_stats: tuple[ModalityStats, ...] = ()
    cosine_distributions: tuple[CosineDistribution, ...] = ()
    #: "embedded" or "milvus".
    backend: str = "embedded"

    @classmethod
    def from_proto(cls, message: pb.CollectionInfo) -> CollectionInfo:
        return cls(
            name=message.name,
            model=message.model,
            dimension=message.dimension,
            metric=message.metric,
            index_kind=message.index_kind,
            count=message.count,
            modalities=tuple(modality_name(m) for m in message.modalities),
            fingerprint=message.fingerprint,
            sequence=message.sequence,
            modality_stats=tuple(
                ModalityStats(modality_name(s.modality), s.count, s.centroid_norm, s.sampled)
                for s in message.modality_stats),
            cosine_distributions=tuple(
                CosineDistribution(modality_name(d.a), modality_name(d.b), d.pairs, d.mean, d.std, d.p05, d.p50, d.p95)
                for d in message.cosine_distributions),
            backend=message.backend or "embedded",
        )


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot in the server's backup folder: the collection it was taken of, as of ``sequence``.

    ``has_index``: it holds an index snapshot (a restore catches it up rather than rebuilding it).
    """

    name: str
    collection: str
    created_at: str
    sequence: int
    count: int
    model: str
    dimension: int
    index_kind: str
    fingerprint: str
    has_index: bool
    size_bytes: int

    @classmethod
    def from_proto(cls, message: pb.SnapshotInfo) -> SnapshotInfo:
        return cls(
            name=message.name,
            collection=message.collection,
            created_at=message.created_at,
            sequence=message.sequence,
            count=message.count,
            model=message.model,
            dimension=message.dimension,
            index_kind=message.index_kind,
            fingerprint=message.fingerprint,
            has_index=message.has_index,
            size_bytes=message.size_bytes,
        )


@dataclass(frozen=True)
class UpsertResult:
    """How many items an upsert wrote, the sequence number of its last write, and how many it skipped
    because their id already held their ``content_hash``."""

    upserted: int
    sequence: int
    unchanged: int = 0

    @classmethod
    def from_proto(cls, message: pb.UpsertResponse) -> UpsertResult:
        return cls(upserted=message.upserted, sequence=message.sequence, unchanged=message.unchanged)


@dataclass(frozen=True)
class DeleteResult:
    """How many items a delete removed (unknown ids are not counted) and its sequence number."""

    deleted: int
    sequence: int

    @classmethod
    def from_proto(cls, message: pb.DeleteResponse) -> DeleteResult:
        return cls(deleted=message.deleted, sequence=message.sequence)


@dataclass(frozen=True)
class Stats:
    """Server-wide figures."""

    collections: tuple[CollectionInfo, ...]
    loaded_models: tuple[str, ...]
    uptime_seconds: float
    version: str

    @classmethod
    def from_proto(cls, message: pb.StatsResponse) -> Stats:
        return cls(
            collections=tuple(CollectionInfo.from_proto(c) for c in message.collections),
            loaded_models=tuple(message.loaded_models),
            uptime_seconds=message.uptime_seconds,
            version=message.version,
        )


@dataclass(frozen=True)
class EncodedPoint:
    """A point turned into a unit vector, and the modality it came from."""

    vector: FloatVector
    modality: str

    @classmethod
    def from_proto(cls, message: pb.EncodedPoint) -> EncodedPoint:
        return cls(vector=unpack_vector(message.vector), modality=modality_name(message.modality))


@dataclass(frozen=True)
class Distance:
    """How far apart two points are.

    ``cosine`` in [-1, 1]; ``angular`` = arccos(cosine)/pi in [0, 1]; ``euclidean`` = sqrt(2 - 2 cosine).
    ``cross_modal`` is True for a text-image pair, whose CLIP cosines live on a lower scale.
    """

    cosine: float
    angular: float
    euclidean: float
    cross_modal: bool
    a_modality: str
    b_modality: str

    @classmethod
    def from_proto(cls, message: pb.Distance) -> Distance:
        return cls(
            cosine=message.cosine,
            angular=message.angular,
            euclidean=message.euclidean,
            cross_modal=message.cross_modal,
            a_modality=modality_name(message.a_modality),
            b_modality=modality_name(message.b_modality),
        )


@dataclass(frozen=True)
class DistanceMatrix:
    """rows x columns arrays (numpy when installed, else nested lists) of each distance measure."""

    rows: int
    columns: int
    cosine: Any
    angular: Any
    euclidean: Any
    cross_modal: Any

    @classmethod
    def from_proto(cls, message: pb.DistanceMatrixResponse) -> DistanceMatrix:
        rows, columns = message.rows, message.columns
        return cls(
            rows=rows,
            columns=columns,
            cosine=matrix(message.cosine, rows, columns),
            angular=matrix(message.angular, rows, columns),
            euclidean=matrix(message.euclidean, rows, columns),
            cross_modal=matrix(message.cross_modal, rows, columns, boolean=True),
        )


@dataclass(frozen=True)
class PathStep:
    """One point on a path from a to b: its t, cosines to both ends, vector (on request), hits, and
    its image (PNG bytes) when the path was decoded."""

    t: float
    cos_to_a: float
    cos_to_b: float
    vector: FloatVector | None
    hits: tuple[Hit, ...]
    image: bytes | None = None

    @classmethod
    def from_proto(cls, message: pb.PathStep) -> PathStep:
        return cls(
            t=message.t,
            cos_to_a=message.cos_to_a,
            cos_to_b=message.cos_to_b,
            vector=unpack_optional(message),
            hits=tuple(hits_from_proto(message.hits)),
            image=message.image or None,
        )


@dataclass(frozen=True)
class Interpolation:
    """The steps of a path and the angle between its ends, in radians."""

    steps: tuple[PathStep, ...]
    angle: float

    @classmethod
    def from_proto(cls, message: pb.InterpolateResponse) -> Interpolation:
        return cls(steps=tuple(PathStep.from_proto(s) for s in message.steps), angle=message.angle)


@dataclass(frozen=True)
class EditResult:
    """An edited point, how far it moved (cos_to_base), its projections on the direction, and hits.

    A small ``direction_norm`` means the direction came from a weak, noisy difference. With
    ``decode``, ``base_image`` and ``image`` are the base and the edited point drawn (PNG bytes).
    """

    vector: FloatVector | None
    cos_to_base: float
    base_projection: float
    result_projection: float
    direction_norm: float
    hits: tuple[Hit, ...]
    base_image: bytes | None = None
    image: bytes | None = None

    @classmethod
    def from_proto(cls, message: pb.EditResponse) -> EditResult:
        return cls(
            vector=unpack_optional(message),
            cos_to_base=message.cos_to_base,
            base_projection=message.base_projection,
            result_projection=message.result_projection,
            direction_norm=message.direction_norm,
            hits=tuple(hits_from_proto(message.hits)),
            base_image=message.base_image or None,
            image=message.image or None,
        )


@dataclass(frozen=True)
class DirectionQuality:
    """How well a direction separates what it was made from: ``auc`` (None when nothing was held out),
    what it was measured on (``evaluated_on``: "held_out", "templates" or "none") and the counts."""

    auc: float | None
    evaluated_on: str
    positives: int
    negatives: int
    held_out_positives: int
    held_out_negatives: int
    holdout: float
    seed: int

    @classmethod
    def from_proto(cls, message: pb.DirectionQuality) -> DirectionQuality:
        return cls(
            auc=message.auc if message.HasField("auc") else None,
            evaluated_on=message.evaluated_on,
            positives=message.positives,
            negatives=message.negatives,
            held_out_positives=message.held_out_positives,
            held_out_negatives=message.held_out_negatives,
            holdout=message.holdout,
            seed=message.seed,
        )


@dataclass(frozen=True)
class DirectionInfo:
    """A stored direction: what it was made from, its quality, and its norm before normalising.

    ``vector`` is the unit direction (from ``list_directions`` only with ``with_vectors``).
    """

    name: str
    source: str
    method: str
    description: str
    norm: float
    quality: DirectionQuality
    fingerprint: str
    created_at: str
    vector: FloatVector | None = None

    @classmethod
    def from_proto(cls, message: pb.DirectionInfo) -> DirectionInfo:
        return cls(
            name=message.name,
            source=message.source,
            method=_DIRECTION_METHODS.get(message.method, "mean_difference"),
            description=message.description,
            norm=message.norm,
            quality=DirectionQuality.from_proto(message.quality),
            fingerprint=message.fingerprint,
            created_at=message.created_at,
            vector=unpack_optional(message),
        )


@dataclass(frozen=True)
class DecodedImages:
    """Points drawn by the collection's decoder: one PNG (bytes) per point, the decoder's name, and
    the size of every image."""

    images: tuple[bytes, ...]
    decoder: str
    width: int
    height: int

    @classmethod
    def from_proto(cls, message: pb.DecodeResponse) -> DecodedImages:
        return cls(images=tuple(message.images), decoder=message.decoder, width=message.width,
                   height=message.height)
