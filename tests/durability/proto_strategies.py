"""Hypothesis strategies for any protobuf request message, built from its descriptor.

Every field gets a value of its type or stays unset; a oneof gets at most one member; message fields
recurse to a bounded depth; ``google.protobuf.Struct`` / ``Value`` / ``ListValue`` get JSON-like
values (NaN and infinity included); enums take their values and an unknown one. So an RPC added to
the contract later is covered without a change here.

Random values alone rarely get past the first check (an unknown collection), so a field whose name
is in ``hints`` (``"Message.field"`` first, then ``"field"``; ``"field[]"`` for a whole repeated
field) draws seven times in eight from the hinted values instead: existing collections and ids,
vectors of the right dimension, a real image, limits and values just past them; and each field is
set seven times in eight, lists are mostly not empty. A message type's full name in ``hints`` adds
its hinted messages (half of the draws) beside the random ones; ``special`` replaces the strategy of
a whole message type (a vector).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 4  # message nesting; deeper fields stay unset
MAX_REPEATED = 3

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                         st.integers(-(2**53), 2**53), st.text(max_size=12))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


def _value(obj: Any) -> struct_pb2.Value:
    """A ``Value`` of a JSON-like object, built by hand: NaN and infinity go through, as a caller's
    own encoder may send them (``json_format`` would refuse them)."""
    value = struct_pb2.Value()
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, int | float):
        value.number_value = float(obj)
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, list):
        value.list_value.values.extend(_value(item) for item in obj)
    else:
        for key, item in obj.items():
            value.struct_value.fields[key].CopyFrom(_value(item))
    return value


_WELL_KNOWN: dict[str, st.SearchStrategy[Message]] = {
    "google.protobuf.Value": JSON.map(_value),
    "google.protobuf.ListValue": st.lists(JSON, max_size=MAX_REPEATED).map(
        lambda items: struct_pb2.ListValue(values=[_value(i) for i in items])),
    "google.protobuf.Struct": st.dictionaries(st.text(max_size=8), JSON, max_size=4).map(
        lambda d: struct_pb2.Struct(fields={k: _value(v) for k, v in d.items()})),
}


class MessageStrategies:
    """``for_message(descriptor)``: a strategy of that message, with the hints and special types."""

    def __init__(self, hints: Mapping[str, st.SearchStrategy[Any]],
                 special: Mapping[str, st.SearchStrategy[Message]] | None = None) -> None:
        self.hints = dict(hints)
        self.special = {**_WELL_KNOWN, **(special or {})}
        self._built: dict[tuple[str, int], st.SearchStrategy[Message]] = {}

    def for_message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        key = (descriptor.full_name, depth)
        if key not in self._built:
            self._built[key] = self._message(descriptor, depth)
        return self._built[key]

    def _message(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        if descriptor.full_name in self.special:
            return self.special[descriptor.full_name]
        generic = self._generic(descriptor, depth)
        hinted = self.hints.get(descriptor.full_name)  # e.g. well-formed queries, beside random ones
        return generic if hinted is None else st.one_of(hinted, generic)

    def _generic(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        cls = message_factory.GetMessageClass(descriptor)
        # Each field and oneof is set seven times in eight (None: unset): an unset query or an empty
        # list stops a request at the first check.
        values: dict[str, st.SearchStrategy[Any]] = {}
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is not None and oneof.name != f"_{field.name}":  # a real oneof (not proto3 `optional`)
                continue
            strategy = self._field(descriptor, field, depth)
            if strategy is not None:
                values[field.name] = _mostly(strategy)
        for oneof in descriptor.oneofs:
            members = [(f, self._single(descriptor, f, depth)) for f in oneof.fields
                       if oneof.name != f"_{f.name}"]
            choices = [st.tuples(st.just(f.name), s) for f, s in members if s is not None]
            if choices:
                values[f"oneof:{oneof.name}"] = _mostly(st.one_of(choices))
        return st.fixed_dictionaries(values).map(lambda drawn: _build(cls, drawn))

    def _field(self, owner: Descriptor, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        single = self._single(owner, field, depth)
        if single is None or not field.is_repeated:
            return single
        hinted = self._hint(f"{owner.name}.{field.name}[]", f"{field.name}[]")
        lists = st.lists(single, min_size=1, max_size=MAX_REPEATED)
        return lists if hinted is None else st.one_of(lists, hinted)

    def _single(self, owner: Descriptor, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= MAX_DEPTH and field.message_type.full_name not in self.special:
                return None
            generic: st.SearchStrategy[Any] = self.for_message(field.message_type, depth + 1)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            numbers = [v.number for v in field.enum_type.values]
            generic = st.sampled_from([*numbers, max(numbers) + 7])  # proto3 enums are open
        elif field.type in _INT_BOUNDS:
            low, high = _INT_BOUNDS[field.type]
            generic = st.integers(low, high)
        elif field.type == FieldDescriptor.TYPE_FLOAT:
            generic = st.floats(width=32, allow_nan=True, allow_infinity=True)
        elif field.type == FieldDescriptor.TYPE_DOUBLE:
            generic = st.floats(allow_nan=True, allow_infinity=True)
        elif field.type == FieldDescriptor.TYPE_BOOL:
            generic = st.booleans()
        elif field.type == FieldDescriptor.TYPE_STRING:
            generic = st.text(max_size=20)
        elif field.type == FieldDescriptor.TYPE_BYTES:
            generic = st.binary(max_size=32)
        else:
            raise TypeError(f"no strategy for field {owner.full_name}.{field.name} of type {field.type}")
        hinted = self._hint(f"{owner.name}.{field.name}", field.name)
        # Mostly from the hints: a request with several random fields rarely gets past the first check.
        return generic if hinted is None else _mostly(hinted, otherwise=generic)

    def _hint(self, *names: str) -> st.SearchStrategy[Any] | None:
        for name in names:
            if name in self.hints:
                return self.hints[name]
        return None


def _mostly(strategy: st.SearchStrategy[Any], otherwise: st.SearchStrategy[Any] | None = None,
            ) -> st.SearchStrategy[Any]:
    """``strategy`` seven times in eight, else ``otherwise`` (default None: unset). (``one_of``
    would not do: it draws its branches evenly, and the same branch twice counts once.)"""
    rare = st.none() if otherwise is None else otherwise
    return st.integers(0, 7).flatmap(lambda n: rare if n == 0 else strategy)


def _build(cls: type[Message], values: Mapping[str, Any]) -> Message:
    message = cls()
    fields = cls.DESCRIPTOR.fields_by_name
    for key, value in values.items():
        if value is None:
            continue
        name, value = value if key.startswith("oneof:") else (key, value)
        field = fields[name]
        if field.is_repeated:
            getattr(message, name).extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message
