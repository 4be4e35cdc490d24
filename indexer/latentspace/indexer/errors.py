"""The library's exceptions.

Every failure a caller can act on is one of these. Each class says what kind of
problem it is (bad input, missing thing, wrong state, not allowed, over a limit); the server
maps the kinds to gRPC status codes in one table and knows nothing else about
them. ``reason`` is a stable machine-readable token that clients can branch on;
``field`` names the request field at fault when there is one.
"""

from __future__ import annotations


class LatentSpaceError(Exception):
    """Base of every library error."""

    default_reason = "ERROR"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason or self.default_reason

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class InvalidInput(LatentSpaceError):
    """The request itself is malformed: wrong dimension, NaN, empty query, bad k, ..."""

    default_reason = "INVALID_INPUT"


class NotFound(LatentSpaceError):
    """A named thing does not exist."""

    default_reason = "NOT_FOUND"


class CollectionNotFound(NotFound):
    default_reason = "COLLECTION_NOT_FOUND"


class ItemNotFound(NotFound):
    default_reason = "ITEM_NOT_FOUND"


class DirectionNotFound(NotFound):
    default_reason = "DIRECTION_NOT_FOUND"


class SnapshotNotFound(NotFound):
    default_reason = "SNAPSHOT_NOT_FOUND"


class AlreadyExists(LatentSpaceError):
    """Creating something that is already there."""

    default_reason = "ALREADY_EXISTS"


class DirectionExists(AlreadyExists):
    default_reason = "DIRECTION_EXISTS"


class FailedPrecondition(LatentSpaceError):
    """The request is well formed but the system is not in a state to serve it."""

    default_reason = "FAILED_PRECONDITION"


class ModalityNotSupported(FailedPrecondition):
    """E.g. an image query against a text-only model."""

    default_reason = "MODALITY_NOT_SUPPORTED"


class ModelMismatch(FailedPrecondition):
    """Vectors from a model with another fingerprint than the collection's."""

    default_reason = "MODEL_MISMATCH"


class DirectionModelMismatch(FailedPrecondition):
    """A named direction made under another model fingerprint than the collection's now."""

    default_reason = "DIRECTION_MODEL_MISMATCH"


class ModelUnavailable(FailedPrecondition):
    """A model spec that cannot be loaded here (unknown, or weights not present)."""

    default_reason = "MODEL_UNAVAILABLE"


class NoDecoder(FailedPrecondition):
    """Images were asked of a collection whose model has no decoder (or a vector-only collection)."""

    default_reason = "NO_DECODER"


class DataDirLocked(FailedPrecondition):
    """Another process holds the data directory."""

    default_reason = "DATA_DIR_LOCKED"


class BackupDirNotSet(FailedPrecondition):
    """Snapshots were asked of a server whose operator has not given it a backup folder."""

    default_reason = "BACKUP_DIR_NOT_SET"


class PermissionDenied(LatentSpaceError):
    """The caller may not do this: its key lacks the scope, or it named a model by a server path
    outside the operator's model root, or asked for a download the operator has not allowed."""

    default_reason = "PERMISSION_DENIED"


class StoreDamaged(FailedPrecondition):
    """A collection's item store (its SQLite file) is damaged; the other collections still serve."""

    default_reason = "STORE_DAMAGED"


class LimitExceeded(LatentSpaceError):
    """A configured limit (batch size, pixels, text length, message size) was exceeded."""

    default_reason = "LIMIT_EXCEEDED"


class Unauthenticated(LatentSpaceError):
    """The caller did not prove who it is: no credentials, or ones nobody issued."""

    default_reason = "UNAUTHENTICATED"


class Unavailable(LatentSpaceError):
    """The service is shutting down or a resource is temporarily gone."""

    default_reason = "UNAVAILABLE"


class DeadlineExceeded(LatentSpaceError):
    """The caller's deadline passed before the work could start (or finish waiting)."""

    default_reason = "DEADLINE_EXCEEDED"


class Cancelled(LatentSpaceError):
    """The caller went away; work on its behalf is dropped."""

    default_reason = "CANCELLED"
