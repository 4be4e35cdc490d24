"""The decoder registry: which model has a decoder, and one loaded decoder per decoder folder.

A decoder lives in a folder (see :mod:`latentspace.indexer.decoders.manifest`): ``decoder.json``
names its ``kind``, the backend class that loads it is looked up in :data:`BACKENDS` and imported
only then, so importing the library (or this module) imports neither torch nor any backend.

Where a model's decoder folder is found:

- a model shipped in this package: :data:`PACKAGED_DECODERS` (the shapes CLIP's is
  ``shapes/model/decoder/``);
- a model loaded from a local folder (``open_clip:/path/to/dir``): ``/path/to/dir/decoder/``.

Any other model has none, and :meth:`DecoderRegistry.get` answers ``None``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from pathlib import Path

from latentspace.indexer import shapes
from latentspace.indexer.decoders.base import Decoder
from latentspace.indexer.decoders.manifest import DecoderManifest, read_manifest
from latentspace.indexer.errors import LatentSpaceError, ModelMismatch, ModelUnavailable, NoDecoder
from latentspace.indexer.model_spec import ModelSpec, parse_model_spec

#: Which class loads each decoder kind. Each takes ``(folder: Path, manifest: DecoderManifest)``.
BACKENDS: dict[str, str] = {
    "attention": "latentspace.indexer.decoders.attention_decoder:AttentionDecoder",
}
#: Decoders shipped in this package: canonical encoder spec -> decoder folder.
PACKAGED_DECODERS: dict[str, Path] = {
    parse_model_spec("shapes-clip").canonical: shapes.DECODER_DIR,
}
#: The sub-folder of a local model folder that holds its decoder.
LOCAL_DECODER_DIR = "decoder"


def decoder_folder(spec: ModelSpec) -> Path | None:
    """The folder of ``spec``'s decoder, or ``None`` when the model has none. Loads nothing."""
    if spec.path is not None:
        folder = spec.path / LOCAL_DECODER_DIR
    else:
        packaged = PACKAGED_DECODERS.get(spec.canonical)
        if packaged is None:
            return None
        folder = packaged
    return folder if folder.is_dir() else None


class DecoderRegistry:
    """Loads each decoder once and hands it out only for the encoder fingerprint it was trained on.

    Thread-safe in the way of the encoder registry: one lock per folder, so concurrent first
    requests wait for a single load; a failed load is not remembered.
    """

    def __init__(self, backends: Mapping[str, str] | None = None) -> None:
        """``backends`` replaces the :data:`BACKENDS` table (tests plug fakes in here)."""
        self._backends = dict(BACKENDS if backends is None else backends)
        self._lock = threading.Lock()  # guards the two dicts below, never held during a load
        self._decoders: dict[Path, Decoder] = {}
        self._folder_locks: dict[Path, threading.Lock] = {}

    def has_decoder(self, spec: ModelSpec) -> bool:
        """Whether ``spec``'s model has a decoder folder; cheap, loads nothing."""
        return decoder_folder(spec) is not None

    def get(self, spec: ModelSpec, fingerprint: str) -> Decoder | None:
        """The decoder for vectors of model ``spec`` whose weights have ``fingerprint``.

        ``None`` when the model has no decoder. Raises :class:`ModelMismatch` when the decoder was
        trained against other weights (same spec, different fingerprint), and
        :class:`ModelUnavailable` when its folder is broken or its backend cannot be imported.
        """
        folder = decoder_folder(spec)
        if folder is None:
            return None
        key = folder.resolve()
        with self._lock:
            decoder = self._decoders.get(key)
            folder_lock = self._folder_locks.setdefault(key, threading.Lock())
        if decoder is None:
            with folder_lock:
                with self._lock:
                    decoder = self._decoders.get(key)
                if decoder is None:
                    decoder = self._load(spec, key)
                    with self._lock:
                        self._decoders[key] = decoder
        check_binding(decoder, spec, fingerprint)
        return decoder

    def for_collection(self, name: str, model: str | None, fingerprint: str | None) -> Decoder:
        """The decoder for collection ``name`` of ``model`` (its canonical spec) and weights ``fingerprint``.

        :class:`NoDecoder` when the collection is vector-only or its model has no decoder; otherwise as
        :meth:`get`.
        """
        if model is None or fingerprint is None:
            raise NoDecoder(f"collection {name!r} stores raw vectors without a model, so nothing can draw "
                            "its points; decoding needs a collection of a model with a decoder "
                            "(e.g. shapes-clip)", field="collection")
        spec = parse_model_spec(model)
        decoder = self.get(spec, fingerprint)
        if decoder is None:
            raise NoDecoder(f"collection {name!r} uses model {spec.redacted}, which has no decoder, so its "
                            "points cannot be drawn as images; of the shipped models only shapes-clip has one "
                            "(docs/latent-operations.md, \"The seam for a real decoder\", says how to add one)",
                            field="collection")
        return decoder

    def loaded(self) -> list[str]:
        """Names of the decoders in memory, sorted."""
        with self._lock:
            return sorted(decoder.name for decoder in self._decoders.values())

    def _load(self, spec: ModelSpec, folder: Path) -> Decoder:
        manifest = read_manifest(folder)
        target = self._backends.get(manifest.kind)
        if target is None:
            raise ModelUnavailable(
                f"decoder {manifest.name} for {spec} is of kind {manifest.kind!r}, which this version "
                f"cannot load (known kinds: {', '.join(sorted(self._backends))})",
                field="model",
            )
        module_name, _, class_name = target.partition(":")
        try:
            backend = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as e:
            raise ModelUnavailable(f"decoder {manifest.name}: its backend {target} cannot be imported ({e})",
                                   field="model") from e
        try:
            decoder: Decoder = backend(folder, manifest)
        except LatentSpaceError:
            raise
        except Exception as e:  # a broken weights file or a backend bug: still a decoder that cannot be used
            raise ModelUnavailable(f"decoder {manifest.name} failed to load: {type(e).__name__}: {e}",
                                   field="model") from e
        return decoder


def check_binding(decoder: Decoder | DecoderManifest, spec: ModelSpec, fingerprint: str) -> None:
    """Refuse a decoder trained against other weights than ``fingerprint`` (:class:`ModelMismatch`)."""
    if decoder.fingerprint != fingerprint:
        raise ModelMismatch(
            f"decoder {decoder.name} was trained against model weights {decoder.fingerprint}, but {spec} "
            f"has weights {fingerprint}; retrain the decoder for these weights "
            "(scripts/train_shapes_decoder.py for the shapes model)",
            field="model",
        )
