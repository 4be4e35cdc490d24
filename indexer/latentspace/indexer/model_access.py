"""What the operator lets callers load: local model folders under a model root, hub downloads from a list.

A server's callers are not its operator, so a model spec they send must not make the server read or
fetch anything the operator has not allowed:

- a spec naming a local folder (``open_clip:/models/my-clip``) is accepted only when the folder lies
  under the operator's model root (``--model-root`` / ``LATENTSPACE_MODEL_ROOT``), after resolving
  symlinks and ``..``; without a root, no folder at all;
- a hub model whose weights are not cached is downloaded only when downloads are on
  (``LATENTSPACE_ALLOW_DOWNLOAD``) and the spec is on the allow-list (``LATENTSPACE_DOWNLOAD_ALLOW``,
  default: the documented aliases). The encoders apply this one, when the weights are not cached,
  through :meth:`EncoderOptions.check_download <latentspace.indexer.encoders.base.EncoderOptions.check_download>`.

Local tools run by the operator (``latent index``, ``latent demo build``) pass no :class:`ModelAccess`
and no allow-list: they have the operator's full access. Refusals are :class:`PermissionDenied`
naming the setting, never a server path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from latentspace.indexer.errors import InvalidInput, PermissionDenied
from latentspace.indexer.model_spec import ALIASES, ModelSpec, parse_model_spec

#: The download allow-list by default: the documented aliases.
DEFAULT_DOWNLOAD_ALLOW: tuple[str, ...] = tuple(ALIASES)
#: An allow-list entry that allows every hub spec.
ANY_SPEC = "*"


@dataclass(frozen=True)
class ModelAccess:
    """The local model folders callers may name: those under ``model_root`` (None: none at all)."""

    model_root: Path | None = None

    def __post_init__(self) -> None:
        if self.model_root is not None:
            object.__setattr__(self, "model_root", Path(self.model_root).expanduser().resolve())

    def check(self, spec: ModelSpec) -> None:
        """Raise :class:`PermissionDenied` (reason ``MODEL_PATH_NOT_ALLOWED``) for a folder spec that
        lies outside the model root, before anything is read from it."""
        if spec.path is None:
            return
        if self.model_root is None:
            raise PermissionDenied(
                "this server does not load models from local folders named by callers; its operator can "
                "allow folders under one root with --model-root (LATENTSPACE_MODEL_ROOT), or name a hub "
                "model or an alias such as 'minilm'", field="model", reason="MODEL_PATH_NOT_ALLOWED")
        # spec.path is resolved by the spec parser: '..' and symlinks cannot lead out unseen.
        if not spec.path.is_relative_to(self.model_root):
            raise PermissionDenied(
                "the model folder named is outside the operator's model root (--model-root, "
                "LATENTSPACE_MODEL_ROOT); name a folder under it by its full path",
                field="model", reason="MODEL_PATH_NOT_ALLOWED")


def download_allow_list(entries: Iterable[str]) -> frozenset[str] | None:
    """The canonical specs of an allow-list of specs and aliases; ``None`` when it holds ``*`` (any).

    Raises :class:`InvalidInput` naming ``LATENTSPACE_DOWNLOAD_ALLOW`` for an entry that is not a
    hub spec, so a typo fails at start rather than at the first refused download.
    """
    allowed: set[str] = set()
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        if text == ANY_SPEC:
            return None
        try:
            spec = parse_model_spec(text)
        except InvalidInput as exc:
            raise InvalidInput(f"download allow-list entry {text!r}: {exc.message}",
                               field="LATENTSPACE_DOWNLOAD_ALLOW") from None
        if spec.path is not None:
            raise InvalidInput(f"download allow-list entry {text!r} names a local folder, not a hub model",
                               field="LATENTSPACE_DOWNLOAD_ALLOW")
        allowed.add(spec.canonical)
    return frozenset(allowed)
