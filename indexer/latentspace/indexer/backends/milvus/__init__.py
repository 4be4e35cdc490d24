"""The ``milvus`` backend: collections kept in Milvus (a cluster, or a Milvus Lite file).

=================  ==================================================================
module             what
=================  ==================================================================
``connection``     the target (URI, token, consistency) and one client per process;
                   Milvus's failures as library errors; the install hint
``layout``         the Milvus collection behind a latentspace one: name, fields, rows
``expressions``    payload filters as Milvus expressions (a superset, checked again)
``index_kinds``    index kinds in the embedded grammar mapped onto Milvus indexes
``knn``            filtered k-NN that returns k hits whenever k items pass
``directions``     a collection's named directions, in a Milvus collection of their own
``collection``     ``MilvusCollection``, the ``CollectionBackend`` over one Milvus collection
``catalog``        ``MilvusCatalog``: list, create, open and drop, with the manifest in Milvus
=================  ==================================================================

Importing this package does not import pymilvus; connecting does, and without it fails with
``pip install latentspace[milvus]``. See docs/milvus.md.
"""

from latentspace.indexer.backends.milvus.catalog import MilvusCatalog
from latentspace.indexer.backends.milvus.collection import MilvusCollection
from latentspace.indexer.backends.milvus.connection import INSTALL_HINT, MilvusTarget

__all__ = ["INSTALL_HINT", "MilvusCatalog", "MilvusCollection", "MilvusTarget"]
