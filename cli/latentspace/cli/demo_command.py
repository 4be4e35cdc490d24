"""``latent demo build``: the offline demo collections (rendered shapes, stdlib docstrings)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentspace.indexer.demo.build import DemoReport


def register(subparsers: Any) -> None:
    """Add ``latent demo`` (with its ``build`` action) to the CLI."""
    demo = subparsers.add_parser(
        "demo",
        help="build the offline demo collections",
        description="The offline demo: everything it needs ships with the package (no download).",
    )
    actions = demo.add_subparsers(dest="demo_action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="create the 'shapes' and 'stdlib' collections",
        description=(
            "Render the shapes corpus and collect the stdlib docstrings, then index them through the "
            "same pipeline as `latent index`: 'shapes' (model shapes-clip: images and their captions) "
            "and 'stdlib' (model minilm). A collection that is already complete is left alone. "
            "Flags override LATENTSPACE_* variables."
        ),
    )
    build.add_argument("--data", type=Path, help="data dir (LATENTSPACE_DATA_DIR, default ./data)")
    build.add_argument("--batch-size", type=int, help="records per written batch (default 512)")
    build.add_argument("--device", help="auto, cpu or cuda (LATENTSPACE_DEVICE)")
    build.add_argument("--only", nargs="+", choices=("shapes", "stdlib"), help="build only these collections")
    build.add_argument("--no-progress", action="store_true", help="no progress bars")
    build.set_defaults(handler=run_demo_build)


def run_demo_build(args: argparse.Namespace) -> int:
    """Handler of ``latent demo build``."""
    from latentspace.indexer.demo.build import build_demo
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.errors import LatentSpaceError
    from latentspace.indexer.pipeline.bulk import DEFAULT_BATCH_SIZE
    from latentspace.server.settings import Settings

    try:
        if args.batch_size is not None and args.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
        settings = Settings.load(os.environ, data_dir=args.data, device=args.device)
        report = build_demo(
            settings.data_dir,
            encoders=EncoderRegistry(settings.encoder_options(operator_tool=True)),
            progress=not args.no_progress,
            collections=args.only or ("shapes", "stdlib"),
            batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
            max_images_per_batch=settings.batch_size,
            max_pixels=settings.limits.max_image_pixels,
            max_text_chars=settings.limits.max_text_chars,
        )
    except (LatentSpaceError, OSError, ValueError) as error:
        print(f"latent demo build: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run it again to finish (what was written stays)", file=sys.stderr)
        return 130
    print(describe(report))
    return 0


def describe(report: DemoReport) -> str:
    """What was built (or found complete), and the commands to try next."""
    from latentspace.indexer.demo.build import DEMO_QUERIES

    data = shlex.quote(str(report.data_dir))
    lines = [f"demo data dir: {report.data_dir} (corpus files in {report.corpus_dir})"]
    for built in report.collections:
        if built.report is None:
            lines.append(f"  {built.name:<7} {built.count:>5} items  model {built.model}  (already built)")
        else:
            r = built.report
            rate = f"{r.items_per_second:.0f} items/s"
            if r.skipped_count:
                rate += f", {r.skipped_count} skipped"
            lines.append(f"  {built.name:<7} {built.count:>5} items  model {built.model}  "
                         f"indexed {r.indexed} in {r.seconds:.1f} s ({rate})")
    lines.append(f"total {report.seconds:.1f} s")
    lines += ["", "try it:", f"  latent serve --data {data} &"]
    for name, queries in DEMO_QUERIES.items():
        lines += [f"  latent search -c {name} {shlex.quote(query)}" for query in queries]
    lines.append("  latent midpoint -c shapes 'a red circle' 'a blue circle'")
    return "\n".join(lines)
