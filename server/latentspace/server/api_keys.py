"""API keys: their scopes, the keys file format, fresh keys, and finding the key a caller sent.

The server never holds a key, only its digest. A keys file (``--api-keys FILE``,
``LATENTSPACE_API_KEYS_FILE``) or ``LATENTSPACE_API_KEYS`` has one key per line::

    # name        scope   digest of the key
    search-app    read    sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    ingest-job    write   sha256:...

Blank lines and ``#`` comments are ignored; in the environment variable, ``;`` also ends a line.
Names are unique (they appear in the access log, never the key). ``latent keys new`` prints a
fresh key once, with its line. Keys are 256 random bits, so one SHA-256 is as hard to invert
as the key is to guess: no slow password hash is needed. A presented key is hashed and compared
with every digest in constant time (:func:`hmac.compare_digest`), so the time taken does not
tell which digest, if any, it was close to.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from latentspace.indexer.errors import InvalidInput
from latentspace_client._generated.latentspace.v1 import options_pb2

#: The prefix of the keys ``latent keys new`` makes, so a leaked one is easy to recognise.
KEY_PREFIX = "ls_"
DIGEST_SCHEME = "sha256"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_DIGEST = re.compile(rf"^{DIGEST_SCHEME}:([0-9a-f]{{64}})$")


class Scope(enum.IntEnum):
    """What a key may do; each scope includes the ones below it (the proto's ``latentspace.v1.Scope``)."""

    READ = options_pb2.SCOPE_READ
    WRITE = options_pb2.SCOPE_WRITE
    ADMIN = options_pb2.SCOPE_ADMIN

    @property
    def label(self) -> str:
        """The name in keys files and messages: ``read``, ``write``, ``admin``."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls[text.upper()]
        except KeyError:
            allowed = ", ".join(s.label for s in cls)
            raise InvalidInput(f"unknown scope {text!r}; use one of {allowed}", field="scope") from None

    def allows(self, needed: Scope) -> bool:
        return self >= needed


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name (for logs), its scope, and the SHA-256 digest of the key."""

    name: str
    scope: Scope
    digest: bytes

    def line(self) -> str:
        """This key's line in a keys file."""
        return f"{self.name} {self.scope.label} {DIGEST_SCHEME}:{self.digest.hex()}"


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key(name: str, scope: Scope) -> tuple[str, ApiKey]:
    """A fresh random key and its entry: ``(key to hand out once, ApiKey to configure)``."""
    _check_name(name, "name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, ApiKey(name, scope, digest_of(key))


class KeyRing:
    """The configured keys. Empty means authentication is off."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self.keys = tuple(keys)
        names = [k.name for k in self.keys]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInput(f"key names must be unique; repeated: {', '.join(repeated)}", field="api_keys")

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: str) -> ApiKey | None:
        """The configured key equal to ``key``, or None. Compares with every digest, in constant time."""
        presented = digest_of(key)
        found: ApiKey | None = None
        for candidate in self.keys:
            if hmac.compare_digest(presented, candidate.digest):
                found = candidate
        return found

    @classmethod
    def from_text(cls, text: str, source: str) -> KeyRing:
        """Parse keys-file lines (``source`` names where they came from, for error messages)."""
        keys = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if line:
                keys.append(_parse_line(line, f"{source} line {number}"))
        return cls(keys)

    @classmethod
    def load(cls, file: Path | None, lines: str) -> KeyRing:
        """The keys of ``file`` (when given) and of ``lines`` (``LATENTSPACE_API_KEYS``), together."""
        keys: list[ApiKey] = []
        if file is not None:
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as error:
                raise InvalidInput(f"cannot read the keys file: {error.strerror}", field="api_keys_file") from None
            found = cls.from_text(text, "api_keys_file")
            if not found:
                raise InvalidInput("the keys file has no keys; add lines made by `latent keys new`",
                                   field="api_keys_file")
            keys += found.keys
        if lines.strip():
            keys += cls.from_text(lines.replace(";", "\n"), "LATENTSPACE_API_KEYS").keys
        return cls(keys)


def _parse_line(line: str, where: str) -> ApiKey:
    parts = line.split()
    if len(parts) != 3:
        raise InvalidInput(
            f"expected 'NAME SCOPE {DIGEST_SCHEME}:HEX', got {len(parts)} fields; make lines with `latent keys new`",
            field=where,
        )
    name, scope, digest = parts
    _check_name(name, where)
    match = _DIGEST.match(digest)
    if match is None:
        hint = " (a plain key? the file stores digests, never keys)" if digest.startswith(KEY_PREFIX) else ""
        raise InvalidInput(
            f"expected a digest {DIGEST_SCHEME}:<64 lowercase hex digits>{hint}; make lines with `latent keys new`",
            field=where,
        )
    try:
        parsed_scope = Scope.parse(scope)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=where) from None
    return ApiKey(name, parsed_scope, bytes.fromhex(match.group(1)))


def _check_name(name: str, where: str) -> None:
    if not _NAME.match(name):
        raise InvalidInput(
            f"key name {name!r} must be 1-64 letters, digits or _.@- (starting with a letter or digit)",
            field=where,
        )
