"""The SDK's exceptions: one class per gRPC status code the service uses, from one table.

Every failed call raises a :class:`LatentSpaceError` subclass chained (``from``) to the
``grpc.RpcError`` it came from; a raw ``RpcError`` never reaches the caller. Branch on the
class, or on ``.reason``, the stable machine-readable token the server sends in trailing
metadata (``COLLECTION_NOT_FOUND``, ``MODALITY_NOT_SUPPORTED``, ...).

Mistakes the SDK can see before sending (a value that is not a point, two of ``t``/``steps``/
``ts``) are ordinary ``TypeError`` / ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import grpc

#: Trailing-metadata keys, the same names the server writes.
REASON_KEY = "latentspace-reason"
REQUEST_ID_KEY = "latentspace-request-id"


class LatentSpaceError(Exception):
    """A call failed. ``code`` (grpc.StatusCode), ``reason``, ``request_id`` and ``details`` say why."""

    def __init__(
        self,
        details: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str | None = None,
        request_id: str | None = None,
    ):
        super().__init__(details)
        self.details = details
        self.code = code
        self.reason = reason
        self.request_id = request_id

    def __str__(self) -> str:
        # "NOT_FOUND (COLLECTION_NOT_FOUND): collection 'x' does not exist" — the CLI prints this line.
        reason = f" ({self.reason})" if self.reason and self.reason != self.code.name else ""
        return f"{self.code.name}{reason}: {self.details}"


class InvalidArgument(LatentSpaceError):
    """The request was malformed: wrong dimension, NaN, k out of range, undecodable image, ..."""


class NotFound(LatentSpaceError):
    """An unknown collection or item id."""


class AlreadyExists(LatentSpaceError):
    """Creating a collection that exists."""


class FailedPrecondition(LatentSpaceError):
    """Well formed but not servable here, e.g. an image query against a text-only model."""


class ResourceExhausted(LatentSpaceError):
    """A message, batch, pixel or text limit was exceeded."""


class Unauthenticated(LatentSpaceError):
    """No or bad credentials."""


class PermissionDenied(LatentSpaceError):
    """The credentials do not allow this call."""


class Unavailable(LatentSpaceError):
    """The server cannot be reached or is shutting down; retrying later may help."""


class DeadlineExceeded(LatentSpaceError):
    """The call ran past its timeout."""


class Cancelled(LatentSpaceError):
    """The call was cancelled (by this client, or the server dropped work its caller gave up on)."""


class Internal(LatentSpaceError):
    """A bug on the server; quote ``request_id`` when reporting it."""


#: The one table from status code to exception class; codes not listed raise the base class.
ERROR_CLASSES: dict[grpc.StatusCode, type[LatentSpaceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INTERNAL: Internal,
}


def translate(error: grpc.RpcError) -> LatentSpaceError:
    """The :class:`LatentSpaceError` for a failed call; use as ``raise translate(e) from e``.

    Reads ``code()``, ``details()`` and ``trailing_metadata()`` when the error carries them
    (errors raised by a call do; a bare ``RpcError`` becomes an UNKNOWN error).
    """
    code = _call(error, "code") or grpc.StatusCode.UNKNOWN
    details = _call(error, "details") or str(error) or code.name
    metadata = dict(_call(error, "trailing_metadata") or ())
    cls = ERROR_CLASSES.get(code, LatentSpaceError)
    return cls(
        details,
        code=code,
        reason=_text(metadata.get(REASON_KEY)),
        request_id=_text(metadata.get(REQUEST_ID_KEY)),
    )


def _call(error: Any, method: str) -> Any:
    function = getattr(error, method, None)
    return function() if callable(function) else None


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
