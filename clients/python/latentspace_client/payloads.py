"""Payloads and filters: Python dicts <-> ``google.protobuf.Struct`` / ``latentspace.v1.Filter``.

Numbers: a ``Struct`` stores every number as a double, so ``{"year": 2024}`` would come back as
``2024.0``. The SDK (like the server) gives integral numbers back as ``int`` when they are exactly
representable (``|x| < 2**53``); other numbers stay ``float``. A payload therefore round-trips
unchanged except that a float with an integral value (``3.0``) comes back as ``3`` (equal in
Python). Integers beyond ``2**53`` cannot travel exactly and are refused: send them as strings.
Payloads nest at most :data:`MAX_PAYLOAD_DEPTH` levels, the server's bound; deeper ones are refused
here with a ``ValueError`` (protobuf itself would fail on them with a ``DecodeError``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb

_EXACT_INT = 2**53
#: How deep a payload may nest (a dict or list inside another is one level): the server's bound
#: (``latentspace.indexer.validation.MAX_PAYLOAD_DEPTH``, kept equal by a test).
MAX_PAYLOAD_DEPTH = 32
_RANGE_KEYS = frozenset({"gt", "gte", "lt", "lte"})

# ---------------------------------------------------------------- payloads


def to_value(value: Any, path: str = "payload", depth: int = 0) -> struct_pb2.Value:
    """A JSON-like Python value as a ``google.protobuf.Value``; ``path`` names it in errors.

    ``depth`` is how deep ``value`` sits in its payload (the payload object itself is 0).
    """
    if depth > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"{path}: the payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):  # before int: bool is an int subclass
        message.bool_value = value
    elif isinstance(value, int):
        if abs(value) >= _EXACT_INT:
            raise ValueError(f"{path}: integer {value} is too large to send exactly; send it as a string")
        message.number_value = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number")
        message.number_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, Mapping):
        message.struct_value.CopyFrom(to_struct(value, path, depth))
    elif isinstance(value, list | tuple):
        message.list_value.values.extend(to_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    else:
        raise TypeError(
            f"{path}: {type(value).__name__} is not a JSON value (str, number, bool, None, list, dict)"
        )
    return message


def to_struct(payload: Mapping[str, Any], path: str = "payload", depth: int = 0) -> struct_pb2.Struct:
    """A dict with string keys as a ``Struct`` (see the module notes on numbers and nesting)."""
    message = struct_pb2.Struct()
    for key, value in payload.items():
        if not isinstance(key, str):
            raise TypeError(f"{path}: keys must be strings, got {key!r}")
        message.fields[key].CopyFrom(to_value(value, f"{path}.{key}", depth + 1))
    return message


def from_value(message: struct_pb2.Value) -> Any:
    """A ``google.protobuf.Value`` as a plain Python value (integral numbers as int)."""
    kind = message.WhichOneof("kind")
    if kind == "number_value":
        number = message.number_value
        return int(number) if number.is_integer() and abs(number) < _EXACT_INT else number
    if kind == "string_value":
        return message.string_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "struct_value":
        return from_struct(message.struct_value)
    if kind == "list_value":
        return [from_value(v) for v in message.list_value.values]
    return None


def from_struct(message: struct_pb2.Struct) -> dict[str, Any]:
    """A ``Struct`` as a plain dict (integral numbers as int)."""
    return {key: from_value(value) for key, value in message.fields.items()}


# ---------------------------------------------------------------- filters


def to_filter(spec: Mapping[str, Any] | tpb.Filter | None) -> tpb.Filter | None:
    """A filter dict as a ``Filter``: every condition must hold.

    ``{"color": "red"}`` equals; ``{"size": ["small", "large"]}`` any of;
    ``{"price": {"gte": 1, "lt": 5}}`` a numeric range (keys gt, gte, lt, lte);
    a nested dict without range keys is a dotted path: ``{"meta": {"lang": "en"}}`` is
    ``{"meta.lang": "en"}``. A ``Filter`` message passes through; None or ``{}`` is no filter.
    """
    if spec is None:
        return None
    if isinstance(spec, tpb.Filter):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"filter must be a dict, got {type(spec).__name__}")
    message = tpb.Filter()
    _add_conditions(message, spec, prefix="")
    return message if message.must else None


def _add_conditions(message: tpb.Filter, spec: Mapping[str, Any], prefix: str) -> None:
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"filter keys must be non-empty strings, got {key!r}")
        field = f"{prefix}{key}"
        if isinstance(value, Mapping):
            keys = set(value)
            if keys and keys <= _RANGE_KEYS:
                message.must.append(tpb.Condition(field=field, range=_range(field, value)))
            elif keys & _RANGE_KEYS:
                raise ValueError(
                    f"filter.{field}: mixes range keys {sorted(keys & _RANGE_KEYS)} with "
                    f"{sorted(keys - _RANGE_KEYS)}; a range takes only gt, gte, lt, lte"
                )
            elif not keys:
                raise ValueError(f"filter.{field}: empty condition")
            else:
                _add_conditions(message, value, prefix=f"{field}.")
        elif isinstance(value, list | tuple | set | frozenset):
            if not value:
                raise ValueError(f"filter.{field}: any-of needs at least one value")
            values = struct_pb2.ListValue()
            values.values.extend(_scalar(v, field) for v in value)
            message.must.append(tpb.Condition(field=field, any_of=values))
        else:
            message.must.append(tpb.Condition(field=field, equals=_scalar(value, field)))


def _scalar(value: Any, field: str) -> struct_pb2.Value:
    if isinstance(value, Mapping | list | tuple):
        kind = type(value).__name__
        raise TypeError(f"filter.{field}: compare with a string, number, bool or None, not {kind}")
    return to_value(value, f"filter.{field}")


def _range(field: str, bounds: Mapping[str, Any]) -> tpb.Range:
    message = tpb.Range()
    for key, bound in bounds.items():
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise TypeError(f"filter.{field}.{key}: a range bound must be a number, got {bound!r}")
        setattr(message, key, float(bound))
    return message
