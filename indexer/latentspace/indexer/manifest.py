"""``collection.json``: what a collection folder holds, read before anything else in it.

Loading a collection replays its manifest (the model spec, dimension, metric, index kind, the
fingerprint of the model's weights and the backend); nothing is inferred from the index file or the
database. A Milvus collection carries the same manifest text in its collection properties.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import platform
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentspace.indexer.errors import FailedPrecondition, InvalidInput
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.store.atomic_files import write_atomic

log = logging.getLogger(__name__)

#: The manifest format this code writes and reads. Bump it when the folder layout changes.
FORMAT_VERSION = 1
MANIFEST_FILE = "collection.json"
METRICS = ("cosine",)
MAX_DIMENSION = 65_536
#: Where a collection's items live: this process's SQLite + FAISS store, or a Milvus collection.
EMBEDDED, MILVUS = "embedded", "milvus"
BACKENDS = (EMBEDDED, MILVUS)


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats end up in a collection folder (for diagnosis)."""
    import faiss
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__,
                "faiss": getattr(faiss, "__version__", "unknown"), "sqlite": sqlite3.sqlite_version}
    try:
        from importlib.metadata import version

        versions["latentspace"] = version("latentspace")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        versions["latentspace"] = "unknown"
    return versions


@dataclass(frozen=True)
class CollectionManifest:
    """The description of one collection folder."""

    name: str
    #: The canonical model spec, or None for a vector-only collection.
    model: str | None
    dimension: int
    metric: str = "cosine"
    #: A FAISS factory string (without IDMap), or ``auto``.
    index_kind: str = "Flat"
    #: A digest of the model's weights; None for vector-only collections.
    fingerprint: str | None = None
    format_version: int = FORMAT_VERSION
    library_versions: dict[str, str] = field(default_factory=dict, hash=False)
    created_at: str = ""
    #: Which engine holds the items (manifests written before it existed are embedded ones).
    backend: str = EMBEDDED

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def new(cls, name: str, model: str | None, dimension: int, index_kind: str = "Flat",
            fingerprint: str | None = None, backend: str = EMBEDDED) -> CollectionManifest:
        """A manifest for a collection created now, stamped with the current library versions."""
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(name=name, model=model, dimension=dimension, index_kind=index_kind,
                   fingerprint=fingerprint, library_versions=library_versions(), created_at=created,
                   backend=backend)

    def validate(self) -> None:
        """Raise :class:`InvalidInput` naming the first field that is not acceptable."""
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput("collection name must be a non-empty string", field="name")
        if self.model is not None:
            if not isinstance(self.model, str):
                raise InvalidInput(f"model must be a spec string, got {self.model!r}", field="model")
            parse_model_spec(self.model)  # raises InvalidInput(field="model")
        if isinstance(self.dimension, bool) or not isinstance(self.dimension, int) \
                or not 1 <= self.dimension <= MAX_DIMENSION:
            raise InvalidInput(f"dimension must be an integer in 1..{MAX_DIMENSION}, got {self.dimension!r}",
                               field="dimension")
        if self.metric not in METRICS:
            raise InvalidInput(f"metric {self.metric!r} is not supported; use one of {METRICS}",
                               field="metric")
        if not isinstance(self.index_kind, str) or not self.index_kind.strip():
            raise InvalidInput("index_kind must be a FAISS factory string such as 'Flat' or 'HNSW32'",
                               field="index_kind")
        if self.format_version != FORMAT_VERSION:
            raise _unsupported_format(f"collection {self.name!r}", self.format_version)
        if self.backend not in BACKENDS:
            raise InvalidInput(f"backend {self.backend!r} is not known; use one of {', '.join(BACKENDS)}",
                               field="backend")

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object."""
        return dataclasses.asdict(self)

    def save(self, folder_or_file: Path) -> None:
        """Write the manifest atomically (``collection.json`` when given a folder)."""
        write_atomic(_manifest_path(folder_or_file), self.to_text().encode("utf-8"))

    def to_text(self) -> str:
        """The manifest as the JSON text ``save`` writes (also what a Milvus collection carries)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: Any, where: str) -> CollectionManifest:
        """Validate a decoded manifest; :class:`FailedPrecondition` naming ``where`` (e.g. "the manifest
        of collection 'x'", never a server path) if it is not one."""
        if not isinstance(raw, dict):
            raise FailedPrecondition(f"{where} is not a JSON object")
        if raw.get("format_version") != FORMAT_VERSION:
            raise _unsupported_format(where, raw.get("format_version"))
        known = {f.name for f in dataclasses.fields(cls)}
        missing = {"name", "model", "dimension"} - raw.keys()
        if missing:
            raise FailedPrecondition(f"{where} lacks {sorted(missing)}")
        try:
            # Unknown keys are ignored so a newer minor writer does not lock out this reader.
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (InvalidInput, TypeError) as exc:
            raise FailedPrecondition(f"{where} is invalid: {exc}") from exc

    @classmethod
    def load(cls, folder_or_file: Path) -> CollectionManifest:
        """Read and validate a manifest; :class:`FailedPrecondition` if it is unreadable or invalid."""
        path = _manifest_path(folder_or_file)
        # Named by its collection's folder only: these messages reach callers, the data dir's path must not.
        where = f"the manifest of collection {path.parent.name!r}"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            log.warning("collection manifest %s is unreadable: %s", path, exc)
            raise FailedPrecondition(f"{where} is unreadable ({type(exc).__name__})") from exc
        return cls.from_json(raw, where)


def _unsupported_format(where: str, version: Any) -> FailedPrecondition:
    return FailedPrecondition(
        f"{where} has format_version {version!r}; this latentspace reads version {FORMAT_VERSION} "
        "(upgrade latentspace, or re-create the collection)",
        field="format_version",
    )


def _manifest_path(folder_or_file: Path) -> Path:
    path = Path(folder_or_file)
    return path / MANIFEST_FILE if path.is_dir() else path
