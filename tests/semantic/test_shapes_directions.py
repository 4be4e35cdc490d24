"""Named directions and explained scores on the shapes CLIP, through the real server and the SDK.

Uses the session's shapes collection (:mod:`tests.semantic.shapes_server`); bases are rendered fresh
with seeds the collection was not built from.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentspace.indexer.shapes.render import SIZES, ShapeSpec
from latentspace_client import (
    AlreadyExists,
    Edit,
    Id,
    InvalidArgument,
    Labels,
    Mix,
    NamedDirection,
    NotFound,
    TextPair,
)
from tests.semantic.shapes_server import IMAGES, kind_of, png

pytestmark = pytest.mark.semantic

BASES = 40
RED_TO_BLUE = TextPair("a red circle", "a blue circle", use_templates=True)


def fresh_red_circles():
    return [png(ShapeSpec("red", "circle", SIZES[i % 2]), seed=7000 + i) for i in range(BASES)]


def test_a_direction_from_colour_labels_edits_red_circles_into_blue_circles(shapes):
    info = shapes.create_direction("labels-red-to-blue", Labels("color", "blue", "red", filter=IMAGES), seed=0)
    assert info.source == "labels" and info.method == "mean_difference"
    assert info.quality.evaluated_on == "held_out" and info.quality.auc >= 0.95
    assert (info.quality.positives, info.quality.negatives) == (48, 48)  # images only: the filter keeps captions out
    assert info.norm > 0.5 and info.fingerprint == shapes.describe_collection().fingerprint
    blue_circles = 0
    for base in fresh_red_circles():
        edit = shapes.edit(base, NamedDirection("labels-red-to-blue"), k=1, filter=IMAGES)
        blue_circles += kind_of(edit.hits[0]) == ("blue", "circle")
        assert edit.result_projection > edit.base_projection
    assert blue_circles >= 0.95 * BASES


@pytest.mark.parametrize("method", ["least_squares", "logistic"])
def test_linear_probes_separate_the_colours_too(shapes, method):
    info = shapes.create_direction(f"probe-{method}", Labels("color", "blue", "red", filter=IMAGES), method=method)
    assert info.method == method and info.quality.auc >= 0.95


def test_a_text_pair_stored_by_name_edits_exactly_as_the_inline_pair(shapes):
    info = shapes.create_direction("text-red-to-blue", RED_TO_BLUE)
    assert info.quality.evaluated_on == "templates" and info.quality.auc >= 0.95
    assert info.description == '"a red circle" -> "a blue circle" over 7 prompt templates'
    for base in fresh_red_circles()[:10]:
        named = shapes.edit(base, NamedDirection("text-red-to-blue"), k=5, with_vectors=True)
        inline = shapes.edit(base, RED_TO_BLUE, k=5, with_vectors=True)
        assert [h.id for h in named.hits] == [h.id for h in inline.hits]
        assert np.array_equal(named.vector, inline.vector)
        assert named.direction_norm == pytest.approx(inline.direction_norm, abs=1e-6)


def test_a_named_direction_in_a_mix_moves_the_other_part(shapes):
    shapes.create_direction("mix-red-to-blue", Labels("color", "blue", "red", filter=IMAGES))
    base = fresh_red_circles()[0]
    mixed = shapes.search(Mix([(base, 1.0), (NamedDirection("mix-red-to-blue"), 1.0)]), k=3, filter=IMAGES)
    edited = shapes.edit(base, NamedDirection("mix-red-to-blue"), k=3, filter=IMAGES)
    assert [h.id for h in mixed] == [h.id for h in edited.hits]
    assert all(kind_of(h) == ("blue", "circle") for h in mixed)


def test_explained_shares_add_up_on_the_real_model(shapes):
    shapes.create_direction("explain-red-to-blue", RED_TO_BLUE)
    query = Mix([("a red circle", 1.0), (Edit(Id("red-square-large-0"), NamedDirection("explain-red-to-blue")), 0.5)])
    hits = shapes.search(query, k=8, explain=True)
    for hit in hits:
        terms = hit.explanation.terms
        assert abs(sum(t.share for t in terms) - hit.score) <= 1e-5
        assert [t.path for t in terms] == ["query.mix.parts[0].query", "query.mix.parts[1].query.edit.base",
                                           "query.mix.parts[1].query.edit.direction"]
        [projection] = hit.explanation.projections
        assert projection.name == "explain-red-to-blue"
    # The text dominates: every hit's largest share is the text's.
    assert all(max(h.explanation.terms, key=lambda t: t.share).path == "query.mix.parts[0].query" for h in hits)


def test_refusals_have_exact_codes(shapes):
    shapes.create_direction("refusal-taken", RED_TO_BLUE)
    with pytest.raises(AlreadyExists) as exists:
        shapes.create_direction("refusal-taken", RED_TO_BLUE)
    assert exists.value.reason == "DIRECTION_EXISTS"
    with pytest.raises(NotFound) as unknown:
        shapes.edit(Id("red-circle-large-0"), NamedDirection("no-such-direction"), k=1)
    assert unknown.value.reason == "DIRECTION_NOT_FOUND"
    with pytest.raises(InvalidArgument) as few:
        shapes.create_direction("refusal-few", Labels("color", "blue", "teal"))
    assert few.value.reason == "TOO_FEW_ITEMS"
    with pytest.raises(InvalidArgument):
        shapes.create_direction("refusal-probe", RED_TO_BLUE, method="logistic")
    with pytest.raises(NotFound):
        shapes.delete_direction("no-such-direction")
