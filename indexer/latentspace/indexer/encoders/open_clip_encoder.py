"""open_clip backend: CLIP models that put texts and images in one space.

Three kinds of spec load here, all through ``open_clip.create_model_and_transforms`` so each model
comes with its own preprocessing and tokenizer:

- ``open_clip:ARCH/TAG`` for a model shipped in this package (see :data:`PACKAGED_WEIGHTS`): its
  config folder is registered with open_clip and the packaged weights file is the ``pretrained``;
- ``open_clip:ARCH/TAG`` for any other open_clip tag: the weights come from the local cache when they
  are there (no network at all), else from the hub when downloads are allowed, else a clear error;
- ``open_clip:/path/to/dir``: open_clip's ``local-dir:`` form, a folder with ``open_clip_config.json``
  (``{"model_cfg": ..., "preprocess_cfg": ...}``) and a checkpoint.

Importing this module imports torch and open_clip; the encoder registry imports it lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from latentspace.indexer import shapes
from latentspace.indexer.encoders.base import (
    Encoder,
    EncoderOptions,
    PreparedInput,
    check_texts,
    in_input_order,
    stack_rows,
)
from latentspace.indexer.encoders.pixels import PixelPreprocess
from latentspace.indexer.errors import InvalidInput, ModelUnavailable
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelSpec

log = logging.getLogger(__name__)

#: Models shipped inside this package: (architecture, tag) -> weights file. The file's folder holds the
#: architecture's open_clip JSON config and is registered with open_clip before the model is built.
PACKAGED_WEIGHTS: dict[tuple[str, str], Path] = {
    (shapes.ARCHITECTURE, shapes.TAG): shapes.MODEL_DIR / shapes.WEIGHTS_FILE,
}

#: Checkpoint names open_clip's ``local-dir:`` loader finds by itself; a lone ``*.pt`` is loaded after.
_LOCAL_DIR_CHECKPOINTS = ("*.safetensors", "*.bin", "*.pth")
_FIX = (
    "run once with network access (downloads allowed) to fill the cache, put the weights in the "
    "model cache (LATENTSPACE_MODEL_CACHE, Hugging Face hub layout), or use 'open_clip:/path/to/dir' "
    "with a local open_clip_config.json and checkpoint"
)
_register_lock = threading.Lock()


@dataclass(frozen=True)
class _Source:
    """Where one model's config and weights come from, in the terms of open_clip's factory."""

    model_name: str  # an architecture name, or "local-dir:/path"
    embed_dim: int
    pretrained: str | None = None  # a tag, or a checkpoint file path
    extra_checkpoint: Path | None = None  # loaded with open_clip.load_checkpoint after creation
    factory_kwargs: dict[str, Any] = field(default_factory=dict)


def _register_packaged_configs() -> None:
    with _register_lock:
        known = set(open_clip.list_models())
        for (arch, _tag), weights in PACKAGED_WEIGHTS.items():
            if arch not in known:
                open_clip.add_model_config(weights.parent)
                known = set(open_clip.list_models())


def _clean_tag(tag: str) -> str:
    """Tags compare as open_clip compares them: case-insensitive, '-' and '_' alike."""
    return tag.lower().replace("-", "_")


def _packaged_weights(arch: str, tag: str) -> Path | None:
    wanted = (arch, _clean_tag(tag))
    return next((w for (a, t), w in PACKAGED_WEIGHTS.items() if (a, _clean_tag(t)) == wanted), None)


def _cache_dir_searched(pretrained_cfg: dict[str, Any], cache_dir: Path | None) -> str:
    """The folder where the weights of an open_clip pretrained entry are looked up (and downloaded to)."""
    if cache_dir is not None:
        return str(cache_dir)
    if pretrained_cfg.get("hf_hub"):
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    return str(Path.home() / ".cache" / "clip")


def _cached_checkpoint(pretrained_cfg: dict[str, Any], cache_dir: Path | None) -> str | None:
    """The checkpoint of an open_clip pretrained entry if it is already on disk; never touches the network."""
    if pretrained_cfg.get("file"):
        return str(pretrained_cfg["file"]) if Path(pretrained_cfg["file"]).is_file() else None
    hub = pretrained_cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        # open_clip's layout: "org/repo/" (default file name) or "org/repo/file"; a .safetensors twin wins.
        repo_id, filename = os.path.split(hub)
        filename = filename or "open_clip_pytorch_model.bin"
        if filename == "open_clip_pytorch_model.bin":
            names = ["open_clip_model.safetensors", filename]
        elif filename.endswith((".bin", ".pth")):
            names = [filename[:-4] + ".safetensors", filename]
        else:
            names = [filename]
        for name in names:
            hit = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(hit, str):
                return hit
    url = pretrained_cfg.get("url", "")
    if url:
        candidate = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if candidate.is_file():
            return str(candidate)
    return None


def _hub_source(spec: ModelSpec, options: EncoderOptions) -> _Source:
    arch, tag = str(spec.name), str(spec.pretrained)
    config = open_clip.get_model_config(arch)
    if config is None:
        raise ModelUnavailable(
            f"{spec}: unknown open_clip architecture {arch!r}; "
            f"see open_clip.list_models() (e.g. ViT-B-32, ViT-B-16, ViT-L-14, {shapes.ARCHITECTURE})",
            field="model",
        )
    pretrained_cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not pretrained_cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch) + [t for a, t in PACKAGED_WEIGHTS if a == arch]
        raise ModelUnavailable(
            f"{spec}: unknown pretrained tag {tag!r} for open_clip architecture {arch}; "
            f"known tags: {', '.join(tags) or 'none'}",
            field="model",
        )
    embed_dim = int(config["embed_dim"])
    cached = _cached_checkpoint(pretrained_cfg, options.cache_dir)
    if cached is not None:
        # The tag's own preprocessing and activation, as open_clip applies them when it resolves the tag.
        kwargs = {
            "force_quick_gelu": bool(pretrained_cfg.get("quick_gelu", False)),
            "image_mean": pretrained_cfg.get("mean"),
            "image_std": pretrained_cfg.get("std"),
            "image_interpolation": pretrained_cfg.get("interpolation"),
            "image_resize_mode": pretrained_cfg.get("resize_mode"),
        }
        return _Source(arch, embed_dim, pretrained=cached, factory_kwargs=kwargs)
    # The folder searched is for the operator's log only: messages reach callers, paths must not.
    log.info("weights for %s (%s) are not in the model cache %s", spec,
             pretrained_cfg.get("hf_hub") or pretrained_cfg.get("url"),
             _cache_dir_searched(pretrained_cfg, options.cache_dir))
    options.check_download(spec)
    return _Source(arch, embed_dim, pretrained=tag, factory_kwargs={"cache_dir": options.cache_dir})


def _local_dir_source(spec: ModelSpec, folder: Path) -> _Source:
    config_path = folder / "open_clip_config.json"
    if not config_path.is_file():
        raise ModelUnavailable(
            f"{spec.redacted}: the folder has no open_clip_config.json; a local open_clip model folder "
            "needs open_clip_config.json ({'model_cfg': ..., 'preprocess_cfg': ...}) and a checkpoint",
            field="model",
        )
    try:
        embed_dim = int(json.loads(config_path.read_text())["model_cfg"]["embed_dim"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(f"{spec.redacted}: open_clip_config.json has no valid model_cfg.embed_dim "
                               f"({type(exc).__name__})", field="model") from exc
    if any(any(folder.glob(pattern)) for pattern in _LOCAL_DIR_CHECKPOINTS):
        return _Source(f"local-dir:{folder}", embed_dim)
    pt_files = sorted(folder.glob("*.pt"))
    if not pt_files:
        raise ModelUnavailable(
            f"{spec.redacted}: no checkpoint in the folder; expected open_clip_model.safetensors, "
            "open_clip_pytorch_model.bin or a *.pt file",
            field="model",
        )
    return _Source(f"local-dir:{folder}", embed_dim, extra_checkpoint=pt_files[0])


def _resolve(spec: ModelSpec, options: EncoderOptions) -> _Source:
    """Decide where the model comes from, failing early (before any loading) when it cannot."""
    _register_packaged_configs()
    if spec.path is not None:
        if not spec.path.is_dir():
            raise ModelUnavailable(f"{spec.redacted}: no such model folder", field="model")
        return _local_dir_source(spec, spec.path)
    if spec.name is None or spec.pretrained is None:
        raise ModelUnavailable(f"{spec}: an open_clip spec needs ARCH/TAG or a folder path", field="model")
    packaged = _packaged_weights(spec.name, spec.pretrained)
    if packaged is not None:
        if not packaged.is_file():
            log.warning("packaged weights %s of %s are missing", packaged, spec)
            raise ModelUnavailable(
                f"{spec}: its packaged weights are missing; reinstall latentspace or "
                "retrain them with scripts/train_shapes_clip.py",
                field="model",
            )
        config = open_clip.get_model_config(spec.name)
        return _Source(spec.name, int(config["embed_dim"]), pretrained=str(packaged))
    return _hub_source(spec, options)


def _pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise InvalidInput(f"unknown device {requested!r}; use 'auto', 'cpu' or 'cuda[:N]'",
                           field="device") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"device {requested!r} requested but CUDA is not available; use 'auto' or 'cpu'", field="device"
        )
    return device


def weights_fingerprint(model: torch.nn.Module) -> str:
    """First 16 hex digits of sha256 over the state dict (sorted names, shapes, float32 values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy())
    return digest.hexdigest()[:16]


class OpenClipEncoder(Encoder):
    """A CLIP model from open_clip: texts and images into one unit-normalised space."""

    modalities = frozenset({Modality.TEXT, Modality.IMAGE})

    def __init__(self, spec: ModelSpec, options: EncoderOptions | None = None) -> None:
        options = options or EncoderOptions()
        if options.batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1, got {options.batch_size}", field="batch_size")
        device = _pick_device(options.device)
        source = _resolve(spec, options)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                source.model_name,
                pretrained=source.pretrained,
                require_pretrained=source.extra_checkpoint is None,
                **source.factory_kwargs,
            )
            if source.extra_checkpoint is not None:
                open_clip.load_checkpoint(model, str(source.extra_checkpoint))
            tokenizer = open_clip.get_tokenizer(source.model_name)
        except Exception as exc:  # download, parse or shape errors from open_clip / the hub
            # Their text names files on the server: the operator's log gets it, the caller does not.
            log.warning("could not load %s: %s", spec, exc)
            raise ModelUnavailable(f"could not load {spec.redacted} ({type(exc).__name__}; the server log "
                                   f"has the details); fix: {_FIX}", field="model") from exc
        self.spec = spec
        self.dimension = source.embed_dim
        self.fingerprint = weights_fingerprint(model)
        self.batch_size = options.batch_size
        self.device = device
        self._model = model.to(device).eval()
        self._pixels = PixelPreprocess(preprocess)
        self._tokenizer = tokenizer

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_prepared(self.prepare_texts(texts))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_prepared(self.prepare_images(images))

    def prepare_texts(self, texts: Sequence[str]) -> PreparedInput:
        """Tokenise ``texts`` into ``(batch, context_length)`` token tensors of ``batch_size`` rows."""
        items = check_texts(texts)
        batches = tuple(self._tokenizer(chunk) for chunk in _chunks(items, self.batch_size))
        return PreparedInput(Modality.TEXT, len(items), batches)

    def prepare_images(self, images: Sequence[Image.Image]) -> PreparedInput:
        """Resize and crop ``images`` into ``(batch, size, size, 3)`` uint8 pixels (scaled and
        normalised where the model runs; see :mod:`~latentspace.indexer.encoders.pixels`)."""
        items = list(images)
        for i, image in enumerate(items):
            if not isinstance(image, Image.Image):
                raise InvalidInput(f"item {i} is {type(image).__name__}, expected a PIL image",
                                   field="images")
        batches = tuple(self._pixels.pixels(chunk) for chunk in _chunks(items, self.batch_size))
        return PreparedInput(Modality.IMAGE, len(items), batches)

    def combine_prepared(self, parts: Sequence[PreparedInput]) -> PreparedInput:
        """Images of several requests in as few forward passes as the batch size allows."""
        if not parts or parts[0].modality is not Modality.IMAGE:
            return super().combine_prepared(parts)
        batches = PixelPreprocess.join([batch for part in parts for batch in part.batches], self.batch_size)
        return PreparedInput(Modality.IMAGE, sum(part.count for part in parts), batches)

    def encode_prepared(self, prepared: PreparedInput) -> np.ndarray:
        """Run the text or image tower on prepared batches; unit float32 rows in input order."""
        images = prepared.modality is Modality.IMAGE
        forward: Callable[[torch.Tensor], torch.Tensor] = (
            self._model.encode_image if images else self._model.encode_text)
        on_cuda = self.device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.float16) if on_cuda else contextlib.nullcontext()
        chunks = []
        with torch.inference_mode(), autocast:
            for batch in prepared.batches:
                inputs = self._pixels.tensor(batch, self.device) if images else batch.to(
                    self.device, non_blocking=on_cuda)
                features = forward(inputs).float()
                chunks.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        return in_input_order(stack_rows(chunks, self.dimension), prepared.order)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
