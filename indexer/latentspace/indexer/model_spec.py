"""The one parser for model specs.

A model spec is the string a user types to name a model: ``open_clip:ViT-B-32/laion2b_s34b_b79k``,
``open_clip:/models/my-clip``, ``sentence-transformers:all-MiniLM-L6-v2`` or a short alias such as
``minilm``. It is parsed here, once, into a frozen :class:`ModelSpec`; every later step (loading,
manifests, caching of loaded models) takes the parsed value, never the raw string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from latentspace.indexer.errors import InvalidInput


class ModelFamily(StrEnum):
    """Which library loads the model."""

    OPEN_CLIP = "open_clip"
    SENTENCE_TRANSFORMERS = "sentence-transformers"


#: Documented shortcuts. Keys are what users type; values are full specs.
ALIASES: dict[str, str] = {
    "minilm": "sentence-transformers:all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "sentence-transformers:all-MiniLM-L6-v2",
    "clip-vit-b-32": "open_clip:ViT-B-32/laion2b_s34b_b79k",
    "clip-vit-b-16": "open_clip:ViT-B-16/laion2b_s34b_b88k",
    "clip-vit-l-14": "open_clip:ViT-L-14/laion2b_s32b_b82k",
    # The project's own small CLIP, trained on rendered shapes and shipped in the package.
    "shapes-clip": "open_clip:shapes-rn-128/latentspace-v1",
}

_FAMILY_PREFIXES: dict[str, ModelFamily] = {
    "open_clip": ModelFamily.OPEN_CLIP,
    "open-clip": ModelFamily.OPEN_CLIP,
    "openclip": ModelFamily.OPEN_CLIP,
    "sentence-transformers": ModelFamily.SENTENCE_TRANSFORMERS,
    "sentence_transformers": ModelFamily.SENTENCE_TRANSFORMERS,
    "st": ModelFamily.SENTENCE_TRANSFORMERS,
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    ``name`` is the model name within its family (an open_clip architecture, a
    sentence-transformers model name) or ``None`` for a local folder; ``pretrained``
    is the open_clip pretrained tag; ``path`` is a local folder holding the model.
    """

    family: ModelFamily
    name: str | None = None
    pretrained: str | None = None
    path: Path | None = None

    @property
    def canonical(self) -> str:
        """The full spec string; parsing it gives back an equal spec."""
        if self.path is not None:
            return f"{self.family.value}:{self.path}"
        if self.pretrained:
            return f"{self.family.value}:{self.name}/{self.pretrained}"
        return f"{self.family.value}:{self.name}"

    @property
    def redacted(self) -> str:
        """The spec as error messages show it: a local folder by its own name only, so that a message
        sent to a caller never shows where the server keeps its files."""
        if self.path is not None:
            return f"{self.family.value}:.../{self.path.name}"
        return self.canonical

    def __str__(self) -> str:
        return self.canonical


def _looks_like_path(identifier: str) -> bool:
    # Only explicit paths: a bare name that happens to match a folder in the working directory
    # must still mean the hub model of that name.
    return identifier.startswith(("/", "./", "../", "~"))


def parse_model_spec(text: str) -> ModelSpec:
    """Parse a user-typed model spec (or alias) into a :class:`ModelSpec`.

    Raises :class:`InvalidInput` naming the accepted forms when ``text`` fits none.
    """
    raw = text.strip()
    if not raw:
        raise InvalidInput("empty model spec; use e.g. 'minilm' or 'open_clip:ViT-B-32/laion2b_s34b_b79k'",
                           field="model")
    raw = ALIASES.get(raw.lower(), raw)
    prefix, sep, identifier = raw.partition(":")
    family = _FAMILY_PREFIXES.get(prefix.lower()) if sep else None
    if family is None:
        known = ", ".join(sorted(ALIASES))
        raise InvalidInput(
            f"unknown model spec {text!r}: expected 'open_clip:ARCH/PRETRAINED', 'open_clip:/path/to/dir', "
            f"'sentence-transformers:NAME_OR_PATH' or an alias ({known})",
            field="model",
        )
    identifier = identifier.strip()
    if not identifier:
        raise InvalidInput(f"model spec {text!r} names no model after '{prefix}:'", field="model")

    if _looks_like_path(identifier):
        try:
            path = Path(identifier).expanduser().resolve()
        except (RuntimeError, OSError):  # '~someone' without a home folder, a symlink loop
            raise InvalidInput(f"model spec {text!r} names a folder that cannot be resolved", field="model") from None
        return ModelSpec(family=family, path=path)

    if family is ModelFamily.OPEN_CLIP:
        name, slash, pretrained = identifier.partition("/")
        if not slash or not name or not pretrained:
            raise InvalidInput(
                f"open_clip spec {text!r} needs an architecture and a pretrained tag, "
                "e.g. 'open_clip:ViT-B-32/laion2b_s34b_b79k', or a local folder path",
                field="model",
            )
        return ModelSpec(family=family, name=name, pretrained=pretrained)
    return ModelSpec(family=family, name=identifier)
