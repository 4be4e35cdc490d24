"""Vectors on the wire: little-endian float32 bytes plus a dimension (``latentspace.v1.Vector``).

numpy is optional. When it can be imported, packing and unpacking are one buffer conversion
each (no per-element Python work) and unpacked vectors are ``numpy.ndarray`` of float32.
Without it, ``array.array("f")`` does the conversion in C and unpacked vectors are
``list[float]``. numpy is imported on first use, never at ``import latentspace_client``.
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    #: What the SDK hands back for a vector: float32 ndarray with numpy, else a list.
    FloatVector: TypeAlias = npt.NDArray[np.float32] | list[float]
else:
    FloatVector = Any

# The wire format is little-endian; array.array uses the host's order.
_BIG_ENDIAN_HOST = sys.byteorder == "big"
_NOT_FINITE = "a vector must hold finite numbers: it has NaN or infinity (or a value too large for float32)"


def load_numpy() -> ModuleType | None:
    """numpy when it is installed, else None (imported lazily so the SDK does not require it)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def is_numpy_array(value: object) -> bool:
    """True for a numpy array, without importing numpy when the caller has not."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def pack_vector(values: Any) -> tpb.Vector:
    """Pack a 1-D sequence of floats (list, tuple, ``array.array``, numpy array) as a ``Vector``.

    Raises ``ValueError`` for an empty or non-1-D input or one holding NaN or infinity (also a
    number too large for float32), and ``TypeError`` for non-numbers. The dimension is checked by
    the server, which knows the collection.
    """
    numpy = load_numpy()
    if numpy is not None:
        try:
            with numpy.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below
                arr = numpy.asarray(values, dtype="<f4")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a vector must be a sequence of numbers: {exc}") from None
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"a vector must be 1-D and non-empty, got shape {arr.shape}")
        if not numpy.isfinite(arr).all():
            raise ValueError(_NOT_FINITE)
        return tpb.Vector(dimension=int(arr.size), data=arr.tobytes())
    if isinstance(values, array.array) and values.typecode == "f":
        packed = array.array("f", values)
    else:
        try:
            packed = array.array("f", [float(v) for v in values])
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a vector must be a sequence of numbers: {exc}") from None
    if len(packed) == 0:
        raise ValueError("a vector must be non-empty")
    if not all(math.isfinite(v) for v in packed):
        raise ValueError(_NOT_FINITE)
    if _BIG_ENDIAN_HOST:
        packed.byteswap()
    return tpb.Vector(dimension=len(packed), data=packed.tobytes())


def unpack_vector(message: tpb.Vector) -> FloatVector:
    """Unpack a ``Vector`` into a float32 ndarray (numpy installed) or a list of floats."""
    data = bytes(message.data)
    if len(data) != 4 * message.dimension:
        raise ValueError(f"vector has {len(data)} bytes for dimension {message.dimension}")
    numpy = load_numpy()
    if numpy is not None:
        # frombuffer is a read-only view over the message bytes; astype copies into a writable
        # native-order array the caller owns.
        result: FloatVector = numpy.frombuffer(data, dtype="<f4").astype(numpy.float32)
        return result
    unpacked = array.array("f")
    unpacked.frombytes(data)
    if _BIG_ENDIAN_HOST:
        unpacked.byteswap()
    return unpacked.tolist()


def unpack_optional(message: Any, field: str = "vector") -> FloatVector | None:
    """The vector in ``message.<field>`` when the server set it (``with_vectors``), else None."""
    if not message.HasField(field):
        return None
    return unpack_vector(getattr(message, field))


def matrix(values: Sequence[Any], rows: int, columns: int, *, boolean: bool = False) -> Any:
    """Row-major ``values`` as a rows x columns ndarray (float32 or bool) or nested lists."""
    if len(values) != rows * columns:
        raise ValueError(f"matrix has {len(values)} values for {rows} x {columns}")
    numpy = load_numpy()
    if numpy is not None:
        dtype = numpy.bool_ if boolean else numpy.float32
        return numpy.asarray(list(values), dtype=dtype).reshape(rows, columns)
    flat = list(values)
    return [flat[r * columns : (r + 1) * columns] for r in range(rows)]
