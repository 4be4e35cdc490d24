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

import json
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


def _any_of_sql(path: str, values: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """SQL for "the value at ``path`` equals one of ``values``", in a size that does not grow with them.

    Strings and numbers each travel as one JSON array parameter, searched with ``IN (SELECT value
    FROM json_each(?))``: a chain of thousands of ``OR`` terms would pass SQLite's expression depth
    limit (1000) and its parameter limit. The rest (true, false, null, NaN) are compared one by one,
    as :func:`_equals_sql` does.
    """
    strings: list[str] = []
    numbers: list[int | float] = []
    others: dict[str, tuple[str, list[Any]]] = {}  # true, false, null (and infinities), once each
    for value in values:
        if isinstance(value, str):
            if "\x00" in value or not _utf8(value):
                # SQLite's JSON functions stop at NUL and would read a lone surrogate as another character.
                raise _NotExpressible(value)
            strings.append(value)
        elif _finite_number(value):
            numbers.append(value)
        else:
            others.setdefault(repr(value), _equals_sql(path, value))
    pieces = list(others.values())
    if strings:
        pieces.append(("(json_type(payload, ?) = 'text' AND json_extract(payload, ?) IN "
                       "(SELECT value FROM json_each(?)))", [path, path, json.dumps(strings)]))
    if numbers:
        pieces.append((f"(json_type(payload, ?) {_NUMERIC} AND json_extract(payload, ?) IN "
                       "(SELECT value FROM json_each(?)))", [path, path, json.dumps(numbers)]))
    if not pieces:
        return "0", []
    return "(" + " OR ".join(p[0] for p in pieces) + ")", [x for p in pieces for x in p[1]]


def _finite_number(value: Any) -> bool:
    """A number SQLite's JSON holds exactly: an int within 64 bits or a finite float."""
    if _is_int(value):
        return bool(_INT64_MIN <= value <= _INT64_MAX)
    return isinstance(value, float) and math.isfinite(value)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _condition_sql(condition: Condition) -> tuple[str, list[Any]]:
    path = json_path(condition.field)
    if isinstance(condition, Equals):
        return _equals_sql(path, condition.value)
    if isinstance(condition, AnyOf):
        return _any_of_sql(path, condition.values)
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
