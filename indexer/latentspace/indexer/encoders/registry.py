"""The encoder registry: one loaded model per canonical spec, shared by every collection.

Backends are named in a table (family -> ``"module:Class"``) and imported only when a model of that
family is first asked for, so importing the library (or this module) does not import torch.

Users of a model are counted (:meth:`EncoderRegistry.acquire` / :meth:`~EncoderRegistry.release`:
the data dir acquires for each open collection and for a create in progress); when the last one
releases it, the model is evicted, so a server holds in memory only the models its open collections use.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping

from latentspace.indexer.encoders.base import Encoder, EncoderOptions
from latentspace.indexer.errors import LatentSpaceError, ModelUnavailable
from latentspace.indexer.model_spec import ModelFamily, ModelSpec

log = logging.getLogger(__name__)

#: Which class loads each family. Each takes ``(spec: ModelSpec, options: EncoderOptions)``.
BACKENDS: dict[ModelFamily, str] = {
    ModelFamily.SENTENCE_TRANSFORMERS:
        "latentspace.indexer.encoders.sentence_transformer_encoder:SentenceTransformerEncoder",
    ModelFamily.OPEN_CLIP: "latentspace.indexer.encoders.open_clip_encoder:OpenClipEncoder",
}
#: What to install when a backend's import fails.
INSTALL_HINTS: dict[ModelFamily, str] = {
    ModelFamily.SENTENCE_TRANSFORMERS: "pip install sentence-transformers",
    ModelFamily.OPEN_CLIP: "pip install open_clip_torch",
}


class EncoderRegistry:
    """Loads each model once and hands the same encoder to every caller.

    Thread-safe: each spec has its own lock, so two different models load concurrently while
    concurrent requests for one model wait for its single load. A failed load is not remembered;
    the next request tries again (the user may have installed the weights meanwhile).
    """

    def __init__(
        self,
        options: EncoderOptions,
        backends: Mapping[ModelFamily, str] | None = None,
        *,
        wrap: Callable[[Encoder], Encoder] | None = None,
        on_load: Callable[[str, float], None] | None = None,
    ) -> None:
        """``backends`` replaces the :data:`BACKENDS` table (tests plug fakes in here). ``wrap`` is
        applied once to each loaded encoder (the server puts its batching in front of the model);
        ``on_load(spec, seconds)`` hears how long each load took."""
        self.options = options
        self._backends = dict(BACKENDS if backends is None else backends)
        self._wrap = wrap
        self._on_load = on_load
        self._lock = threading.Lock()  # guards the dicts below, never held during a load
        self._encoders: dict[str, Encoder] = {}
        self._spec_locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = {}

    def get(self, spec: ModelSpec) -> Encoder:
        """The encoder for ``spec``, loading it on first use.

        Raises :class:`ModelUnavailable` when the backend cannot be imported or the model not loaded.
        """
        key = spec.canonical
        with self._lock:
            encoder = self._encoders.get(key)
            if encoder is not None:
                return encoder
            spec_lock = self._spec_locks.setdefault(key, threading.Lock())
        with spec_lock:
            with self._lock:
                encoder = self._encoders.get(key)
            if encoder is None:
                started = time.perf_counter()
                encoder = self._load(spec)
                if self._on_load is not None:
                    self._on_load(key, time.perf_counter() - started)
                if self._wrap is not None:
                    encoder = self._wrap(encoder)
                with self._lock:
                    self._encoders[key] = encoder
            return encoder

    def loaded(self) -> list[str]:
        """Canonical specs of the models in memory, sorted."""
        with self._lock:
            return sorted(self._encoders)

    def acquire(self, spec: ModelSpec) -> None:
        """Count one more user of ``spec``'s model (it is not loaded until :meth:`get` asks for it)."""
        with self._lock:
            self._users[spec.canonical] = self._users.get(spec.canonical, 0) + 1

    def release(self, spec: ModelSpec) -> None:
        """Count one user fewer; after the last one the model is evicted (loaded again when next asked for).

        Callers still holding the encoder (a request in flight) keep it until they let go of it.
        """
        key = spec.canonical
        with self._lock:
            users = self._users.get(key, 0) - 1
            if users > 0:
                self._users[key] = users
                return
            self._users.pop(key, None)
            evicted = self._encoders.pop(key, None)
        if evicted is not None:
            log.info("model %s evicted: no open collection uses it", key)

    def _load(self, spec: ModelSpec) -> Encoder:
        target = self._backends.get(spec.family)
        if target is None:
            raise ModelUnavailable(f"no encoder backend for model family {spec.family.value!r} "
                                   f"({spec.redacted})", field="model")
        module_name, _, class_name = target.partition(":")
        try:
            backend = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as e:
            hint = INSTALL_HINTS.get(spec.family, "install the backend's package")
            log.warning("backend %s of model %s cannot be imported: %s", target, spec, e)
            raise ModelUnavailable(f"model {spec.redacted}: its backend {target} cannot be imported "
                                   f"({type(e).__name__}); {hint}", field="model") from e
        if self.options.threads > 0:
            # Process-wide, and torch is imported by now (the backend module imports it). Several
            # request threads each running all-core ops oversubscribe the CPU and stall each other.
            import torch

            torch.set_num_threads(self.options.threads)
        try:
            encoder: Encoder = backend(spec, self.options)
        except LatentSpaceError:
            raise
        except Exception as e:  # a backend bug or a broken install; still a model that cannot be used
            # The exception's text may name server files: it goes to the log, not to the caller.
            log.warning("model %s failed to load: %s: %s", spec, type(e).__name__, e)
            raise ModelUnavailable(f"model {spec.redacted} failed to load ({type(e).__name__}; the server "
                                   "log has the details)", field="model") from e
        return encoder
