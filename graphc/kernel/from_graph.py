"""Build Kernels (the kernel IR) from nodes of a graph.

Shared by the fusion rewrite (clusters of nodes -> one Kernel) and the code
generators (a one-node Kernel for a lone ``Elemwise``).  The expression of an
``Elemwise`` node is ``op(*args)`` built with ``apply_scalar`` over the node's
*actual* input dtypes (what ``Elemwise.perform`` hands NumPy: weak literals
were already cast by ``make_node``), then cast to the node's output dtype as
``perform`` does, so a kernel computes bit-for-bit what the nodes computed.

Operands that NumPy-style broadcasting padded with leading length-1 axes
(``DimShuffle{x,...,x,0,1,..}``) are read through the pad: the Kernel IR
aligns lower-rank inputs to the right, which is exactly what the pad did.
Scalar and size-1 constants become ``KConst`` literals.
"""

import numpy as np

from ..graph.basic import Constant
from ..ops.elemwise import DimShuffle, Elemwise, is_strict_node
from ..ops.reduce import Reduce
from .ir import (KConst, KInput, Kernel, KernelInput, KReduced, Reduction, apply_scalar, cast,
                 map_leaves)


def is_broadcast_pad(node):
    """A DimShuffle that only prepends broadcast axes: ``('x',..,'x',0,1,..)``."""
    op = node.op
    if not isinstance(op, DimShuffle):
        return False
    lead = len(op.new_order) - op.input_ndim
    return lead > 0 and op.new_order == ("x",) * lead + tuple(range(op.input_ndim))


def unpad(var):
    """``var`` with broadcast-padding DimShuffles stripped off."""
    while var.owner is not None and is_broadcast_pad(var.owner):
        var = var.owner.inputs[0]
    return var


def elemwise_expression(node, args):
    """The kernel expression of Elemwise ``node`` applied to KNodes ``args``."""
    expr = apply_scalar(node.op.scalar_op, *args)
    return cast(expr, node.outputs[0].type.dtype)


def reduction_of(node):
    """The kernel ``Reduction`` equivalent to Reduce ``node``, or None when a
    kernel would compute something else.

    A kernel reduction starts from the identity.  Reduce's max/min raise on an
    empty axis (or start from ``initial``), so they become kernels only when
    the reduced extents are statically non-empty and ``initial`` is unset, or
    when ``initial`` is the identity itself (``max(x, initial=-inf)``).
    """
    op = node.op
    if not isinstance(op, Reduce) or op.kind not in Reduction.KINDS:
        return None
    red = Reduction(op.kind, op.axis)
    if op.kind in ("max", "min"):
        shape = node.inputs[0].type.shape
        out_dtype = np.dtype(node.outputs[0].type.dtype)
        if op.initial is None:
            if any(shape[a] is None or shape[a] == 0 for a in op.axis):
                return None
        elif out_dtype.kind != "f" or out_dtype.type(op.initial) != red.identity(out_dtype):
            return None
    return red


class KernelBuilder:
    """Accumulates the inputs of one Kernel while expressions are built.

    ``leaf(var)`` gives the KNode reading graph variable ``var`` from outside
    the kernel: a ``KConst`` for scalar/size-1 constants, else a ``KInput``
    (one per distinct unpadded variable)."""

    def __init__(self, ndim):
        self.ndim = ndim
        self.input_vars = []
        self.specs = []
        self._index = {}
        self._const_leaves = []  # (var, KConst), in case the kernel has no array input

    def leaf(self, var, epilogue=False):
        """``epilogue``: the value is read in the reduced output space."""
        var = unpad(var)
        if isinstance(var, Constant) and np.size(var.data) == 1:
            const = KConst(np.asarray(var.data).reshape(()), var.type.dtype)
            if not epilogue:
                self._const_leaves.append((var, const))
            return const
        k = self._index.get((var, epilogue))
        if k is None:
            k = self._index[(var, epilogue)] = len(self.input_vars)
            self.input_vars.append(var)
            shape = var.type.shape
            self.specs.append(KernelInput(var.type.dtype, var.type.ndim,
                                          [d == 1 for d in shape], epilogue))
        return KInput(k, var.type.dtype)

    def finish(self, outputs, reduce=None, epilogue=None, strict_broadcast=False):
        """(Kernel, input variables).  A kernel whose operands were all folded
        into literals keeps one of them as an array input: the loop shape is
        the broadcast of the inputs, so it needs at least one."""
        if self._const_leaves and all(spec.epilogue for spec in self.specs):
            var, const = self._const_leaves[0]
            outputs = map_leaves(outputs, {const: KInput(self.leaf_array(var), const.dtype)})
        return (Kernel(self.specs, outputs, self.ndim, reduce, epilogue, strict_broadcast),
                list(self.input_vars))

    def leaf_array(self, var):
        """Read ``var`` as a loop-space array input; returns its index."""
        k = self._index[(var, False)] = len(self.input_vars)
        self.input_vars.append(var)
        self.specs.append(KernelInput(var.type.dtype, var.type.ndim,
                                      [d == 1 for d in var.type.shape]))
        return k


def build_kernel(members, outputs, ndim, reduce_node=None, epilogue=(), results=(),
                 strict_broadcast=False):
    """One Kernel computing ``outputs`` of the Elemwise ``members`` (in
    topological order); other values the members read become inputs.

    With ``reduce_node`` (a Reduce whose input is ``outputs[0]``) the single
    output is reduced, in the Reduce's output dtype (NumPy sums integers in
    int64: the kernel output dtype must be the Reduce's).  ``epilogue``
    (Elemwise nodes in topological order, in the reduced output space) then
    become the kernel's epilogue, whose visible ``results`` are graph
    variables among the reduction's output and the epilogue's outputs.
    ``strict_broadcast``: the kernel of a graph compiled under the strict
    broadcasting rule (see ``graphc.kernel.ir``).
    Returns (Kernel, input variables)."""
    builder = KernelBuilder(ndim)
    exprs = {}
    for node in members:
        args = [exprs[v] if v in exprs else builder.leaf(v) for v in node.inputs]
        exprs[node.outputs[0]] = elemwise_expression(node, args)
    roots = [exprs[v] if v in exprs else builder.leaf(v) for v in outputs]
    reduce = None
    if reduce_node is not None:
        reduce = reduction_of(reduce_node)
        roots = [cast(r, reduce_node.outputs[0].type.dtype) for r in roots]
    if not epilogue:
        return builder.finish(roots, reduce, strict_broadcast=strict_broadcast)
    tail = {reduce_node.outputs[0]: KReduced(0, roots[0].dtype)}
    for node in epilogue:
        args = [tail[v] if v in tail else builder.leaf(v, epilogue=True) for v in node.inputs]
        tail[node.outputs[0]] = elemwise_expression(node, args)
    return builder.finish(roots, reduce, [tail[v] for v in results], strict_broadcast)


def kernel_from_elemwise(node):
    """The one-node Kernel of an Elemwise ``node``: (Kernel, input variables);
    strict when the node belongs to a strict-broadcasting graph
    (``Elemwise.strict_broadcast``)."""
    if not isinstance(node.op, Elemwise):
        raise TypeError(f"kernel_from_elemwise: {node.op} is not an Elemwise")
    return build_kernel([node], node.outputs, node.outputs[0].type.ndim,
                        strict_broadcast=is_strict_node(node))


def failing_member(members, input_vars, input_values):
    """The first of the fused ``members`` whose operands do not broadcast
    together for these input values (replaying shapes only), or None.

    A fused kernel fails as a whole; this names the node the user wrote."""
    shapes = {var: np.shape(val) for var, val in zip(input_vars, input_values)}

    def shape_of(var):
        if var in shapes:
            return shapes[var]
        base = unpad(var)
        if base in shapes:
            inner = shapes[base]
        elif isinstance(base, Constant):
            inner = np.shape(base.data)
        else:
            return None
        return (1,) * (var.type.ndim - len(inner)) + tuple(inner)

    for node in members:
        red = reduction_of(node)
        if red is not None:  # an epilogue follows: its operands meet the reduced shape
            inner = shape_of(node.inputs[0])
            if inner is None:
                return None
            shapes[node.outputs[0]] = tuple(n for a, n in enumerate(inner) if a not in red.axes)
            continue
        if not isinstance(node.op, Elemwise):
            continue
        operand_shapes = [shape_of(v) for v in node.inputs]
        if any(s is None for s in operand_shapes):
            return None
        try:
            shapes[node.outputs[0]] = np.broadcast_shapes(*operand_shapes)
        except ValueError:
            return node
    return None
