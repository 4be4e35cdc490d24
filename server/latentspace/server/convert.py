"""Every conversion between protobuf messages and library values, in one place.

Conversion only refuses what has no library value at all (a query or condition with nothing set,
vector bytes that do not match their dimension, a payload value that is not a filter scalar) and
names the field (``query.mix.parts[1].query``). Every rule about the values themselves (empty
texts, NaN, limits, nesting depth, filter sizes) is the library's (:mod:`latentspace.indexer.validation`,
the resolver and the operations), checked once there with the same field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from google.protobuf import json_format, struct_pb2

from latentspace.indexer import points as P
from latentspace.indexer.directions import DirectionDefinition, DirectionMethod, DirectionRecord, LabelsDirection
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.explanation import Explanation, ScoreForm
from latentspace.indexer.filters import AnyOf, Condition, Equals, PayloadFilter, Range
from latentspace.indexer.items import Hit, StoredItem
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_options import ScoreMode, SearchOptions
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb

MODALITY_TO_PROTO = {
    Modality.TEXT: pb.MODALITY_TEXT,
    Modality.IMAGE: pb.MODALITY_IMAGE,
    Modality.VECTOR: pb.MODALITY_VECTOR,
}
MODALITY_FROM_PROTO = {value: modality for modality, value in MODALITY_TO_PROTO.items()}

_EDIT_MODES = {
    pb.EDIT_MODE_UNSPECIFIED: P.EditMode.ADD,
    pb.EDIT_MODE_ADD: P.EditMode.ADD,
    pb.EDIT_MODE_ROTATE: P.EditMode.ROTATE,
    pb.EDIT_MODE_REMOVE: P.EditMode.REMOVE,
}
_SCORE_MODES = {pb.SCORE_MODE_UNSPECIFIED: ScoreMode.RAW, pb.SCORE_MODE_RAW: ScoreMode.RAW,
                pb.SCORE_MODE_CALIBRATED: ScoreMode.CALIBRATED}
_SCORE_FORMS = {ScoreForm.SUM: pb.SCORE_FORM_SUM, ScoreForm.PRODUCT: pb.SCORE_FORM_PRODUCT}
_DIRECTION_METHODS: dict[int, DirectionMethod] = {
    api.DIRECTION_METHOD_UNSPECIFIED: DirectionMethod.MEAN_DIFFERENCE,
    api.DIRECTION_METHOD_MEAN_DIFFERENCE: DirectionMethod.MEAN_DIFFERENCE,
    api.DIRECTION_METHOD_LEAST_SQUARES: DirectionMethod.LEAST_SQUARES,
    api.DIRECTION_METHOD_LOGISTIC: DirectionMethod.LOGISTIC,
}
DIRECTION_METHOD_TO_PROTO = {
    DirectionMethod.MEAN_DIFFERENCE: api.DIRECTION_METHOD_MEAN_DIFFERENCE,
    DirectionMethod.LEAST_SQUARES: api.DIRECTION_METHOD_LEAST_SQUARES,
    DirectionMethod.LOGISTIC: api.DIRECTION_METHOD_LOGISTIC,
}
_ANALOGY_METHODS = {
    pb.ANALOGY_METHOD_UNSPECIFIED: P.AnalogyMethod.COS_ADD,
    pb.ANALOGY_METHOD_COS_ADD: P.AnalogyMethod.COS_ADD,
    pb.ANALOGY_METHOD_COS_MUL: P.AnalogyMethod.COS_MUL,
}
# Recursion below needs no bound of its own: protobuf refuses messages nested past 100 levels,
# and the resolver refuses points nested past MAX_POINT_DEPTH with the field named.


# ---------------------------------------------------------------- vectors and payloads


def vector_from_proto(message: pb.Vector, field: str) -> np.ndarray:
    """Unpack a little-endian float32 Vector; the dimension must match the bytes."""
    if message.dimension == 0:
        raise InvalidInput("vector has dimension 0; send dimension and 4*dimension bytes of float32", field=field)
    if len(message.data) != 4 * message.dimension:
        raise InvalidInput(
            f"vector data has {len(message.data)} bytes but dimension {message.dimension} needs "
            f"{4 * message.dimension} (little-endian float32)",
            field=field,
        )
    return np.frombuffer(message.data, dtype="<f4").astype(np.float32)


def vector_to_proto(vector: np.ndarray) -> pb.Vector:
    data = np.ascontiguousarray(vector, dtype="<f4")
    return pb.Vector(dimension=int(data.shape[0]), data=data.tobytes())


def _plain_number(value: Any) -> Any:
    # Struct carries every number as a double; give back integers where they were integers.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_number(v) for v in value]
    return value


def payload_from_proto(message: struct_pb2.Struct, field: str = "payload") -> dict[str, Any]:
    try:
        payload: dict[str, Any] = _plain_number(json_format.MessageToDict(message))
    except ValueError:  # a NaN or infinite number: JSON has no form for it
        raise InvalidInput("payload numbers must be finite (JSON has no NaN or infinity)", field=field) from None
    return payload


def payload_to_proto(payload: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(payload)
    return message


def _scalar(value: struct_pb2.Value, field: str) -> str | int | float | bool | None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        return _plain_number(value.number_value)
    if kind == "null_value":
        return None
    raise InvalidInput("filter values must be strings, numbers, booleans or null", field=field)


# ---------------------------------------------------------------- filters and options


def filter_from_proto(message: pb.Filter, field: str = "filter") -> PayloadFilter:
    """The filter as library conditions; their rules and limits are checked by the library."""
    conditions: list[Condition] = []
    for i, condition in enumerate(message.must):
        where = f"{field}.must[{i}]"
        kind = condition.WhichOneof("match")
        if kind == "equals":
            conditions.append(Equals(condition.field, _scalar(condition.equals, f"{where}.equals")))
        elif kind == "any_of":
            values = tuple(
                _scalar(v, f"{where}.any_of[{j}]") for j, v in enumerate(condition.any_of.values)
            )
            conditions.append(AnyOf(condition.field, values))
        elif kind == "range":
            r = condition.range
            bounds = {name: getattr(r, name) if r.HasField(name) else None for name in ("gt", "gte", "lt", "lte")}
            conditions.append(Range(condition.field, **bounds))
        else:
            raise InvalidInput("condition sets no match (equals, any_of, range)", field=where)
    return PayloadFilter(tuple(conditions))


def search_options_from_proto(message: api.SearchOptions) -> SearchOptions:
    """Search options as the library takes them; it checks k, the knobs, exclusions and the filter."""
    threshold = message.score_threshold if message.HasField("score_threshold") else None
    return SearchOptions(
        k=message.k,
        filter=filter_from_proto(message.filter, "options.filter"),
        exclude_ids=frozenset(message.exclude_ids),
        score_threshold=threshold,
        with_vectors=message.with_vectors,
        ef_search=message.params.ef_search,
        nprobe=message.params.nprobe,
        rerank=message.params.rerank,
        explain=message.explain,
        **_ranking_from_proto(message, "options."),
    )


def neighbour_options(request: api.InterpolateRequest | api.EditRequest) -> SearchOptions:
    """Options for the neighbours listed beside computed points (Interpolate, Edit); their own ``k``
    (0 = none) is passed and checked separately, so this k is only a placeholder."""
    return SearchOptions(k=1, filter=filter_from_proto(request.filter), exclude_ids=frozenset(request.exclude_ids),
                         with_vectors=request.with_vectors, explain=request.explain,
                         **_ranking_from_proto(request, ""))


def _ranking_from_proto(message: api.SearchOptions | api.InterpolateRequest | api.EditRequest,
                        prefix: str) -> dict[str, Any]:
    """``score_mode``, ``modality``, ``diversity`` and ``pool`` (the library checks their values)."""
    mode = _SCORE_MODES.get(message.score_mode)
    if mode is None:
        raise InvalidInput(f"unknown score_mode {message.score_mode}; use RAW or CALIBRATED",
                           field=f"{prefix}score_mode")
    if message.modality == pb.MODALITY_UNSPECIFIED:
        modality = None
    elif message.modality in MODALITY_FROM_PROTO:
        modality = MODALITY_FROM_PROTO[message.modality]
    else:
        raise InvalidInput(f"unknown modality {message.modality}; use TEXT, IMAGE or VECTOR",
                           field=f"{prefix}modality")
    return {"score_mode": mode, "modality": modality, "diversity": message.diversity, "pool": message.pool}


# ---------------------------------------------------------------- queries


def point_from_proto(message: pb.Query, field: str = "query") -> P.Point:
    """Turn a Query into a library point (the resolver checks its values, naming the same fields)."""
    kind = message.WhichOneof("kind")
    if kind == "text":
        return P.TextPoint(message.text)
    if kind == "image":
        return P.ImagePoint(message.image)
    if kind == "vector":
        return P.VectorPoint(vector_from_proto(message.vector, f"{field}.vector"))
    if kind == "id":
        return P.IdPoint(message.id)
    if kind == "mix":
        converted = []
        for i, part in enumerate(message.mix.parts):
            where = f"{field}.mix.parts[{i}]"
            weight = part.weight if part.HasField("weight") else 1.0
            converted.append((point_from_proto(part.query, f"{where}.query"), float(weight)))
        return P.MixPoint(tuple(converted))
    if kind == "edit":
        return edit_from_proto(message.edit, f"{field}.edit")
    if kind == "direction":
        return P.DirectionPoint(direction_from_proto(message.direction, f"{field}.direction"))
    if kind == "analogy":
        analogy = message.analogy
        return P.AnalogyPoint(
            a=point_from_proto(analogy.a, f"{field}.analogy.a"),
            a_star=point_from_proto(analogy.a_star, f"{field}.analogy.a_star"),
            b=point_from_proto(analogy.b, f"{field}.analogy.b"),
            method=_ANALOGY_METHODS.get(analogy.method) or _unknown_enum(f"{field}.analogy.method", analogy.method),
            include_inputs=analogy.include_inputs,
        )
    raise InvalidInput(
        "empty query; set one of text, image, vector, id, mix, edit, analogy or direction", field=field
    )


def edit_from_proto(edit: pb.Edit, field: str = "edit") -> P.EditPoint:
    if not edit.HasField("base"):
        raise InvalidInput("edit needs a base point", field=f"{field}.base")
    return P.EditPoint(
        base=point_from_proto(edit.base, f"{field}.base"),
        direction=direction_from_proto(edit.direction, f"{field}.direction"),
        mode=_EDIT_MODES.get(edit.mode) or _unknown_enum(f"{field}.mode", edit.mode),
        strength=edit.strength if edit.HasField("strength") else None,
    )


def direction_from_proto(message: pb.Direction, field: str) -> P.Direction:
    kind = message.WhichOneof("kind")
    if kind == "text_pair":
        pair = message.text_pair
        return P.TextPairDirection(neutral=pair.neutral, target=pair.target, use_templates=pair.use_templates)
    if kind == "examples":
        examples = message.examples
        return P.ExamplesDirection(
            positive=tuple(
                point_from_proto(q, f"{field}.examples.positive[{i}]") for i, q in enumerate(examples.positive)
            ),
            negative=tuple(
                point_from_proto(q, f"{field}.examples.negative[{i}]") for i, q in enumerate(examples.negative)
            ),
        )
    if kind == "vector":
        return P.VectorDirection(vector_from_proto(message.vector, f"{field}.vector"))
    if kind == "name":
        return P.NamedDirection(message.name)
    raise InvalidInput("empty direction; set one of text_pair, examples, vector or name", field=field)


def direction_source_from_proto(message: api.DirectionSource, field: str = "source") -> DirectionDefinition:
    """What ``CreateDirection`` makes a direction from."""
    kind = message.WhichOneof("kind")
    if kind == "labels":
        labels = message.labels
        return LabelsDirection(
            field=labels.field,
            positive=_scalar(labels.positive, f"{field}.labels.positive"),
            negative=_scalar(labels.negative, f"{field}.labels.negative"),
            filter=filter_from_proto(labels.filter, f"{field}.labels.filter"),
        )
    if kind in ("text_pair", "examples", "vector"):
        direction = pb.Direction()
        getattr(direction, kind).CopyFrom(getattr(message, kind))
        made = direction_from_proto(direction, field)
        assert not isinstance(made, P.NamedDirection)
        return made
    raise InvalidInput("empty source; set one of text_pair, examples, labels or vector", field=field)


def direction_method_from_proto(value: int) -> DirectionMethod:
    method: DirectionMethod = _DIRECTION_METHODS.get(value) or _unknown_enum("method", value)
    return method


def points_from_proto(messages: Sequence[pb.Query], field: str) -> list[P.Point]:
    return [point_from_proto(m, f"{field}[{i}]") for i, m in enumerate(messages)]


def _unknown_enum(field: str, value: int) -> Any:
    raise InvalidInput(f"unknown enum value {value}", field=field)


# ---------------------------------------------------------------- results


def hit_to_proto(hit: Hit) -> pb.Hit:
    message = pb.Hit(
        id=hit.id,
        score=hit.score,
        modality=MODALITY_TO_PROTO[hit.modality],
        payload=payload_to_proto(hit.payload),
        content=hit.content,
    )
    if hit.vector is not None:
        message.vector.CopyFrom(vector_to_proto(hit.vector))
    if hit.explanation is not None:
        message.explanation.CopyFrom(explanation_to_proto(hit.explanation))
    return message


def modality_stats_to_proto(stats: ModalityStatistics) -> dict[str, Any]:
    """``modality_stats`` and ``cosine_distributions`` of a ``CollectionInfo``."""
    states = stats.states()
    return {
        "modality_stats": [
            api.ModalityStats(modality=MODALITY_TO_PROTO[m], count=s.count,
                              centroid_norm=float(np.linalg.norm(s.centroid)), sampled=len(s.order))
            for m, s in sorted(states.items(), key=lambda ms: MODALITY_TO_PROTO[ms[0]])],
        "cosine_distributions": [
            api.CosineDistribution(a=MODALITY_TO_PROTO[d.a], b=MODALITY_TO_PROTO[d.b], pairs=d.pairs, mean=d.mean,
                                   std=d.std, p05=d.p05, p50=d.p50, p95=d.p95)
            for d in stats.distributions()],
    }


def explanation_to_proto(explanation: Explanation) -> pb.Explanation:
    message = pb.Explanation(
        form=_SCORE_FORMS[explanation.form],
        terms=[pb.ScoreTerm(path=t.path, cosine=t.cosine, coefficient=t.coefficient, share=t.share,
                            factor=t.factor, exponent=t.exponent) for t in explanation.terms],
        projections=[pb.DirectionProjection(path=p.path, name=p.name, projection=p.projection)
                     for p in explanation.projections],
        cosine=explanation.cosine, calibration_offset=explanation.offset, calibration_scale=explanation.scale,
    )
    if explanation.redundancy is not None:
        message.redundancy = explanation.redundancy
    return message


def direction_to_proto(record: DirectionRecord, with_vector: bool = True) -> api.DirectionInfo:
    q = record.quality
    quality = api.DirectionQuality(
        evaluated_on=q.evaluated_on.value, positives=q.positives, negatives=q.negatives,
        held_out_positives=q.held_out_positives, held_out_negatives=q.held_out_negatives, holdout=q.holdout,
        seed=q.seed)
    if q.auc is not None:
        quality.auc = q.auc
    message = api.DirectionInfo(
        name=record.name, source=record.source.value, method=DIRECTION_METHOD_TO_PROTO[record.method],
        description=record.description, norm=record.norm, quality=quality, fingerprint=record.fingerprint,
        created_at=record.created_at)
    if with_vector:
        message.vector.CopyFrom(vector_to_proto(record.vector))
    return message


def item_to_proto(item: StoredItem) -> pb.Item:
    message = pb.Item(
        id=item.id,
        modality=MODALITY_TO_PROTO[item.modality],
        payload=payload_to_proto(item.payload),
        content=item.content,
        sequence=item.sequence,
    )
    if item.vector is not None:
        message.vector.CopyFrom(vector_to_proto(item.vector))
    return message
