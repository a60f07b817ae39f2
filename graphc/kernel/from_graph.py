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

Array dimensions: ``x.shape[c]`` (``Subtensor{int}(Shape(x), c)``, ``c`` a
constant) becomes a ``KShape`` leaf reading ``x``'s dimension, and scalar
Elemwise values computed from such dimensions and literals only
(``LoopInvariants``: ``1 / float64(n)`` of ``mean`` and its gradient) are
recomputed inside each kernel that reads them, so they cost no nodes of their
own and split no kernels.
"""

import numpy as np

from ..graph.basic import Constant
from ..ops.elemwise import DimShuffle, Elemwise, is_strict_node
from ..ops.reduce import Reduce
from ..ops.shape import Shape
from ..ops.subtensor import Subtensor
from .ir import (KConst, KInput, Kernel, KernelInput, KReduced, KShape, Reduction,
                 apply_scalar, cast, map_leaves)


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


def shape_leaf_source(var):
    """``(x, axis)`` when ``var`` is ``x.shape[c]`` for a constant ``c`` in
    range (``Subtensor{int}(Shape(x), c)``), else None."""
    owner = var.owner
    if owner is None or not isinstance(owner.op, Subtensor) or owner.op.idx_spec != (("int",),):
        return None
    shape, index = owner.inputs
    if shape.owner is None or not isinstance(shape.owner.op, Shape) \
            or not isinstance(index, Constant):
        return None
    x = shape.owner.inputs[0]
    axis = int(index.data)
    if not -x.type.ndim <= axis < x.type.ndim:
        return None  # out of range: the Subtensor node raises the user's IndexError
    return x, axis % x.type.ndim


def literal(var):
    """The ``KConst`` of a scalar or size-1 constant ``var``, else None."""
    if isinstance(var, Constant) and np.size(var.data) == 1:
        return KConst(np.asarray(var.data).reshape(()), var.type.dtype)
    return None


class LoopInvariants:
    """Single-element values a kernel can compute itself, the same at every
    loop position: array dimensions ``x.shape[c]`` and Elemwise nodes of
    statically all-1 shape whose operands are such values (possibly
    broadcast-padded) or literals.  Found in one topological sweep;
    ``sources[var]`` are the arrays whose dimensions ``var`` reads (a kernel
    inlining ``var`` reads them, so they must be computed before it)."""

    def __init__(self, order):
        self.sources = {}
        for node in order:
            out = node.outputs[0] if len(node.outputs) == 1 else None
            if out is None or any(d != 1 for d in out.type.shape):
                continue
            leaf = shape_leaf_source(out)
            if leaf is not None:
                self.sources[out] = (leaf[0],)
            elif isinstance(node.op, Elemwise):
                operands = [unpad(v) for v in node.inputs]
                found = [self.sources.get(u) for u in operands]
                if any(f is None and literal(u) is None for f, u in zip(found, operands)) \
                        or all(f is None for f in found):
                    continue
                self.sources[out] = tuple(dict.fromkeys(x for f in found if f for x in f))

    def inlined(self, node, var):
        """Whether Elemwise ``node`` computes its operand ``var`` itself:
        a dimension always; another invariant value unless ``node`` is
        invariant too (then the two fuse like any scalar nodes, so a chain
        of them is computed once, not once per link)."""
        u = unpad(var)
        if u not in self.sources:
            return False
        return u.owner is None or not isinstance(u.owner.op, Elemwise) \
            or node.outputs[0] not in self.sources


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

    def __init__(self, ndim, invariants=None):
        self.ndim = ndim
        self.invariants = invariants
        self.input_vars = []
        self.specs = []
        self._index = {}
        self._const_leaves = []  # (var, KConst), in case the kernel has no array input
        self._inlined = {}       # loop-invariant variable -> its expression

    def read(self, node, var, epilogue=False):
        """The KNode of operand ``var`` of ``node`` read from outside the
        kernel: an inlined loop invariant, else ``leaf``."""
        if self.invariants is not None and self.invariants.inlined(node, var):
            return self.invariant(unpad(var))
        return self.leaf(var, epilogue)

    def leaf(self, var, epilogue=False):
        """``epilogue``: the value is read in the reduced output space."""
        var = unpad(var)
        const = literal(var)
        if const is not None:
            if not epilogue:
                self._const_leaves.append((var, const))
            return const
        k = self._index.get((var, epilogue))
        if k is None:
            spec = KernelInput(var.type.dtype, var.type.ndim,
                               [d == 1 for d in var.type.shape], epilogue)
            k = self._index.get((var, "shape"))
            if k is None:
                k = len(self.input_vars)
                self.input_vars.append(var)
                self.specs.append(spec)
            else:  # its dimensions were read first: now its elements are too
                del self._index[(var, "shape")]
                self.specs[k] = spec
            self._index[(var, epilogue)] = k
        return KInput(k, var.type.dtype)

    def shape_leaf(self, var, axis):
        """``KShape`` of dimension ``axis`` of ``var``: any input holding
        ``var``, else a new shape-only input."""
        for space in (False, True, "shape"):
            k = self._index.get((var, space))
            if k is not None:
                return KShape(k, axis)
        k = self._index[(var, "shape")] = len(self.input_vars)
        self.input_vars.append(var)
        self.specs.append(KernelInput(var.type.dtype, var.type.ndim,
                                      [d == 1 for d in var.type.shape], shape_only=True))
        return KShape(k, axis)

    def invariant(self, var):
        """The expression of loop-invariant ``var`` (see ``LoopInvariants``),
        built over its dimensions and literals (iteratively: chains of
        scalar nodes may be long)."""
        done = self._inlined
        stack = [var]
        while stack:
            top = stack[-1]
            if top in done:
                stack.pop()
                continue
            leaf = shape_leaf_source(top)
            if leaf is not None:
                done[top] = self.shape_leaf(*leaf)
                stack.pop()
                continue
            operands = [unpad(v) for v in top.owner.inputs]
            pending = [u for u in operands if u in self.invariants.sources and u not in done]
            if pending:
                stack.extend(pending)
                continue
            done[top] = elemwise_expression(
                top.owner, [done[u] if u in done else literal(u) for u in operands])
            stack.pop()
        return done[var]

    def finish(self, outputs, reduce=None, epilogue=None, strict_broadcast=False):
        """(Kernel, input variables).  A kernel whose operands were all folded
        into literals keeps one of them as an array input: the loop shape is
        the broadcast of the inputs, so it needs at least one."""
        if self._const_leaves and not any(spec.in_loop for spec in self.specs):
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
                 strict_broadcast=False, invariants=None):
    """One Kernel computing ``outputs`` of the Elemwise ``members`` (in
    topological order); other values the members read become inputs.

    With ``reduce_node`` (a Reduce whose input is ``outputs[0]``) the single
    output is reduced, in the Reduce's output dtype (NumPy sums integers in
    int64: the kernel output dtype must be the Reduce's).  ``epilogue``
    (Elemwise nodes in topological order, in the reduced output space) then
    become the kernel's epilogue, whose visible ``results`` are graph
    variables among the reduction's output and the epilogue's outputs.
    ``strict_broadcast``: the kernel of a graph compiled under the strict
    broadcasting rule (see ``graphc.kernel.ir``).  ``invariants``
    (``LoopInvariants``): the loop invariants the nodes compute themselves.
    Returns (Kernel, input variables)."""
    builder = KernelBuilder(ndim, invariants)
    exprs = {}
    for node in members:
        args = [exprs[v] if v in exprs else builder.read(node, v) for v in node.inputs]
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
        args = [tail[v] if v in tail else builder.read(node, v, epilogue=True)
                for v in node.inputs]
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
