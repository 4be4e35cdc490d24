"""Points and filters as typed on the command line, turned into what the SDK takes.

Kept apart from the commands so the rules are written (and tested) once; the SDK is imported
inside the functions so ``latent --help`` does not load grpc.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

POINT_HELP = """\
A POINT is one of:
  id:ITEM          the stored item ITEM
  dir:NAME         the stored direction NAME as a point (latent direction create)
  vec:0.1,0.2,...  a raw vector
  @FILE            a vector from FILE (.npy, .json list, or numbers separated by commas/spaces)
  image:FILE       the image in FILE (any extension)
  FILE             an existing file with an image extension (.png, .jpg, ...): sent as image bytes
  text:TEXT        TEXT, taken literally (to send text that looks like one of the above)
  anything else    text
"""


def parse_point(arg: str) -> Any:
    """A command-line POINT (see ``POINT_HELP``) as an SDK point."""
    from latentspace_client import Id, NamedDirection

    if arg.startswith("id:"):
        if not arg[3:]:
            raise ValueError("id: needs an item id, e.g. id:item-7")
        return Id(arg[3:])
    if arg.startswith("dir:"):
        if not arg[4:]:
            raise ValueError("dir: needs a direction name, e.g. dir:red-to-blue")
        return NamedDirection(arg[4:])
    if arg.startswith("text:"):
        return arg[5:]
    if arg.startswith("image:"):
        return _existing_file(arg[6:])
    if arg.startswith("vec:"):
        return parse_vector(arg[4:])
    if arg.startswith("@"):
        return load_vector_file(_existing_file(arg[1:]))
    path = Path(arg).expanduser()
    if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
        return path
    return arg


def parse_vector(text: str) -> list[float]:
    """``0.1,0.2 0.3`` or ``[0.1, 0.2]`` as a list of floats."""
    tokens = text.strip().strip("[]").replace(",", " ").split()
    if not tokens:
        raise ValueError("an empty vector; write vec:0.1,0.2,...")
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f"not a vector of numbers: {text!r}") from None


def load_vector_file(path: Path) -> Any:
    """A vector stored in a .npy file, a JSON list, or plain text numbers."""
    if path.suffix.lower() == ".npy":
        import numpy as np

        return np.load(path).astype("float32").ravel()
    text = path.read_text()
    if path.suffix.lower() == ".json":
        values = json.loads(text)
        if not isinstance(values, list):
            raise ValueError(f"{path}: expected a JSON list of numbers")
        return [float(v) for v in values]
    return parse_vector(text)


def _existing_file(name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {name}")
    return path


def parse_filter(text: str | None) -> dict[str, Any] | None:
    """``--filter '{"color": "red"}'`` as a dict (see the SDK's filter syntax)."""
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError('--filter takes a JSON object, e.g. \'{"color": "red", "price": {"lt": 5}}\'')
    return value
