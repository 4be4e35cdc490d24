"""Search hits as protobuf, with each item's message built once.

Building a ``Hit`` turns the payload dict into a ``Struct`` field by field, which costs far more than
the search itself for a small collection. A key's row never changes (keys are never reused), so the
message of each item (everything but its score and explanation, which belong to the query) is kept per
key and copied, which protobuf does in C.
"""

from __future__ import annotations

import threading
from collections.abc import MutableSequence, Sequence

from latentspace.indexer.items import Hit
from latentspace.server.convert import explanation_to_proto, hit_to_proto
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb

DEFAULT_CAPACITY = 65_536


class HitProtos:
    """``pb.Hit`` messages for one collection's hits, from a bounded per-key cache.

    Reads take no lock (a dict lookup is atomic); when full, the oldest tenth is dropped.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._templates: dict[int, pb.Hit] = {}
        self._lock = threading.Lock()

    def convert(self, hits: Sequence[Hit]) -> list[pb.Hit]:
        """Each hit as a message (hits with vectors, or without a key, are built in full)."""
        out: list[pb.Hit] = []
        for hit in hits:
            message = pb.Hit()
            self._write(message, hit)
            out.append(message)
        return out

    def fill(self, target: MutableSequence[pb.Hit], hits: Sequence[Hit]) -> None:
        """Append each hit to a response's repeated ``hits`` field, written in place: a message
        passed to the response's constructor would be copied a second time."""
        add = target.add  # type: ignore[attr-defined]  # a protobuf repeated field has add()
        for hit in hits:
            self._write(add(), hit)

    def _write(self, message: pb.Hit, hit: Hit) -> None:
        if hit.key < 0 or hit.vector is not None or self.capacity <= 0:
            message.CopyFrom(hit_to_proto(hit))
            return
        template = self._templates.get(hit.key)
        if template is None:
            template = hit_to_proto(hit)
            template.ClearField("score")
            template.ClearField("explanation")
            self._remember(hit.key, template)
        message.CopyFrom(template)
        message.score = hit.score
        if hit.explanation is not None:
            message.explanation.CopyFrom(explanation_to_proto(hit.explanation))

    def _remember(self, key: int, template: pb.Hit) -> None:
        with self._lock:
            if len(self._templates) >= self.capacity:
                for old in list(self._templates)[: max(1, self.capacity // 10)]:
                    del self._templates[old]
            self._templates[key] = template
