"""A decoder folder's manifest, ``decoder.json``: what the decoder is and which weights it belongs to.

A decoder folder holds ``decoder.json`` and the weights file it names. Loading reads the manifest
first, so the registry can pick the backend and refuse a decoder bound to other encoder weights
before any weights are read. Backend-specific settings (a temperature, a step count) go in
``params``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from latentspace.indexer.errors import ModelUnavailable

MANIFEST_FILE = "decoder.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DecoderManifest:
    """The contents of ``decoder.json``."""

    kind: str  # which backend loads it (a key of registry.BACKENDS)
    name: str  # the decoder's own name and version
    encoder_spec: str  # the canonical spec of the encoder it was trained against
    fingerprint: str  # that encoder's weights fingerprint
    dimension: int
    output_size: tuple[int, int]  # (width, height)
    weights: str  # the weights file, relative to the folder
    params: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The manifest as written to disk (sorted keys, so a retrain rewrites the same bytes)."""
        data = asdict(self)
        data["output_size"] = list(self.output_size)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_manifest(folder: Path) -> DecoderManifest:
    """Read and check ``folder/decoder.json``; :class:`ModelUnavailable` names what is wrong."""
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ModelUnavailable(f"decoder folder {folder} has no {MANIFEST_FILE}", field="model") from e
    except (OSError, ValueError) as e:
        raise ModelUnavailable(f"cannot read {path}: {e}", field="model") from e
    try:
        if data["format"] != FORMAT_VERSION:
            raise ModelUnavailable(
                f"{path} has format {data['format']!r}; this version reads format {FORMAT_VERSION}",
                field="model",
            )
        width, height = (int(v) for v in data["output_size"])
        manifest = DecoderManifest(
            kind=str(data["kind"]),
            name=str(data["name"]),
            encoder_spec=str(data["encoder_spec"]),
            fingerprint=str(data["fingerprint"]),
            dimension=int(data["dimension"]),
            output_size=(width, height),
            weights=str(data["weights"]),
            params=dict(data.get("params", {})),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelUnavailable(f"{path} is not a valid decoder manifest ({type(e).__name__}: {e})",
                               field="model") from e
    if manifest.dimension < 1 or width < 1 or height < 1:
        raise ModelUnavailable(f"{path}: dimension and output_size must be positive", field="model")
    return manifest


def write_manifest(folder: Path, manifest: DecoderManifest) -> Path:
    """Write ``folder/decoder.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_FILE
    path.write_text(manifest.to_json())
    return path
