"""A corpus of real English-ish texts that needs no download: docstrings of installed packages.

Each documented public function, class and method of the standard library (the demo's module list)
and of a few large installed packages becomes one JSONL record: id = its qualified name, text =
``"<qualified name>: <first paragraph>"`` (at most 600 characters, as in the stdlib demo), payload =
``{"package": ...}``. Records are shuffled with a fixed seed, so any prefix mixes packages and text
lengths. With the pinned versions of ``constraints.txt`` this gives about 24,500 texts of 107
characters (~33 MiniLM tokens) on average; the same versions always give the same corpus.

Collected in a fresh interpreter (about 25 s), so what the benchmark process has imported cannot
change it:

    .venv/bin/python benchmarks/docstring_corpus.py OUT.jsonl
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from latentspace.indexer.demo.stdlib_corpus import first_paragraph, iter_stdlib_docs

#: Installed packages walked for docstrings, in this order (the first name of an object wins).
PACKAGES = ("numpy", "scipy", "pandas", "sympy", "networkx", "sklearn", "pyarrow", "PIL", "torch")
SEED = 0


def write_docstring_corpus(path: Path) -> int:
    """Write the corpus to ``path`` in a fresh interpreter; returns the number of records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, __file__, str(path)], env=env, check=True, capture_output=True,
                          text=True)
    return int(done.stdout.strip().splitlines()[-1])


def iter_package_docs(package: str, seen: set[int]) -> Iterator[tuple[str, str]]:
    """(qualified name, text) for each documented public function, class and method of ``package``.

    Objects are named by the first public module that exposes them; ``seen`` (object ids) keeps a
    re-exported object from appearing twice. Private and test modules are passed over.
    """
    root = importlib.import_module(package)
    names = [package] + [
        module.name for module in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda _: None)
        if ".tests" not in module.name and not any(part.startswith("_") for part in module.name.split("."))
    ]
    for name in sorted(names):
        try:
            module = importlib.import_module(name)
        except BaseException:  # optional dependencies missing, platform-only modules, SystemExit
            continue
        for attr in sorted(vars(module)):
            obj = vars(module)[attr]
            if attr.startswith("_") or not str(getattr(obj, "__module__", "") or "").startswith(package):
                continue
            members: list[tuple[str, Any]] = [(f"{name}.{attr}", obj)]
            if inspect.isclass(obj):
                members += [(f"{name}.{attr}.{key}", value) for key, value in sorted(vars(obj).items())
                            if not key.startswith("_") and inspect.isfunction(value)]
            for qualified, member in members:
                if not (inspect.isclass(member) or callable(member)) or id(member) in seen:
                    continue
                seen.add(id(member))
                doc = getattr(member, "__doc__", None)
                summary = first_paragraph(doc) if isinstance(doc, str) else ""
                if summary:
                    yield qualified, f"{qualified}: {summary}"


def _write(path: Path) -> int:
    warnings.simplefilter("ignore")
    records: dict[str, tuple[str, str]] = {}
    for doc in iter_stdlib_docs():
        records.setdefault(doc.id, (doc.text, "stdlib"))
    seen: set[int] = set()
    for package in PACKAGES:
        for qualified, text in iter_package_docs(package, seen):
            records.setdefault(qualified, (text, package))
    ids = sorted(records)
    order = np.random.default_rng(SEED).permutation(len(ids))
    with path.open("w", encoding="utf-8") as out:
        for i in order:
            text, package = records[ids[i]]
            out.write(json.dumps({"id": ids[i], "text": text, "payload": {"package": package}}) + "\n")
    return len(ids)


if __name__ == "__main__":
    print(_write(Path(sys.argv[1])))
