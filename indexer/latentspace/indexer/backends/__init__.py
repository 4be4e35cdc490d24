"""Where a collection's items live: one interface, a backend per engine.

``embedded`` (SQLite + FAISS in this process, :class:`latentspace.indexer.collection.Collection`)
is the default; ``milvus`` keeps items in a Milvus collection. See :mod:`.base`.
"""
