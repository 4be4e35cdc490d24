"""The collection that ``latent index`` writes into, from a source or from an export file: opened,
or created, with its model and backend checked against the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports the library only in the command that runs
    from latentspace.indexer.backends.base import CollectionBackend
    from latentspace.indexer.data_dir import DataDir


def check_backend_of(collection: CollectionBackend, backend: str | None) -> None:
    """Refuse an existing collection on another backend than the ``--backend`` named."""
    from latentspace.indexer.errors import AlreadyExists

    if backend is not None and collection.manifest.backend != backend:
        raise AlreadyExists(f"collection {collection.name!r} already exists on the {collection.manifest.backend} "
                            f"backend, not {backend}; leave out --backend to add to it, or choose another "
                            "--collection")


def open_or_create(data: DataDir, name: str, model: str | None, index_kind: str | None,
                   dimension: int | None = None, backend: str | None = None) -> CollectionBackend:
    """The named collection; created with ``model`` (or as vector-only of ``dimension``) in ``backend``
    when missing.

    Refuses an existing collection of another model, or of another backend than the one named.
    """
    from latentspace.indexer.errors import AlreadyExists, InvalidInput
    from latentspace.indexer.model_spec import parse_model_spec

    if name in data.names():
        collection = data.collection(name)
        held = collection.manifest.model
        if model is not None and parse_model_spec(model).canonical != held:
            # Two models' vectors must never mix in one index.
            raise AlreadyExists(
                f"collection {name!r} already holds vectors of model {held or 'none (vector-only)'}, "
                f"not {model}; leave out --model to add to it, or choose another --collection")
        check_backend_of(collection, backend)
        return collection
    if model is None and dimension is None:
        raise InvalidInput(f"collection {name!r} does not exist in {data.path}; pass --model to create it "
                           "(or --dimension for precomputed vectors)")
    return data.create_collection(name, model, dimension=dimension, index_kind=index_kind, backend=backend)
