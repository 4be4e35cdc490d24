"""The project's payload filters as Milvus boolean expressions over the JSON ``payload`` field.

The semantics stay the library's (:mod:`latentspace.indexer.filters`; the rules are listed in
:mod:`latentspace.indexer.store.filter_sql`): a missing field never matches, booleans equal only
booleans, numbers compare by value across int/float, ``None`` equals only JSON null. Milvus's own
comparisons are close but not the same (Milvus Lite lets ``== true`` match ``1`` and ``> 0`` match
``true``; ``is null`` also matches a missing key), so the expression is built to select a
*superset* of the matching items, and every candidate Milvus returns is checked again in Python
with ``PayloadFilter.matches``. Whatever Milvus cannot say exactly is left out of the expression
(a wider superset):

- equality with a string is exact (quoted; strings that are not all printable characters are left
  out, as neither Milvus nor Milvus Lite reads the same escapes for them);
- numbers and booleans compare with ``==``, ``>``, ... (Milvus compares JSON numbers by value, an
  integer literal falling back to a double);
- ``any_of`` is an ``or`` of equalities (Milvus refuses ``payload["k"] in [...]`` on JSON paths);
- ``None``, integers beyond 64 bits, non-finite bounds and non-scalar values are left out;
- path keys with quotes, backslashes or non-printable characters are left out (no JSON-path
  escape means the same on every Milvus version).

Because Milvus sees a superset, "k hits whenever k items match" is kept by the search loop
(:mod:`.knn`), which asks for more candidates when the check drops some.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from latentspace.indexer.filters import AnyOf, Condition, Equals, JsonScalar, PayloadFilter, Range

PAYLOAD_FIELD = "payload"
ID_FIELD = "id"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class MilvusFilter:
    """A Milvus expression selecting a superset of a filter's matches ("" selects everything)."""

    expression: str = ""
    #: True when no item can match (an empty any_of, a NaN): no need to ask Milvus.
    never: bool = False


class _Unsaid(Exception):
    """No expression says this exactly; leave it to the Python check."""


def quote(text: str) -> str:
    """A Milvus string literal for ``text``; :class:`ValueError` when it has no portable form."""
    if not text.isprintable():
        raise ValueError(f"{text!r} has characters a Milvus expression cannot carry")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_quotable(text: str) -> bool:
    """Whether :func:`quote` can carry ``text``."""
    return text.isprintable()


def _path(dotted: str) -> str:
    parts = []
    for key in dotted.split("."):
        if not key or not key.isprintable() or '"' in key or "\\" in key:
            raise _Unsaid(dotted)
        parts.append(f'["{key}"]')
    return PAYLOAD_FIELD + "".join(parts)


def _literal(value: JsonScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        try:
            return quote(value)
        except ValueError:
            raise _Unsaid(value) from None
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unsaid(value)
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise _Unsaid(value)  # None, inf, lists, objects


class _Never(Exception):
    """This condition can match nothing."""


def _condition(condition: Condition) -> str:
    path = _path(condition.field)
    if isinstance(condition, Equals):
        if isinstance(condition.value, float) and math.isnan(condition.value):
            raise _Never
        return f"{path} == {_literal(condition.value)}"
    if isinstance(condition, AnyOf):
        values = [v for v in condition.values if not (isinstance(v, float) and math.isnan(v))]
        if not values:
            raise _Never
        return "(" + " or ".join(f"{path} == {_literal(v)}" for v in values) + ")"
    if isinstance(condition, Range):
        bounds = []
        for op, bound in ((">", condition.gt), (">=", condition.gte), ("<", condition.lt), ("<=", condition.lte)):
            if bound is None:
                continue
            if isinstance(bound, float) and math.isnan(bound):
                raise _Never
            if isinstance(bound, bool):
                continue  # Python orders True as 1; leave it to the check
            try:
                bounds.append(f"{path} {op} {_literal(bound)}")
            except _Unsaid:
                continue  # a looser bound (none) still selects a superset
        if not bounds:
            raise _Unsaid(condition)
        return "(" + " and ".join(bounds) + ")"
    raise _Unsaid(condition)


def compile_filter(payload_filter: PayloadFilter) -> MilvusFilter:
    """The expression for ``payload_filter`` (see the module docstring for what is left out)."""
    clauses = []
    for condition in payload_filter.must:
        try:
            clauses.append(_condition(condition))
        except _Never:
            return MilvusFilter(never=True)
        except _Unsaid:
            continue
    return MilvusFilter(" and ".join(clauses))


def ids_expression(ids: Iterable[str], negate: bool = False) -> str:
    """``id in [...]`` (or ``not in``) for ids that :func:`quote` can carry (the caller keeps the rest out)."""
    listed = ", ".join(quote(i) for i in ids)
    return f"{ID_FIELD} {'not in' if negate else 'in'} [{listed}]"


def both(*expressions: str) -> str:
    """The conjunction of the non-empty expressions ("" when none)."""
    present = [e for e in expressions if e]
    if len(present) <= 1:
        return present[0] if present else ""
    return " and ".join(f"({e})" for e in present)
