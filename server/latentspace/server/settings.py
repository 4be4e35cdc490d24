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
from typing import TYPE_CHECKING, Any

from latentspace.indexer.collection import SNAPSHOT_EVERY
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.index.auto_kind import AutoIndexPolicy
from latentspace.indexer.limits import Limits
from latentspace.indexer.manifest import BACKENDS, EMBEDDED, MILVUS
from latentspace.indexer.model_access import DEFAULT_DOWNLOAD_ALLOW, ModelAccess, download_allow_list
from latentspace.indexer.thumbnails import DEFAULT_THUMBNAIL_SIDE, check_thumbnail_side

if TYPE_CHECKING:
    from latentspace.indexer.backends.milvus import MilvusTarget

__all__ = ["ENV_PREFIX", "Limits", "Settings"]

ENV_PREFIX = "LATENTSPACE_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 50051
    #: API keys (docs/security.md): a keys file, and/or the same lines in LATENTSPACE_API_KEYS
    #: (";" ends a line there). None of either: no authentication, and loopback only (below).
    api_keys_file: Path | None = None
    api_keys: str = ""
    #: Serve without API keys on a non-loopback host (refused otherwise).
    insecure_public: bool = False
    #: TLS: the server's certificate chain and key (PEM); a client CA adds mutual TLS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    #: Model weights cache (open_clip / Hugging Face hub); None: the libraries' defaults.
    model_cache: Path | None = None
    #: Fetch hub weights that are not in the cache (off: never touch the network) ...
    allow_download: bool = False
    #: ... and then only for these specs or aliases ("*": any); comma-separated in the environment.
    download_allow: tuple[str, ...] = DEFAULT_DOWNLOAD_ALLOW
    #: Local model folders callers may name (``open_clip:/models/x``) lie under this; None: none at all.
    model_root: Path | None = None
    #: Where Snapshot writes and Restore reads collection snapshots; None: backups are off.
    backup_dir: Path | None = None
    device: str = "auto"
    #: Texts or images per model batch (micro-batches of concurrent requests fill up to this).
    batch_size: int = 64
    #: Calls admitted at once (running or waiting for a batch); past it, RESOURCE_EXHAUSTED at once.
    max_in_flight: int = 64
    #: Request threads; 0 = max_in_flight, so every admitted call has a thread to wait in. Threads
    #: mostly wait in batchers: the CPU work is bounded by the batches, not by this.
    workers: int = 0
    #: CPU threads of one model batch; 0 = every core (model batches run one at a time per model).
    compute_threads: int = 0
    #: OpenMP threads of one FAISS search call. 1 is steadiest on shared machines: concurrent
    #: search batches then use the cores side by side (see search_concurrency).
    search_threads: int = 1
    #: Search batches of one collection that may run at once; 0 = the number of cores.
    search_concurrency: int = 0
    #: Gather concurrent encodes and searches into batches (off: each call runs alone).
    micro_batching: bool = True
    #: Query rows per search batch.
    search_batch_size: int = 256
    #: Under load, how long a batch may wait to fill up again (milliseconds); a lone call never waits.
    batch_wait_ms: float = 1.0
    #: Collections created without an index kind follow their size: HNSW32 from this many items on ...
    auto_hnsw_from: int = 20_000
    #: ... and IVF + PQ (re-ranked exactly) from this many (see benchmarks/README.md).
    auto_ivfpq_from: int = 1_000_000
    #: Port of the Prometheus /metrics endpoint (on ``host``); None = off, 0 = a free port.
    metrics_port: int | None = None
    #: Seconds in-flight calls get to finish on shutdown.
    shutdown_grace: float = 5.0
    #: Snapshot a collection's index after this many written rows (or a tenth of the collection,
    #: whichever is larger); lower means less catch-up on open and more snapshot writing.
    snapshot_every: int = SNAPSHOT_EVERY
    #: The longer side of the thumbnail each image item keeps (pixels, 16..1024; 0 = none).
    thumbnail_side: int = DEFAULT_THUMBNAIL_SIDE
    log_level: str = "INFO"
    #: Milvus for collections created with backend "milvus" (docs/milvus.md): http(s)://host:19530
    #: for a cluster, or a Milvus Lite file ending in .db; empty: no Milvus.
    milvus_uri: str = ""
    #: "user:password" or an API token, from the environment only (LATENTSPACE_MILVUS_TOKEN).
    milvus_token: str = field(default="", repr=False)
    #: The consistency level of Milvus reads: Strong (a read sees every acknowledged write, from any
    #: server), Session, Bounded or Eventually.
    milvus_consistency: str = "Strong"
    #: Where a CreateCollection that names no backend puts the collection: embedded or milvus.
    default_backend: str = EMBEDDED
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        try:
            check_thumbnail_side(self.thumbnail_side)
        except ValueError as error:
            raise InvalidInput(str(error), field=ENV_PREFIX + "THUMBNAIL_SIDE") from None
        if self.default_backend not in BACKENDS:
            raise InvalidInput(f"default backend {self.default_backend!r} is not one of {', '.join(BACKENDS)}",
                               field="LATENTSPACE_DEFAULT_BACKEND")
        if self.default_backend == MILVUS and not self.milvus_uri:
            raise InvalidInput("the default backend is milvus but no Milvus is configured; set --milvus-uri "
                               "(LATENTSPACE_MILVUS_URI)", field="LATENTSPACE_DEFAULT_BACKEND")

    def milvus_target(self) -> MilvusTarget | None:
        """Where the Milvus backend is (None when not configured); nothing is imported or connected here."""
        if not self.milvus_uri:
            return None
        from latentspace.indexer.backends.milvus import MilvusTarget

        return MilvusTarget(self.milvus_uri, self.milvus_token, self.milvus_consistency)

    def threads_per_call(self) -> int:
        """CPU threads of one model batch."""
        return self.compute_threads if self.compute_threads > 0 else max(1, os.cpu_count() or 1)

    def auto_index_policy(self) -> AutoIndexPolicy:
        return AutoIndexPolicy(hnsw_from=self.auto_hnsw_from, ivfpq_from=self.auto_ivfpq_from)

    def request_threads(self) -> int:
        return self.workers if self.workers > 0 else max(1, self.max_in_flight)

    def search_batches_at_once(self) -> int:
        return self.search_concurrency if self.search_concurrency > 0 else max(1, os.cpu_count() or 1)

    def encoder_options(self, *, operator_tool: bool = False) -> EncoderOptions:
        """How models load. ``operator_tool``: a local tool (``latent index``) run by the operator, who
        may download any spec when downloads are on; the server's callers only the allow-list."""
        return EncoderOptions(
            device=self.device,
            cache_dir=self.model_cache,
            allow_download=self.allow_download,
            download_allow=None if operator_tool else download_allow_list(self.download_allow),
            batch_size=self.batch_size,
            threads=self.threads_per_call(),
        )

    def model_access(self) -> ModelAccess:
        """What the server's callers may name as a local model folder."""
        return ModelAccess(self.model_root)

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
        if "tuple[str" in kind:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
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
