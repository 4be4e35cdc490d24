"""The one table from library exceptions to gRPC status codes.

Handlers never pick status codes themselves: they raise library errors, and the interceptor
turns each into a status with :func:`status_for`. The first row whose class matches wins, so
more specific classes come first. Anything not in the table is a bug: it becomes INTERNAL
with a generic message, and the traceback is logged under the request id.
"""

from __future__ import annotations

import grpc

from latentspace.indexer import errors as lib

#: Trailing-metadata keys; the SDK reads the same names.
REASON_KEY = "latentspace-reason"
REQUEST_ID_KEY = "latentspace-request-id"

STATUS_TABLE: tuple[tuple[type[lib.LatentSpaceError], grpc.StatusCode], ...] = (
    (lib.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (lib.NotFound, grpc.StatusCode.NOT_FOUND),
    (lib.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (lib.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (lib.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (lib.LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (lib.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (lib.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (lib.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (lib.Cancelled, grpc.StatusCode.CANCELLED),
)


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """Return ``(code, reason, message)`` for an exception raised by a handler."""
    if isinstance(error, lib.LatentSpaceError):
        for kind, code in STATUS_TABLE:
            if isinstance(error, kind):
                return code, error.reason, str(error)
    return grpc.StatusCode.INTERNAL, "INTERNAL", "internal error; the server log has the details"
