"""A corpus of real documents that needs no download: the docstrings of the Python standard library.

Each public function, class and method of a fixed list of well-known modules becomes one text record:
id = its qualified name (``"os.path.split"``), text = ``"<qualified name>: <first paragraph>"``,
payload = ``{"module", "kind", "name"}``. Modules are walked in list order and names in sorted order,
so one Python version always gives the same corpus; private names and empty docstrings are left out.

Libraries loaded next to us patch the standard library (torch replaces ``inspect.getfile``,
transformers adds ``logging.Logger.warning_once``), so :func:`write_stdlib_corpus` collects the
docstrings in a fresh interpreter, and objects defined outside the standard library are left out.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentspace.indexer.items import JsonObject

MODULES: tuple[str, ...] = (
    "os", "os.path", "shutil", "pathlib", "json", "re", "itertools", "functools", "collections",
    "datetime", "math", "statistics", "random", "string", "textwrap", "subprocess", "socket",
    "urllib.parse", "urllib.request", "http.client", "csv", "sqlite3", "zipfile", "tarfile", "gzip",
    "bz2", "lzma", "hashlib", "hmac", "base64", "binascii", "uuid", "time", "calendar", "heapq",
    "bisect", "copy", "pickle", "shelve", "logging", "argparse", "threading", "multiprocessing",
    "concurrent.futures", "queue", "asyncio", "io", "tempfile", "glob", "fnmatch", "struct", "array",
    "decimal", "fractions", "operator", "inspect", "typing", "dataclasses", "enum", "contextlib",
    "unittest", "difflib", "html", "html.parser", "xml.etree.ElementTree", "email", "email.message",
    "email.utils", "smtplib", "ftplib", "ssl", "select", "selectors", "signal", "platform", "sys",
    "traceback", "warnings", "weakref", "abc", "numbers", "secrets", "locale", "gettext", "codecs",
    "unicodedata", "pprint", "reprlib", "shlex", "configparser", "ipaddress", "mimetypes", "filecmp",
    "stat", "zlib", "timeit", "cProfile", "pdb", "doctest", "ast", "dis", "tokenize", "keyword",
    "importlib", "pkgutil", "zoneinfo", "graphlib", "wave", "colorsys", "webbrowser", "getpass",
)

#: Longest text kept per document: a first paragraph is a summary, a few sentences at most.
MAX_TEXT_CHARS = 600
# A paragraph that is only a call signature ("sorted(iterable, /, *, key=None) -> list"): C functions'
# docstrings often open with one. It says nothing in words, so the next paragraph is used.
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.+)?$", re.DOTALL)


@dataclass(frozen=True)
class StdlibDoc:
    id: str
    text: str
    payload: JsonObject


def iter_stdlib_docs(modules: tuple[str, ...] = MODULES) -> Iterator[StdlibDoc]:
    """Every documented public function, class and method of ``modules``, in a fixed order."""
    seen: set[str] = set()
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # e.g. a Python built without sqlite3 or ssl: the rest still makes a corpus
            continue
        for name, obj in _public_members(module):
            qualified = f"{module_name}.{name}"
            if inspect.isclass(obj):
                yield from _doc(qualified, obj, module_name, "class", name, seen)
                for method_name, method in _own_methods(obj):
                    yield from _doc(f"{qualified}.{method_name}", method, module_name, "method",
                                    f"{name}.{method_name}", seen)
            elif callable(obj):
                yield from _doc(qualified, obj, module_name, "function", name, seen)


def write_stdlib_corpus(path: Path) -> int:
    """Write the corpus as JSONL records (``id``, ``text``, ``payload``); returns the number written.

    Runs in a fresh interpreter (about 0.5 s), so what this process has imported cannot change it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # The child must import this package however this process found it (a source tree on sys.path).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-m", __name__, str(path)], env=env, check=True,
                          capture_output=True, text=True)
    return int(done.stdout.strip())


def _write_jsonl(path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for doc in iter_stdlib_docs():
            out.write(json.dumps({"id": doc.id, "text": doc.text, "payload": doc.payload}) + "\n")
            count += 1
    return count


def first_paragraph(doc: str | None) -> str:
    """The docstring's first paragraph in words, on one line ('' when there is none)."""
    if not doc:
        return ""
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        text = " ".join(paragraph.split())
        if text and not _SIGNATURE.match(text):
            return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 3].rstrip() + "..."
    return ""


def _public_members(module: types.ModuleType) -> Iterator[tuple[str, Any]]:
    """The module's public API: ``__all__`` when it has one, else the public names it defines itself."""
    names = getattr(module, "__all__", None)
    for name in sorted(set(names) if names is not None else dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name, None)
        if obj is None or isinstance(obj, types.ModuleType):
            continue
        if getattr(obj, "__module__", None) == "builtins":
            continue  # typing.Text is str, os.error is OSError: documented under builtins, not here
        if not _from_stdlib(obj):
            continue
        if inspect.isclass(obj) and obj.__name__ != name:
            continue  # an alias (array.ArrayType is array.array): the real name is listed too
        if names is None and not _defined_in(obj, module):
            continue  # e.g. `from os import path` re-exports in a module without __all__
        yield name, obj


def _defined_in(obj: Any, module: types.ModuleType) -> bool:
    owner = getattr(obj, "__module__", None) or ""
    package = module.__name__.split(".")[0]
    # C accelerators live in private twins (_json, _socket, _collections): count those as the module.
    return owner.lstrip("_").split(".")[0] == package.lstrip("_") or owner == module.__name__


def _from_stdlib(obj: Any) -> bool:
    """False for what a third-party library put into a stdlib module or class."""
    owner = getattr(obj, "__module__", None)
    # C method descriptors carry no module: they belong to their class, which was checked.
    return not isinstance(owner, str) or owner.split(".")[0] in sys.stdlib_module_names


def _own_methods(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods written on ``cls`` itself (inherited ones are documented on their own class)."""
    for name in sorted(vars(cls)):
        if name.startswith("_"):
            continue
        attr = vars(cls)[name]
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if not _from_stdlib(attr):
            continue
        if inspect.isfunction(attr) or inspect.ismethoddescriptor(attr) or inspect.isbuiltin(attr):
            yield name, attr


def _doc(qualified: str, obj: Any, module: str, kind: str, name: str, seen: set[str]) -> Iterator[StdlibDoc]:
    summary = first_paragraph(getattr(obj, "__doc__", None))
    if not summary or qualified in seen:
        return
    seen.add(qualified)
    yield StdlibDoc(qualified, f"{qualified}: {summary}", {"module": module, "kind": kind, "name": name})


if __name__ == "__main__":  # used by write_stdlib_corpus: python -m ... OUT.jsonl
    print(_write_jsonl(Path(sys.argv[1])))
