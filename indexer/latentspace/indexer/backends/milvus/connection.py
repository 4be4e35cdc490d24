"""Where Milvus is and one client to it per process, with Milvus's failures as library errors.

A target is either a cluster (``http://host:19530``, ``https://...``; the token comes from the
operator's environment, never from a request) or a Milvus Lite file (a path ending in ``.db``),
which pymilvus runs inside this process. Milvus Lite holds its file with an exclusive lock: one
process per file. To share one Lite store between processes, run it as a server
(``milvus-lite server --data-dir FILE.db --port 19530``) and point every process at its
``http://`` address, exactly as at a cluster.

pymilvus is imported here, on first use, never by importing the library.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from latentspace.indexer import deadline
from latentspace.indexer.errors import (
    CollectionNotFound,
    FailedPrecondition,
    InvalidInput,
    LatentSpaceError,
    Unavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

INSTALL_HINT = "the Milvus backend needs pymilvus (and milvus-lite for local files): pip install latentspace[milvus]"
#: Consistency levels Milvus knows; see docs/milvus.md for what each promises.
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
#: Milvus error codes that have a meaning here (pymilvus ``ErrorCode`` and server status codes).
_COLLECTION_NOT_FOUND = 100
_COLLECTION_NOT_LOADED = 101
_LITE_CHANNEL = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}
_NO_SUCH_COLLECTION = re.compile(r"collection\b.*\b(does not exist|not exist|not found)", re.IGNORECASE)


def pymilvus() -> Any:
    """The pymilvus module, or :class:`FailedPrecondition` with the install hint."""
    try:
        import pymilvus as module
    except ImportError:
        raise FailedPrecondition(INSTALL_HINT, field="backend", reason="BACKEND_NOT_INSTALLED") from None
    return module


@dataclass(frozen=True)
class MilvusTarget:
    """A Milvus deployment: a cluster URI or a Milvus Lite file, as the operator configured it."""

    uri: str
    #: ``user:password`` or an API token; from the environment (LATENTSPACE_MILVUS_TOKEN).
    token: str = field(default="", repr=False)
    #: The consistency level of every search, get and count (see docs/milvus.md).
    consistency: str = "Strong"
    #: Seconds one Milvus call may take when the request has no earlier deadline.
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri.strip():
            raise InvalidInput("the Milvus URI is empty; give http://host:19530 or a Milvus Lite file "
                               "ending in .db", field="milvus_uri")
        if not self.is_lite and not self.uri.startswith(("http://", "https://", "tcp://", "unix:")):
            raise InvalidInput(f"Milvus URI {self.uri!r} is neither http(s)://host:port nor a file ending in .db",
                               field="milvus_uri")
        if self.consistency not in CONSISTENCY_LEVELS:
            raise InvalidInput(f"Milvus consistency {self.consistency!r} is not one of "
                               f"{', '.join(CONSISTENCY_LEVELS)}", field="milvus_consistency")

    @property
    def is_lite(self) -> bool:
        """A local Milvus Lite file (pymilvus's rule: the URI ends in ``.db``)."""
        return self.uri.endswith(".db")

    @property
    def client_uri(self) -> str:
        """The URI as pymilvus takes it (a Lite file as an absolute path)."""
        return str(Path(self.uri).expanduser().resolve()) if self.is_lite else self.uri

    @property
    def location(self) -> str:
        """The URI without credentials (for the operator's logs and the CLI; a Lite file's path)."""
        return re.sub(r"//[^/@]*@", "//", self.uri)

    @property
    def described(self) -> str:
        """How messages to callers name it: never a server path, never credentials."""
        return "the server's Milvus Lite file" if self.is_lite else "the Milvus cluster"


class MilvusConnection:
    """One ``MilvusClient`` to a target, shared by every collection of a process.

    :meth:`call` runs a client method with the request's deadline (or the target's timeout) and
    turns Milvus's failures into library errors: a collection Milvus does not know is
    :class:`CollectionNotFound`; input Milvus refuses is :class:`InvalidInput`; anything else
    (unreachable, overloaded, a server fault) is :class:`Unavailable` with reason
    ``BACKEND_UNAVAILABLE``, logged with Milvus's own message.
    """

    def __init__(self, target: MilvusTarget) -> None:
        self.target = target
        module = pymilvus()
        self._exception: type[Exception] = module.MilvusException
        # pymilvus logs every failed call with a traceback, the NOT_FOUND this backend expects and
        # translates included; the backend logs Milvus's failures itself (see _translate).
        logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
        if target.is_lite:
            Path(target.client_uri).parent.mkdir(parents=True, exist_ok=True)
        # Milvus Lite's gRPC server keeps grpc's default ping policy, which answers pymilvus's 10 s
        # keepalive pings on an idle channel with GOAWAY (too_many_pings): ping as it allows.
        extra = {"grpc_options": _LITE_CHANNEL} if target.is_lite else {}
        try:
            self.client = module.MilvusClient(uri=target.client_uri, token=target.token,
                                              timeout=target.timeout_s, **extra)
        except self._exception as exc:
            raise self._unreachable(exc) from None
        if target.is_lite:
            _lite_users.acquire(target.client_uri)
        self._closed = False

    def _unreachable(self, exc: Exception) -> LatentSpaceError:
        message = getattr(exc, "message", str(exc))
        log.error("cannot connect to Milvus at %s: %s", self.target.location, message)
        if self.target.is_lite and message.strip() == "Open local milvus failed":  # Lite's lock is held
            return FailedPrecondition(
                "the Milvus Lite file is in use by another process (Milvus Lite serves one process per file); "
                "run `milvus-lite server --data-dir FILE.db` and point every process at its http:// address, "
                "or use a Milvus cluster", field="milvus_uri", reason="BACKEND_UNAVAILABLE")
        return Unavailable(f"cannot connect to {self.target.described}: {message}", field="milvus_uri",
                           reason="BACKEND_UNAVAILABLE")

    def timeout(self) -> float:
        """Seconds the next call may take: the request's remaining time, at most the target's timeout."""
        left = deadline.remaining()
        return self.target.timeout_s if left is None else max(0.001, min(left, self.target.timeout_s))

    def call(self, what: str, method: Callable[..., T], *args: Any, collection: str | None = None,
             **kwargs: Any) -> T:
        """``method(*args, **kwargs, timeout=...)``, with Milvus's errors translated (see the class)."""
        deadline.check(what)
        try:
            return method(*args, timeout=self.timeout(), **kwargs)
        except self._exception as exc:
            raise self._translate(exc, what, collection) from None

    def _translate(self, exc: Exception, what: str, collection: str | None) -> LatentSpaceError:
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None) or str(exc)
        gone = code == _COLLECTION_NOT_FOUND or _NO_SUCH_COLLECTION.search(message)
        if gone and collection is not None:
            return CollectionNotFound(f"collection {collection!r} does not exist (any more) in Milvus", field="name")
        if getattr(exc, "is_input_error", False):
            return InvalidInput(f"Milvus refused the {what}: {message}")
        log.error("Milvus failed the %s%s: code %s: %s", what, f" of {collection!r}" if collection else "",
                  code, message)
        if code == _COLLECTION_NOT_LOADED:
            return Unavailable(f"collection {collection!r} is not loaded in Milvus (being re-indexed or "
                               "released); retry shortly", reason="BACKEND_UNAVAILABLE")
        return Unavailable(f"{self.target.described} failed the {what}; retry, or ask the operator to check "
                           "Milvus", reason="BACKEND_UNAVAILABLE")

    def close(self) -> None:
        """Release the client (and, when the last user of a Lite file in this process leaves, its file)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.close()
        finally:
            if self.target.is_lite:
                _lite_users.release(self.target.client_uri)


class _LiteUsers:
    """Counts this process's users of each Milvus Lite file, and stops its in-process server (which
    holds the file's lock) when the last one closes, so another process may open the file next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}

    def acquire(self, path: str) -> None:
        with self._lock:
            self._users[path] = self._users.get(path, 0) + 1

    def release(self, path: str) -> None:
        with self._lock:
            left = self._users.get(path, 1) - 1
            if left > 0:
                self._users[path] = left
                return
            self._users.pop(path, None)
            try:
                from milvus_lite.server_manager import server_manager_instance
            except ImportError:
                return
            server_manager_instance.release_server(path)


_lite_users = _LiteUsers()
