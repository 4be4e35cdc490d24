"""The collections a Milvus deployment holds, for the data dir: list, create, open, drop.

Nothing about a Milvus collection is kept by the process that serves it: its name is derived
(:func:`.layout.milvus_name`) and its manifest is a property of the Milvus collection itself. So a
server started on an empty data dir, pointed at the same Milvus, lists and serves the collections
another server (or ``latent index``) created, and several servers serve them at once.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from latentspace.indexer.backends.base import LoaderFor, MaintenanceScheduler
from latentspace.indexer.errors import AlreadyExists, CollectionNotFound, FailedPrecondition
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits
from latentspace.indexer.manifest import MILVUS, CollectionManifest

from .collection import FLUSH_EVERY, RECHECK_S, MilvusCollection
from .connection import MilvusConnection, MilvusTarget, pymilvus
from .index_kinds import milvus_index
from .layout import MANIFEST_PROPERTY, VECTOR_FIELD, directions_name, latentspace_name, milvus_name, schema

log = logging.getLogger(__name__)


class MilvusCatalog:
    """The latentspace collections in one Milvus deployment (one client for all of them)."""

    backend = MILVUS

    def __init__(self, target: MilvusTarget, *, flush_every: int = FLUSH_EVERY, recheck_s: float = RECHECK_S):
        """Connect to ``target`` (a cluster or a Milvus Lite file); fails at once when unreachable."""
        self.target = target
        self.connection = MilvusConnection(target)
        self._client = self.connection.client
        self._flush_every = flush_every
        self._recheck_s = recheck_s

    def names(self) -> list[str]:
        """Names of the latentspace collections in Milvus, sorted."""
        physical = self.connection.call("listing", lambda timeout: self._client.list_collections(timeout=timeout))
        names = (latentspace_name(p) for p in physical)
        return sorted(n for n in names if n is not None)

    def exists(self, name: str) -> bool:
        """Whether Milvus holds collection ``name``."""
        return bool(self.connection.call("lookup", self._client.has_collection, milvus_name(name)))

    def check_index_kind(self, index_kind: str, dimension: int, limits: IndexKindLimits | None = None) -> None:
        """Refuse (InvalidInput) an index kind that Milvus has no counterpart for."""
        milvus_index(index_kind, dimension, limits)

    def create(self, manifest: CollectionManifest) -> str:
        """Create the Milvus collection for ``manifest``, with the manifest as its property.

        Returns the manifest text the collection holds afterwards: another server may have created
        it first (Milvus answers a second identical create without error), and then it is theirs.
        :class:`AlreadyExists` when it existed before.
        """
        physical = milvus_name(manifest.name)
        if self.exists(manifest.name):
            raise AlreadyExists(f"collection {manifest.name!r} already exists in Milvus", field="name")
        index = milvus_index(manifest.index_kind, manifest.dimension)
        self._drop_directions(manifest.name)  # a leftover of a drop that failed half-way: not this one's
        self.connection.call(
            "create", self._client.create_collection, physical,
            schema=schema(pymilvus(), self._client, manifest.dimension),
            properties={MANIFEST_PROPERTY: manifest.to_text()}, consistency_level=self.target.consistency,
            collection=manifest.name)
        params = self._client.prepare_index_params()
        params.add_index(VECTOR_FIELD, index_type=index.index_type, metric_type="IP", params=index.params)
        try:
            # Not waiting for the build: Milvus builds each segment's index as it is sealed, and the
            # collection is loaded when opened.
            self.connection.call("index creation", self._client.create_index, physical, params, sync=False,
                                 collection=manifest.name)
        except BaseException:
            self.connection.call("drop", self._client.drop_collection, physical, collection=manifest.name)
            raise
        return self._manifest_text(manifest.name)

    def _manifest_text(self, name: str) -> str:
        described = self.connection.call("describe", self._client.describe_collection, milvus_name(name),
                                         collection=name)
        text = (described.get("properties") or {}).get(MANIFEST_PROPERTY)
        if not isinstance(text, str):
            raise FailedPrecondition(f"Milvus collection {milvus_name(name)!r} has no latentspace manifest "
                                     f"(property {MANIFEST_PROPERTY!r}); it was not created by latentspace",
                                     field="name")
        return text

    def manifest(self, name: str) -> tuple[CollectionManifest, str]:
        """The manifest of collection ``name`` as Milvus holds it, and its text."""
        text = self._manifest_text(name)
        where = f"the manifest of Milvus collection {milvus_name(name)!r}"
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise FailedPrecondition(f"{where} is not JSON: {exc}") from None
        manifest = CollectionManifest.from_json(raw, where)
        if manifest.name != name or manifest.backend != MILVUS:
            raise FailedPrecondition(f"{where} names collection {manifest.name!r} on backend "
                                     f"{manifest.backend!r}, not {name!r} on Milvus")
        return manifest, text

    def open(self, name: str, encoder_loader: LoaderFor,
             maintenance: MaintenanceScheduler | None = None) -> MilvusCollection:
        """Open collection ``name``; ``encoder_loader(manifest)`` gives its model's loader."""
        manifest, text = self.manifest(name)
        return MilvusCollection(self.connection, manifest, encoder_loader(manifest), manifest_text=text,
                                flush_every=self._flush_every, recheck_s=self._recheck_s,
                                maintenance=maintenance)

    @staticmethod
    def is_current(collection: object) -> bool:
        """Whether an open collection may still be handed out (False once Milvus said it is gone)."""
        return bool(getattr(collection, "is_current", True))

    def drop(self, name: str) -> None:
        """Drop collection ``name`` from Milvus (every server sees it gone)."""
        if not self.exists(name):
            raise CollectionNotFound(f"no collection {name!r} in Milvus", field="name")
        self.connection.call("drop", self._client.drop_collection, milvus_name(name), collection=name)
        self._drop_directions(name)

    def _drop_directions(self, name: str) -> None:
        """Drop the named directions of collection ``name`` (they outlive no drop), when there are any."""
        physical = directions_name(name)
        if self.connection.call("lookup", self._client.has_collection, physical):
            self.connection.call("drop", self._client.drop_collection, physical)

    def close(self) -> None:
        """Close the client (a Milvus Lite file is released once its last user in the process closes)."""
        self.connection.close()

    def __repr__(self) -> str:
        return f"MilvusCatalog({self.target.described})"


if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionCatalog

    def _is_a_catalog(catalog: MilvusCatalog) -> CollectionCatalog:
        return catalog  # mypy checks that the Milvus catalog implements the seam
