"""Softmax and log-softmax along an axis (numerically stable)."""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.var import as_tensor_variable
from .elemwise import _describe


class _SoftmaxBase(Op):
    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim == 0 or not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"{type(self).__name__} over axis {self.axis} of {_describe(x)}")
        if not x.dtype.startswith("float"):
            from ..tensor import math as tm

            x = tm.cast(x, "float64")
        return Apply(self, [x], [x.type.make_variable()])

    def __str__(self):
        return f"{type(self).__name__}{{axis={self.axis}}}"


class Softmax(_SoftmaxBase):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""

    def perform(self, node, inputs):
        (x,) = inputs
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        return ((e / np.sum(e, axis=self.axis, keepdims=True)).astype(x.dtype, copy=False),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        (sm,), (gz,) = outputs, output_grads
        return [(gz - tm.sum(gz * sm, axis=self.axis, keepdims=True)) * sm]


class LogSoftmax(_SoftmaxBase):
    """``x - logsumexp(x)`` along ``axis``, computed without overflow."""

    def perform(self, node, inputs):
        (x,) = inputs
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        lse = np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        return ((shifted - lse).astype(x.dtype, copy=False),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        (out,), (gz,) = outputs, output_grads
        return [gz - tm.exp(out) * tm.sum(gz, axis=self.axis, keepdims=True)]
