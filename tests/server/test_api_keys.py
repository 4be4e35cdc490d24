"""The keys file format, fresh keys and lookups (no server)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from latentspace.indexer.errors import InvalidInput
from latentspace.server.api_keys import KEY_PREFIX, KeyRing, Scope, digest_of, new_key


def test_a_new_key_is_random_prefixed_and_its_line_holds_only_the_digest() -> None:
    key, entry = new_key("search-app", Scope.READ)
    other, _ = new_key("search-app", Scope.READ)
    assert key.startswith(KEY_PREFIX) and len(key) >= 40 and key != other
    assert entry.line() == f"search-app read sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    assert key not in entry.line()


def test_the_file_format_round_trips_with_comments_and_blank_lines() -> None:
    made = [new_key(name, scope) for name, scope in (("a", Scope.READ), ("b", Scope.WRITE), ("c", Scope.ADMIN))]
    text = "# keys\n\n" + "\n".join(f"  {entry.line()}   # {entry.name}" for _, entry in made) + "\n"
    ring = KeyRing.from_text(text, "file")
    assert [(k.name, k.scope) for k in ring.keys] == [("a", Scope.READ), ("b", Scope.WRITE), ("c", Scope.ADMIN)]
    for key, entry in made:
        assert ring.find(key) == entry
    assert ring.find(made[0][0] + "x") is None
    assert ring.find("") is None


def test_scopes_include_the_ones_below() -> None:
    assert Scope.ADMIN.allows(Scope.WRITE) and Scope.ADMIN.allows(Scope.READ) and Scope.WRITE.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.WRITE) and not Scope.WRITE.allows(Scope.ADMIN)
    assert [s.label for s in Scope] == ["read", "write", "admin"]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("app read", "expected 'NAME SCOPE sha256:HEX', got 2 fields"),
        ("app read sha256:abc extra", "got 4 fields"),
        ("app superuser sha256:" + "0" * 64, "unknown scope 'superuser'; use one of read, write, admin"),
        ("app read md5:" + "0" * 32, "expected a digest sha256:<64 lowercase hex digits>"),
        ("app read sha256:" + "0" * 63, "expected a digest sha256:"),
        ("app read ls_plainkeyplainkeyplainkey", "(a plain key? the file stores digests, never keys)"),
        ("bad/name read sha256:" + "0" * 64, "key name 'bad/name' must be"),
    ],
)
def test_a_bad_line_names_its_line_number_and_the_fix(line: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        KeyRing.from_text(f"# header\n{line}\n", "api_keys_file")
    assert caught.value.field == "api_keys_file line 2"
    assert fragment in caught.value.message


def test_names_must_be_unique() -> None:
    line = new_key("app", Scope.READ)[1].line()
    with pytest.raises(InvalidInput, match="repeated: app"):
        KeyRing.from_text(f"{line}\n{line}\n", "file")


def test_keys_come_from_a_file_and_the_environment_together(tmp_path: Path) -> None:
    file_key, file_entry = new_key("from-file", Scope.ADMIN)
    env_key, env_entry = new_key("from-env", Scope.READ)
    env_key2, env_entry2 = new_key("from-env-2", Scope.WRITE)
    path = tmp_path / "keys"
    path.write_text(file_entry.line() + "\n")
    ring = KeyRing.load(path, f"{env_entry.line()};{env_entry2.line()}")
    assert [k.name for k in ring.keys] == ["from-file", "from-env", "from-env-2"]
    assert ring.find(env_key) == env_entry and ring.find(env_key2) == env_entry2 and ring.find(file_key) == file_entry
    assert not KeyRing.load(None, "  ")


def test_a_missing_or_empty_keys_file_stops_the_server_at_start(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the keys file") as caught:
        KeyRing.load(tmp_path / "missing", "")
    assert caught.value.field == "api_keys_file"
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(InvalidInput, match="has no keys"):
        KeyRing.load(tmp_path / "empty", "")


def test_lookups_compare_every_digest_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A match early in the ring does not stop the comparisons, and each one is compare_digest.
    keys = [new_key(f"k{i}", Scope.READ) for i in range(5)]
    ring = KeyRing(entry for _, entry in keys)
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert ring.find(keys[0][0]) == keys[0][1]
    assert compared == [digest_of(k) for k, _ in keys]
