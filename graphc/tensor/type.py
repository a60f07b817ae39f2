"""TensorType: dtype plus a static shape (an int or None per dimension)."""

import numpy as np

from ..config import config
from ..graph.type import Type


_CHECKED_NAMES = {}  # dtype spelling -> canonical name, for spellings already validated


def _dtype_name(dtype):
    try:
        return _CHECKED_NAMES[dtype]
    except (KeyError, TypeError):
        pass
    if dtype == "floatX":
        return _dtype_name(config.floatX)
    name = _validated_dtype_name(dtype)
    try:
        _CHECKED_NAMES[dtype] = name
    except TypeError:  # unhashable spelling
        pass
    return name


def _validated_dtype_name(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "c":
        raise NotImplementedError(
            f"complex dtypes ({dt}) are not supported by graphc yet; "
            "use a pair of real tensors for now")
    if dt.kind not in "biuf":
        raise TypeError(f"graphc tensors hold numbers or booleans, not {dt}")
    return dt.name


class TensorType(Type):
    """A tensor of ``dtype`` whose dims are known (int) or unknown (None).

    Theano's ``TensorType(dtype, broadcastable)`` form is accepted: a True
    entry is a dimension known to be 1.
    """

    def __init__(self, dtype, broadcastable=None, shape=None, name=None):
        self.dtype = _dtype_name(dtype)
        if shape is None:
            if broadcastable is None:
                raise TypeError("TensorType needs broadcastable or shape")
            shape = tuple(1 if b else None for b in broadcastable)
        self.shape = tuple(None if s is None else int(s) for s in shape)
        if any(s is not None and s < 0 for s in self.shape):
            raise ValueError(f"negative static dimension in {self.shape}")
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def broadcastable(self):
        return tuple(s == 1 for s in self.shape)

    @property
    def numpy_dtype(self):
        return np.dtype(self.dtype)

    def clone(self, dtype=None, shape=None):
        return TensorType(dtype or self.dtype, shape=self.shape if shape is None else shape)

    def __eq__(self, other):
        return type(other) is TensorType and (self.dtype, self.shape) == (other.dtype, other.shape)

    def __hash__(self):
        return hash((TensorType, self.dtype, self.shape))

    def __str__(self):
        if self.name:
            return self.name
        dims = ", ".join("?" if s is None else str(s) for s in self.shape)
        if self.ndim == 1:
            dims += ","
        return f"TensorType({self.dtype}, ({dims}))"

    __repr__ = __str__

    def make_variable(self, name=None):
        from .var import TensorVariable

        return TensorVariable(self, name=name)

    def shape_matches(self, shape):
        return len(shape) == self.ndim and all(
            s is None or s == d for s, d in zip(self.shape, shape))

    def filter(self, value, name=None, allow_downcast=None, what=None, hint=None):
        """Convert a user value to an ndarray of this type, or raise.

        ndarrays are cast only when NumPy calls the cast safe; Python scalars
        and lists are also cast when the cast is exact or (Theano's rule for
        ``allow_downcast=None``) when float data goes to a float dtype.
        ``allow_downcast=True`` casts anything.  ``what`` names the value in
        error messages (default: ``input 'name'``); ``hint`` replaces the
        advice given for a lossy cast.
        """
        if what is None:
            what = f"input {name!r}" if name else "value"
        if hint is None:
            hint = ("Cast the value yourself, declare the input with that dtype, or pass "
                    "allow_input_downcast=True to function().")
        from_python = not isinstance(value, (np.ndarray, np.generic))
        try:
            arr = np.asarray(value)
        except ValueError as exc:
            raise TypeError(f"{what}: cannot convert {type(value).__name__} to an array: {exc}") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{what}: expected {self}, got an array of dtype {arr.dtype}"
                            f" (shape {arr.shape})")
        if arr.ndim != self.ndim:
            raise TypeError(
                f"{what}: wrong number of dimensions: expected {self.ndim} "
                f"({self}), got {arr.ndim} ({arr.dtype} with shape {arr.shape})")
        if arr.dtype != self.numpy_dtype:
            cast = arr.astype(self.dtype)
            safe = np.can_cast(arr.dtype, self.dtype, "safe")
            ok = safe or allow_downcast
            if not ok and from_python and allow_downcast is None:
                exact = bool(np.all((cast == arr) | (np.isnan(arr) & np.isnan(cast))
                                    if arr.dtype.kind == "f" else cast == arr))
                ok = exact or (arr.dtype.kind == "f" and self.numpy_dtype.kind == "f")
            if not ok:
                raise TypeError(
                    f"{what}: expected dtype {self.dtype} but got {arr.dtype} "
                    f"(shape {arr.shape}); casting {arr.dtype} to {self.dtype} could lose "
                    f"information. {hint}")
            arr = cast
        if not self.shape_matches(arr.shape):
            raise ValueError(
                f"{what}: shape {arr.shape} does not match the declared static shape "
                f"{tuple('?' if s is None else s for s in self.shape)}")
        return arr


def tensor_type(dtype, ndim=None, shape=None):
    if shape is None:
        shape = (None,) * ndim
    return TensorType(dtype, shape=shape)
