"""``latent decode``, and the PNG files of ``latent interpolate --decode-dir`` and ``latent edit --decode-dir``.

The server draws points with the decoder of the collection's model (the shapes CLIP ships one);
these commands write each image to a file in a folder and print where. A collection whose model has
no decoder is refused by the server (FAILED_PRECONDITION, reason NO_DECODER), exit code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from latentspace.cli import output
from latentspace.cli.point_parsing import parse_point


def write_pngs(folder: str | Path, named: Sequence[tuple[str, bytes | None]]) -> list[str]:
    """Write each ``(file name, PNG bytes)`` into ``folder`` (made if missing); the paths written."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in named:
        if data is None:  # the server answered without an image: nothing to write
            continue
        path = target / name
        path.write_bytes(data)
        written.append(str(path))
    return written


def step_file(index: int, t: float) -> str:
    """The file of a path's step: ``step-03-t0.375.png`` (sorts in path order)."""
    return f"step-{index:02d}-t{t:.3f}.png"


def decode(client: Any, args: argparse.Namespace) -> None:
    """``latent decode POINT... --out DIR``: one PNG per point, ``point-00.png``, ``point-01.png``, ..."""
    reply = client.decode(*(parse_point(p) for p in args.points))
    files = write_pngs(args.out, [(f"point-{i:02d}.png", image) for i, image in enumerate(reply.images)])
    data = {"decoder": reply.decoder, "width": reply.width, "height": reply.height,
            "images": [{"input": arg, "file": file} for arg, file in zip(args.points, files, strict=True)]}
    rows = [(output.truncate(arg, 40), file) for arg, file in zip(args.points, files, strict=True)]
    header = f"{reply.decoder}: {len(files)} images of {reply.width}x{reply.height}"
    print(output.dumps(data) if args.json else header + "\n" + output.table(("input", "file"), rows))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``latent decode``."""
    parser.add_argument("points", nargs="+", metavar="POINT")
    parser.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the PNG files (made if missing)")


def add_decode_dir(parser: argparse.ArgumentParser, what: str) -> None:
    """``--decode-dir DIR`` on interpolate and edit."""
    parser.add_argument("--decode-dir", metavar="DIR",
                        help=f"draw {what} with the collection's decoder and write PNGs to DIR")
