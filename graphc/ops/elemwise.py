"""Elementwise application of a scalar op, and DimShuffle (axis permutation
and insertion/removal of broadcast dimensions)."""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import TensorConstant, as_tensor_variable
from . import scalar as scal

# Python bool is not weak in NumPy 2 (it is np.bool_, the lowest type anyway).
_WEAK_PYTYPE = {"b": np.dtype(bool), "i": int, "u": int, "f": float}


def _describe(var):
    # An operand padded for broadcasting is named after what the user wrote.
    owner, label = var.owner, str(var)
    if owner is not None and isinstance(owner.op, DimShuffle) and owner.op.new_order == (
            ("x",) * (len(owner.op.new_order) - owner.op.input_ndim)
            + tuple(range(owner.op.input_ndim))):
        label = f"{owner.inputs[0]} (broadcast to {var.type.ndim}-d)"
    return f"{label} ({var.type.dtype}, shape {_fmt_shape(var.type.shape)})"


def _fmt_shape(shape):
    inner = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_static_shapes(op_name, inputs):
    """The static output shape of broadcasting ``inputs`` (equal ndim), or a
    ValueError naming the operands whose known dims disagree."""
    out = []
    for axis, dims in enumerate(zip(*(i.type.shape for i in inputs))):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            desc = ", ".join(_describe(i) for i in inputs)
            raise ValueError(
                f"{op_name}: operands cannot be broadcast together: dimension {axis} "
                f"has sizes {sorted(known)} in {desc}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _cast_weak_constant(const, dtype, scalar_op=None, position=None):
    """A Python literal takes the dtype NumPy would give it next to the other
    operands; out-of-range integers fail as NumPy 2 fails, unless the scalar
    op says how NumPy handles them (comparisons, clip bounds)."""
    data = const.data
    if data.dtype == dtype:
        return const
    new = data.astype(dtype)
    if dtype.kind in "iub" and data.dtype.kind in "iub" and not np.array_equal(new, data):
        fixed = None if scalar_op is None else scalar_op.weak_int_out_of_range(
            position, data.item(), dtype)
        if fixed is None:
            raise OverflowError(f"Python integer {data.item()} out of bounds for {dtype}")
        new = np.asarray(fixed)
    return TensorConstant(TensorType(new.dtype, shape=const.type.shape), new, weak=True)


class Elemwise(Op):
    """Apply ``scalar_op`` elementwise with NumPy broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def __str__(self):
        return f"Elemwise{{{self.scalar_op.name},no_inplace}}"

    def make_node(self, *inputs):
        sop = self.scalar_op
        if len(inputs) != sop.nin:
            raise TypeError(f"{sop.name} takes {sop.nin} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(i) for i in inputs]
        weak = [isinstance(i, TensorConstant) and i.weak for i in inputs]
        if all(weak):  # only literals: they are strong among themselves
            weak = [False] * len(inputs)
        dtypes = [_WEAK_PYTYPE[i.type.numpy_dtype.kind] if w else i.type.numpy_dtype
                  for i, w in zip(inputs, weak)]
        try:
            in_dtypes, out_dtype = sop.output_dtype(dtypes)
        except TypeError as exc:
            desc = ", ".join(_describe(i) for i in inputs)
            raise TypeError(f"{sop.name} is not defined for {desc}: {exc}") from None
        inputs = [_cast_weak_constant(i, d, sop, k) if w else i
                  for k, (i, w, d) in enumerate(zip(inputs, weak, in_dtypes))]
        ndim = max(i.type.ndim for i in inputs)
        inputs = [pad_left(i, ndim) for i in inputs]
        shape = broadcast_static_shapes(sop.name, inputs)
        return Apply(self, inputs, [TensorType(out_dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """Each dim is the broadcast of the operands' dims."""
        from ..graph.shape_feature import broadcast_dims

        return [tuple(broadcast_dims(*dims) for dims in zip(*input_shapes))]

    def perform(self, node, inputs):
        out = np.asarray(self.scalar_op.impl(*inputs), dtype=node.outputs[0].type.dtype)
        if is_strict_node(node) and len(inputs) > 1:
            check_strict_node(node, inputs, out.shape)
        return (out,)

    def L_op(self, inputs, outputs, output_grads):
        grads = self.scalar_op.grad(inputs, outputs[0], output_grads[0])
        return [None if g is None else reduce_to_input(g, x, inputs, outputs[0])
                for g, x in zip(grads, inputs)]


def is_strict_node(node):
    """Whether ``node`` belongs to a graph compiled under the strict
    broadcasting rule (``mark_strict_broadcast``; see
    ``graphc.graph.shape_feature``)."""
    return getattr(node.tag, "strict_broadcast", False)


def mark_strict_broadcast(fgraph):
    """Make every broadcasting node of ``fgraph`` that is not a kernel (those
    carry the rule themselves) check the strict rule at run time."""
    from ..graph.shape_feature import broadcast_checking_ops
    from .kernel import KernelOp

    for node in fgraph.apply_nodes:
        if isinstance(node.op, broadcast_checking_ops()) and not isinstance(node.op, KernelOp):
            node.tag.strict_broadcast = True


def check_strict_node(node, values, out_shape):
    """Raise ``RuntimeBroadcastAssumption`` (naming ``node``) if one of the
    runtime ``values`` of ``node``'s inputs broadcasts to ``out_shape``
    through a dim whose static size is not 1."""
    from ..graph.shape_feature import (RuntimeBroadcastAssumption, check_strict_broadcast,
                                       static_ones)

    shapes = [np.shape(v) for v in values]
    if all(s == tuple(out_shape) for s in shapes):
        return
    try:
        check_strict_broadcast(str(node.op), [static_ones(i) for i in node.inputs], shapes,
                               out_shape)
    except RuntimeBroadcastAssumption as exc:
        exc.node = node
        raise


def reduce_to_input(g, x, inputs, out):
    """Sum a gradient over the dimensions along which ``x`` was broadcast."""
    from ..tensor import math as tm

    g = as_tensor_variable(g)
    if g.ndim > x.ndim:  # the gradient expression itself broadcast further
        g = tm.sum(g, axis=tuple(range(g.ndim - x.ndim)))
    static_axes, maybe = [], False
    for axis, (xd, od) in enumerate(zip(x.type.shape, g.type.shape)):
        if xd == 1 and od != 1:
            static_axes.append(axis)
        elif xd is None and any(i.type.shape[axis] != 1 for i in inputs if i is not x):
            maybe = True
    if static_axes:
        g = tm.sum(g, axis=tuple(static_axes), keepdims=True)
    if maybe:
        g = SumToShapeOf()(g, x)
    if g.dtype != x.dtype and x.dtype.startswith("float"):
        g = tm.cast(g, x.dtype)
    return g


class SumToShapeOf(Op):
    """Sum ``g`` over the axes where the runtime shape of ``x`` is 1 and g's is
    not: the gradient of a broadcast whose extent is only known at run time."""

    def make_node(self, g, x):
        g, x = as_tensor_variable(g), as_tensor_variable(x)
        shape = tuple(xs if xs is not None else gs for xs, gs in zip(x.type.shape, g.type.shape))
        shape = tuple(None if (xs is None and gs != 1) else s
                      for s, xs, gs in zip(shape, x.type.shape, g.type.shape))
        return Apply(self, [g, x], [TensorType(g.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """x's dim wherever g's is x's or a broadcast that includes it (g was
        broadcast from x: summed to 1 where x is 1, else already x's)."""
        from ..graph.shape_feature import dim_members

        g_shape, x_shape = input_shapes
        return [tuple(x if dim_members(x) <= dim_members(g) else None
                      for g, x in zip(g_shape, x_shape))]

    def perform(self, node, inputs):
        g, x = inputs
        axes = tuple(i for i, (xs, gs) in enumerate(zip(x.shape, g.shape)) if xs == 1 and gs != 1)
        return (np.sum(g, axis=axes, keepdims=True, dtype=g.dtype) if axes else g,)

    def L_op(self, inputs, outputs, output_grads):
        from ..gradient import disconnected_type
        from ..tensor import math as tm

        g, x = inputs
        return [tm.second(g, output_grads[0]), disconnected_type()]

    def connection_pattern(self, node):
        return [[True], [False]]


def pad_left(x, ndim):
    if x.type.ndim == ndim:
        return x
    return DimShuffle(x.type.ndim, ("x",) * (ndim - x.type.ndim) + tuple(range(x.type.ndim)))(x)


class DimShuffle(Op):
    """Reorder axes and add ('x') or drop length-1 axes; returns a view."""

    __props__ = ("input_ndim", "new_order")

    def __init__(self, input_ndim, new_order):
        self.input_ndim = int(input_ndim)
        self.new_order = tuple(o if o == "x" else int(o) for o in new_order)
        kept = [o for o in self.new_order if o != "x"]
        if len(set(kept)) != len(kept) or any(not 0 <= k < self.input_ndim for k in kept):
            raise ValueError(f"invalid dimshuffle pattern {new_order} for a {input_ndim}-d input")
        self.kept = kept
        self.dropped = [i for i in range(self.input_ndim) if i not in kept]

    def __str__(self):
        return "DimShuffle{" + ",".join(map(str, self.new_order)) + "}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.type.ndim != self.input_ndim:
            raise TypeError(f"DimShuffle{self.new_order} expects a {self.input_ndim}-d input, "
                            f"got {_describe(x)}")
        for d in self.dropped:
            if x.type.shape[d] not in (1, None):
                raise ValueError(f"cannot drop dimension {d} of {_describe(x)}: "
                                 "only length-1 dimensions can be dropped")
        shape = tuple(1 if o == "x" else x.type.shape[o] for o in self.new_order)
        return Apply(self, [x], [TensorType(x.type.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        return [tuple(1 if o == "x" else shape[o] for o in self.new_order)]

    def perform(self, node, inputs):
        (x,) = inputs
        if self.dropped:
            bad = [d for d in self.dropped if x.shape[d] != 1]
            if bad:
                raise ValueError(f"DimShuffle drops dimension(s) {bad} of an array of shape "
                                 f"{x.shape}, which are not of length 1")
            x = x.reshape([s for i, s in enumerate(x.shape) if i not in self.dropped])
        remaining = [k - sum(1 for d in self.dropped if d < k) for k in self.kept]
        y = x.transpose(remaining)
        return (y.reshape([1 if o == "x" else x.shape[r] for o, r in
                           zip(self.new_order, _expand(self.new_order, remaining))]),)

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        (x,) = inputs
        if not x.dtype.startswith("float"):
            return [None]
        # Drop the inserted axes, undo the permutation, re-insert dropped axes.
        kept_positions = [i for i, o in enumerate(self.new_order) if o != "x"]
        inverse = []
        for axis in range(self.input_ndim):
            if axis in self.kept:
                inverse.append(self.kept.index(axis))
            else:
                inverse.append("x")
        g = DimShuffle(len(self.new_order), kept_positions)(gz) if len(kept_positions) != len(
            self.new_order) else gz
        return [DimShuffle(len(kept_positions), inverse)(g)]


def _expand(new_order, remaining):
    """Pair each output axis with the source axis index it reads (or None)."""
    it = iter(remaining)
    return [None if o == "x" else next(it) for o in new_order]
