"""What callers may name as a model: folders only under the model root, downloads only from the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.errors import InvalidInput, ModelUnavailable, PermissionDenied
from latentspace.indexer.model_access import ModelAccess, download_allow_list
from latentspace.indexer.model_spec import parse_model_spec


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "models" / "clip").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "models" / "link-out").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "models" / "link-in").symlink_to(tmp_path / "models" / "clip", target_is_directory=True)
    return tmp_path / "models"


def test_hub_specs_and_aliases_need_no_root() -> None:
    for spec in ("minilm", "open_clip:ViT-B-32/openai", "sentence-transformers:all-MiniLM-L6-v2"):
        ModelAccess().check(parse_model_spec(spec))


def test_without_a_root_no_folder_is_accepted(root: Path) -> None:
    with pytest.raises(PermissionDenied) as caught:
        ModelAccess().check(parse_model_spec(f"open_clip:{root}/clip"))
    assert caught.value.reason == "MODEL_PATH_NOT_ALLOWED" and caught.value.field == "model"
    assert "LATENTSPACE_MODEL_ROOT" in caught.value.message and str(root) not in caught.value.message


@pytest.mark.parametrize("inside", ["clip", "link-in", "clip/../clip", "not-there-yet", "."])
def test_folders_under_the_root_are_accepted(root: Path, inside: str) -> None:
    ModelAccess(root).check(parse_model_spec(f"open_clip:{root}/{inside}"))


@pytest.mark.parametrize("outside", ["../elsewhere", "link-out", "clip/../../elsewhere", "link-out/x"])
def test_no_path_leads_out_of_the_root(root: Path, outside: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        ModelAccess(root).check(parse_model_spec(f"sentence-transformers:{root}/{outside}"))
    assert "outside" in caught.value.message and str(root) not in caught.value.message


def test_the_root_is_resolved_once(root: Path) -> None:
    assert ModelAccess(root / "clip" / "..").model_root == root.resolve()


def test_allow_list_entries_become_canonical_specs() -> None:
    assert download_allow_list(["minilm", " clip-vit-b-32 ", ""]) == {
        "sentence-transformers:all-MiniLM-L6-v2", "open_clip:ViT-B-32/laion2b_s34b_b79k"}
    assert download_allow_list(["minilm", "*"]) is None
    with pytest.raises(InvalidInput, match="LATENTSPACE_DOWNLOAD_ALLOW"):
        download_allow_list(["open_clip:/models/x"])


def test_downloads_off_then_allow_list() -> None:
    spec = parse_model_spec("open_clip:ViT-B-32/openai")
    with pytest.raises(ModelUnavailable, match="LATENTSPACE_ALLOW_DOWNLOAD"):
        EncoderOptions().check_download(spec)  # off by default
    with pytest.raises(PermissionDenied) as caught:
        EncoderOptions(allow_download=True, download_allow=frozenset({"x:y"})).check_download(spec)
    assert caught.value.reason == "DOWNLOAD_NOT_ALLOWED" and "LATENTSPACE_DOWNLOAD_ALLOW" in caught.value.message
    EncoderOptions(allow_download=True, download_allow=frozenset({spec.canonical})).check_download(spec)
    EncoderOptions(allow_download=True).check_download(spec)  # None: any spec (the operator's tools)


def test_a_folder_spec_is_shown_by_its_name_only(root: Path) -> None:
    spec = parse_model_spec(f"open_clip:{root}/clip")
    assert spec.redacted == "open_clip:.../clip" and str(root) not in spec.redacted
    assert parse_model_spec("minilm").redacted == "sentence-transformers:all-MiniLM-L6-v2"
