"""Shared variables: symbolic variables that hold state across calls."""

import numpy as np

from ..tensor.type import TensorType
from ..tensor.var import TensorVariable


class SharedVariable(TensorVariable):
    """A tensor whose value lives in graphc and persists between calls.

    Its static shape is unknown (``set_value`` may change the shape, never
    the number of dimensions or the dtype).  ``default_update`` is an
    expression applied after each call of a function that uses it.
    """

    def __init__(self, name, type, value, strict=False, allow_downcast=None):
        super().__init__(type, name=name)
        self.container = [type.filter(value, name=name, allow_downcast=allow_downcast,
                                      what=_describe_shared(name))]
        self.default_update = None

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value; a copy unless ``borrow=True``."""
        value = self.container[0]
        return value if borrow else value.copy()

    def set_value(self, new_value, borrow=False):
        """Replace the value (copied unless ``borrow=True``); dtype and ndim are checked."""
        value = self.type.filter(
            new_value, name=self.name, what=f"set_value of {_describe_shared(self.name)}",
            hint=f"Cast the value yourself, e.g. value.astype('{self.dtype}'); the dtype of a "
                 "shared variable never changes.")
        if not borrow and (value is new_value or np.shares_memory(value, new_value)):
            value = value.copy()
        self.container[0] = value

    def clone(self):
        cp = SharedVariable(self.name, self.type, self.container[0])
        cp.container = self.container
        cp.default_update = self.default_update
        return cp

    @property
    def value(self):
        return self.get_value()

    def __str__(self):
        return self.name if self.name is not None else f"<SharedVariable {self.type}>"


TensorSharedVariable = SharedVariable


def _describe_shared(name):
    return f"shared variable {name!r}" if name is not None else "an unnamed shared variable"


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, shape=None,
           broadcastable=None):
    """A shared variable initialised with ``value`` (copied unless ``borrow=True``).

    The dtype is the value's (NumPy's rules: a Python float is float64).
    """
    if isinstance(value, SharedVariable):
        raise TypeError("shared() was given a shared variable; use it directly")
    if isinstance(value, (bool, int, float, np.generic)):
        arr = np.asarray(value)
    elif isinstance(value, np.ndarray):
        arr = value if borrow else value.copy()
    else:
        try:
            arr = np.array(value)
        except Exception as exc:
            raise TypeError(f"shared(): cannot hold a value of type {type(value).__name__}: {exc}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"shared(): cannot hold an array of dtype {arr.dtype}"
                        + (f" (name {name!r})" if name else ""))
    if shape is None:
        shape = (None,) * arr.ndim if broadcastable is None else tuple(
            1 if b else None for b in broadcastable)
    return SharedVariable(name, TensorType(arr.dtype, shape=shape), arr, strict, allow_downcast)
