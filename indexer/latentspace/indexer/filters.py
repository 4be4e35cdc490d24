"""Payload filters: conditions on an item's JSON metadata, all of which must hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class Equals:
    field: str
    value: JsonScalar


@dataclass(frozen=True)
class AnyOf:
    field: str
    values: tuple[JsonScalar, ...]


@dataclass(frozen=True)
class Range:
    field: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


Condition = Equals | AnyOf | Range


@dataclass(frozen=True)
class PayloadFilter:
    """AND of conditions. ``field`` is a top-level key or a dotted path (``"a.b"``)."""

    must: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must)

    def matches(self, payload: dict[str, Any]) -> bool:
        """Evaluate in Python (the store may evaluate the same semantics in SQL)."""
        return all(_condition_holds(c, _lookup(payload, c.field)) for c in self.must)


_MISSING = object()


def _lookup(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def field_value(payload: dict[str, Any], path: str) -> Any:
    """The value at a field path (``"color"``, ``"a.b"``) of a payload as filters read it; None when absent."""
    value = _lookup(payload, path)
    return None if value is _MISSING else value


def _same(a: Any, b: Any) -> bool:
    # JSON has no int/bool distinction worth keeping apart from numbers, but True must not equal 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _condition_holds(condition: Condition, value: Any) -> bool:
    if value is _MISSING:
        return False
    if isinstance(condition, Equals):
        return _same(value, condition.value)
    if isinstance(condition, AnyOf):
        return any(_same(value, v) for v in condition.values)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (
        (condition.gt is None or value > condition.gt)
        and (condition.gte is None or value >= condition.gte)
        and (condition.lt is None or value < condition.lt)
        and (condition.lte is None or value <= condition.lte)
    )


def all_of(conditions: Sequence[Condition]) -> PayloadFilter:
    return PayloadFilter(tuple(conditions))
