"""Symbolic shapes: for every variable a tuple of dimensions, each a Python
int, an unknown dimension symbol (``Dim``) or a broadcast of several
(``frozenset``), with equalities learned from the ops.

Ops declare ``infer_shape(node, input_shapes) -> output shapes`` (one method
per op class).  ``input_shapes`` holds the inputs' canonical dims, so an op
compares dims with ``==``; ``input_shapes.value(i)`` is what an integer input
*holds* as dims (``x.shape[0]`` holds dim 0 of x; a shape vector holds a tuple),
which is how ``arange(x.shape[0])`` and ``alloc(v, *x.shape)`` get x's dims.
An output dim of ``None`` is a fresh symbol (nothing known); ops without
``infer_shape`` get fresh symbols for every dim their static type leaves open.

Two kinds of facts, kept apart because a rewrite that removes a node must
not rely on a check that node performed:

- *structural*: an output dim is a function of input dims: the same symbol
  (DimShuffle, Reduce, a Dot's outer dims) or the broadcast of several
  (Elemwise).  These hold whenever the output is computed at all.  Under NumPy
  broadcasting an unknown dim may be 1 at run time, so ``x + y`` with both
  dims unknown has the dim ``broadcast{x.0, y.0}``, not ``x.0``; it is ``x.0``
  only when y's dim is statically 1 or the very same symbol.
- *constraints*: a node checks that two input dims are equal (the inner dims
  of a Dot, the non-joined dims of a Join).  ``InferredShapes(..., equal=...)``
  returns them; they merge symbols in a union-find and are true only while
  that node (the *witness*) runs.  ``witnesses`` lists those nodes: a rewrite
  that relied on a merge must keep them alive (the rewrite passes rerun
  without constraints when it would not).

Strict broadcasting (``ShapeFeature(strict_broadcast=True)``): a graph
compiled for the strict rule lets only dims of static size 1 broadcast (the
rule of Theano and PyTensor); every node with NumPy-broadcasting semantics
(``BROADCAST_CHECKING_OPS``) raises ``RuntimeBroadcastAssumption`` at run time
when an operand's dim of unknown static size is 1 while the result's is not,
and the function reruns the call with the graph compiled for NumPy rules.  So
in strict mode such a node *checks* that the dims it broadcasts are equal: the
members of each broadcast set become a constraint witnessed by that node, and
``x + y``'s dim is ``x.0 == y.0`` for as long as the node runs.

Shapes are computed lazily and iteratively (no recursion), each node once, so
asking for every variable of a graph is linear in its size.
"""

import numpy as np

from .basic import Constant


class RuntimeBroadcastAssumption(Exception):
    """A graph compiled under the strict broadcasting rule met a dim of unknown
    static size that is 1 at run time where the result's is not (see the
    module docstring).  Internal: ``Function`` catches it and reruns the call
    with the NumPy-broadcasting variant, so users never see it."""

    def __init__(self, what, shapes, out_shape, node=None):
        super().__init__(f"{what}: operand shapes {', '.join(map(str, shapes))} broadcast "
                         f"to {tuple(out_shape)} through a dim of unknown static size")
        self.what, self.shapes, self.out_shape, self.node = what, shapes, tuple(out_shape), node


def check_strict_broadcast(what, may_broadcast, shapes, out_shape):
    """Raise ``RuntimeBroadcastAssumption`` if an operand of runtime shape
    ``shapes[k]`` (right-aligned to ``out_shape``) has length 1 in a dim that
    ``may_broadcast[k]`` does not flag (static size not 1) while ``out_shape``
    is longer there."""
    ndim = len(out_shape)
    for flags, shape in zip(may_broadcast, shapes):
        off = ndim - len(shape)
        extra = len(shape) - len(flags)  # leading length-1 padding of the array
        for d, n in enumerate(shape):
            if n == 1 and d + off >= 0 and d >= extra and out_shape[d + off] != 1 \
                    and not flags[d - extra]:
                raise RuntimeBroadcastAssumption(what, list(map(tuple, shapes)), out_shape)


def static_ones(var):
    """Per dim of ``var``: whether its static size is 1 (it may broadcast)."""
    return tuple(s == 1 for s in var.type.shape)


class Dim:
    """An unknown dimension (a union-find node).  ``home`` is a (variable,
    axis) whose runtime shape holds it, used to compute the dim from inputs;
    ``value`` is what a constraint bound it to (an int or a broadcast)."""

    __slots__ = ("parent", "value", "home", "serial")
    _count = 0

    def __init__(self, home):
        self.parent = self
        self.value = None
        self.home = home
        Dim._count += 1
        self.serial = Dim._count

    def __repr__(self):
        var, axis = self.home
        return f"{var}.shape[{axis}]"


def broadcast_dims(*dims):
    """The dim of broadcasting canonical ``dims`` together (NumPy rules):
    1s drop out, equal dims collapse, the rest form a broadcast set."""
    members = set()
    for d in dims:
        if isinstance(d, frozenset):
            members.update(d)
        elif d != 1:
            members.add(d)
    if not members:
        return 1
    if len(members) == 1:
        return next(iter(members))
    return frozenset(members)


def dim_members(d):
    """The dims a canonical dim is the broadcast of (1 has none)."""
    if isinstance(d, frozenset):
        return d
    return frozenset() if d == 1 else frozenset([d])


class InferredShapes(list):
    """Output shapes plus the equalities the node checks at run time."""

    def __init__(self, shapes, equal=()):
        super().__init__(shapes)
        self.equal = list(equal)


class InputShapes(tuple):
    """The inputs' canonical shapes, and what integer inputs hold (``value``)."""

    def __new__(cls, shapes, feature, node):
        self = super().__new__(cls, shapes)
        self._feature, self._node = feature, node
        return self

    def value(self, i):
        """Input i's value as dims: a dim for an int scalar, a tuple of dims
        (None where unknown) for an int vector, or None."""
        return self._feature.value(self._node.inputs[i])


class ShapeFeature:
    """Symbolic shapes of the variables of a graph (see the module docstring).

    ``constraints=False`` ignores the equalities nodes check, leaving only
    structural facts (what a rewrite falls back to when a witness would die).
    ``strict_broadcast=True``: the graph runs under the strict broadcasting
    rule, so broadcasting nodes check their operands' dims equal.
    """

    def __init__(self, constraints=True, strict_broadcast=False):
        self.constraints = constraints
        self.strict_broadcast = strict_broadcast and constraints
        self._raw = {}      # var -> tuple of dims (as inferred; canonicalize to read)
        self._values = {}   # int var -> what it holds (dim / tuple / None)
        self.witnesses = []
        #: set when an equality answered True only through a constraint
        self.used_constraints = False

    # -- union-find
    def find(self, d):
        while d.parent is not d:
            d.parent = d.parent.parent
            d = d.parent
        return d

    def canon(self, d, structural=False):
        """The canonical form of ``d``; ``structural`` ignores constraints."""
        if isinstance(d, Dim):
            if structural:
                return d
            root = self.find(d)
            value = root.value
            if value is None or isinstance(value, int):
                return root if value is None else value
            d = value
        if isinstance(d, frozenset):
            if structural:
                return broadcast_dims(*d)
            members, seen, stack = [], set(), list(d)
            while stack:  # iterative: symbols may be bound to broadcasts
                m = stack.pop()
                if isinstance(m, Dim):
                    m = self.find(m)
                    if isinstance(m.value, frozenset):
                        if m not in seen:
                            seen.add(m)
                            stack.extend(m.value)
                        continue
                    m = m if m.value is None else m.value
                members.append(m)
            return broadcast_dims(*members)
        return d

    def unify(self, a, b, witness):
        """Record that ``witness`` checks dims a and b equal at run time."""
        a, b = self.canon(a), self.canon(b)
        if a == b or isinstance(a, int) and isinstance(b, int):
            return  # known, or the witness fails at run time
        if not isinstance(a, Dim):
            a, b = b, a
        if not isinstance(a, Dim) or isinstance(b, frozenset) and a in b:
            return  # two broadcasts: not expressible as one binding
        if isinstance(b, Dim):
            if _home_rank(b) < _home_rank(a):  # keep the home cheapest to read
                a, b = b, a
            a.parent = b
        else:
            a.value = b
        self.witnesses.append(witness)

    # -- queries
    def shape_of(self, var, structural=False):
        """``var``'s shape as a tuple of canonical dims."""
        raw = self._raw.get(var)
        if raw is None:
            self._infer_upto(var)
            raw = self._raw[var]
        dims = tuple(self.canon(d, structural) for d in raw)
        if not structural and self.witnesses and not self.used_constraints and \
                dims != tuple(self.canon(d, True) for d in raw):
            self.used_constraints = True  # the answer leans on a checked equality
        return dims

    def same_dim(self, a, b):
        """Whether two dims are provably equal (records reliance on constraints)."""
        if self.canon(a, True) == self.canon(b, True):
            return True
        if self.canon(a) == self.canon(b):
            self.used_constraints = True
            return True
        return False

    def same_shape(self, u, v):
        if u.ndim != v.ndim:
            return False
        return all(self.same_dim(a, b) for a, b in zip(self._dims(u), self._dims(v)))

    def covers(self, big, small, structural=False):
        """Every dim of ``small`` is 1 or one of those ``big``'s dim broadcasts:
        ``small`` broadcast against ``big`` can neither fail nor widen it
        (given that ``big`` was computed).  Same ndim required."""
        if big.ndim != small.ndim:
            return False
        ok = True
        for b, s in zip(self._dims(big), self._dims(small)):
            if dim_members(self.canon(s, True)) <= dim_members(self.canon(b, True)):
                continue
            if structural or not dim_members(self.canon(s)) <= dim_members(self.canon(b)):
                ok = False
                break
            self.used_constraints = True
        return ok

    def _dims(self, var):
        if var not in self._raw:
            self._infer_upto(var)
        return self._raw[var]

    def value(self, var):
        """What an integer variable holds, as dims (see ``InputShapes.value``)."""
        if var in self._values:
            return self._values[var]
        stack = [var]
        while stack:  # short chains (Cast / Subtensor / MakeVector of shapes)
            v = stack[-1]
            if v in self._values:
                stack.pop()
                continue
            deps = self._value_deps(v)
            pending = [d for d in deps if d not in self._values]
            if pending:
                stack.extend(pending)
                continue
            self._values[v] = self._compute_value(v)
            stack.pop()
        return self._values[var]

    # -- inference
    def _value_deps(self, v):
        from ..ops.shape import MakeVector
        from ..ops.subtensor import Subtensor

        owner = v.owner
        if owner is None or v.type.numpy_dtype.kind not in "iu":
            return []
        op = owner.op
        if isinstance(op, MakeVector) or (isinstance(op, Subtensor) and
                                          op.idx_spec == (("int",),)):
            return list(owner.inputs)
        if _is_dim_preserving_cast(owner):
            return list(owner.inputs)
        return []

    def _compute_value(self, v):
        from ..ops.shape import MakeVector, Shape
        from ..ops.subtensor import Subtensor

        if v.type.numpy_dtype.kind not in "iu" or v.ndim > 1:
            return None
        if isinstance(v, Constant):
            data = v.data
            return int(data) if data.ndim == 0 else tuple(int(e) for e in data)
        owner = v.owner
        if owner is None:
            return None
        op = owner.op
        if isinstance(op, Shape):
            return self.shape_of(owner.inputs[0])
        if isinstance(op, MakeVector):
            entries = tuple(self._values.get(i) for i in owner.inputs)
            return tuple(e if not isinstance(e, tuple) else None for e in entries)
        if isinstance(op, Subtensor) and op.idx_spec == (("int",),):
            vec, idx = self._values.get(owner.inputs[0]), self._values.get(owner.inputs[1])
            if isinstance(vec, tuple) and isinstance(idx, int) and -len(vec) <= idx < len(vec):
                entry = vec[idx]
                return None if entry is None else self.canon(entry)
            return None
        if _is_dim_preserving_cast(owner):
            src = self._values.get(owner.inputs[0])
            return src if not isinstance(src, tuple) else None
        return None

    def _infer_upto(self, var):
        """Infer every not-yet-known ancestor of ``var``, inputs first."""
        stack = [var]
        while stack:
            v = stack[-1]
            if v in self._raw:
                stack.pop()
                continue
            owner = v.owner
            if owner is None:
                self._raw[v] = _own_dims(v)
                stack.pop()
                continue
            pending = [i for i in owner.inputs if i not in self._raw]
            if pending:
                stack.extend(pending)
                continue
            self._infer_node(owner)
            stack.pop()

    def _infer_node(self, node):
        shapes = InputShapes([self.shape_of(i) for i in node.inputs], self, node)
        method = getattr(node.op, "infer_shape", None)
        result = method(node, shapes) if method is not None else None
        for k, out in enumerate(node.outputs):
            inferred = result[k] if result is not None else None
            dims = []
            for axis, static in enumerate(out.type.shape):
                d = None if inferred is None else inferred[axis]
                if static is not None:
                    d = static  # the type is authoritative
                elif d is None or (isinstance(d, int) and d < 0):
                    d = Dim((out, axis))
                dims.append(d)
            self._raw[out] = tuple(dims)
        if self.constraints and result is not None:
            for a, b in getattr(result, "equal", ()):
                self.unify(a, b, node)
        if self.strict_broadcast and isinstance(node.op, broadcast_checking_ops()):
            for out in node.outputs:
                for d in self._raw[out]:
                    members = sorted(dim_members(self.canon(d)), key=_member_order)
                    for other in members[1:]:
                        self.unify(members[0], other, node)

    # -- checks a node performs
    def check_free(self, node):
        """Whether ``node`` provably cannot fail at run time on a shape check
        (structural facts only), so removing it loses no error."""
        from ..ops.blas import Dot, Gemm, ProductShape
        from ..ops.elemwise import DimShuffle, Elemwise, SumToShapeOf
        from ..ops.kernel import KernelOp
        from ..ops.nnet import LogSoftmax, Softmax
        from ..ops.reduce import Reduce
        from ..ops.shape import MakeVector, Shape
        from ..ops.subtensor import Subtensor

        op = node.op
        if isinstance(op, (Shape, MakeVector, SumToShapeOf, ProductShape, Softmax, LogSoftmax)):
            return True
        if isinstance(op, (Elemwise, KernelOp)):
            return self._broadcast_free(node)
        if isinstance(op, DimShuffle):
            (x,) = node.inputs
            shape = self.shape_of(x, structural=True)
            return all(shape[d] == 1 for d in op.dropped)
        if isinstance(op, Reduce):
            if op.kind in ("sum", "prod", "all", "any") or op.initial is not None:
                return True
            shape = self.shape_of(node.inputs[0], structural=True)
            return all(isinstance(shape[a], int) and shape[a] > 0 for a in op.axis)
        if isinstance(op, Subtensor):
            if op.idx_spec == (("int",),):
                n = node.inputs[0].type.shape[0] if node.inputs[0].ndim == 1 else None
                i = self.value(node.inputs[1])
                return n is not None and isinstance(i, int) and -n <= i < n
            return all(e[0] in ("slice", "newaxis") for e in op.idx_spec)
        if isinstance(op, (Dot, Gemm)):
            a, b = node.inputs[0], node.inputs[1]
            sa, sb = self.shape_of(a, True), self.shape_of(b, True)
            if getattr(op, "trans_a", False):
                sa = sa[::-1]
            if getattr(op, "trans_b", False):
                sb = sb[::-1]
            if sa[-1] != sb[0]:
                return False
            return len(node.inputs) < 3 or self.covers(node.outputs[0], node.inputs[2], True)
        return False

    def _broadcast_free(self, node):
        """Some operand's dims are broadcasts of all the others' (or equal)."""
        out_ndim = max(i.ndim for i in node.inputs)
        for axis in range(out_ndim):
            sets = []
            for i in node.inputs:
                off = out_ndim - i.ndim
                if axis >= off:
                    sets.append(dim_members(self.shape_of(i, True)[axis - off]))
            union = frozenset().union(*sets)
            if not any(s == union for s in sets):
                return False
        return True


def broadcast_checking_ops():
    """The op classes that broadcast operands NumPy-style and, in a graph
    compiled under the strict rule, check that no dim of unknown static size
    broadcasts (``RuntimeBroadcastAssumption``)."""
    from ..ops.blas import Gemm
    from ..ops.elemwise import Elemwise
    from ..ops.kernel import KernelOp

    return (Elemwise, KernelOp, Gemm)


def _member_order(member):
    """Ints first (a symbol binds to a known size), then symbols by age."""
    return (0, member, 0) if isinstance(member, int) else (1, 0, member.serial)


def _own_dims(var):
    """Dims of a variable no node computes: static ints or its own symbols."""
    return tuple(s if s is not None else Dim((var, axis))
                 for axis, s in enumerate(var.type.shape))


def _is_dim_preserving_cast(node):
    """An integer-to-int64/uint64 cast: it holds the same dim as its input."""
    from ..ops import scalar as scal
    from ..ops.elemwise import Elemwise

    op = node.op
    return (isinstance(op, Elemwise) and isinstance(op.scalar_op, scal.Cast)
            and op.scalar_op.dtype in ("int64", "uint64")
            and node.inputs[0].type.numpy_dtype.kind in "iu")


def _home_rank(d):
    """Prefer homes that are graph inputs (no owner), then older symbols."""
    var, _ = d.home
    return (var.owner is not None, d.serial)


def static_int(value):
    """``value`` as a Python int if it is one (NumPy ints included), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None
