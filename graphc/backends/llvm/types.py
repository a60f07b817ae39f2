"""NumPy dtypes as LLVM types: how a scalar of each dtype lives in a register
and in memory, typed constants, and loads/stores between the two.

``bool`` is ``i1`` in registers and one byte (0/1) in memory; ``float16`` is
``half`` (arithmetic on it is done in float32 and rounded back, as NumPy's
half loops do, see ``scalar.py``)."""

import numpy as np
from llvmlite import ir

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
HALF = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()
PTR = ir.PointerType()

_FLOAT_TYPES = {"float16": HALF, "float32": F32, "float64": F64}

#: dtypes the backend can lower (everything graphc's TensorType admits)
SUPPORTED_DTYPES = frozenset(["bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                              "uint32", "uint64", "float16", "float32", "float64"])


def kind(dtype):
    """NumPy kind letter: 'b', 'i', 'u' or 'f'."""
    return np.dtype(dtype).kind


def bits(dtype):
    return np.dtype(dtype).itemsize * 8


def itemsize(dtype):
    return np.dtype(dtype).itemsize


def value_type(dtype):
    """The register type of a scalar of ``dtype``."""
    dtype = np.dtype(dtype).name
    if dtype == "bool":
        return I1
    if dtype in _FLOAT_TYPES:
        return _FLOAT_TYPES[dtype]
    return ir.IntType(bits(dtype))


def memory_type(dtype):
    """The in-memory element type of ``dtype`` (bool is a byte)."""
    return I8 if np.dtype(dtype).name == "bool" else value_type(dtype)


def constant(value, dtype):
    """A typed LLVM constant equal to NumPy scalar ``value`` cast to ``dtype``
    (NaN, inf and -0.0 kept)."""
    dtype = np.dtype(dtype)
    value = np.asarray(value).astype(dtype)[()]
    if dtype.kind == "b":
        return ir.Constant(I1, int(bool(value)))
    if dtype.kind == "f":
        # llvmlite prints floats as the double with the same value: exact for
        # every float32/float16 value.
        return ir.Constant(value_type(dtype), float(value))
    v = int(value)
    if dtype.kind == "u" and v >= 1 << (bits(dtype) - 1):
        v -= 1 << bits(dtype)  # LLVM integer literals are signed
    return ir.Constant(value_type(dtype), v)


def load(builder, ptr, dtype, name=""):
    """Load one ``dtype`` element from ``ptr`` as a register value."""
    v = builder.load(ptr, name=name, typ=memory_type(dtype))
    if np.dtype(dtype).kind == "b":
        v = builder.icmp_unsigned("!=", v, ir.Constant(I8, 0))
    return v


def store(builder, value, ptr, dtype):
    """Store register ``value`` of ``dtype`` at ``ptr``."""
    if np.dtype(dtype).kind == "b":
        value = builder.zext(value, I8)
    builder.store(value, ptr)
