"""The one model-spec parser: aliases, families, local paths, and refusals that say what to type."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.model_spec import ALIASES, ModelFamily, ModelSpec, parse_model_spec


@pytest.mark.parametrize("alias,canonical", [
    ("minilm", "sentence-transformers:all-MiniLM-L6-v2"),
    ("MiniLM", "sentence-transformers:all-MiniLM-L6-v2"),
    ("all-minilm-l6-v2", "sentence-transformers:all-MiniLM-L6-v2"),
    ("clip-vit-b-32", "open_clip:ViT-B-32/laion2b_s34b_b79k"),
    ("shapes-clip", "open_clip:shapes-rn-128/latentspace-v1"),
    (" shapes-clip ", "open_clip:shapes-rn-128/latentspace-v1"),
])
def test_aliases_expand_to_full_specs(alias, canonical):
    assert parse_model_spec(alias).canonical == canonical


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_parses_and_round_trips(alias):
    spec = parse_model_spec(alias)
    assert parse_model_spec(spec.canonical) == spec
    assert str(spec) == spec.canonical


@pytest.mark.parametrize("text,family,name,pretrained", [
    ("open_clip:ViT-B-32/laion2b_s34b_b79k", ModelFamily.OPEN_CLIP, "ViT-B-32", "laion2b_s34b_b79k"),
    ("open-clip:ViT-L-14/openai", ModelFamily.OPEN_CLIP, "ViT-L-14", "openai"),
    ("sentence-transformers:all-MiniLM-L6-v2", ModelFamily.SENTENCE_TRANSFORMERS, "all-MiniLM-L6-v2", None),
    ("st:paraphrase-MiniLM-L3-v2", ModelFamily.SENTENCE_TRANSFORMERS, "paraphrase-MiniLM-L3-v2", None),
    # A hub repo id keeps its owner.
    ("sentence-transformers:sentence-transformers/all-mpnet-base-v2", ModelFamily.SENTENCE_TRANSFORMERS,
     "sentence-transformers/all-mpnet-base-v2", None),
])
def test_family_prefixes_and_names(text, family, name, pretrained):
    spec = parse_model_spec(text)
    assert (spec.family, spec.name, spec.pretrained, spec.path) == (family, name, pretrained, None)


def test_local_paths_become_absolute_paths(tmp_path, monkeypatch):
    spec = parse_model_spec(f"open_clip:{tmp_path}")
    assert spec == ModelSpec(ModelFamily.OPEN_CLIP, path=tmp_path.resolve())
    assert spec.canonical == f"open_clip:{tmp_path.resolve()}"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-model").mkdir()
    assert parse_model_spec("sentence-transformers:./my-model").path == tmp_path.resolve() / "my-model"
    # A bare name stays a model name even when a folder of that name happens to exist here.
    bare = parse_model_spec("st:my-model")
    assert bare.path is None and bare.name == "my-model"
    assert parse_model_spec("st:~/x").path == Path("~/x").expanduser().resolve()


def test_specs_are_values():
    assert parse_model_spec("minilm") == parse_model_spec("sentence-transformers:all-MiniLM-L6-v2")
    assert len({parse_model_spec("minilm"), parse_model_spec("st:all-MiniLM-L6-v2")}) == 1


@pytest.mark.parametrize("text,says", [
    ("", "empty"),
    ("   ", "empty"),
    ("no-such-model", "unknown model spec"),
    ("tensorflow:resnet", "unknown model spec"),
    ("sentence-transformers:", "names no model"),
    ("open_clip:ViT-B-32", "pretrained tag"),
    ("open_clip:ViT-B-32/", "pretrained tag"),
])
def test_bad_specs_are_invalid_input_naming_the_forms(text, says):
    with pytest.raises(InvalidInput) as caught:
        parse_model_spec(text)
    assert caught.value.field == "model"
    assert says in caught.value.message


def test_a_leading_slash_is_a_folder_even_when_missing():
    # Whether the folder exists is the loader's question (ModelUnavailable), not the parser's.
    assert parse_model_spec("open_clip:/ViT-B-32").path == Path("/ViT-B-32")
