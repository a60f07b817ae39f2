"""Softmax and log-softmax along an axis (numerically stable), and the
softmax gradient as an op of its own.

``Softmax``'s gradient is a ``SoftmaxGrad`` node rather than the equivalent
elementwise expression so that the stability rewrite can recognize it: in
``grad(log(softmax(x)))`` it receives ``gz / softmax(x)``, which overflows
where the softmax underflows, and the rewrite turns ``SoftmaxGrad(u / sm, sm)``
into the log-softmax gradient ``u - sm * sum(u)``.
"""

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
        return [SoftmaxGrad(self.axis)(gz, sm)]


class SoftmaxGrad(Op):
    """``(dy - sum(dy * sm, axis, keepdims)) * sm``: the gradient of a cost
    w.r.t. softmax's input given ``dy`` (w.r.t. its output ``sm``)."""

    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def make_node(self, dy, sm):
        dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
        if dy.ndim != sm.ndim or not -sm.ndim <= self.axis < sm.ndim:
            raise ValueError(f"SoftmaxGrad over axis {self.axis} of {_describe(dy)} and "
                             f"{_describe(sm)}: both need that axis and the same ndim")
        if dy.dtype != sm.dtype:
            from ..tensor import math as tm

            dy = tm.cast(dy, sm.dtype)
        return Apply(self, [dy, sm], [sm.type.make_variable()])

    def perform(self, node, inputs):
        dy, sm = inputs
        return (((dy - np.sum(dy * sm, axis=self.axis, keepdims=True)) * sm)
                .astype(sm.dtype, copy=False),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        (dy, sm), (gz,) = inputs, output_grads
        # d/d dy is the same linear map applied to gz (it is self-adjoint);
        # d/d sm_k = gz_k (dy_k - sum(dy sm)) - dy_k sum(gz sm).
        dy_sm = tm.sum(dy * sm, axis=self.axis, keepdims=True)
        gz_sm = tm.sum(gz * sm, axis=self.axis, keepdims=True)
        return [SoftmaxGrad(self.axis)(gz, sm), gz * (dy - dy_sm) - dy * gz_sm]

    def __str__(self):
        return f"SoftmaxGrad{{axis={self.axis}}}"


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
