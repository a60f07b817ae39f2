"""Softmax and log-softmax along an axis (numerically stable), and the
softmax gradient as an op of its own.

``Softmax``'s gradient is a ``SoftmaxGrad`` node rather than the equivalent
elementwise expression so that the stability rewrite can recognize it: in
``grad(log(softmax(x)))`` it receives ``gz / softmax(x)``, which overflows
where the softmax underflows, and the rewrite turns ``SoftmaxGrad(u / sm, sm)``
into the log-softmax gradient ``u - sm * sum(u)``.

``CrossentropySoftmax1Hot`` / ``CrossentropySoftmax1HotDx`` are softmax
cross-entropy with integer labels and its gradient, each one node (the
stability pass builds them from the graphs ``categorical_crossentropy`` and
``grad`` produce).
"""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from ..tensor.type import TensorType
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

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

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

    def infer_shape(self, node, input_shapes):
        from ..graph.shape_feature import broadcast_dims

        return [tuple(map(broadcast_dims, *input_shapes))]

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


# ------------------------------------------- softmax cross-entropy, int labels

def _label_picks(n_rows, labels):
    """``(arange(n_rows), labels)`` broadcast together, as NumPy indexing
    ``x[arange(n), labels]`` pairs them (a single row or label broadcasts)."""
    try:
        return np.broadcast_arrays(np.arange(n_rows), labels)
    except ValueError:
        raise IndexError(f"shape mismatch: {n_rows} rows and labels of shape {labels.shape} "
                         "cannot be broadcast together") from None


def _check_labels(labels, n_classes):
    """IndexError naming the first label outside ``[-n_classes, n_classes)``."""
    bad = labels[(labels >= n_classes) | (labels < -n_classes)]
    if bad.size:
        raise IndexError(f"label {int(bad[0])} is out of bounds for axis 1 with size "
                         f"{n_classes}: labels must lie in [{-n_classes}, {n_classes}) "
                         f"(labels of shape {labels.shape})")


def _static_picks(x, labels):
    from .elemwise import broadcast_static_shapes

    rows = TensorType("int64", shape=x.type.shape[:1])()
    return broadcast_static_shapes("crossentropy_softmax_1hot", [rows, labels])


def _as_labels(y, what):
    y = as_tensor_variable(y)
    if y.ndim != 1 or y.type.numpy_dtype.kind not in "iu":
        raise TypeError(f"{what}: labels must be an integer vector, got {_describe(y)}")
    return y


class CrossentropySoftmax1Hot(Op):
    """``-log(softmax(x))[arange(n), y]`` per row of a matrix x, in one pass
    (max-shifted, so it never overflows), and ``softmax(x)``, which is what
    its gradient needs.

    Exactly the values of ``-LogSoftmax(x)[arange(n), y]`` and ``Softmax(x)``
    (the same NumPy operations in the same order); rows and labels pair as
    NumPy indexing pairs them, and a label outside ``[-k, k)`` raises
    IndexError naming it.  The stability rewrite builds it from
    ``categorical_crossentropy(softmax(x), y)``; users may also call it.
    """

    nout = 2

    def make_node(self, x, y):
        x = as_tensor_variable(x)
        y = _as_labels(y, "crossentropy_softmax_1hot")
        if x.ndim != 2 or not x.dtype.startswith("float"):
            raise TypeError(f"crossentropy_softmax_1hot: x must be a float matrix, got "
                            f"{_describe(x)}")
        loss = TensorType(x.dtype, shape=_static_picks(x, y)).make_variable()
        return Apply(self, [x, y], [loss, x.type.make_variable()])

    def infer_shape(self, node, input_shapes):
        from ..graph.shape_feature import broadcast_dims

        x_shape, (n_labels,) = input_shapes
        return [(broadcast_dims(x_shape[0], n_labels),), x_shape]

    def perform(self, node, inputs):
        x, labels = inputs
        shifted = x - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=1, keepdims=True)
        rows, labels = _label_picks(x.shape[0], labels)
        _check_labels(labels, x.shape[1])
        loss = -(shifted[rows, labels] - np.log(total)[rows, 0])
        return loss.astype(x.dtype, copy=False), (e / total).astype(x.dtype, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        x, y = inputs
        g_loss, g_sm = output_grads
        sm = outputs[1]
        terms = []
        if not _is_zero_fill(g_loss):
            terms.append(CrossentropySoftmax1HotDx()(g_loss, sm, y))
        if not _is_zero_fill(g_sm):
            terms.append(SoftmaxGrad(-1)(g_sm, sm))
        gx = terms[0] if terms else outputs[1] * 0
        for t in terms[1:]:
            gx = gx + t
        return [gx, None]

    def connection_pattern(self, node):
        return [[True, True], [False, False]]


class CrossentropySoftmax1HotDx(Op):
    """The gradient of ``CrossentropySoftmax1Hot``'s loss w.r.t. x given
    ``dy`` (w.r.t. the per-row losses): ``(sm - onehot(y)) * dy[:, None]``.
    dy may be a single value broadcast over the rows."""

    def make_node(self, dy, sm, y):
        dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
        y = _as_labels(y, "crossentropy_softmax_1hot_dx")
        if sm.ndim != 2 or not sm.dtype.startswith("float") or dy.ndim != 1:
            raise TypeError(f"crossentropy_softmax_1hot_dx: expected a vector of loss "
                            f"gradients and a float softmax matrix, got {_describe(dy)} and "
                            f"{_describe(sm)}")
        if dy.dtype != sm.dtype:
            from ..tensor import math as tm

            dy = tm.cast(dy, sm.dtype)
        return Apply(self, [dy, sm, y], [sm.type.make_variable()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def perform(self, node, inputs):
        dy, sm, labels = inputs
        n = sm.shape[0]
        rows, labels = _label_picks(n, labels)
        _check_labels(labels, sm.shape[1])
        dy = np.broadcast_to(dy, rows.shape)
        if rows.shape[0] == n:  # one pick per row (rows is arange(n) itself)
            dx = sm * dy[:, None]
            dx[rows, labels] -= dy
        else:
            per_row = np.zeros(n, dtype=sm.dtype)
            np.add.at(per_row, rows, dy)
            dx = sm * per_row[:, None]
            np.add.at(dx, (rows, labels), -dy)
        return (dx.astype(sm.dtype, copy=False),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm
        from ..tensor.subtensor import inc_subtensor
        from .elemwise import SumToShapeOf

        dy, sm, y = inputs
        (gz,) = output_grads
        rows = tb.arange(tb.shape(sm)[0])
        # dx = sm * G[:, None] - scatter(dy), G = per-row sum of dy over the picks
        g_dy = tm.sum(gz * sm, axis=1)[rows] - gz[rows, y]
        g_dy = SumToShapeOf()(tm.second(y, g_dy), dy)
        per_row = inc_subtensor(tm.zeros_like(sm[:, 0])[tm.second(y, rows)], dy)
        return [g_dy, gz * per_row.dimshuffle(0, "x"), None]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


def _is_zero_fill(g):
    """A gradient the machinery filled with zeros for an unused output."""
    from .elemwise import Elemwise

    owner = g.owner
    if isinstance(g, Constant):
        return not np.any(g.data)
    return (owner is not None and isinstance(owner.op, Elemwise)
            and owner.op.scalar_op.name == "second" and isinstance(owner.inputs[1], Constant)
            and not np.any(owner.inputs[1].data))
