"""How the query commands print: aligned tables for people, JSON with stable keys for scripts.

Everything here takes the SDK's result dataclasses (duck-typed, so this module imports no SDK
code and ``latent --help`` stays fast) and returns strings or JSON-ready dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

CONTENT_WIDTH = 48
PAYLOAD_WIDTH = 60


# ---------------------------------------------------------------- plain text


def truncate(text: str, width: int) -> str:
    """One line of at most ``width`` characters, with an ellipsis when cut."""
    line = " ".join(text.split())  # newlines and tabs would break the table
    return line if len(line) <= width else line[: width - 1] + "…"


def compact_json(value: Any) -> str:
    """JSON on one line without spaces after separators: ``{"color":"red","size":3}``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[str] = ()) -> str:
    """An aligned plain-text table; columns named in ``right`` are right-aligned (numbers)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if h in right else v.ljust(w) for v, w, h in zip(values, widths, headers, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def hits_table(hits: Sequence[Any], explained: bool = False) -> str:
    """rank, score, id, modality, content (truncated) and payload (compact JSON, truncated); with
    ``explained``, each hit's explanation below the table (:func:`explanation_lines`)."""
    if not hits:
        return "(no hits)"
    if explained:
        lines = [f"{rank if i == 0 else '':>4}  {line}" for rank, hit in enumerate(hits, start=1)
                 for i, line in enumerate(explanation_lines(hit.explanation))]
        return hits_table(hits) + "\n\nwhy (each part's share of the score):\n" + "\n".join(lines)
    rows = [
        (
            rank,
            f"{hit.score:.4f}",
            hit.id,
            hit.modality,
            truncate(hit.content, CONTENT_WIDTH),
            truncate(compact_json(hit.payload), PAYLOAD_WIDTH) if hit.payload else "",
        )
        for rank, hit in enumerate(hits, start=1)
    ]
    return table(("rank", "score", "id", "modality", "content", "payload"), rows, right=("rank", "score"))


def explanation_lines(explanation: Any) -> list[str]:
    """``0.9337 = 0.7795 query.mix.parts[0].query + 0.1542 query.mix.parts[1].query`` (sum form) or
    ``0.6512 = 0.9211 query.analogy.b x 0.9340 query.analogy.a_star / 0.8411 query.analogy.a`` (3CosMul),
    then ``projection on NAME (path): 0.1234`` for each direction used."""
    if explanation is None:
        return ["(not explained)"]
    terms = explanation.terms
    if explanation.form == "product":
        score = math.prod(t.factor ** t.exponent for t in terms)
        parts = " x ".join(f"{t.factor:.4f} {t.path}" for t in terms if t.exponent > 0)
        divisors = "".join(f" / {t.factor:.4f} {t.path}" for t in terms if t.exponent < 0)
        lines = [f"{score:.4f} = {parts}{divisors}"]
    else:
        shares = " ".join(f"{'-' if t.share < 0 else '+'} {abs(t.share):.4f} {t.path}" for t in terms)
        lines = [f"{sum(t.share for t in terms):.4f} = {shares.removeprefix('+ ')}"]
    lines += [f"  projection on {p.name or 'the direction'} ({p.path}): {p.projection:.4f}"
              for p in explanation.projections]
    if explanation.calibration_offset != 0.0 or explanation.calibration_scale != 1.0:
        lines.append(f"  calibrated score = (cosine {explanation.cosine:.4f} - {explanation.calibration_offset:.4f}) "
                     f"/ {explanation.calibration_scale:.4f}")
    if explanation.redundancy is not None:
        lines.append(f"  placed by diversity: largest similarity to a hit above {explanation.redundancy:.4f}")
    return lines


def directions_table(directions: Sequence[Any]) -> str:
    """name, source, method, AUC, norm and description of stored directions."""
    if not directions:
        return "(no directions)"
    rows = [
        (d.name, d.source, d.method, "-" if d.quality.auc is None else f"{d.quality.auc:.4f}", f"{d.norm:.4f}",
         truncate(d.description, CONTENT_WIDTH))
        for d in directions
    ]
    return table(("name", "source", "method", "auc", "norm", "made from"), rows, right=("auc", "norm"))


def direction_details(info: Any) -> str:
    """A stored direction as aligned ``key  value`` lines, its quality in words."""
    q = info.quality
    if q.auc is None:
        quality = "not measured (nothing to hold out)"
    elif q.evaluated_on == "templates":
        quality = f"AUC {q.auc:.4f}, each of {q.positives} template pairs scored by the other templates' direction"
    else:
        quality = (f"AUC {q.auc:.4f} on {q.held_out_positives} + {q.held_out_negatives} held out "
                   f"(fitted on {q.positives} + {q.negatives}; holdout {q.holdout:.2f}, seed {q.seed})")
    return key_values([
        ("name", info.name),
        ("made from", f"{info.source}: {info.description}"),
        ("method", info.method),
        ("norm", f"{info.norm:.4f} (before normalising)"),
        ("quality", quality),
        ("fingerprint", info.fingerprint or "-"),
        ("created", info.created_at),
    ])


def distance_line(distance: Any) -> str:
    """``cosine 0.8123  angular 0.1984  euclidean 0.6127  (text-image, cross-modal)``."""
    kinds = f"{distance.a_modality}-{distance.b_modality}"
    note = f"({kinds})"
    if distance.cross_modal:
        note = f"({kinds}, cross-modal: cosines across modalities run lower)"
    return (
        f"cosine {distance.cosine:.4f}  angular {distance.angular:.4f}  "
        f"euclidean {distance.euclidean:.4f}  {note}"
    )


def step_header(step: Any) -> str:
    """``t=0.50  cos_to_a=0.8660  cos_to_b=0.8660``."""
    return f"t={step.t:.2f}  cos_to_a={step.cos_to_a:.4f}  cos_to_b={step.cos_to_b:.4f}"


def collections_table(collections: Sequence[Any]) -> str:
    """name, model, dimension, index kind, count, modalities."""
    if not collections:
        return "(no collections)"
    rows = [
        (c.name, c.model or "(vectors only)", c.dimension, c.index_kind, c.count, ",".join(c.modalities))
        for c in collections
    ]
    return table(("name", "model", "dim", "index", "count", "modalities"), rows, right=("dim", "count"))


def collection_details(info: Any) -> str:
    """One collection as aligned ``key  value`` lines, then its item modalities' statistics."""
    stats = [(f"{s.modality} items", f"{s.count} (centroid norm {s.centroid_norm:.4f}, {s.sampled} sampled)")
             for s in getattr(info, "modality_stats", ())]
    stats += [(f"cos {d.a}-{d.b}", f"mean {d.mean:.4f} std {d.std:.4f} p05 {d.p05:.4f} p50 {d.p50:.4f} "
               f"p95 {d.p95:.4f} ({d.pairs} pairs)") for d in getattr(info, "cosine_distributions", ())]
    return key_values(
        [
            ("name", info.name),
            ("model", info.model or "(vectors only)"),
            ("dimension", info.dimension),
            ("metric", info.metric),
            ("index", info.index_kind),
            ("backend", info.backend),
            ("count", info.count),
            ("modalities", ", ".join(info.modalities) or "vector"),
            ("fingerprint", info.fingerprint or "-"),
            ("sequence", info.sequence),
            *stats,
        ]
    )


def key_values(pairs: Sequence[tuple[str, Any]]) -> str:
    """Aligned ``key  value`` lines."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


def vector_preview(vector: Any, shown: int = 4) -> str:
    """``[0.0123, -0.0456, 0.1000, 0.2000, …]`` for a long vector."""
    values = [float(v) for v in vector[:shown]]
    more = ", …" if len(vector) > shown else ""
    return "[" + ", ".join(f"{v:.4f}" for v in values) + more + "]"


# ---------------------------------------------------------------- JSON


#: Result fields that hold PNG bytes.
IMAGE_FIELDS = frozenset({"image", "base_image", "images"})


def jsonable(value: Any, *, round_floats: bool = True) -> Any:
    """Plain JSON values: dataclasses as dicts (None vectors and explanations left out, and every image:
    images go to files, see ``decode_command``), arrays as lists.

    Result floats are rounded to 6 decimals because the wire carries float32 and more digits
    are noise; payloads are the caller's own data and pass unrounded.
    """
    if hasattr(value, "__dataclass_fields__"):
        fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
        return {
            k: jsonable(v, round_floats=round_floats and k != "payload")
            for k, v in fields.items()
            if not (k in ("vector", "explanation") and v is None) and k not in IMAGE_FIELDS
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v, round_floats=round_floats) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist(), round_floats=round_floats)
    if isinstance(value, list | tuple):
        return [jsonable(v, round_floats=round_floats) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 6) if round_floats else value
    return value


def hits_json(hits: Sequence[Any]) -> list[dict[str, Any]]:
    """Hits with their rank: ``[{"rank": 1, "id": ..., "score": ..., ...}]``."""
    return [{"rank": rank, **jsonable(hit)} for rank, hit in enumerate(hits, start=1)]


def dumps(value: Any) -> str:
    """Indented JSON with keys in a stable order."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)
