"""``aio.py`` is generated from ``client.py``: the committed one is fresh, and the transform is the right one.

The behaviour of the generated client against a real server is ``test_congruence.py``'s; this
module checks the generator itself on small sources: what it awaits, where it parenthesizes, what
it does to docstrings, and what it refuses.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import generate_async_client
    finally:
        sys.path.pop(0)
    return generate_async_client


CONNECTION = '''
class Connection:
    def close(self) -> None: ...
    def _send(self, rpc, request, timeout): ...
    def _export(self, request, timeout): ...


class AsyncConnection:
    async def close(self) -> None: ...
    async def __aenter__(self): ...
    async def _send(self, rpc, request, timeout): ...
    async def _export(self, request, timeout): ...
'''

CLIENT = '''"""Sync."""

from latentspace_client.connection import Connection

__all__ = ["Client"]


class Client(Connection):
    """A connection — sync."""

    def search(self, point, *, timeout=None):
        """Nearest items. ``client.search("a (red) circle", k=5)``; then ``for hit in hits: ...``"""
        return self._send(SEARCH, build(self._name(None), point), timeout)

    def distance(self, a, b):
        """``client.distance("é", "b").cosine``, ``len(client.search("x"))``"""
        # a comment survives
        return self.distances([(a, b)])[0]

    def distances(self, pairs):
        return [self.search(p) for p in pairs] + self._export(pairs, None).items
'''


def test_the_committed_aio_py_is_what_client_py_generates(generator: ModuleType) -> None:
    fresh = generator.render(generator.SOURCE.read_text(), generator.CONNECTION.read_text())
    assert generator.TARGET.read_text() == fresh, "aio.py is stale: run python scripts/generate_protos.py"
    tree = ast.parse(fresh)
    (client,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert client.name == "AsyncClient"
    assert all(isinstance(n, ast.AsyncFunctionDef) for n in client.body if not isinstance(n, ast.Expr))


def test_methods_become_coroutines_and_client_calls_are_awaited(generator: ModuleType) -> None:
    out = generator.render(CLIENT, CONNECTION)
    assert out.startswith(generator.HEADER)
    assert 'from latentspace_client.connection import AsyncConnection\n' in out
    assert '__all__ = ["AsyncClient"]' in out
    assert "class AsyncClient(AsyncConnection):" in out
    assert "    async def search(self, point, *, timeout=None):" in out
    # _send is async in AsyncConnection, _name is not (a ClientSettings helper)
    assert "return await self._send(SEARCH, build(self._name(None), point), timeout)" in out
    assert "return (await self.distances([(a, b)]))[0]" in out  # used further: parenthesized
    assert "return [await self.search(p) for p in pairs] + (await self._export(pairs, None)).items" in out
    assert "        # a comment survives\n" in out
    assert generator.CLASS_DOCSTRING in out and generator.MODULE_DOCSTRING in out
    compile(out, "aio.py", "exec")  # awaits only inside coroutines


def test_docstring_examples_are_awaited(generator: ModuleType) -> None:
    out = generator.render(CLIENT, CONNECTION)
    assert '``await client.search("a (red) circle", k=5)``; then ``async for hit in hits: ...``' in out
    assert '``(await client.distance("é", "b")).cosine``' in out  # columns after non-ASCII text stay right
    assert '``len(client.search("x"))``' in out  # not an example that starts with a call: left alone


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ("return map(lambda p: self.search(p), pairs)", "inside a nested function or lambda"),
        ("return sorted(pairs, key=self.search)", "self.search is used without being called"),
        ("yield self.search(pairs)", "yields"),
        ("return self.search(" + "x" * 110 + ")", "would be 1"),
    ],
)
def test_what_it_cannot_derive_is_refused_with_the_line(generator: ModuleType, body: str, refusal: str) -> None:
    source = CLIENT + f"\n    def more(self, pairs):\n        {body}\n"
    with pytest.raises(generator.GenerationError, match=re.escape(refusal)) as raised:
        generator.render(source, CONNECTION)
    if "would be" not in refusal:
        last_line = source.count("\n")
        assert str(raised.value).startswith(f"client.py:{last_line}:"), raised.value


def test_an_async_base_method_needs_a_sync_namesake(generator: ModuleType) -> None:
    connection = CONNECTION + "    async def _stream(self): ...\n"
    with pytest.raises(generator.GenerationError, match=r"AsyncConnection\._stream has no sync namesake"):
        generator.render(CLIENT, connection)


def test_check_fails_on_a_stale_aio_py(generator: ModuleType, tmp_path: Path) -> None:
    script = REPO / "scripts" / "generate_async_client.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same check on a copy of the package whose aio.py was edited by hand.
    package = tmp_path / "pkg"
    package.mkdir()
    for name in ("client.py", "connection.py", "aio.py"):
        (package / name).write_text((generator.PACKAGE / name).read_text())
    (package / "aio.py").write_text((package / "aio.py").read_text() + "# edited by hand\n")
    code = (
        f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import generate_async_client as g; "
        f"from pathlib import Path; p = Path({str(package)!r}); "
        "g.SOURCE, g.CONNECTION, g.TARGET, g.ROOT = p / 'client.py', p / 'connection.py', p / 'aio.py', p; "
        "sys.argv = ['x', '--check']; sys.exit(g.main())"
    )
    stale = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1 and "aio.py is stale" in stale.stdout, stale.stdout + stale.stderr
    assert (package / "aio.py").read_text().endswith("# edited by hand\n")  # --check writes nothing
    regenerate = subprocess.run([sys.executable, "-c", code.replace("'--check'", "")], capture_output=True,
                                text=True, timeout=60)
    assert regenerate.returncode == 0, regenerate.stderr
    assert (package / "aio.py").read_text() == generator.TARGET.read_text()
