"""Jacobians of non-scalar expressions: one vector-Jacobian product per
output element, evaluated by an inner compiled graph at run time (the
number of rows is only known then)."""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from ..graph.traversal import graph_inputs
from ..tensor.type import TensorType


class JacobianRows(Op):
    """Rows d expression.flat[i] / d wrt, from the inner graph ``grad(seed)``."""

    def __init__(self, seed, free_inputs, inner_grad, wrt):
        self.seed, self.free_inputs, self.inner_grad, self.wrt = seed, free_inputs, inner_grad, wrt
        self._fn = None

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __str__(self):
        return f"JacobianRows{{wrt={self.wrt}}}"

    def make_node(self, expression, *free_values):
        out = TensorType(self.inner_grad.dtype, shape=(None,) + self.wrt.type.shape)
        return Apply(self, [expression, *free_values], [out.make_variable()])

    def perform(self, node, inputs):
        from ..compile.inner import compile_inner

        if self._fn is None:
            self._fn = compile_inner([self.seed] + self.free_inputs, [self.inner_grad])
        expression, *free_values = inputs
        n = expression.size
        rows = []
        for i in range(n):
            seed = np.zeros(n, dtype=expression.dtype)
            seed[i] = 1
            rows.append(self._fn(seed.reshape(expression.shape), *free_values)[0])
        out = np.stack(rows) if rows else np.zeros((0,) + self.wrt.type.shape, self.inner_grad.dtype)
        return (out,)

    def L_op(self, inputs, outputs, output_grads):
        from ..gradient import grad_not_implemented

        return [grad_not_implemented(self, i, x, "(third-order derivatives)")
                for i, x in enumerate(inputs)]


def jacobian_rows(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    from ..gradient import grad

    seed = TensorType(expression.dtype, shape=expression.type.shape).make_variable("jacobian_seed")
    g = grad(None, wrt, consider_constant, disconnected_inputs, known_grads={expression: seed})
    free = [v for v in graph_inputs([g]) if v is not seed and not isinstance(v, Constant)]
    return JacobianRows(seed, free, g, wrt)(expression, *free)
