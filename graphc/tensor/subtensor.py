"""Front end of indexing: ``x[...]``, ``set_subtensor``, ``inc_subtensor``, ``take``."""

import numpy as np

from ..graph.basic import Variable
from ..ops.subtensor import IncSubtensor, Subtensor
from .var import as_tensor_variable, constant


def _scalar_index(value):
    v = as_tensor_variable(value)
    if v.ndim == 0 and v.type.numpy_dtype.kind == "b":
        raise IndexError("a boolean scalar cannot be used as an index")
    if isinstance(value, (int, np.integer)):
        return constant(np.int64(value))
    return v


def parse_index(x, index):
    """(idx_spec, index input variables) for ``x[index]``."""
    if not isinstance(index, tuple):
        index = (index,)
    consumed = 0
    for item in index:
        if item is None or item is Ellipsis:
            continue
        if isinstance(item, (Variable, np.ndarray, list)):
            arr = as_tensor_variable(item)
            consumed += arr.ndim if arr.type.numpy_dtype.kind == "b" else 1
        else:
            consumed += 1
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise IndexError(f"too many indices for {x} ({x.ndim}-d): {consumed} were given")
    expanded = []
    for item in index:
        if item is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - consumed))
        else:
            expanded.append(item)
    spec, inputs = [], []
    for item in expanded:
        if item is None:
            spec.append(("newaxis",))
        elif isinstance(item, slice):
            present = []
            for part in (item.start, item.stop, item.step):
                present.append(part is not None)
                if part is not None:
                    inputs.append(_scalar_index(part))
            if item.step is not None and isinstance(item.step, int) and item.step == 0:
                raise ValueError("slice step cannot be zero")
            spec.append(("slice",) + tuple(present))
        elif isinstance(item, (bool, np.bool_)):
            raise IndexError("boolean scalars are not supported as indices")
        elif isinstance(item, (int, np.integer)):
            spec.append(("int",))
            inputs.append(constant(np.int64(item)))
        else:
            v = as_tensor_variable(item)
            if v.ndim == 0:
                spec.append(("int",))
                inputs.append(_scalar_index(v))
            else:
                spec.append(("adv",))
                inputs.append(v)
    return tuple(spec), inputs


def getitem(x, index):
    # x[:] is a node too (not x itself), so that set_subtensor(x[:], v) works.
    spec, inputs = parse_index(x, index)
    return Subtensor(spec)(x, *inputs)


def _inc_or_set(target, value, set_instead_of_inc):
    """``target`` must be an indexing expression ``x[index]``; returns a new ``x``."""
    owner = getattr(target, "owner", None)
    if owner is None or not isinstance(owner.op, Subtensor):
        what = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
        raise TypeError(f"{what}: the first argument must be an indexing expression "
                        f"x[...], got {target}")
    x, *idx = owner.inputs
    return IncSubtensor(owner.op.idx_spec, set_instead_of_inc)(x, value, *idx)


def set_subtensor(target, value):
    """A copy of ``x`` with ``x[index] = value`` where ``target`` is ``x[index]``."""
    return _inc_or_set(target, value, True)


def inc_subtensor(target, value):
    """A copy of ``x`` with ``x[index] += value`` (repeated indices accumulate)."""
    return _inc_or_set(target, value, False)


def take(a, indices, axis=None):
    """NumPy ``take``: ``a.flatten()[indices]`` or ``a[..., indices, ...]`` along ``axis``."""
    from .basic import flatten

    a = as_tensor_variable(a)
    indices = as_tensor_variable(indices)
    if axis is None:
        return getitem(flatten(a), indices)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"take: axis {axis} is out of bounds for {a} ({a.ndim}-d)")
    axis = axis % a.ndim
    return getitem(a, (slice(None),) * axis + (indices,))
