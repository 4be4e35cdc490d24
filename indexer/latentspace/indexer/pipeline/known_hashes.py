"""The content hashes a collection already holds, compact enough to ship to every encoder replica.

A rerun over a corpus that barely changed should encode only what changed. The local engine asks
the collection batch by batch; Ray replicas run in other processes (other machines), so the
driver reads the collection's hashes once and hands the replicas a lookup made of two aligned
``uint64`` arrays (8 bytes of the id's digest, sorted, and 8 bytes of the content hash's): 16 bytes
an item, shared through Ray's object store without a copy per replica on a node. A replica drops
an item whose id holds its content hash before any checking or encoding.

A false "unchanged" needs two ids whose 64-bit digests collide *and* the same content hash for
both, so it is out of reach; a collision of ids alone only makes an unchanged item be encoded
again, and the driver's exact check still finds it unchanged when it writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ListsContentHashes(Protocol):
    """What reading a collection's hashes needs: its ids, and the hashes stored with them."""

    def all_ids(self) -> Iterator[list[str]]: ...
    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class KnownHashes:
    """Aligned arrays: ``ids[i]`` (sorted) is an id's key, ``hashes[i]`` its content hash's key."""

    ids: np.ndarray
    hashes: np.ndarray

    @classmethod
    def of(cls, collection: object) -> KnownHashes | None:
        """What ``collection`` holds; None for a collection that keeps no content hashes."""
        if not isinstance(collection, ListsContentHashes):
            return None
        pairs = ((item_id, digest) for page in collection.all_ids()
                 for item_id, digest in collection.content_hashes(page).items())
        return cls.from_pairs(pairs)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> KnownHashes:
        """From ``(id, content hash)`` pairs."""
        keys = np.array([(_key(item_id), _key(digest)) for item_id, digest in pairs], dtype=np.uint64)
        keys = keys.reshape(-1, 2)
        order = np.argsort(keys[:, 0], kind="stable")
        return cls(np.ascontiguousarray(keys[order, 0]), np.ascontiguousarray(keys[order, 1]))

    def __len__(self) -> int:
        return len(self.ids)

    def unchanged(self, ids: Sequence[str], hashes: Sequence[str]) -> np.ndarray:
        """For each ``(ids[i], hashes[i])``: True when that id already holds that content hash."""
        if not len(ids) or not len(self.ids):
            return np.zeros(len(ids), dtype=bool)
        wanted = np.array([_key(item_id) for item_id in ids], dtype=np.uint64)
        digests = np.array([_key(digest) for digest in hashes], dtype=np.uint64)
        at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        found: np.ndarray = (self.ids[at] == wanted) & (self.hashes[at] == digests)
        return found


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
