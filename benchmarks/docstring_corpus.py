"""Real texts for benchmarks, available offline: the docstrings of installed packages, and their
all-MiniLM-L6-v2 embeddings through the library's own encoder, cached on disk.

The texts are the first paragraphs of the docstrings of every function and class in the
``site-packages`` folders on ``sys.path`` (the project's virtual environment), whitespace-collapsed,
at least ``MIN_CHARS`` long, cut at ``MAX_CHARS`` (the model reads 256 word pieces at most) and
deduplicated case-insensitively (the model is uncased, so texts differing only in case would be
identical vectors). They are human-written English about code: one sentence to a paragraph each,
the length and register of the short texts a search service is given.

Parsing ~19,000 files takes minutes on two cores and encoding ~90,000 texts several more, so both
are cached under ``cache_dir``: the texts as JSON, keyed by the folders they came from; the
embeddings in chunks of ``CHUNK`` rows, keyed by the digest of the ordered text list, so a run that
needs more rows than an earlier one encodes only the missing chunks.

Benchmark 2 of the HNSW study (``hnsw_recall.py``) uses the texts and their embeddings; benchmark 4
(``index_throughput.py``) indexes the texts as a JSONL file, shuffled with a fixed seed so any prefix
mixes packages and lengths:

    .venv/bin/python benchmarks/docstring_corpus.py OUT.jsonl
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from latentspace.indexer.encoders.base import Encoder

MIN_CHARS = 20
MAX_CHARS = 1000
CHUNK = 8192
MODEL = "minilm"
SEED = 0


def site_packages_roots() -> list[Path]:
    """The ``site-packages`` folders this interpreter imports from, in ``sys.path`` order."""
    roots = [Path(p).resolve() for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return list(dict.fromkeys(roots))


def first_paragraphs(path: Path) -> list[str]:
    """The first paragraph of each function or class docstring in one Python file (none if unparsable)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node)
            if doc:
                text = " ".join(doc.strip().split("\n\n")[0].split())[:MAX_CHARS]
                if len(text) >= MIN_CHARS:
                    texts.append(text)
    return texts


def docstring_texts(cache_dir: Path, roots: Sequence[Path] | None = None) -> tuple[list[str], str]:
    """Deduplicated texts in a fixed (sorted) order, and a line saying where they came from."""
    roots = list(roots) if roots is not None else site_packages_roots()
    key = hashlib.sha256(json.dumps([str(r) for r in roots] + [MIN_CHARS, MAX_CHARS]).encode()).hexdigest()[:16]
    cached = cache_dir / f"docstrings-{key}.json"
    if cached.exists():
        record = json.loads(cached.read_text())
        return record["texts"], f"{record['note']} (cached in {cached})"
    started = time.perf_counter()
    files = sorted(f for root in roots for f in root.rglob("*.py"))
    unique: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for texts in pool.map(first_paragraphs, files, chunksize=64):
            for text in texts:
                unique.setdefault(text.casefold(), text)
    texts = sorted(unique.values())
    note = (f"{len(texts)} distinct docstring first paragraphs from {len(files)} files under "
            f"{', '.join(str(r) for r in roots)}; parsed in {time.perf_counter() - started:.0f} s")
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"note": note, "texts": texts}))
    return texts, note


def write_docstring_corpus(path: Path, cache_dir: Path | None = None) -> int:
    """Write the texts as JSONL records (``id``, ``text``, ``payload``), shuffled; returns their number.

    Ids are ``doc-N``, N the text's place in the sorted list, so the same texts always get the same
    ids; the texts come from (and are cached in) ``cache_dir``, by default the folder of ``path``.
    """
    texts, _ = docstring_texts(cache_dir or path.parent)
    order = np.random.default_rng(SEED).permutation(len(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in order:
            record = {"id": f"doc-{i:06d}", "text": texts[i], "payload": {"chars": len(texts[i])}}
            out.write(json.dumps(record) + "\n")
    return len(texts)


def minilm_embeddings(
    texts: Sequence[str], count: int, cache_dir: Path, threads: int = 1
) -> tuple[np.ndarray, str]:
    """Unit MiniLM vectors of ``texts[:count]``, encoded by ``latentspace.indexer``'s encoder.

    Returns the ``(count, 384)`` array and a line saying how long encoding took (now or when cached).
    ``threads``: torch's intra-op threads (0: all cores). One is the default because on a shared
    machine a team of OpenMP threads stalls whenever another process holds one of its cores.
    """
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    folder = cache_dir / f"minilm-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    encoder: Encoder | None = None
    parts: list[np.ndarray] = []
    threads_used: set[str] = set()
    encoded, seconds = 0, 0.0
    for start in range(0, count, CHUNK):
        rows = texts[start : min(start + CHUNK, len(texts))]
        chunk, meta = folder / f"{start:08d}.npy", folder / f"{start:08d}.json"
        if not (chunk.exists() and meta.exists()):
            if encoder is None:
                encoder = _load_encoder(threads)
            began = time.perf_counter()
            vectors = encoder.encode_texts(list(rows))
            took = time.perf_counter() - began
            np.save(chunk, vectors)
            meta.write_text(json.dumps({"rows": len(rows), "seconds": took, "threads": threads}))
            print(f"  encoded texts {start}-{start + len(rows)} in {took:.0f} s", flush=True)
        parts.append(np.load(chunk))
        encoded += len(rows)
        record = json.loads(meta.read_text())
        seconds += record["seconds"]
        threads_used.add(str(record.get("threads", 0) or "all"))
    vectors = np.concatenate(parts)[:count]
    note = (f"{encoded} texts encoded with {MODEL} in {seconds:.0f} s ({encoded / seconds:.0f} texts/s, "
            f"chunks of {CHUNK}, torch threads {'/'.join(sorted(threads_used))}; cached in {folder})")
    return np.ascontiguousarray(vectors, dtype=np.float32), note


def _load_encoder(threads: int) -> Encoder:
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.model_spec import parse_model_spec

    options = EncoderOptions(device="cpu", allow_download=False, batch_size=64, threads=threads)
    return EncoderRegistry(options).get(parse_model_spec(MODEL))


if __name__ == "__main__":
    print(write_docstring_corpus(Path(sys.argv[1])))
