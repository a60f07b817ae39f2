"""Shape manipulation and tensor creation: Shape, Reshape, MakeVector, Alloc,
Join, ARange, Eye, Tile, Repeat, diagonals."""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable, constant
from .elemwise import _describe


def _int_scalar(x, what):
    x = as_tensor_variable(x)
    if x.ndim != 0 or x.type.numpy_dtype.kind not in "iub":
        raise TypeError(f"{what} must be an integer scalar, got {_describe(x)}")
    return x


def static_value(var):
    """The value of ``var`` if it is known at graph-build time, else None."""
    if isinstance(var, Constant):
        return var.data
    if var.owner is not None and isinstance(var.owner.op, MakeVector):
        vals = [static_value(i) for i in var.owner.inputs]
        if all(v is not None for v in vals):
            return np.array([np.asarray(v).item() for v in vals], dtype=var.dtype)
    if var.owner is not None and isinstance(var.owner.op, Shape):
        shape = var.owner.inputs[0].type.shape
        if all(s is not None for s in shape):
            return np.array(shape, dtype=np.int64)
    if var.owner is not None and var.ndim == 0:
        # one entry of a vector whose entries are (partly) known: x.shape[0]
        from .subtensor import Subtensor

        op = var.owner.op
        if isinstance(op, Subtensor) and op.idx_spec == (("int",),):
            src, idx = var.owner.inputs
            i = static_value(idx)
            n = src.type.shape[0] if src.ndim == 1 else None
            if i is not None and n is not None and -n <= int(i) < n:
                entry = static_entries(src, n)[int(i)]
                if entry is not None:
                    return np.asarray(entry, dtype=src.dtype)
    return None


def static_entries(var, n):
    """Per-entry static values of a length-n int vector (None where unknown)."""
    full = static_value(var)
    if full is not None:
        return [int(v) for v in full]
    owner = var.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        return [None if static_value(i) is None else int(static_value(i)) for i in owner.inputs]
    if owner is not None and isinstance(owner.op, Shape):
        return list(owner.inputs[0].type.shape)
    return [None] * n


class Shape(Op):
    """The runtime shape of a tensor, as an int64 vector."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", shape=(x.ndim,)).make_variable()])

    def infer_shape(self, node, input_shapes):
        return [(len(input_shapes[0]),)]

    def perform(self, node, inputs):
        return (np.array(inputs[0].shape, dtype=np.int64),)

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


class MakeVector(Op):
    """A 1-d tensor from scalar tensors (all cast to ``dtype``)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = np.dtype(dtype).name

    def make_node(self, *scalars):
        scalars = [as_tensor_variable(s) for s in scalars]
        for s in scalars:
            if s.ndim != 0:
                raise TypeError(f"MakeVector takes scalars, got {_describe(s)}")
        return Apply(self, scalars, [TensorType(self.dtype, shape=(len(scalars),)).make_variable()])

    def infer_shape(self, node, input_shapes):
        return [(len(input_shapes),)]

    def perform(self, node, inputs):
        return (np.array([np.asarray(i).item() for i in inputs], dtype=self.dtype)
                if inputs else np.zeros(0, self.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        (gz,) = output_grads
        return [gz[i] if x.dtype.startswith("float") else None for i, x in enumerate(inputs)]


class Reshape(Op):
    """``reshape(x, shape)`` with NumPy semantics (one -1 allowed)."""

    __props__ = ("ndim",)

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shape):
        x = as_tensor_variable(x)
        shape = as_tensor_variable(shape)
        if shape.ndim != 1 or shape.type.numpy_dtype.kind not in "iu":
            raise TypeError(f"reshape: the shape must be an integer vector, got {_describe(shape)}")
        entries = static_entries(shape, self.ndim)
        known_in = None if any(s is None for s in x.type.shape) else int(np.prod(x.type.shape))
        if known_in is not None and all(e is not None for e in entries):
            neg = [i for i, e in enumerate(entries) if e == -1]
            rest = int(np.prod([e for e in entries if e != -1]))
            if len(neg) > 1 or (not neg and rest != known_in) or (neg and (rest == 0 or known_in % rest)):
                raise ValueError(f"cannot reshape {_describe(x)} into shape {tuple(entries)}")
            if neg:
                entries[neg[0]] = known_in // rest
        out_shape = tuple(None if e is None or e < 0 else e for e in entries)
        return Apply(self, [x, shape], [TensorType(x.dtype, shape=out_shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """The entries of the shape vector that hold known dims (-1 is unknown)."""
        entries = input_shapes.value(1)
        if not isinstance(entries, tuple) or len(entries) != self.ndim:
            return None
        return [tuple(None if isinstance(e, int) and e < 0 else e for e in entries)]

    def perform(self, node, inputs):
        x, shape = inputs
        try:
            return (np.reshape(x, tuple(int(s) for s in shape)),)
        except ValueError:
            raise ValueError(f"cannot reshape an array of shape {x.shape} (size {x.size}) into "
                             f"shape {tuple(int(s) for s in shape)}") from None

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb

        x, _ = inputs
        if not x.dtype.startswith("float"):
            return [None, None]
        return [tb.reshape(output_grads[0], tb.shape(x), ndim=x.ndim), None]

    def connection_pattern(self, node):
        return [[True], [False]]


class Alloc(Op):
    """A new tensor of the given shape filled with ``value`` (broadcast)."""

    def make_node(self, value, *dims):
        value = as_tensor_variable(value)
        dims = [_int_scalar(d, "alloc dimension") for d in dims]
        if value.ndim > len(dims):
            raise ValueError(f"alloc: value {_describe(value)} has more dims than the shape")
        shape = [None if static_value(d) is None else int(static_value(d)) for d in dims]
        lead = len(dims) - value.ndim
        for i, v in enumerate(value.type.shape):
            s = shape[lead + i]
            if v is not None and v != 1:
                if s is not None and s != v:
                    raise ValueError(f"alloc: value {_describe(value)} cannot be broadcast to "
                                     f"shape {tuple('?' if d is None else d for d in shape)}")
                shape[lead + i] = v
        shape = tuple(shape)
        return Apply(self, [value] + dims, [TensorType(value.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """The dims the dimension inputs hold (``alloc(v, *x.shape)`` has x's)."""
        dims = [input_shapes.value(i) for i in range(1, len(node.inputs))]
        return [tuple(None if isinstance(d, tuple) else d for d in dims)]

    def perform(self, node, inputs):
        value, *dims = inputs
        return (np.array(np.broadcast_to(value, tuple(int(d) for d in dims))),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm
        from .elemwise import SumToShapeOf

        value = inputs[0]
        if not value.dtype.startswith("float"):
            return [None] * len(inputs)
        g = output_grads[0]
        lead = g.ndim - value.ndim
        if lead:
            g = tm.sum(g, axis=tuple(range(lead)))
        g = SumToShapeOf()(g, value)
        return [g] + [None] * (len(inputs) - 1)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)


class Join(Op):
    """Concatenate tensors along ``axis`` (NumPy ``concatenate``)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        tensors = [as_tensor_variable(t) for t in tensors]
        if not tensors:
            raise ValueError("join needs at least one tensor")
        ndim = tensors[0].ndim
        if ndim == 0:
            raise ValueError("cannot join 0-d tensors; use stack")
        if any(t.ndim != ndim for t in tensors):
            raise ValueError("join: all tensors must have the same number of dimensions, got "
                             + ", ".join(_describe(t) for t in tensors))
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"join: axis {self.axis} is out of bounds for "
                             + ", ".join(_describe(t) for t in tensors))
        axis = self.axis % ndim
        dtype = np.result_type(*[t.type.numpy_dtype for t in tensors])
        shape = []
        for d in range(ndim):
            dims = [t.type.shape[d] for t in tensors]
            if d == axis:
                shape.append(None if None in dims else sum(dims))
            else:
                known = {s for s in dims if s is not None}
                if len(known) > 1:
                    raise ValueError(f"join along axis {axis}: dimension {d} differs between "
                                     + ", ".join(_describe(t) for t in tensors))
                shape.append(known.pop() if known else None)
        return Apply(self, tensors, [TensorType(dtype, shape=tuple(shape)).make_variable()])

    def infer_shape(self, node, input_shapes):
        """The first operand's dims off the join axis (all must be equal)."""
        from ..graph.shape_feature import InferredShapes

        axis = self.axis % len(input_shapes[0])
        first = input_shapes[0]
        shape = tuple(None if d == axis else first[d] for d in range(len(first)))
        equal = [(first[d], s[d]) for s in input_shapes[1:] for d in range(len(first)) if d != axis]
        return InferredShapes([shape], equal)

    def perform(self, node, inputs):
        return (np.concatenate(inputs, axis=self.axis).astype(node.outputs[0].type.dtype, copy=False),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        (gz,) = output_grads
        axis = self.axis % gz.ndim
        grads, start = [], 0
        for t in inputs:
            size = tb.shape(t)[axis]
            stop = start + size
            index = (slice(None),) * axis + (slice(start, stop),)
            g = gz[index]
            grads.append(tm.cast(g, t.dtype) if t.dtype.startswith("float") else None)
            start = stop
        return grads


class ARange(Op):
    """``arange(start, stop, step)`` with NumPy's dtype rule."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).name

    def make_node(self, start, stop, step):
        start, stop, step = (as_tensor_variable(v) for v in (start, stop, step))
        for v in (start, stop, step):
            if v.ndim != 0:
                raise TypeError(f"arange bounds must be scalars, got {_describe(v)}")
        vals = [static_value(v) for v in (start, stop, step)]
        length = len(np.arange(*vals)) if all(v is not None for v in vals) else None
        return Apply(self, [start, stop, step],
                     [TensorType(self.dtype, shape=(length,)).make_variable()])

    def infer_shape(self, node, input_shapes):
        """``arange(0, n, 1)`` has length n when n holds a dim (e.g. x.shape[0])."""
        start, stop, step = (input_shapes.value(i) for i in range(3))
        if start == 0 and step == 1 and stop is not None and not isinstance(stop, tuple) and \
                not isinstance(stop, int):
            return [(stop,)]
        return None

    def perform(self, node, inputs):
        start, stop, step = (np.asarray(v).item() for v in inputs)
        return (np.arange(start, stop, step, dtype=self.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def connection_pattern(self, node):
        return [[False]] * 3


class Eye(Op):
    """``eye(n, m, k)``: ones on the k-th diagonal."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).name

    def make_node(self, n, m, k):
        n, m, k = (_int_scalar(v, "eye argument") for v in (n, m, k))
        shape = tuple(None if static_value(v) is None else int(static_value(v)) for v in (n, m))
        return Apply(self, [n, m, k], [TensorType(self.dtype, shape=shape).make_variable()])

    def perform(self, node, inputs):
        n, m, k = (int(v) for v in inputs)
        return (np.eye(n, m, k, dtype=self.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def connection_pattern(self, node):
        return [[False]] * 3


class Tile(Op):
    """``tile(x, reps)`` with constant repetitions (len(reps) == x.ndim)."""

    __props__ = ("reps",)

    def __init__(self, reps):
        self.reps = tuple(int(r) for r in reps)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if len(self.reps) != x.ndim:
            raise ValueError(f"tile: reps {self.reps} must have one entry per dimension of "
                             f"{_describe(x)}")
        shape = tuple(None if s is None else s * r for s, r in zip(x.type.shape, self.reps))
        return Apply(self, [x], [TensorType(x.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        return [tuple(d if r == 1 else None for d, r in zip(input_shapes[0], self.reps))]

    def perform(self, node, inputs):
        return (np.tile(inputs[0], self.reps),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        (x,), (gz,) = inputs, output_grads
        if not x.dtype.startswith("float"):
            return [None]
        xs = tb.shape(x)
        split = []
        for d, r in enumerate(self.reps):
            split += [r, xs[d]]
        g = tb.reshape(gz, tb.stack(split) if split else split, ndim=2 * x.ndim)
        return [tm.sum(g, axis=tuple(range(0, 2 * x.ndim, 2)))]


class Repeat(Op):
    """``repeat(x, repeats, axis)``: NumPy ``repeat`` (scalar or per-element repeats)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x, repeats):
        x = as_tensor_variable(x)
        repeats = as_tensor_variable(repeats)
        if repeats.type.numpy_dtype.kind not in "iu" or repeats.ndim > 1:
            raise TypeError(f"repeat: repeats must be an integer scalar or vector, got "
                            f"{_describe(repeats)}")
        if self.axis is None:
            shape = (None,)
        else:
            shape = list(x.type.shape)
            if not -x.ndim <= self.axis < x.ndim:
                raise ValueError(f"repeat: axis {self.axis} is out of bounds for {_describe(x)}")
            r = static_value(repeats)
            n = shape[self.axis]
            if repeats.ndim == 1 and None not in (n, repeats.type.shape[0]) and \
                    repeats.type.shape[0] not in (1, n):
                raise ValueError(f"repeat: {_describe(repeats)} must have one entry per element "
                                 f"of axis {self.axis} of {_describe(x)}")
            shape[self.axis] = (None if r is None or n is None else
                                int(np.sum(np.broadcast_to(r, (n,)))))
            shape = tuple(shape)
        return Apply(self, [x, repeats], [TensorType(x.dtype, shape=shape).make_variable()])

    def perform(self, node, inputs):
        x, repeats = inputs
        return (np.repeat(x, repeats, axis=self.axis),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm
        from ..tensor.subtensor import inc_subtensor

        x, repeats = inputs
        (gz,) = output_grads
        if not x.dtype.startswith("float"):
            return [None, None]
        axis = self.axis
        target = tb.flatten(x) if axis is None else x
        axis = 0 if axis is None else axis
        n = tb.shape(target)[axis]
        index = Repeat(0)(tb.arange(n), repeats)
        idx = (slice(None),) * axis + (index,)
        g = inc_subtensor(tm.zeros_like(target)[idx], gz)
        return [tb.reshape(g, tb.shape(x)) if self.axis is None else g, None]

    def connection_pattern(self, node):
        return [[True], [False]]


class ExtractDiag(Op):
    """The ``offset``-th diagonal of a matrix, as a vector (a copy)."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != 2:
            raise ValueError(f"diagonal of {_describe(x)}: expected a matrix")
        r, c = x.type.shape
        k = self.offset
        n = None
        if r is not None and c is not None:
            n = max(0, min(r, c - k) if k >= 0 else min(r + k, c))
        return Apply(self, [x], [TensorType(x.dtype, shape=(n,)).make_variable()])

    def perform(self, node, inputs):
        return (np.diagonal(inputs[0], self.offset).copy(),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        (x,), (gz,) = inputs, output_grads
        if not x.dtype.startswith("float"):
            return [None]
        k = self.offset
        i = tb.arange(tb.shape(gz)[0])
        r, c = (i, i + k) if k >= 0 else (i - k, i)
        from ..tensor.subtensor import set_subtensor

        return [set_subtensor(tm.zeros_like(x)[r, c], gz)]


class AllocDiag(Op):
    """A square matrix with the vector on its ``offset``-th diagonal."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, v):
        v = as_tensor_variable(v)
        if v.ndim != 1:
            raise ValueError(f"diag of {_describe(v)}: expected a vector")
        n = None if v.type.shape[0] is None else v.type.shape[0] + abs(self.offset)
        return Apply(self, [v], [TensorType(v.dtype, shape=(n, n)).make_variable()])

    def perform(self, node, inputs):
        return (np.diag(inputs[0], self.offset),)

    def L_op(self, inputs, outputs, output_grads):
        (v,) = inputs
        if not v.dtype.startswith("float"):
            return [None]
        return [ExtractDiag(self.offset)(output_grads[0])]


def as_shape_vector(shape):
    """A symbolic int64 shape vector from a tuple of ints/scalars or a vector."""
    from ..tensor import math as tm

    if isinstance(shape, (list, tuple)):
        entries = [as_tensor_variable(s) for s in shape]
        if all(isinstance(e, Constant) for e in entries):
            return constant(np.array([int(e.data) for e in entries], dtype=np.int64))
        return MakeVector("int64")(*[tm.cast(e, "int64") if e.dtype != "int64" else e
                                     for e in entries])
    v = as_tensor_variable(shape)
    if v.ndim == 0:
        return as_shape_vector([v])
    return v
