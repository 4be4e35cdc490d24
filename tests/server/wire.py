"""Raw-stub helpers for server tests (the SDK has its own tests; these pin the wire behaviour)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb


class Stubs:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.collections = rpc.CollectionsStub(self.channel)
        self.latent = rpc.LatentSpaceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


def vec(values: Sequence[float] | np.ndarray) -> pb.Vector:
    array = np.asarray(values, dtype="<f4")
    return pb.Vector(dimension=array.shape[0], data=array.tobytes())


def unpack(vector: pb.Vector) -> np.ndarray:
    return np.frombuffer(vector.data, dtype="<f4")


def vector_items(vectors: np.ndarray, prefix: str = "v", **payload_of_index) -> list[api.UpsertItem]:
    items = []
    for i, row in enumerate(vectors):
        item = api.UpsertItem(id=f"{prefix}{i}", vector=vec(row))
        item.payload.update({"i": i, "parity": "even" if i % 2 == 0 else "odd"})
        items.append(item)
    return items


def search(stubs: Stubs, collection: str, query: pb.Query, k: int = 5, **options) -> list[pb.Hit]:
    request = api.SearchRequest(collection=collection, query=query, options=api.SearchOptions(k=k, **options))
    return list(stubs.latent.Search(request, timeout=60).hits)


def trailers(error: grpc.RpcError) -> dict[str, str]:
    """The error's trailing metadata by key (text keys only: the server sends no ``-bin`` trailers)."""
    # grpc-stubs types the items as an object with .key/.value; on the wire they are (key, value) pairs.
    return dict(error.trailing_metadata() or ())


def reason_of(error: grpc.RpcError) -> str | None:
    return trailers(error).get("latentspace-reason")
