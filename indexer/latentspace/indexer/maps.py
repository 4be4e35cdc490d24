"""A map of a collection: a deterministic sample drawn in two dimensions, its clusters, and where
given points fall on it (the ``Map`` RPC).

1. **Sample.** Up to ``sample_size`` items, chosen by a seeded hash of their ids (the items whose
   ``blake2b(seed, id)`` is smallest), so the same items and seed give the same sample whatever
   order the store reads them in, and adding an item changes the sample by at most one item. The
   items are read once through the backend's export (:class:`ExportsItems`): a map costs one pass
   over the collection.
2. **Projection.** PCA: the sample is centred and projected on its first two principal axes (an
   SVD), each axis signed so that its largest loading is positive; ``explained_variance`` is each
   axis's share of the sample's variance.
3. **Clusters.** Spherical k-means on the unit vectors (not on the 2-D points, which lose most of
   the structure): greedy k-means++ seeding from the seed, then Lloyd steps by cosine until no point
   moves (at most :data:`KMEANS_ITERATIONS`); the best of :data:`KMEANS_RESTARTS` runs. Each cluster
   is labelled by the text item nearest its centre in the whole collection (found with one batched
   search); ``nearest_id`` is the item nearest it, whatever its modality.
4. **Query points** are resolved like any other point and projected with the same axes; each gets
   the cluster whose centre it is closest to.

Everything is numpy over float64 and deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from latentspace.indexer import deadline
from latentspace.indexer.backends.base import ExportsItems
from latentspace.indexer.errors import FailedPrecondition, InvalidInput
from latentspace.indexer.filters import field_value
from latentspace.indexer.items import JsonObject, StoredItem
from latentspace.indexer.limits import RequestBudget
from latentspace.indexer.modality import Modality
from latentspace.indexer.points import Point
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.validation import check_batch, check_text

if TYPE_CHECKING:
    from latentspace.indexer.operations import LatentOperations

#: Items sampled when a request names no size.
DEFAULT_SAMPLE = 1000
#: The most clusters a request may ask for, and the most the automatic choice makes.
MAX_CLUSTERS, MAX_AUTO_CLUSTERS = 64, 16
KMEANS_ITERATIONS, KMEANS_RESTARTS = 30, 3
#: Hits searched around each cluster centre to find a text item to label it with.
LABEL_CANDIDATES = 32
_PAGE_ITEMS, _PAGE_BYTES = 1024, 8 * 1024 * 1024


@dataclass(frozen=True)
class MapSpec:
    """What a map is made of: ``sample_size`` items (0: :data:`DEFAULT_SAMPLE`), the ``seed`` of the
    sample and of k-means, ``clusters`` (0: about sqrt(n / 2), at most 16) and the payload field whose
    value each point reports as its colour (``color_by``, empty: none)."""

    sample_size: int = 0
    seed: int = 0
    clusters: int = 0
    color_by: str = ""


@dataclass(frozen=True)
class MapPoint:
    """One sampled item on the map."""

    id: str
    x: float
    y: float
    cluster: int
    modality: Modality
    payload: JsonObject
    content: str
    #: The value of the ``color_by`` field in its payload (None: absent, or no ``color_by``).
    color: Any = None


@dataclass(frozen=True)
class MapCluster:
    """A k-means cluster: where it sits on the map (the mean position of its members), its size, and
    what labels it."""

    x: float
    y: float
    size: int
    #: The text of the text item nearest the centre ("" when the collection holds no text item).
    label: str
    label_id: str
    #: The item nearest the centre, of any modality.
    nearest_id: str


@dataclass(frozen=True)
class PlacedPoint:
    """A request's point on the map, and the cluster whose centre is closest to it."""

    x: float
    y: float
    cluster: int
    modality: Modality


@dataclass(frozen=True)
class CollectionMap:
    points: list[MapPoint]
    clusters: list[MapCluster]
    queries: list[PlacedPoint]
    #: The collection's item count as of the sample.
    count: int
    #: The share of the sample's variance along x and along y.
    explained_variance: tuple[float, float]


def make_map(items: object, operations: LatentOperations, spec: MapSpec, queries: Sequence[Point] = (),
             budget: RequestBudget | None = None) -> CollectionMap:
    """The map of the collection behind ``items`` (its backend) and ``operations`` (see the module doc).

    Refused with :class:`FailedPrecondition` (reason ``MAP_NOT_SUPPORTED``) for a backend that cannot
    read its items as of one moment; :class:`InvalidInput` or :class:`LimitExceeded` for a bad spec.
    """
    limits = operations.limits
    size = spec.sample_size or min(DEFAULT_SAMPLE, limits.max_map_sample)
    limits.check_count("max_map_sample", size, "sample_size", "items sampled for one map")
    if spec.clusters > MAX_CLUSTERS:
        raise InvalidInput(f"clusters must be between 0 (automatic) and {MAX_CLUSTERS}, got {spec.clusters}",
                           field="clusters")
    if spec.color_by:
        check_text(spec.color_by, "color_by", "field")
    check_batch(queries, limits, "queries", allow_empty=True)
    if not isinstance(items, ExportsItems):
        raise FailedPrecondition("this collection's engine cannot read a sample of its items, so it has no map",
                                 field="collection", reason="MAP_NOT_SUPPORTED")
    placed = operations.encode(queries, [f"queries[{i}]" for i in range(len(queries))], budget) if queries else []
    count, sample = sample_items(items, size, spec.seed)
    if not sample:
        return CollectionMap([], [], [PlacedPoint(0.0, 0.0, 0, p.modality) for p in placed], count, (0.0, 0.0))
    vectors = np.stack([item.vector for item in sample if item.vector is not None]).astype(np.float64)
    mean, axes, explained = principal_axes(vectors)
    xy = (vectors - mean) @ axes.T
    k = min(spec.clusters or auto_clusters(len(sample)), len(sample))
    assignment, centres = spherical_kmeans(vectors, k, spec.seed)
    labels = _labels(operations, centres)
    # A cluster sits on the map where its members are (their mean position): the projection of its
    # unit centre lies further out, as normalising the mean of unit vectors lengthens it.
    centre_xy = np.stack([xy[assignment == j].mean(axis=0) if np.any(assignment == j) else (centres[j] - mean) @ axes.T
                          for j in range(k)])
    points = [
        MapPoint(item.id, float(x), float(y), int(c), item.modality, item.payload, item.content,
                 field_value(item.payload, spec.color_by) if spec.color_by else None)
        for item, (x, y), c in zip(sample, xy, assignment, strict=True)
    ]
    sizes = np.bincount(assignment, minlength=k)
    clusters = [MapCluster(float(x), float(y), int(n), *label)
                for (x, y), n, label in zip(centre_xy, sizes, labels, strict=True)]
    placed_points = []
    for point in placed:
        v = point.vector.astype(np.float64)
        x, y = (v - mean) @ axes.T
        placed_points.append(PlacedPoint(float(x), float(y), int(np.argmax(centres @ v)), point.modality))
    return CollectionMap(points, clusters, placed_points, count, explained)


def sample_items(items: ExportsItems, size: int, seed: int) -> tuple[int, list[StoredItem]]:
    """``(item count, the sample)``: the ``size`` items whose seeded hash of their id is smallest,
    ordered by that hash, read in one pass as of one moment."""
    salt = int(seed).to_bytes(8, "little", signed=False)
    heap: list[tuple[int, str, StoredItem]] = []  # (-rank, id, item): the worst kept item on top
    with items.export_items() as pages:
        while page := pages.next_page(_PAGE_ITEMS, _PAGE_BYTES):
            deadline.check("the map")  # a pass over a big collection: stop when its caller gave up
            for item in page:
                rank = int.from_bytes(hashlib.blake2b(item.id.encode(), digest_size=8, key=salt).digest(), "little")
                entry = (-rank, item.id, item)
                if len(heap) < size:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)
        count = pages.count
    return count, [item for _, _, item in sorted(heap, key=lambda e: (-e[0], e[1]))]


def principal_axes(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """``(mean, axes (2, d), explained variance of each)`` of the rows; missing axes are zero."""
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((2, vectors.shape[1]))
    shares = [0.0, 0.0]
    total = float(np.sum(singular ** 2))
    for i in range(min(2, len(singular))):
        if singular[i] <= 1e-12:
            continue
        axis = vt[i]
        # An SVD's signs are arbitrary: fix them, so that a map does not flip between runs or machines.
        axes[i] = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis
        shares[i] = float(singular[i] ** 2 / total)
    return mean, axes, (shares[0], shares[1])


def auto_clusters(n: int) -> int:
    """About sqrt(n / 2) clusters, between 1 and :data:`MAX_AUTO_CLUSTERS`."""
    return int(min(MAX_AUTO_CLUSTERS, max(1, round(np.sqrt(n / 2)))))


def spherical_kmeans(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cluster of each row, unit centres (k, d))`` by cosine: the best (highest total cosine to the
    centres) of :data:`KMEANS_RESTARTS` runs, each seeded by greedy k-means++ from ``seed``."""
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(KMEANS_RESTARTS):
        assignment, centres = _lloyd(vectors, _greedy_seeds(vectors, k, rng))
        fit = float(np.einsum("ij,ij->", vectors, centres[assignment]))
        if best is None or fit > best[0] + 1e-9:
            best = (fit, assignment, centres)
    assert best is not None
    return best[1], best[2]


def _greedy_seeds(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ that tries a few candidates per centre and keeps the one that helps most (as
    scikit-learn does): plain k-means++ often puts two seeds in one group and none in another."""
    n = len(vectors)
    trials = 2 + int(np.log(k)) if k > 1 else 1
    centres = np.empty((k, vectors.shape[1]))
    centres[0] = vectors[rng.integers(n)]
    closest = np.clip(1.0 - vectors @ centres[0], 0.0, None) ** 2
    for j in range(1, k):
        total = float(closest.sum())
        candidates = rng.choice(n, size=trials, p=closest / total) if total > 0 else rng.integers(n, size=trials)
        distances = np.minimum(closest[None, :], np.clip(1.0 - vectors[candidates] @ vectors.T, 0.0, None) ** 2)
        pick = int(np.argmin(distances.sum(axis=1)))
        centres[j] = vectors[candidates[pick]]
        closest = distances[pick]
    return centres


def _lloyd(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd steps by cosine until no row moves (at most :data:`KMEANS_ITERATIONS`)."""
    assignment = np.full(len(vectors), -1)
    for _ in range(KMEANS_ITERATIONS):
        moved = np.argmax(vectors @ centres.T, axis=1)
        if np.array_equal(moved, assignment):
            break
        assignment = moved
        for j in range(len(centres)):
            members = vectors[assignment == j]
            if len(members) == 0:
                # An empty cluster takes the row least like its own centre.
                fit = np.einsum("ij,ij->i", vectors, centres[assignment])
                members = vectors[[int(np.argmin(fit))]]
            total_vector = members.sum(axis=0)
            norm = float(np.linalg.norm(total_vector))
            centres[j] = total_vector / norm if norm > 1e-12 else members[0]
    return np.argmax(vectors @ centres.T, axis=1), centres


def _labels(operations: LatentOperations, centres: np.ndarray) -> list[tuple[str, str, str]]:
    """``(label, label_id, nearest_id)`` of each centre, from one batched search of the collection."""
    found = operations.collection.search(centres.astype(np.float32), SearchOptions(k=LABEL_CANDIDATES))
    labels = []
    for hits in found:
        text = next((h for h in hits if h.modality is Modality.TEXT), None)
        nearest = hits[0].id if hits else ""
        labels.append((text.content, text.id, nearest) if text else ("", "", nearest))
    return labels
