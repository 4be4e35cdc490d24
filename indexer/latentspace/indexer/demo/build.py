"""Build the offline demo: two collections indexed through the same pipeline as ``latent index``.

- ``shapes`` (model ``shapes-clip``): rendered shape images and their captions, in one shared space;
- ``stdlib`` (model ``minilm``): the docstrings of the Python standard library.

The corpus files are written first (under ``<data dir>/demo-corpus`` by default) and then indexed
from those files with :func:`~latentspace.indexer.pipeline.open_source` and
:func:`~latentspace.indexer.pipeline.index_source`, exactly as ``latent index FILE`` would. Building
is idempotent: a collection that already holds its whole corpus is left alone, so a second build
returns at once, and a build cut short is finished by the next one (upserts replace by id).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from latentspace.indexer.demo.shapes_corpus import DEFAULT_IMAGES, write_shapes_corpus
from latentspace.indexer.demo.stdlib_corpus import write_stdlib_corpus
from latentspace.indexer.errors import CollectionNotFound, InvalidInput
from latentspace.indexer.limits import Limits
from latentspace.indexer.pipeline import SourceEntry, index_source, open_source
from latentspace.indexer.pipeline.bulk import DEFAULT_BATCH_SIZE, DEFAULT_IMAGES_PER_BATCH, IndexReport

if TYPE_CHECKING:
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.registry import EncoderRegistry

SHAPES_COLLECTION, SHAPES_MODEL = "shapes", "shapes-clip"
STDLIB_COLLECTION, STDLIB_MODEL = "stdlib", "minilm"
DEMO_MODELS: dict[str, str] = {SHAPES_COLLECTION: SHAPES_MODEL, STDLIB_COLLECTION: STDLIB_MODEL}
CORPUS_FOLDER = "demo-corpus"

#: Queries worth trying on each demo collection (printed by ``latent demo build``).
DEMO_QUERIES: dict[str, tuple[str, ...]] = {
    SHAPES_COLLECTION: ("a red circle", "a photo of a small blue star", "a large yellow triangle"),
    STDLIB_COLLECTION: (
        "split a path into directory and file name",
        "run a shell command and capture its output",
        "parse a date from a string",
        "compute a hash of some bytes",
    ),
}


@dataclass(frozen=True)
class DemoCollection:
    """One demo collection after a build; ``report`` is None when it was already complete."""

    name: str
    model: str
    count: int
    report: IndexReport | None


@dataclass(frozen=True)
class DemoReport:
    data_dir: Path
    corpus_dir: Path
    collections: list[DemoCollection]
    seconds: float

    @property
    def already_built(self) -> bool:
        return all(c.report is None for c in self.collections)


def build_demo(
    data_dir: Path,
    *,
    encoders: EncoderRegistry,
    progress: bool = True,
    corpus_dir: Path | None = None,
    collections: Sequence[str] = (SHAPES_COLLECTION, STDLIB_COLLECTION),
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_images_per_batch: int = DEFAULT_IMAGES_PER_BATCH,
    max_pixels: int = Limits.max_image_pixels,
    max_text_chars: int = Limits.max_text_chars,
) -> DemoReport:
    """Create and fill the demo collections in ``data_dir`` (see the module doc).

    ``collections`` picks a subset of ``shapes`` and ``stdlib`` (e.g. to build only what a test needs).
    """
    from latentspace.indexer.data_dir import DataDir

    unknown = set(collections) - set(DEMO_MODELS)
    if unknown:
        raise InvalidInput(f"no demo collection named {', '.join(sorted(unknown))}; "
                           f"choose from {', '.join(DEMO_MODELS)}", field="collections")
    started = time.perf_counter()
    corpus = corpus_dir or data_dir / CORPUS_FOLDER
    built: list[DemoCollection] = []
    with DataDir.open(data_dir, encoders) as data:
        for name, model in DEMO_MODELS.items():
            if name not in collections:
                continue
            report = None
            # Writing a corpus takes about a second and gives the same files each time; it also tells
            # its size. Complete = that many items; a build cut short is finished by re-indexing.
            sources, size = _write_corpus(name, corpus)
            if _count(data, name) < size:
                collection = data.create_collection(name, model, if_not_exists=True)
                report = index_source(collection, _chain(open_source(p) for p in sources),
                                      batch_size=batch_size, max_images_per_batch=max_images_per_batch,
                                      max_pixels=max_pixels,
                                      max_text_chars=max_text_chars, progress=None if progress else False)
            built.append(DemoCollection(name, model, _count(data, name), report))
    return DemoReport(data_dir, corpus, built, time.perf_counter() - started)


def _write_corpus(name: str, corpus: Path) -> tuple[list[Path], int]:
    """Write one demo collection's source files; returns them in indexing order and their record count."""
    if name == SHAPES_COLLECTION:
        shapes = write_shapes_corpus(corpus / "shapes", n=DEFAULT_IMAGES)
        return [shapes.images_jsonl, shapes.captions_jsonl], shapes.images + shapes.captions
    stdlib_jsonl = corpus / "stdlib.jsonl"
    return [stdlib_jsonl], write_stdlib_corpus(stdlib_jsonl)


def _chain(sources: Iterable[Iterator[SourceEntry]]) -> Iterator[SourceEntry]:
    return itertools.chain.from_iterable(sources)


def _count(data: DataDir, name: str) -> int:
    try:
        return data.collection(name).count()
    except CollectionNotFound:
        return 0
