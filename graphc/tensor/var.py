"""TensorVariable: the user-facing symbolic tensor, with NumPy-style operators."""

import numpy as np

from ..graph.basic import Constant, Variable
from .type import TensorType


def _tm():
    from . import math as tm

    return tm


def _tb():
    from . import basic as tb

    return tb


class _TensorOperators:
    """Operators and methods shared by tensor variables and constants."""

    # ndarray (op) variable defers to our reflected operators instead of
    # building an object array of variables.
    __array_ufunc__ = None
    __array_priority__ = 1000

    # -- type information
    @property
    def ndim(self):
        return self.type.ndim

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def static_shape(self):
        return self.type.shape

    @property
    def shape(self):
        return _tb().shape(self)

    @property
    def size(self):
        return _tm().prod(self.shape)

    @property
    def T(self):
        return _tb().transpose(self)

    # -- arithmetic
    def __add__(self, other): return _tm().add(self, other)
    def __radd__(self, other): return _tm().add(other, self)
    def __sub__(self, other): return _tm().sub(self, other)
    def __rsub__(self, other): return _tm().sub(other, self)
    def __mul__(self, other): return _tm().mul(self, other)
    def __rmul__(self, other): return _tm().mul(other, self)
    def __truediv__(self, other): return _tm().true_div(self, other)
    def __rtruediv__(self, other): return _tm().true_div(other, self)
    def __floordiv__(self, other): return _tm().int_div(self, other)
    def __rfloordiv__(self, other): return _tm().int_div(other, self)
    def __mod__(self, other): return _tm().mod(self, other)
    def __rmod__(self, other): return _tm().mod(other, self)
    def __pow__(self, other): return _tm().pow(self, other)
    def __rpow__(self, other): return _tm().pow(other, self)
    def __matmul__(self, other): return _tm().matmul(self, other)
    def __rmatmul__(self, other): return _tm().matmul(other, self)
    def __neg__(self): return _tm().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _tm().abs(self)
    def __invert__(self): return _tm().invert(self)
    def __and__(self, other): return _tm().and_(self, other)
    def __rand__(self, other): return _tm().and_(other, self)
    def __or__(self, other): return _tm().or_(self, other)
    def __ror__(self, other): return _tm().or_(other, self)
    def __xor__(self, other): return _tm().xor(self, other)
    def __rxor__(self, other): return _tm().xor(other, self)
    def __lt__(self, other): return _tm().lt(self, other)
    def __le__(self, other): return _tm().le(self, other)
    def __gt__(self, other): return _tm().gt(self, other)
    def __ge__(self, other): return _tm().ge(self, other)

    # Theano semantics: == and != are identity, variables hash by identity.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError(
            f"the truth value of symbolic variable {self} is not known while the graph is "
            "built; use graphc.ifelse / T.switch for conditions")

    def __iter__(self):
        raise TypeError(f"symbolic variable {self} cannot be iterated; index it instead")

    def __len__(self):
        raise TypeError(f"len() of symbolic variable {self} is unknown; use {self}.shape[0]")

    def __getitem__(self, index):
        from .subtensor import getitem

        return getitem(self, index)

    # -- methods
    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _tm().sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _tm().prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _tm().mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _tm().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _tm().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _tm().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _tm().min(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _tm().all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _tm().any(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _tm().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _tm().argmin(self, axis=axis, keepdims=keepdims)

    def reshape(self, shape, *more, ndim=None):
        if more:
            shape = (shape,) + more
        return _tb().reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1, outdim=None):
        return _tb().flatten(self, outdim if outdim is not None else ndim)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _tb().dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return _tb().transpose(self, axes or None)

    def astype(self, dtype):
        return _tm().cast(self, dtype)

    def squeeze(self):
        return _tb().squeeze(self)

    def dot(self, other):
        return _tm().dot(self, other)

    def clip(self, a_min, a_max):
        return _tm().clip(self, a_min, a_max)

    def nonzero_values(self):
        return self.flatten()[_tm().neq(self.flatten(), 0)]

    def copy(self, name=None):
        out = _tm().identity(self)
        out.name = name
        return out

    def eval(self, inputs_to_values=None):
        """Compile (cached per variable and input set) and evaluate this expression."""
        from ..compile.function import function

        inputs_to_values = inputs_to_values or {}
        inputs = list(inputs_to_values)
        key = tuple(map(id, inputs))
        cache = self.__dict__.setdefault("_eval_cache", {})
        if key not in cache:
            cache[key] = function(inputs, self, on_unused_input="ignore")
        return cache[key](*inputs_to_values.values())


class TensorVariable(_TensorOperators, Variable):
    """A symbolic tensor.  ``==`` is identity (as in Theano); use ``T.eq``."""


class TensorConstant(_TensorOperators, Constant):
    """A constant tensor; ``weak`` marks a Python literal (NumPy 2 promotion)."""

    def __init__(self, type, data, name=None, weak=False):
        Constant.__init__(self, type, np.asarray(data, dtype=type.dtype), name=name, weak=weak)

    @property
    def value(self):
        return self.data


def constant(value, name=None, dtype=None, ndim=None):
    """A TensorConstant holding ``value`` (static shape = the value's shape)."""
    weak = dtype is None and isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)
    data = np.asarray(value, dtype=dtype)
    if ndim is not None and data.ndim != ndim:
        if data.ndim > ndim:
            raise ValueError(f"constant of shape {data.shape} cannot have {ndim} dimensions")
        data = data.reshape((1,) * (ndim - data.ndim) + data.shape)
    return TensorConstant(TensorType(data.dtype, shape=data.shape), data, name=name, weak=weak)


def as_tensor_variable(x, name=None, ndim=None):
    """Turn a Variable, array, scalar or list (of numbers or variables) into a TensorVariable."""
    if isinstance(x, _TensorOperators):
        if ndim is not None and x.ndim != ndim:
            raise TypeError(f"{x} has {x.ndim} dimensions, expected {ndim}")
        return x
    if isinstance(x, Variable):
        raise TypeError(f"{x} of type {x.type} is not a tensor")
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) or isinstance(e, (list, tuple))
                                            and _contains_variable(e) for e in x):
        from .basic import stack

        return stack([as_tensor_variable(e) for e in x])
    if isinstance(x, (bool, int, float, np.number, np.bool_, np.ndarray, list, tuple)):
        return constant(x, name=name, ndim=ndim)
    raise TypeError(f"cannot convert {type(x).__name__} {x!r} to a graphc tensor")


def _contains_variable(seq):
    stack = [seq]
    while stack:
        for e in stack.pop():
            if isinstance(e, Variable):
                return True
            if isinstance(e, (list, tuple)):
                stack.append(e)
    return False
