"""Matrix products: Dot (Theano's 1-d/2-d ``dot``) and MatMul (batched).

The reference ``perform`` calls NumPy, i.e. the BLAS NumPy links against.
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable
from .elemwise import _describe


def _check_inner(name, a, b, ka, kb):
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"{name}: inner dimensions do not match: {_describe(a)} and "
                         f"{_describe(b)} ({ka} != {kb})")


def _product_dtype(a, b):
    return np.result_type(a.type.numpy_dtype, b.type.numpy_dtype)


class Dot(Op):
    """``dot(a, b)`` for 1-d and 2-d operands (vector·vector is a 0-d result)."""

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise TypeError(f"Dot takes 1-d or 2-d operands, got {_describe(a)} and {_describe(b)}")
        sa, sb = a.type.shape, b.type.shape
        _check_inner("dot", a, b, sa[-1], sb[0])
        shape = sa[:-1] + sb[1:]
        dtype = _product_dtype(a, b)
        if dtype == np.bool_:
            dtype = np.dtype(bool)
        return Apply(self, [a, b], [TensorType(dtype, shape=shape).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        return (np.asarray(np.dot(a, b), dtype=node.outputs[0].type.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        a, b = inputs
        (gz,) = output_grads
        if a.ndim == 2 and b.ndim == 2:
            ga, gb = tm.dot(gz, b.T), tm.dot(a.T, gz)
        elif a.ndim == 1 and b.ndim == 2:
            ga, gb = tm.dot(b, gz), tm.outer(a, gz)
        elif a.ndim == 2 and b.ndim == 1:
            ga, gb = tm.outer(gz, b), tm.dot(gz, a)
        else:
            ga, gb = gz * b, gz * a
        return [tm.cast(ga, a.dtype) if a.dtype.startswith("float") else None,
                tm.cast(gb, b.dtype) if b.dtype.startswith("float") else None]

    def __str__(self):
        return "dot"


class MatMul(Op):
    """NumPy ``matmul``: batched over leading axes with broadcasting."""

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must not be 0-d: {_describe(a)}, {_describe(b)}")
        sa = a.type.shape if a.ndim > 1 else (1,) + a.type.shape
        sb = b.type.shape if b.ndim > 1 else b.type.shape + (1,)
        _check_inner("matmul", a, b, sa[-1], sb[-2])
        from .elemwise import broadcast_static_shapes

        batch_a, batch_b = sa[:-2], sb[:-2]
        n = max(len(batch_a), len(batch_b))
        pa = (1,) * (n - len(batch_a)) + batch_a
        pb = (1,) * (n - len(batch_b)) + batch_b
        batch = broadcast_static_shapes(
            "matmul", [TensorType("float64", shape=pa)(), TensorType("float64", shape=pb)()])
        shape = batch + ((sa[-2],) if a.ndim > 1 else ()) + ((sb[-1],) if b.ndim > 1 else ())
        return Apply(self, [a, b], [TensorType(_product_dtype(a, b), shape=shape).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        return (np.asarray(np.matmul(a, b), dtype=node.outputs[0].type.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        a, b = inputs
        (gz,) = output_grads
        a2 = a if a.ndim > 1 else tb.shape_padleft(a)
        b2 = b if b.ndim > 1 else tb.shape_padright(b)
        g2 = gz
        if a.ndim == 1:
            g2 = tb.expand_dims(g2, g2.ndim - (0 if b.ndim == 1 else 1))
        if b.ndim == 1:
            g2 = tb.expand_dims(g2, g2.ndim)
        ga = tm.matmul(g2, tb.swapaxes(b2, -1, -2))
        gb = tm.matmul(tb.swapaxes(a2, -1, -2), g2)
        ga = _unbatch(ga, a2, a)
        gb = _unbatch(gb, b2, b)
        return [tm.cast(ga, a.dtype) if a.dtype.startswith("float") else None,
                tm.cast(gb, b.dtype) if b.dtype.startswith("float") else None]

    def __str__(self):
        return "matmul"


def _unbatch(g, x2, x):
    """Sum a batched gradient over broadcast batch axes and restore x's rank."""
    from ..tensor import basic as tb
    from ..tensor import math as tm
    from .elemwise import SumToShapeOf

    extra = g.ndim - x2.ndim
    if extra > 0:
        g = tm.sum(g, axis=tuple(range(extra)))
    if any(s != 1 for s in x2.type.shape[:-2]) or x2.ndim > 2:
        g = SumToShapeOf()(g, x2)
    return tb.reshape(g, tb.shape(x)) if x.ndim == 1 else g
