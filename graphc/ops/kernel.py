"""KernelOp: a graph node that runs one Kernel of the kernel IR.

The fusion rewrite replaces clusters of elementwise nodes (and the reduction
that consumes them) by one KernelOp; a backend lowers ``op.kernel`` to
generated code, and ``perform`` evaluates it with NumPy (the reference).
Kernels appear only after gradients are taken, so KernelOp has no gradient.
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..kernel.ir import broadcast_shape, evaluate
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable


class KernelOp(Op):
    """Run ``kernel``; ``inplace`` maps output index -> input index whose
    buffer the output may overwrite (set by memory planning)."""

    __props__ = ("kernel", "inplace")

    def __init__(self, kernel, inplace=()):
        self.kernel = kernel
        self.inplace = tuple(sorted(dict(inplace).items()))

    @property
    def destroy_map(self):
        return {o: [i] for o, i in self.inplace}

    def __str__(self):
        exprs = "; ".join(self.kernel.expression(k) for k in range(len(self.kernel.outputs)))
        red = f" -> {self.kernel.reduce.text()}" if self.kernel.reduce else ""
        ip = f",inplace={dict(self.inplace)}" if self.inplace else ""
        return f"Kernel{{{exprs}{red}{ip}}}"

    def make_node(self, *inputs):
        k = self.kernel
        inputs = [as_tensor_variable(i) for i in inputs]
        if len(inputs) != len(k.inputs):
            raise TypeError(f"{self} takes {len(k.inputs)} inputs, got {len(inputs)}")
        for j, (var, spec) in enumerate(zip(inputs, k.inputs)):
            if var.type.dtype != spec.dtype or var.type.ndim != spec.ndim:
                raise TypeError(f"kernel input {j}: expected {spec.text()}, got {var.type}")
        dims = []
        for axis in range(k.ndim):
            known = set()
            unknown = False
            for var in inputs:
                off = k.ndim - var.type.ndim
                if axis < off:
                    continue
                s = var.type.shape[axis - off]
                if s is None:
                    unknown = True
                elif s != 1:
                    known.add(s)
            if len(known) > 1:
                raise ValueError(f"kernel inputs disagree on dimension {axis}: {sorted(known)}")
            dims.append(known.pop() if known else (None if unknown else 1))
        if k.reduce is not None:
            dims = [d for a, d in enumerate(dims) if a not in k.reduce.axes]
        outputs = [TensorType(dt, shape=tuple(dims)).make_variable() for dt in k.output_dtypes]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs):
        if not self.inplace:
            return tuple(evaluate(self.kernel, inputs))
        # The memory plan proved input i dead after this node; evaluate still
        # checks that its buffer fits (dims of unknown length may broadcast).
        out = [None] * len(self.kernel.outputs)
        for o, i in self.inplace:
            out[o] = inputs[i]
        return tuple(evaluate(self.kernel, inputs, out=out))

    def infer_loop_shape(self, shapes):
        return broadcast_shape(self.kernel, shapes)

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("KernelOp nodes exist only in compiled graphs; take gradients "
                                  "of the user graph before compiling")
