"""What a client knows about its writes, to check a data dir against after a crash or a shutdown.

Per item id: the state its last acknowledged write left (a vector and payload, or absent), and the
states that writes in flight (sent, never answered) may have left. A write in flight when the
server died may or may not have committed; anything else must be exactly as acknowledged. Each id
is written by one client at a time, so an id has at most one write in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Version:
    """One stored state of an item: its unit vector and its payload.

    ``vector`` is None where the writer does not know it (a text item, encoded by the server): the
    payload, unique per write, then identifies the write.
    """

    vector: np.ndarray | None
    payload: dict[str, Any]

    def same_as(self, other: Version) -> bool:
        if self.payload != other.payload:
            return False
        return self.vector is None or other.vector is None or np.allclose(self.vector, other.vector, atol=1e-6)


#: ``None`` stands for "absent" (never written, or deleted).
State = Version | None


def _same(a: State, b: State) -> bool:
    if a is None or b is None:
        return a is b
    return a.same_as(b)


@dataclass
class Ledger:
    """Acknowledged states and in-flight candidates per id; thread-safe."""

    acked: dict[str, State] = field(default_factory=dict)
    pending: dict[str, list[State]] = field(default_factory=dict)
    acked_writes: int = 0  # acknowledged calls
    acked_upserts: int = 0  # items in acknowledged upserts
    acked_deletes: int = 0  # ids in acknowledged deletes
    max_sequence: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, changes: Mapping[str, State]) -> None:
        """Record a write about to be sent: each id may now be in the given state."""
        with self._lock:
            for item_id, state in changes.items():
                self.pending.setdefault(item_id, []).append(state)

    def acknowledge(self, changes: Mapping[str, State], sequence: int) -> None:
        """Record that a write sent with :meth:`send` was acknowledged (its call returned OK)."""
        with self._lock:
            for item_id, state in changes.items():
                # By identity: the very state that send() recorded (numpy arrays have no ==).
                left = [c for c in self.pending.get(item_id, []) if c is not state]
                if left:
                    self.pending[item_id] = left
                else:
                    self.pending.pop(item_id, None)
                self.acked[item_id] = state
            self.acked_writes += 1
            self.acked_upserts += sum(state is not None for state in changes.values())
            self.acked_deletes += sum(state is None for state in changes.values())
            self.max_sequence = max(self.max_sequence, sequence)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(set(self.acked) | set(self.pending))

    def check(self, stored: Mapping[str, Version]) -> list[str]:
        """Problems of ``stored`` (every item of the collection, by id) against this ledger."""
        problems = []
        with self._lock:
            for item_id in sorted(set(self.acked) | set(self.pending) | set(stored)):
                actual = stored.get(item_id)
                expected = self.acked.get(item_id)
                candidates = self.pending.get(item_id, [])
                if any(_same(actual, allowed) for allowed in (expected, *candidates)):
                    continue
                if item_id not in self.acked and not candidates:
                    problems.append(f"{item_id}: stored, but never written")
                elif expected is not None and actual is None:
                    problems.append(f"{item_id}: acknowledged write lost (item missing)")
                elif expected is None and actual is not None:
                    problems.append(f"{item_id}: acknowledged delete undone (item back)")
                elif actual is None:
                    problems.append(f"{item_id}: deleted, but no delete of it was sent")
                else:
                    problems.append(f"{item_id}: stored vector or payload differs from every write of it")
        return problems

    def settle(self, stored: Mapping[str, Version]) -> int:
        """Writes in flight are over (the server died): take what is stored as acknowledged.

        Returns how many of the in-flight writes turned out to have committed. Call after
        :meth:`check` found no problems.
        """
        committed = 0
        with self._lock:
            for item_id in self.pending:
                actual = stored.get(item_id)
                if not _same(actual, self.acked.get(item_id)):
                    committed += 1
                self.acked[item_id] = actual
            self.pending.clear()
        return committed
