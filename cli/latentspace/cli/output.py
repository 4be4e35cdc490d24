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


def hits_table(hits: Sequence[Any]) -> str:
    """rank, score, id, modality, content (truncated) and payload (compact JSON, truncated)."""
    if not hits:
        return "(no hits)"
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
    """One collection as aligned ``key  value`` lines."""
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


def jsonable(value: Any, *, round_floats: bool = True) -> Any:
    """Plain JSON values: dataclasses as dicts (None vectors left out), arrays as lists.

    Result floats are rounded to 6 decimals because the wire carries float32 and more digits
    are noise; payloads are the caller's own data and pass unrounded.
    """
    if hasattr(value, "__dataclass_fields__"):
        fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
        return {
            k: jsonable(v, round_floats=round_floats and k != "payload")
            for k, v in fields.items()
            if not (k == "vector" and v is None)
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
