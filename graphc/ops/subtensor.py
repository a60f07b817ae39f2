"""Indexing: Subtensor (basic and advanced, NumPy semantics) and
IncSubtensor (``set_subtensor`` / ``inc_subtensor``).

The index is described by ``idx_spec``, a tuple of entries:
``("int",)`` a scalar integer input; ``("slice", start?, stop?, step?)`` with a
flag per present bound, each one an input; ``("adv",)`` an integer or boolean
array input; ``("newaxis",)``.  Index values are node inputs, so symbolic
indices work and constants merge.
"""

import numpy as np

from ..graph.basic import Apply, Constant
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable
from .elemwise import _describe, _fmt_shape


def n_index_inputs(spec):
    return sum(1 if e[0] in ("int", "adv") else sum(e[1:]) if e[0] == "slice" else 0
               for e in spec)


def build_index(spec, values):
    """The NumPy index tuple for ``spec`` given the index input values."""
    it = iter(values)
    out = []
    for e in spec:
        kind = e[0]
        if kind == "int":
            out.append(int(next(it)))
        elif kind == "adv":
            out.append(next(it))
        elif kind == "newaxis":
            out.append(None)
        else:
            out.append(slice(*(int(next(it)) if present else None for present in e[1:])))
    return tuple(out)


def _static_slice_len(dim, parts):
    if dim is None or any(p is False for p in parts):
        return None
    return len(range(*slice(*parts).indices(dim)))


def infer_index_shape(x, spec, idx_inputs):
    """Static output shape of ``x[index]`` following NumPy's rules."""
    from .shape import static_value

    it = iter(idx_inputs)
    dims = list(x.type.shape)
    pos = 0
    basic_out = []  # (position marker, dim) entries, advanced groups marked
    adv_shapes, adv_positions = [], []
    for e in spec:
        kind = e[0]
        if kind == "newaxis":
            basic_out.append(1)
        elif kind == "int":
            v = next(it)
            val = static_value(v)
            if val is not None and dims[pos] is not None and not -dims[pos] <= int(val) < dims[pos]:
                raise IndexError(f"index {int(val)} is out of bounds for axis {pos} with size "
                                 f"{dims[pos]} of {_describe(x)}")
            adv_positions.append(len(basic_out))
            adv_shapes.append(())
            basic_out.append("int")
            pos += 1
        elif kind == "adv":
            v = next(it)
            if v.type.numpy_dtype.kind == "b":
                k = v.ndim
                for d, s in enumerate(v.type.shape):
                    if s is not None and dims[pos + d] is not None and s != dims[pos + d]:
                        raise IndexError(f"boolean index of shape {_fmt_shape(v.type.shape)} does "
                                         f"not match {_describe(x)} at axis {pos + d}")
                adv_shapes.append((None,))
                pos += k
            else:
                val = static_value(v)
                n = dims[pos]
                if val is not None and n is not None and np.size(val) and (
                        np.max(val) >= n or np.min(val) < -n):
                    bad = int(np.max(val)) if np.max(val) >= n else int(np.min(val))
                    raise IndexError(f"index {bad} is out of bounds for axis {pos} with size "
                                     f"{n} of {_describe(x)}")
                adv_shapes.append(v.type.shape)
                pos += 1
            adv_positions.append(len(basic_out))
            basic_out.append("adv")
        else:
            parts = []
            for present in e[1:]:
                if present:
                    val = static_value(next(it))
                    parts.append(False if val is None else int(val))
                else:
                    parts.append(None)
            basic_out.append(_static_slice_len(dims[pos], parts))
            pos += 1
    rest = dims[pos:]
    has_array = any(e[0] == "adv" for e in spec)
    if not has_array:  # ints simply drop their axis
        return tuple(d for d in basic_out if d != "int") + tuple(rest)
    # integer scalars join the advanced indices (NumPy rule)
    nd = max(len(s) for s in adv_shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in adv_shapes]
    bshape = []
    for col in zip(*padded):
        known = {c for c in col if c is not None and c != 1}
        if len(known) > 1:
            raise IndexError(f"shape mismatch: indexing arrays of {_describe(x)} could not be "
                             f"broadcast together with shapes {[_fmt_shape(s) for s in adv_shapes]}")
        bshape.append(known.pop() if known else (None if None in col else 1))
    contiguous = adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1))
    others = [d for d in basic_out if d not in ("int", "adv")]
    if contiguous:
        first = adv_positions[0]
        before = [d for d in basic_out[:first] if d not in ("int", "adv")]
        after = [d for d in basic_out[first:] if d not in ("int", "adv")]
        return tuple(before) + tuple(bshape) + tuple(after) + tuple(rest)
    return tuple(bshape) + tuple(others) + tuple(rest)


def _check_index_inputs(spec, idx_inputs):
    it = iter(idx_inputs)
    for e in spec:
        kind = e[0]
        count = 1 if kind in ("int", "adv") else (sum(e[1:]) if kind == "slice" else 0)
        for _ in range(count):
            v = next(it)
            k = v.type.numpy_dtype.kind
            if kind == "adv":
                if k not in "iub" or v.ndim == 0:
                    raise IndexError(f"array index must be an integer or boolean array, got "
                                     f"{_describe(v)}")
            elif k not in "iu" or v.ndim != 0:
                raise IndexError(f"index must be an integer scalar, got {_describe(v)}")


def _spec_str(spec, idx_inputs):
    it = iter(idx_inputs)
    parts = []
    for e in spec:
        if e[0] == "newaxis":
            parts.append("None")
        elif e[0] in ("int", "adv"):
            v = next(it)
            parts.append(str(v.data.item()) if isinstance(v, Constant) and v.ndim == 0 else
                         ("int64" if e[0] == "int" else "array"))
        else:
            bounds = []
            for present in e[1:]:
                if present:
                    v = next(it)
                    bounds.append(str(v.data.item()) if isinstance(v, Constant) else "int64")
                else:
                    bounds.append("")
            text = ":".join(bounds)
            parts.append(text.rstrip(":") if bounds[2] == "" and text.endswith(":") and
                         text != ":" else text)
    return ", ".join(parts)


def index_result_shape(shape, spec, idx_shapes):
    """Symbolic dims of ``x[index]`` (NumPy rules, as ``infer_index_shape``):
    full slices keep the dim, bounded ones are unknown (None), integer and
    advanced indices broadcast together and go where NumPy puts them."""
    from ..graph.shape_feature import broadcast_dims

    it = iter(idx_shapes)
    pos, basic_out, adv_shapes, adv_positions = 0, [], [], []
    for e in spec:
        kind = e[0]
        if kind == "newaxis":
            basic_out.append(1)
        elif kind in ("int", "adv"):
            ishape = next(it)
            if kind == "adv" and ishape is None:  # boolean mask: a count of its own
                return None
            adv_positions.append(len(basic_out))
            adv_shapes.append(() if kind == "int" else ishape)
            basic_out.append(kind)
            pos += 1
        else:
            for _ in range(sum(e[1:])):
                next(it)
            basic_out.append(shape[pos] if not any(e[1:]) else None)
            pos += 1
    rest = tuple(shape[pos:])
    if not any(e[0] == "adv" for e in spec):
        return tuple(d for d in basic_out if d != "int") + rest
    nd = max(len(s) for s in adv_shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in adv_shapes]
    bshape = tuple(broadcast_dims(*col) for col in zip(*padded))
    others = [d for d in basic_out if d not in ("int", "adv")]
    if adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1)):
        first = adv_positions[0]
        before = [d for d in basic_out[:first] if d not in ("int", "adv")]
        after = [d for d in basic_out[first:] if d not in ("int", "adv")]
        return tuple(before) + bshape + tuple(after) + rest
    return bshape + tuple(others) + rest


def _index_shapes(node, input_shapes, first):
    """Per index input its shape (None for a boolean mask)."""
    return [None if v.type.numpy_dtype.kind == "b" else s
            for v, s in zip(node.inputs[first:], input_shapes[first:])]


class Subtensor(Op):
    """``x[index]`` with NumPy semantics (basic slicing and advanced arrays)."""

    __props__ = ("idx_spec",)

    def __init__(self, idx_spec):
        self.idx_spec = tuple(tuple(e) for e in idx_spec)
        self.advanced = any(e[0] == "adv" for e in self.idx_spec)

    def __str__(self):
        return ("AdvancedSubtensor" if self.advanced else "Subtensor") + "{" + ",".join(
            "::" if e[0] == "slice" else e[0] for e in self.idx_spec) + "}"

    def make_node(self, x, *idx_inputs):
        x = as_tensor_variable(x)
        idx_inputs = [as_tensor_variable(i) for i in idx_inputs]
        _check_index_inputs(self.idx_spec, idx_inputs)
        shape = infer_index_shape(x, self.idx_spec, idx_inputs)
        return Apply(self, [x] + idx_inputs, [TensorType(x.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        shape = index_result_shape(input_shapes[0], self.idx_spec,
                                   _index_shapes(node, input_shapes, 1))
        return None if shape is None else [shape]

    def perform(self, node, inputs):
        x, *idx = inputs
        index = build_index(self.idx_spec, idx)
        try:
            out = x[index]
        except IndexError as exc:
            raise IndexError(f"{exc} (indexing an array of shape {x.shape})") from None
        return (np.asarray(out),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        x, *idx = inputs
        if not x.dtype.startswith("float"):
            return [None] * len(inputs)
        gx = IncSubtensor(self.idx_spec, set_instead_of_inc=False)(
            tm.zeros_like(x), output_grads[0], *idx)
        return [gx] + [None] * len(idx)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)


class IncSubtensor(Op):
    """A copy of ``x`` with ``x[index]`` set to / incremented by ``y``.

    Increments through repeated advanced indices accumulate (``np.add.at``).
    """

    __props__ = ("idx_spec", "set_instead_of_inc")

    def __init__(self, idx_spec, set_instead_of_inc=False):
        self.idx_spec = tuple(tuple(e) for e in idx_spec)
        self.set_instead_of_inc = bool(set_instead_of_inc)
        self.advanced = any(e[0] == "adv" for e in self.idx_spec)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"{'Advanced' if self.advanced else ''}{kind}Subtensor" + "{" + ",".join(
            "::" if e[0] == "slice" else e[0] for e in self.idx_spec) + "}"

    def make_node(self, x, y, *idx_inputs):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        idx_inputs = [as_tensor_variable(i) for i in idx_inputs]
        _check_index_inputs(self.idx_spec, idx_inputs)
        target = infer_index_shape(x, self.idx_spec, idx_inputs)
        if y.ndim > len(target):
            raise ValueError(f"cannot {'set' if self.set_instead_of_inc else 'increment'} a "
                             f"subtensor of shape {_fmt_shape(target)} with {_describe(y)}")
        for t, s in zip(target[len(target) - y.ndim:], y.type.shape):
            if t is not None and s is not None and s not in (1, t):
                raise ValueError(f"{_describe(y)} cannot be broadcast to the subtensor shape "
                                 f"{_fmt_shape(target)} of {_describe(x)}")
        if not np.can_cast(y.type.numpy_dtype, x.type.numpy_dtype, "same_kind"):
            raise TypeError(f"cannot write {_describe(y)} into {_describe(x)}")
        return Apply(self, [x, y] + idx_inputs, [x.type.make_variable()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def perform(self, node, inputs):
        x, y, *idx = inputs
        index = build_index(self.idx_spec, idx)
        out = x.copy()
        y = np.asarray(y).astype(x.dtype, copy=False)
        if self.set_instead_of_inc:
            out[index] = y
        elif self.advanced:
            np.add.at(out, _integer_index(index), y)
        else:
            out[index] += y
        return (out,)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm
        from .elemwise import SumToShapeOf

        x, y, *idx = inputs
        (gz,) = output_grads
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.idx_spec, True)(gz, tm.zeros_like(y, dtype=gz.dtype), *idx)
        else:
            gx = gz
        gy = Subtensor(self.idx_spec)(gz, *idx)
        if self.set_instead_of_inc and y.dtype.startswith("float") and any(
                i.type.numpy_dtype.kind in "iu" and i.ndim > 0 for i in idx):
            # Repeated integer indices: only the value written last reaches the
            # output, so the others get no gradient.
            gy = gy * _surviving_writes(x, gy, self.idx_spec, idx)
        lead = gy.ndim - y.ndim
        if lead:
            gy = tm.sum(gy, axis=tuple(range(lead)))
        gy = SumToShapeOf()(gy, y)
        return ([gx if x.dtype.startswith("float") else None,
                 tm.cast(gy, y.dtype) if y.dtype.startswith("float") else None]
                + [None] * len(idx))

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * (len(node.inputs) - 2)


def _surviving_writes(x, target, spec, idx):
    """1 where the write to ``x[index]`` at that position of the indexed shape
    is the one that survives in the result (the last of repeated indices), else 0."""
    from ..tensor import basic as tb
    from ..tensor import math as tm

    ids = tb.reshape(tb.arange(tm.prod(tb.shape(target)), dtype="int64"), tb.shape(target),
                     ndim=target.ndim)
    owner = IncSubtensor(spec, True)(tb.zeros(tb.shape(x), dtype="int64") - 1, ids, *idx)
    return tm.cast(tm.eq(Subtensor(spec)(owner, *idx), ids), target.dtype)


def _integer_index(index):
    """Boolean masks replaced by their integer coordinates (for ``np.add.at``)."""
    out = []
    for i in index:
        if isinstance(i, np.ndarray) and i.dtype == np.bool_:
            out.extend(np.nonzero(i))
        else:
            out.append(i)
    return tuple(out)
