"""Reductions over axes (sum, prod, max, min, all, any) and arg-reductions."""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable


def normalize_axis(axis, ndim, what="axis"):
    """A sorted tuple of non-negative axes (None = all)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"{what} {a} is out of bounds for a {ndim}-d tensor")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {tuple(axis)}")
    return tuple(sorted(out)) if ndim else ()


_NUMPY = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
          "all": np.all, "any": np.any}


class Reduce(Op):
    """``kind`` in sum/prod/max/min/all/any over ``axis`` (keepdims is a
    DimShuffle on top); the dtype is what NumPy's reduction gives.

    ``initial`` (max/min only) is NumPy's ``initial=``: the result of an
    empty reduction, which otherwise raises as in NumPy."""

    __props__ = ("kind", "axis", "dtype", "initial")

    def __init__(self, kind, axis, dtype=None, initial=None):
        self.kind = kind
        self.axis = tuple(axis)
        self.dtype = None if dtype is None else np.dtype(dtype).name
        if initial is not None and kind not in ("max", "min"):
            raise ValueError(f"Reduce: initial is only for max/min, not {kind}")
        self.initial = None if initial is None else float(initial)

    def __str__(self):
        kind = {"sum": "Sum", "prod": "Prod", "max": "Max", "min": "Min", "all": "All",
                "any": "Any"}[self.kind]
        return f"{kind}{{axis={list(self.axis)}}}" if self.axis else f"{kind}{{}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if any(a >= x.ndim for a in self.axis):
            raise ValueError(f"{self.kind} over axis {self.axis} of a {x.ndim}-d tensor {x}")
        probe = _NUMPY[self.kind](np.zeros((1,) * x.ndim, dtype=x.dtype), axis=self.axis,
                                  dtype=self.dtype) if self.kind in ("sum", "prod") else \
            _NUMPY[self.kind](np.zeros((1,) * x.ndim, dtype=x.dtype), axis=self.axis)
        shape = tuple(s for i, s in enumerate(x.type.shape) if i not in self.axis)
        return Apply(self, [x], [TensorType(np.asarray(probe).dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        return [tuple(d for i, d in enumerate(input_shapes[0]) if i not in self.axis)]

    def perform(self, node, inputs):
        (x,) = inputs
        out_dtype = node.outputs[0].type.dtype
        if self.kind in ("sum", "prod"):
            r = _NUMPY[self.kind](x, axis=self.axis, dtype=out_dtype)
        elif self.initial is not None:
            r = _NUMPY[self.kind](x, axis=self.axis, initial=self.initial)
        else:
            r = _NUMPY[self.kind](x, axis=self.axis)
        return (np.asarray(r, dtype=out_dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not x.dtype.startswith("float"):
            return [None]
        pattern = []
        kept = iter(range(out.ndim))
        for i in range(x.ndim):
            pattern.append("x" if i in self.axis else next(kept))
        gz_b = tb.dimshuffle(gz, pattern)
        if self.kind == "sum":
            return [tm.cast(tm.second(x, gz_b), x.dtype)]
        if self.kind in ("max", "min"):
            out_b = tb.dimshuffle(out, pattern)
            return [tm.cast(gz_b * tm.eq(x, out_b), x.dtype)]
        if self.kind == "prod":
            return [tm.cast(gz_b * _prod_partials(x, tb.dimshuffle(out, pattern), self.axis, pattern),
                            x.dtype)]
        return [None]


def _prod_partials(x, out_b, axis, pattern):
    """d prod / d x_i = product of the other elements, exact when x has zeros."""
    from ..tensor import basic as tb
    from ..tensor import math as tm

    is_zero = tm.eq(x, 0)
    n_zeros = tb.dimshuffle(tm.sum(is_zero, axis=axis), pattern)
    prod_nonzero = tb.dimshuffle(tm.prod(tm.switch(is_zero, 1, x), axis=axis), pattern)
    safe_x = tm.switch(is_zero, 1, x)
    return tm.switch(tm.eq(n_zeros, 0), out_b / safe_x,
                     tm.switch(tm.and_(tm.eq(n_zeros, 1), is_zero), prod_nonzero, 0))


class ArgReduce(Op):
    """argmax / argmin along one axis, or over the flattened tensor (axis=None)."""

    __props__ = ("kind", "axis")

    def __init__(self, kind, axis):
        self.kind = kind
        self.axis = axis

    def __str__(self):
        return f"{self.kind.capitalize()}{{axis={self.axis}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        shape = () if self.axis is None else tuple(
            s for i, s in enumerate(x.type.shape) if i != self.axis)
        return Apply(self, [x], [TensorType("int64", shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        if self.axis is None:
            return [()]
        axis = self.axis % max(len(input_shapes[0]), 1)
        return [tuple(d for i, d in enumerate(input_shapes[0]) if i != axis)]

    def perform(self, node, inputs):
        fn = np.argmax if self.kind == "argmax" else np.argmin
        return (np.asarray(fn(inputs[0], axis=self.axis), dtype=np.int64),)

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]
