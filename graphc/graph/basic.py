"""The graph IR: Variables, Constants and Apply nodes.

A Variable is a value in the graph (typed); an Apply is one application of an
Op to input Variables, producing output Variables.  Graphs are immutable once
built: rewrites produce new nodes inside a FunctionGraph clone and never touch
user variables.
"""

import itertools

import numpy as np

from .provenance import user_trace

_ids = itertools.count()


class Tag:
    """Free-form annotations (``trace`` is the user frames that built the node)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"Tag({self.__dict__})"


class Variable:
    """A typed value in a graph; ``owner`` is the Apply that computes it, if any."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = Tag()
        self.auto_name = f"{type.__class__.__name__}_{next(_ids)}"

    def clone(self):
        """A fresh unowned Variable of the same type and name."""
        cp = self.__class__(self.type, None, None, self.name)
        cp.tag = Tag(**self.tag.__dict__)
        return cp

    def get_parents(self):
        return [self.owner] if self.owner is not None else []

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = str(self.owner.op)
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self):
        return str(self)

    # Theano semantics: == is identity, variables hash by identity.
    __hash__ = object.__hash__


class Constant(Variable):
    """A Variable with a fixed value.  ``weak`` marks a Python scalar literal,
    which takes part in dtype promotion as NumPy 2 treats Python scalars."""

    def __init__(self, type, data, name=None, weak=False):
        super().__init__(type, None, None, name)
        self.data = data
        self.weak = weak
        self.data.setflags(write=False)

    def clone(self):
        cp = self.__class__(self.type, self.data, self.name, self.weak)
        cp.tag = Tag(**self.tag.__dict__)
        return cp

    def signature(self):
        """Hashable identity of the value, used to merge equal constants."""
        d = self.data
        return (self.type, d.dtype.str, d.shape, d.tobytes(), self.weak)

    def __str__(self):
        if self.name is not None:
            return self.name
        d = self.data
        if d.ndim == 0:
            return _format_scalar(d)
        if d.size <= 8:
            return np.array2string(d, separator=", ").replace("\n", "")
        return f"Constant{{{d.dtype}, shape={d.shape}}}"


def _format_scalar(value):
    v = value.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return str(v)


class Apply:
    """One application of ``op`` to ``inputs``; created by ``Op.make_node``."""

    def __init__(self, op, inputs, outputs, trace=None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            if out.owner is not None and out.owner is not self:
                raise ValueError("an output Variable already has an owner")
            out.owner = self
            out.index = i
        self.tag = Tag(trace=user_trace() if trace is None else trace)

    @property
    def out(self):
        if len(self.outputs) != 1:
            raise AttributeError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def trace(self):
        return self.tag.trace

    def clone_with_new_inputs(self, inputs):
        """A copy of this node applied to ``inputs``, keeping the user trace.

        Inputs of the same types are wired directly; otherwise ``make_node``
        reruns so that types (and static shapes) are inferred anew.
        """
        if all(a.type == b.type for a, b in zip(inputs, self.inputs)):
            outputs = [o.clone() for o in self.outputs]
            return Apply(self.op, inputs, outputs, trace=self.tag.trace)
        node = self.op.make_node(*inputs)
        node.tag.trace = self.tag.trace
        for old, new in zip(self.outputs, node.outputs):
            new.name = old.name
        return node

    def __str__(self):
        return f"{self.op}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__
