"""Every row of the status table, and what happens to exceptions outside it."""

from __future__ import annotations

import grpc
import pytest

from latentspace.indexer import errors as lib
from latentspace.server.errors import STATUS_TABLE, status_for


@pytest.mark.parametrize(("kind", "code"), STATUS_TABLE, ids=[k.__name__ for k, _ in STATUS_TABLE])
def test_each_row_maps_its_class_and_keeps_the_message(kind: type[lib.LatentSpaceError], code: grpc.StatusCode):
    got_code, reason, message = status_for(kind("the fix is X", field="query.k"))
    assert got_code is code
    assert reason == kind.default_reason
    assert message == "query.k: the fix is X"


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (lib.CollectionNotFound("no"), grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND"),
        (lib.ItemNotFound("no"), grpc.StatusCode.NOT_FOUND, "ITEM_NOT_FOUND"),
        (lib.ModalityNotSupported("no"), grpc.StatusCode.FAILED_PRECONDITION, "MODALITY_NOT_SUPPORTED"),
        (lib.ModelUnavailable("no"), grpc.StatusCode.FAILED_PRECONDITION, "MODEL_UNAVAILABLE"),
        (lib.ModelMismatch("no"), grpc.StatusCode.FAILED_PRECONDITION, "MODEL_MISMATCH"),
        (lib.DataDirLocked("no"), grpc.StatusCode.FAILED_PRECONDITION, "DATA_DIR_LOCKED"),
        (lib.InvalidInput("no", reason="ANTIPODAL"), grpc.StatusCode.INVALID_ARGUMENT, "ANTIPODAL"),
        (lib.PermissionDenied("no", reason="MODEL_PATH_NOT_ALLOWED"), grpc.StatusCode.PERMISSION_DENIED,
         "MODEL_PATH_NOT_ALLOWED"),
    ],
)
def test_subclasses_take_their_parents_code_and_their_own_reason(error, code, reason):
    assert status_for(error)[:2] == (code, reason)


def test_every_library_error_class_has_a_row():
    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    for cls in subclasses(lib.LatentSpaceError) - {lib.LatentSpaceError}:
        assert status_for(cls("x"))[0] is not grpc.StatusCode.INTERNAL, cls


def test_unknown_exceptions_become_internal_without_leaking_details():
    code, reason, message = status_for(KeyError("secret internal state"))
    assert code is grpc.StatusCode.INTERNAL
    assert reason == "INTERNAL"
    assert "secret" not in message
