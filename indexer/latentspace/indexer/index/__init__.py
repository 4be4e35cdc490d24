"""Vector indexes: one interface, FAISS behind it (any factory kind)."""

from latentspace.indexer.index.faiss_index import FaissIndex
from latentspace.indexer.index.vector_index import IndexState, SearchParams, VectorIndex, VectorSource

__all__ = ["FaissIndex", "IndexState", "SearchParams", "VectorIndex", "VectorSource"]

