"""Translate a :class:`PayloadFilter` into a SQLite ``WHERE`` clause over the ``payload`` column.

The SQL must select exactly the rows for which ``PayloadFilter.matches`` is true, so each rule
of the Python evaluation has its SQL counterpart:

- a missing field (or a path through a non-object) never matches: ``json_type`` is NULL there;
- ``True``/``False`` equal only JSON booleans (never 1/0): compared through ``json_type``;
- numbers compare by value across integer/real (``1 == 1.0``), never with booleans or strings;
- ``None`` equals only JSON null.

Conditions whose SQL form would not be exact (path keys that SQLite's JSON path syntax cannot
name, integers beyond 64 bits, non-scalar values) are returned as a residual filter that the
store evaluates in Python on the rows the SQL part selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from latentspace.indexer.filters import AnyOf, Condition, Equals, PayloadFilter, Range

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NUMERIC = "IN ('integer', 'real')"


@dataclass
class SqlFilter:
    """A WHERE expression with its parameters, plus what must still be checked in Python."""

    where: str = "1"
    params: list[Any] = field(default_factory=list)
    residual: PayloadFilter = field(default_factory=PayloadFilter)


class _NotExpressible(Exception):
    """This condition has no exact SQL form; evaluate it in Python."""


def json_path(dotted: str) -> str:
    """``"a.b"`` -> ``'$."a"."b"'``; raises _NotExpressible for keys SQLite cannot address.

    SQLite compares a quoted path label with the key's raw JSON text, so a key that JSON
    escapes (a quote, a backslash, a control character) can never be matched by a label.
    """
    parts = []
    for key in dotted.split("."):
        if any(c in key for c in '"\\') or any(ord(c) < 0x20 for c in key):
            raise _NotExpressible(dotted)
        parts.append(f'."{key}"')
    return "$" + "".join(parts)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _equals_sql(path: str, value: Any) -> tuple[str, list[Any]]:
    """SQL for "the value at ``path`` equals ``value``" under ``filters._same`` semantics."""
    if isinstance(value, bool):
        return "json_type(payload, ?) = ?", [path, "true" if value else "false"]
    if value is None:
        return "json_type(payload, ?) = 'null'", [path]
    if isinstance(value, str):
        return "(json_type(payload, ?) = 'text' AND json_extract(payload, ?) = ?)", [path, path, value]
    if _is_int(value):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _NotExpressible(value)
    elif isinstance(value, float):
        if math.isnan(value):
            return "0", []  # NaN equals nothing, in Python as here
    else:
        raise _NotExpressible(value)
    return f"(json_type(payload, ?) {_NUMERIC} AND json_extract(payload, ?) = ?)", [path, path, value]


def _condition_sql(condition: Condition) -> tuple[str, list[Any]]:
    path = json_path(condition.field)
    if isinstance(condition, Equals):
        return _equals_sql(path, condition.value)
    if isinstance(condition, AnyOf):
        if not condition.values:
            return "0", []
        pieces = [_equals_sql(path, v) for v in condition.values]
        return "(" + " OR ".join(p[0] for p in pieces) + ")", [x for p in pieces for x in p[1]]
    if isinstance(condition, Range):
        sql, params = f"json_type(payload, ?) {_NUMERIC}", list[Any]([path])
        bounds = ((">", condition.gt), (">=", condition.gte), ("<", condition.lt), ("<=", condition.lte))
        for op, bound in bounds:
            if bound is None:
                continue
            if isinstance(bound, float) and math.isnan(bound):
                return "0", []  # every comparison with NaN is false
            out_of_int64 = _is_int(bound) and not _INT64_MIN <= bound <= _INT64_MAX
            if not isinstance(bound, int | float) or out_of_int64:
                raise _NotExpressible(bound)
            sql += f" AND json_extract(payload, ?) {op} ?"
            params += [path, float(bound) if isinstance(bound, float) else int(bound)]
        return f"({sql})", params
    raise _NotExpressible(condition)


def compile_filter(payload_filter: PayloadFilter) -> SqlFilter:
    """Split a filter into an exact SQL part and a (usually empty) Python residual."""
    clauses: list[str] = []
    params: list[Any] = []
    residual: list[Condition] = []
    for condition in payload_filter.must:
        try:
            sql, cond_params = _condition_sql(condition)
        except _NotExpressible:
            residual.append(condition)
            continue
        clauses.append(sql)
        params += cond_params
    return SqlFilter(" AND ".join(clauses) or "1", params, PayloadFilter(tuple(residual)))
