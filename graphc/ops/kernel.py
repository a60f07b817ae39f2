"""KernelOp: a graph node that runs one Kernel of the kernel IR.

The fusion rewrite replaces clusters of elementwise nodes (and the reduction
that consumes them) by one KernelOp; a backend lowers ``op.kernel`` to
generated code, and ``perform`` evaluates it with NumPy (the reference).
Kernels appear only after gradients are taken, so KernelOp has no gradient.
"""

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
        k = self.kernel
        exprs = "; ".join(k.expression(j) for j in range(len(k.results)))
        # an epilogue's expressions name their reductions themselves
        red = f" -> {k.reduce.text()}" if k.reduce and k.epilogue is None else ""
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
        loop = [(var, spec) for var, spec in zip(inputs, k.inputs) if spec.in_loop]
        dims = _static_broadcast(k.ndim, [var.type.shape for var, _ in loop])
        if k.reduce is not None:
            dims = [d for a, d in enumerate(dims) if a not in k.reduce.axes]
        if k.epilogue is not None:
            dims = _static_broadcast(k.out_ndim, [tuple(dims)] + [
                var.type.shape for var, spec in zip(inputs, k.inputs) if spec.epilogue])
        outputs = [TensorType(dt, shape=tuple(dims)).make_variable() for dt in k.output_dtypes]
        return Apply(self, inputs, outputs)

    def infer_shape(self, node, input_shapes):
        """The broadcast of the (left-padded) inputs, less the reduced axes."""
        from ..graph.shape_feature import broadcast_dims

        def broadcast(ndim, shapes):
            return [broadcast_dims(*(s[axis - (ndim - len(s))] for s in shapes
                                     if axis >= ndim - len(s))) for axis in range(ndim)]

        k = self.kernel
        dims = broadcast(k.ndim, [s for s, spec in zip(input_shapes, k.inputs) if spec.in_loop])
        if k.reduce is not None:
            dims = [d for a, d in enumerate(dims) if a not in k.reduce.axes]
        if k.epilogue is not None:
            dims = broadcast(k.out_ndim, [tuple(dims)] + [
                s for s, spec in zip(input_shapes, k.inputs) if spec.epilogue])
        return [tuple(dims)] * len(node.outputs)

    def perform(self, node, inputs):
        if not self.inplace:
            return tuple(evaluate(self.kernel, inputs))
        # The memory plan proved input i dead after this node; evaluate still
        # checks that its buffer fits (dims of unknown length may broadcast).
        out = [None] * len(self.kernel.results)
        for o, i in self.inplace:
            out[o] = inputs[i]
        return tuple(evaluate(self.kernel, inputs, out=out))

    def infer_loop_shape(self, shapes):
        return broadcast_shape(self.kernel, shapes)

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("KernelOp nodes exist only in compiled graphs; take gradients "
                                  "of the user graph before compiling")


def _static_broadcast(ndim, shapes):
    """Static broadcast of right-aligned ``shapes`` (None: unknown length)."""
    dims = []
    for axis in range(ndim):
        known, unknown = set(), False
        for shape in shapes:
            off = ndim - len(shape)
            if axis < off:
                continue
            s = shape[axis - off]
            if s is None:
                unknown = True
            elif s != 1:
                known.add(s)
        if len(known) > 1:
            raise ValueError(f"kernel inputs disagree on dimension {axis}: {sorted(known)}")
        dims.append(known.pop() if known else (None if unknown else 1))
    return dims
