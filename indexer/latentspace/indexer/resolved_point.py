"""What a point resolves to: a unit vector, what it was made of, and its linear form over the request's leaves.

Every composite point is computed as ``sum_i c_i v_i`` over its children's vectors, with the
coefficients :mod:`latentspace.indexer.latent_math` gives (``mix_coefficients``,
``edit_add_coefficients``, ``slerp_coefficients``, ...), and each child is such a sum over its own
leaves. So any point is ``q = sum_j c_j v_j`` over the leaves of its request: texts, images, raw
vectors, stored items and directions, each named by the request path of the message it came from.
Cosine is linear in ``q``, so the score ``q . x`` of an item ``x`` splits exactly into the shares
``c_j (v_j . x)`` (:mod:`latentspace.indexer.explain`).

:class:`ResolvedPoint`, :class:`ResolvedDirection` and :class:`ResolvedEdit` are what
:class:`~latentspace.indexer.resolver.PointResolver` hands the operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latentspace.indexer.modality import Modality


@dataclass(frozen=True, eq=False)
class LinearForm:
    """``point = sum_j coefficients[j] * vectors[j]``; ``paths[j]`` names leaf j in the request."""

    paths: tuple[str, ...]
    vectors: tuple[np.ndarray, ...]
    coefficients: np.ndarray  # float64 (n,)

    @classmethod
    def leaf(cls, path: str, vector: np.ndarray) -> LinearForm:
        """One leaf whose unit vector is the point itself."""
        return cls((path,), (vector,), np.ones(1))

    @classmethod
    def combine(cls, parts: Sequence[tuple[LinearForm, float]]) -> LinearForm:
        """``sum_i c_i * part_i`` as one form over all the parts' leaves (a leaf used twice stays two terms)."""
        return cls(
            tuple(p for form, _ in parts for p in form.paths),
            tuple(v for form, _ in parts for v in form.vectors),
            np.concatenate([c * form.coefficients for form, c in parts]),
        )

    def matrix(self) -> np.ndarray:
        """The leaves' vectors as rows of a float64 ``(n, d)`` matrix."""
        return np.stack(self.vectors).astype(np.float64)

    def vector(self) -> np.ndarray:
        """The point the form adds up to, in float64."""
        return np.asarray(self.coefficients @ self.matrix())

    def normalised(self) -> LinearForm:
        """The same form scaled so that its point has unit norm in float64.

        Composite points are computed from their children's float32 vectors; adding up the leaves
        instead differs by float32 rounding times the coefficients, which a near-cancelling mix makes
        large. Normalising the flattened form and searching with *its* point keeps the shares exact.
        """
        return LinearForm(self.paths, self.vectors, self.coefficients / float(np.linalg.norm(self.vector())))

    def point(self) -> np.ndarray:
        """The searched point: :meth:`vector` as float32 (unit when the form is normalised)."""
        return self.vector().astype(np.float32)


@dataclass(frozen=True, eq=False)
class UsedDirection:
    """A direction a point was built with: its request path, its stored name ("" inline) and unit vector."""

    path: str
    name: str
    vector: np.ndarray


@dataclass(frozen=True, eq=False)
class CosMulTerms:
    """A 3CosMul analogy's three points and their request paths: a ranking, not a linear form."""

    a: np.ndarray
    a_star: np.ndarray
    b: np.ndarray
    paths: tuple[str, str, str]


@dataclass(frozen=True, eq=False)
class ResolvedPoint:
    """A point as a unit vector, with what it was made of.

    ``modality`` is TEXT/IMAGE for those leaves, the stored item's modality for an id and VECTOR for raw
    vectors, directions and composites. ``input_ids`` are the stored items the point was built from.
    ``exclude_ids`` are ids a search around this point must not return (an analogy's inputs unless
    ``include_inputs``). ``cos_mul`` holds a 3CosMul analogy's three points: it is a ranking, and
    ``vector`` is then only its 3CosAdd point, the centre to gather candidates around. ``sources`` are
    the content modalities (text, image) the point's position derives from, so a mix or an edit of a
    text still counts as text when a distance decides whether a pair crosses modalities. ``form`` is
    the point as a sum over the request's leaves; ``directions`` the directions it was built with.
    """

    vector: np.ndarray
    modality: Modality
    input_ids: frozenset[str] = frozenset()
    exclude_ids: frozenset[str] = frozenset()
    cos_mul: CosMulTerms | None = None
    sources: frozenset[Modality] = frozenset()
    form: LinearForm | None = None
    directions: tuple[UsedDirection, ...] = ()

    @classmethod
    def leaf(cls, vector: np.ndarray, modality: Modality, path: str, **kwargs: object) -> ResolvedPoint:
        """A leaf point: its own linear form is itself."""
        return cls(vector, modality, form=LinearForm.leaf(path, vector), **kwargs)  # type: ignore[arg-type]

    @property
    def linear_form(self) -> LinearForm:
        """The point's form (every resolved point has one)."""
        assert self.form is not None
        return self.form


@dataclass(frozen=True, eq=False)
class ResolvedDirection:
    """A direction as a unit vector, the norm of what was normalised, and its name when stored."""

    vector: np.ndarray
    norm: float
    name: str = ""


@dataclass(frozen=True, eq=False)
class ResolvedEdit:
    """An edit's parts: the base, the unit direction and its raw norm, and the edited point."""

    base: ResolvedPoint
    direction: np.ndarray
    direction_norm: float
    result: ResolvedPoint
