"""The Op protocol: one definition per operation.

An Op builds nodes (``make_node``: type inference and static checks), defines
the reference semantics with NumPy (``perform``) and its gradient as a graph
(``L_op``/``grad``).  Ops compare and hash by class and ``__props__`` so that
identical computations can be merged.
"""


class Op:
    __props__ = ()
    #: Inputs whose gradient is never needed (index list), e.g. integer indices.
    default_output = None

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if not self.__props__:
            return type(self).__name__
        props = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
        return f"{type(self).__name__}{{{props}}}"

    __repr__ = __str__

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        if len(node.outputs) == 1:
            return node.outputs[0]
        if self.default_output is not None:
            return node.outputs[self.default_output]
        return node.outputs

    def make_node(self, *inputs):
        raise NotImplementedError

    def perform(self, node, inputs):
        """Compute the outputs from NumPy input values; returns a tuple of arrays."""
        raise NotImplementedError(f"{self} has no perform")

    def L_op(self, inputs, outputs, output_grads):
        """Gradient of a scalar cost w.r.t. each input, given the output gradients."""
        return self.grad(inputs, output_grads)

    def grad(self, inputs, output_grads):
        from ..gradient import grad_not_implemented

        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]

    def connection_pattern(self, node):
        """``pattern[i][j]`` says whether input i can influence output j."""
        return [[True] * len(node.outputs) for _ in node.inputs]

    def do_constant_folding(self, node):
        return True
