"""The one settings object, read once at the entry point.

Every knob has a default, a ``LATENTSPACE_*`` environment variable and (for the ones people
change often) a CLI flag; flags win over the environment. Nothing below the entry point reads
``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits

ENV_PREFIX = "LATENTSPACE_"


@dataclass(frozen=True)
class Limits:
    """Explicit bounds on what one request may ask for."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_batch: int = 1024  # queries, items or pairs in one request
    max_k: int = 1000
    max_text_chars: int = 10_000
    max_image_pixels: int = 50_000_000
    max_steps: int = 256  # interpolation steps
    max_ef_search: int = 10_000  # HNSW efSearch a request may ask for (memory grows with it)
    max_nprobe: int = 65_536  # IVF lists a request may probe
    # Index kinds a CreateCollection may name (see IndexKindLimits for each).
    max_index_nlist: int = IndexKindLimits.max_index_nlist
    max_index_hnsw_m: int = IndexKindLimits.max_index_hnsw_m
    max_index_fixed_bytes: int = IndexKindLimits.max_index_fixed_bytes
    max_index_bytes_per_vector: int = IndexKindLimits.max_index_bytes_per_vector
    index_trial_timeout_s: float = IndexKindLimits.index_trial_timeout_s
    index_trial_memory_bytes: int = IndexKindLimits.index_trial_memory_bytes

    def __post_init__(self) -> None:
        try:  # a bad index-kind limit fails at start, not at the first create
            self.index_kind_limits()
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    def index_kind_limits(self) -> IndexKindLimits:
        """The index-kind limits, as the library takes them (``DataDir.create_collection``)."""
        return IndexKindLimits(**{f.name: getattr(self, f.name) for f in fields(IndexKindLimits)})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 50051
    #: Model weights cache (open_clip / Hugging Face hub); None: the libraries' defaults.
    model_cache: Path | None = None
    allow_download: bool = True
    device: str = "auto"
    batch_size: int = 64
    #: Worker threads for model calls and FAISS searches.
    workers: int = 4
    #: CPU threads each model call or FAISS search may use; 0 = cores // workers (at least 1),
    #: so concurrent requests do not oversubscribe the CPU.
    compute_threads: int = 0
    #: Seconds in-flight calls get to finish on shutdown.
    shutdown_grace: float = 5.0
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)

    def threads_per_call(self) -> int:
        if self.compute_threads > 0:
            return self.compute_threads
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))

    def encoder_options(self) -> EncoderOptions:
        return EncoderOptions(
            device=self.device,
            cache_dir=self.model_cache,
            allow_download=self.allow_download,
            batch_size=self.batch_size,
            threads=self.threads_per_call(),
        )

    @classmethod
    def load(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Defaults, then ``LATENTSPACE_*`` variables, then explicit overrides (CLI flags; None = unset).

        Limits are read from ``LATENTSPACE_MAX_K``, ``LATENTSPACE_MAX_BATCH``, ... (the field name upper-cased).
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "limits":
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.name, f.type, raw)
        limit_values = {
            f.name: _coerce(f.name, f.type, environ[ENV_PREFIX + f.name.upper()])
            for f in fields(Limits)
            if ENV_PREFIX + f.name.upper() in environ
        }
        values.update({k: v for k, v in overrides.items() if v is not None and k != "limits"})
        limits = overrides.get("limits") or dataclasses.replace(Limits(), **limit_values)
        return cls(limits=limits, **values)


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if "Path" in kind:
            return Path(raw).expanduser() if raw else None
        if "bool" in kind:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError:
        raise InvalidInput(f"cannot read {raw!r} as {kind}", field=ENV_PREFIX + name.upper()) from None
    return raw
