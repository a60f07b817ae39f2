"""Variable constructors and shape functions of ``graphc.tensor``."""

import numpy as np

from ..config import config
from ..ops.elemwise import DimShuffle
from ..ops.shape import (ARange, Alloc, AllocDiag, ExtractDiag, Eye, Join, MakeVector, Repeat,
                         Reshape, Shape, Tile, as_shape_vector, static_value)
from . import math as tm
from .type import TensorType
from .var import TensorVariable, as_tensor_variable, constant

# ----------------------------------------------------------------- constructors


def tensor(dtype=None, shape=None, name=None, broadcastable=None, ndim=None):
    """A symbolic tensor: ``tensor('float32', shape=(None, 1), name='x')``."""
    if isinstance(dtype, str) and shape is None and broadcastable is None and ndim is None \
            and dtype not in _DTYPE_NAMES:
        raise TypeError("tensor() needs a dtype and a shape")
    dtype = dtype or config.floatX
    if shape is None:
        shape = (None,) * ndim if broadcastable is None else tuple(
            1 if b else None for b in broadcastable)
    return TensorType(dtype, shape=shape).make_variable(name)


_DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64", "floatX"}
_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}
_KINDS = {"scalar": (), "vector": (None,), "row": (1, None), "col": (None, 1),
          "matrix": (None, None), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
          "tensor5": (None,) * 5}


def _constructor(kind, fixed_dtype=None):
    shape = _KINDS[kind]

    def make(name=None, dtype=None, shape=None):
        dt = fixed_dtype or dtype or config.floatX
        return TensorType(dt, shape=_KINDS[kind] if shape is None else shape).make_variable(name)

    make.__name__ = (fixed_dtype and _PREFIX_OF[fixed_dtype] or "") + kind
    make.__doc__ = f"A symbolic {kind} (static shape {shape}) named ``name``."
    return make


_PREFIX_OF = {v: k for k, v in _PREFIX.items()}
_namespace = globals()
for _kind in _KINDS:
    _namespace[_kind] = _constructor(_kind)
    for _p, _dt in _PREFIX.items():
        _namespace[_p + _kind] = _constructor(_kind, _dt)


def _multi(make):
    """Theano's plural constructors: ``dmatrices('x', 'y')``, ``dmatrices(3)``,
    ``dmatrices('x, y')`` (comma-separated) or ``dmatrices('xy')`` (one per letter)."""

    def many(*names, dtype=None):
        if len(names) == 1 and isinstance(names[0], (int, np.integer)):
            return [make(dtype=dtype) for _ in range(int(names[0]))]
        if len(names) == 1 and isinstance(names[0], (list, tuple)):
            names = tuple(names[0])
        if len(names) == 1 and isinstance(names[0], str):
            text = names[0]
            names = tuple(n.strip() for n in text.split(",")) if "," in text else (
                tuple(text.split()) if " " in text.strip() else tuple(text))
        return [make(n, dtype=dtype) for n in names]

    many.__name__ = make.__name__ + "s" if not make.__name__.endswith("x") else make.__name__
    many.__doc__ = f"Several symbolic variables made by ``{make.__name__}``."
    return many


for _kind, _plural in (("scalar", "scalars"), ("vector", "vectors"), ("row", "rows"),
                       ("col", "cols"), ("matrix", "matrices"), ("tensor3", "tensor3s"),
                       ("tensor4", "tensor4s"), ("tensor5", "tensor5s")):
    _namespace[_plural] = _multi(_namespace[_kind])
    for _p in _PREFIX:
        _namespace[_p + _plural] = _multi(_namespace[_p + _kind])


# --------------------------------------------------------------------- shapes

def shape(x):
    """The runtime shape of ``x`` as a symbolic int64 vector."""
    return Shape()(as_tensor_variable(x))


def shape_i(x, i):
    x = as_tensor_variable(x)
    s = x.type.shape[i]
    return constant(np.int64(s)) if s is not None else shape(x)[i]


def reshape(x, newshape, ndim=None):
    """NumPy ``reshape``; ``newshape`` may mix ints and symbolic scalars (one -1)."""
    x = as_tensor_variable(x)
    vec = as_shape_vector(newshape)
    if ndim is None:
        if vec.type.shape[0] is None:
            raise ValueError(f"reshape of {x}: pass ndim= when the new shape's length is symbolic")
        ndim = vec.type.shape[0]
    return Reshape(ndim)(x, vec)


def flatten(x, ndim=1, outdim=None):
    """Keep the first ``ndim - 1`` axes, flatten the rest into one."""
    x = as_tensor_variable(x)
    ndim = outdim if outdim is not None else ndim
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten {x} ({x.ndim}-d) to {ndim} dimensions")
    if x.ndim == ndim:
        return x
    kept = [shape_i(x, i) for i in range(ndim - 1)]
    return reshape(x, kept + [-1], ndim=ndim)


def dimshuffle(x, pattern):
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)


def transpose(x, axes=None):
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    return dimshuffle(x, [a % x.ndim for a in axes])


def swapaxes(x, a, b):
    x = as_tensor_variable(x)
    order = list(range(x.ndim))
    a, b = a % x.ndim, b % x.ndim
    order[a], order[b] = order[b], order[a]
    return dimshuffle(x, order)


def shape_padleft(x, n_ones=1):
    x = as_tensor_variable(x)
    return dimshuffle(x, ("x",) * n_ones + tuple(range(x.ndim)))


def shape_padright(x, n_ones=1):
    x = as_tensor_variable(x)
    return dimshuffle(x, tuple(range(x.ndim)) + ("x",) * n_ones)


def shape_padaxis(x, axis):
    x = as_tensor_variable(x)
    axis = axis % (x.ndim + 1)
    pattern = list(range(x.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(x, pattern)


expand_dims = shape_padaxis


def squeeze(x, axis=None):
    """Drop length-1 axes (those known to be 1, or the given ``axis``)."""
    x = as_tensor_variable(x)
    if axis is None:
        axes = [i for i, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
    return dimshuffle(x, [i for i in range(x.ndim) if i not in axes])


def addbroadcast(x, *axes):
    return x


def unbroadcast(x, *axes):
    return x


# ------------------------------------------------------------------- creation

def concatenate(tensors, axis=0):
    tensors = [as_tensor_variable(t) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    return Join(axis)(*tensors)


def join(axis, *tensors):
    """Theano's argument order: ``join(axis, a, b, ...)``."""
    return concatenate(tensors, axis=axis)


def stack(tensors, *more, axis=0):
    """Stack tensors (or Python numbers) along a new axis: ``stack([a, b], axis)``;
    Theano's older ``stack(a, b, c)`` form is accepted too."""
    if isinstance(tensors, (list, tuple)):
        if len(more) == 1 and isinstance(more[0], (int, np.integer)):
            axis = int(more[0])
        elif more:
            raise TypeError("stack([a, b, ...], axis): pass the tensors as one list")
    else:
        tensors = (tensors,) + more
    if not tensors:
        raise ValueError("stack takes a non-empty list of tensors")
    tensors = [as_tensor_variable(t) for t in tensors]
    ndim = tensors[0].ndim
    if any(t.ndim != ndim for t in tensors):
        raise ValueError("stack: all tensors must have the same number of dimensions, got "
                         + ", ".join(f"{t} (shape {t.type.shape})" for t in tensors))
    if not -(ndim + 1) <= axis <= ndim:
        raise ValueError(f"stack: axis {axis} is out of bounds for {ndim + 1}-d results")
    if ndim == 0:
        # Python literals are weak (NumPy 2): stack([fscalar, 0.5]) stays float32.
        strong = [t for t in tensors if not getattr(t, "weak", False)]
        weak = [t.data.item() for t in tensors if getattr(t, "weak", False)]
        dtype = np.result_type(*[t.type.numpy_dtype for t in strong or tensors],
                               *(weak if strong else []))
        from ..ops.elemwise import _cast_weak_constant

        return MakeVector(dtype)(*[
            t if t.dtype == dtype else _cast_weak_constant(t, dtype) if getattr(t, "weak", False)
            else tm.cast(t, dtype) for t in tensors])
    return concatenate([shape_padaxis(t, axis) for t in tensors], axis=axis)


def arange(start, stop=None, step=1, dtype=None):
    """NumPy ``arange`` with symbolic bounds."""
    if stop is None:
        start, stop = 0, start
    start, stop, step = (as_tensor_variable(v) for v in (start, stop, step))
    if dtype is None:
        vals = [v.data.item() if getattr(v, "weak", False) else np.zeros((), v.dtype)
                for v in (start, stop, step)]
        dtype = np.result_type(*vals)
        if dtype.kind == "b":
            dtype = np.dtype("int64")
    return ARange(dtype)(start, stop, step)


def _shape_entries(shape):
    """A shape given as ints/scalars, a tuple of them, or a symbolic int vector
    (such as ``x.shape``) as a list of scalar entries."""
    if isinstance(shape, (list, tuple)):
        return list(shape)
    if isinstance(shape, (int, np.integer)):
        return [shape]
    v = as_tensor_variable(shape)
    if v.ndim == 0:
        return [v]
    if v.ndim != 1 or v.type.shape[0] is None:
        raise ValueError(f"a shape must be a tuple or an integer vector of known length, got {v} "
                         f"({v.ndim}-d, static shape {v.type.shape})")
    return [v[i] for i in range(v.type.shape[0])]


def alloc(value, *shape):
    """A tensor of ``shape`` filled with ``value`` (broadcast)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) and (
            isinstance(shape[0], (list, tuple)) or as_tensor_variable(shape[0]).ndim == 1):
        shape = _shape_entries(shape[0])
    return Alloc()(value, *shape)


def zeros(shape, dtype=None):
    return alloc(constant(np.zeros((), dtype or config.floatX)), *_shape_entries(shape))


def ones(shape, dtype=None):
    return alloc(constant(np.ones((), dtype or config.floatX)), *_shape_entries(shape))


def eye(n, m=None, k=0, dtype=None):
    return Eye(dtype or config.floatX)(n, n if m is None else m, k)


def identity_like(x):
    x = as_tensor_variable(x)
    return eye(shape(x)[0], shape(x)[1], 0, x.dtype)


def tile(x, reps):
    x = as_tensor_variable(x)
    reps = tuple(int(r) for r in reps)
    if len(reps) > x.ndim:
        x = shape_padleft(x, len(reps) - x.ndim)
    reps = (1,) * (x.ndim - len(reps)) + reps
    return Tile(reps)(x)


def repeat(x, repeats, axis=None):
    """NumPy ``repeat``: ``repeats`` is an integer or one integer per element along ``axis``."""
    x = as_tensor_variable(x)
    if axis is not None:
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"repeat: axis {axis} is out of bounds for {x} ({x.ndim}-d)")
        axis %= x.ndim
    return Repeat(axis)(x, repeats)


def diag(v, k=0):
    """The k-th diagonal of a matrix, or a matrix with vector v on it."""
    v = as_tensor_variable(v)
    if v.ndim == 1:
        return AllocDiag(k)(v)
    if v.ndim == 2:
        return ExtractDiag(k)(v)
    raise ValueError(f"diag of a {v.ndim}-d tensor: expected 1 or 2 dimensions")


def diagonal(x, offset=0):
    return ExtractDiag(offset)(x)


def get_scalar_constant_value(v):
    value = static_value(as_tensor_variable(v))
    if value is None:
        raise ValueError(f"{v} is not a constant")
    return np.asarray(value)


__all__ = [n for n in dir() if not n.startswith("_")] + ["TensorVariable"]
