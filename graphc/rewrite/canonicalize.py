"""Canonicalization: algebraic simplification of elementwise graphs.

One topological sweep (``SweepRewrite``): each node sees its inputs as already
rewritten, a rule that fires builds new nodes from those inputs, and the rules
are tried again on the node it built (a bounded local fixpoint), so a chain
such as ``((x * 2) * 3) * 1`` collapses in the same sweep.  All replacements go
to one ``fgraph.replace_all`` at the end.

The rules never change a result beyond float rounding: nothing that would turn
a NaN or an infinity into a number or back (``x * 0``, ``x - x`` and ``x / x``
are left alone), and every replacement keeps the output's dtype and static
shape exactly (``conform``), re-broadcasting with ``second`` where a removed
operand carried the shape.  Operands are only dropped when their runtime shape
is provably covered by what remains (``broadcast_sources``): a dimension whose
static size is unknown may still be 1 and broadcast at run time.

In a graph compiled under the strict broadcasting rule
(``fgraph.strict_broadcast``, see ``graphc.compile.function``) such a dim
never broadcasts without the node raising ``RuntimeBroadcastAssumption``, so
``SumToShapeOf(g, x)`` becomes ``second(x, g)``: a fusible elementwise node
that checks the rule itself (no shape fact needed), and that the ``second``
rules then drop where what remains reads x's shape anyway.  The shape
analysis runs in strict mode there (broadcasting nodes witness that the dims
they broadcast are equal); a sweep whose proofs lost a witness reruns with
the NumPy-rule facts, then without constraints.

sympy is not used to simplify here: it treats ``x * 0`` as 0 and ``x - x`` as
0, exactly the rewrites that are wrong under IEEE semantics, and it is far too
slow for per-node use; the rules below are the exact subset.  (The stability
pass asks sympy which scalar ops are strictly positive, once per op.)

Powers are rewritten only for the exponents NumPy's own ``power`` computes
the same way (0, 1, 2, 0.5, -1) or whose product forms agree with ``pow`` on
every special value (3, 4, -2); ``x ** 1.5`` is left alone because
``pow(-inf, 1.5)`` is +inf while ``x * sqrt(x)`` is NaN.

Negations have one spelling, so that merging and the stability rules' keys
see equal values as equal (``sigmoid(-a - b)`` and ``sigmoid(-(a + b))`` were
two sigmoids): a negation an add or sub can absorb goes, ``a + (-b)`` ->
``a - b`` and ``a - (-b)`` -> ``a + b`` (exact: IEEE defines subtraction so),
and one that it cannot moves outside the sum, ``(-a) - b`` and
``(-a) + (-b)`` -> ``-(a + b)``, which shares ``a + b``.  Only in the
result's float dtype (``-int8(-128)`` wraps).  The sign-of-zero
differences accepted: ``-0.0 + 0`` -> ``-0.0``, and ``-(a + b)`` is -0.0
where a + b is exactly 0 and ``(-a) - b`` is +0.0.
"""

import collections

import numpy as np

from ..graph.basic import Constant
from ..graph.shape_feature import ShapeFeature, dim_members
from ..ops import scalar as scal
from ..ops.elemwise import DimShuffle, Elemwise, SumToShapeOf, pad_left
from ..ops.reduce import Reduce
from ..ops.subtensor import Subtensor
from ..tensor.type import TensorType
from ..tensor.var import TensorConstant
from .constant_fold import MAX_FOLDED_BYTES
from .engine import GraphRewrite, pipeline

#: How many times the rules are retried on a node a rule just built.
LOCAL_FIXPOINT_LIMIT = 8
#: Sweeps redone when operands a rule dropped took a check with them (the
#: last one drops nothing).
MAX_SWEEP_ATTEMPTS = 3
#: Shape facts a sweep may use, strongest first: strict-broadcasting
#: constraints, the constraints of the NumPy rule, structural facts only.
STRICT, CONSTRAINTS, STRUCTURAL = "strict", "constraints", "structural"
_WEAKER = {STRICT: CONSTRAINTS, CONSTRAINTS: STRUCTURAL, STRUCTURAL: STRUCTURAL}


# ------------------------------------------------------------ graph queries

def scalar_name(var):
    """The scalar op name of an Elemwise-computed variable, else None."""
    owner = var.owner
    if owner is not None and isinstance(owner.op, Elemwise):
        return owner.op.scalar_op.name
    return None


def constant_data(var):
    return var.data if isinstance(var, Constant) else None


def is_constant_all(var, value):
    """A constant whose every element equals ``value`` (NaN never does)."""
    data = constant_data(var)
    return data is not None and data.size > 0 and bool(np.all(data == value))


def uniform_constant(var):
    """The single value of a constant whose elements are all equal, else None."""
    data = constant_data(var)
    if data is None or data.size == 0:
        return None
    first = data.flat[0]
    if data.size > 1 and not np.all(data == first):
        return None
    return first


def is_all_ones_shape(var):
    """Statically known to hold one element per dimension (a broadcast scalar)."""
    return all(s == 1 for s in var.type.shape)


def widening_cast(src, dst):
    """Whether every value of dtype ``src`` is exactly representable in ``dst``."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst or src.kind == "b":
        return True
    if dst.kind == "b":
        return False
    if src.kind == dst.kind:
        return dst.itemsize >= src.itemsize
    if src.kind == "u" and dst.kind == "i":
        return dst.itemsize > src.itemsize
    if src.kind in "iu" and dst.kind == "f":
        return 8 * src.itemsize <= np.finfo(dst).nmant
    return False


# ------------------------------------------------------------- sweep engine

class SweepRewrite(GraphRewrite):
    """A rewrite made of local rules applied in one topological sweep.

    Subclasses implement ``rules(var)`` -> a replacement for ``var`` (an
    output of an Apply whose inputs are already rewritten) or None.  Rules
    read deeper inputs through ``inputs_of`` so they always see the rewritten
    graph, and build nodes with ``make``/``elem``, which reuse identical
    nodes built earlier in the sweep.
    """

    def apply(self, fgraph):
        self.fgraph = fgraph
        self.strict_broadcast = getattr(fgraph, "strict_broadcast", False)
        blocked, constraints = set(), STRICT if self.strict_broadcast else CONSTRAINTS
        for _ in range(MAX_SWEEP_ATTEMPTS):
            self._sweep(fgraph, blocked, constraints)
            verdict = self._validate_drops()
            if verdict is None:
                break
            more_blocked, constraints = verdict
            blocked |= more_blocked
        else:  # still unsound: no rule may drop an operand at all
            self._sweep(fgraph, None, STRUCTURAL)
        fired = len(self.mapping)
        fgraph.replace_all(list(self.mapping.items()))
        self.fgraph = self.mapping = self._built = self._bsrc = self._origin = None
        self._order = self._order_rank = self._built_rank = None
        self.shapes = self._drops = None
        return fired

    def _sweep(self, fgraph, blocked, constraints):
        """One topological sweep computing ``self.mapping`` (the graph is not
        touched); rules do not drop operands of the nodes in ``blocked``;
        ``constraints``: which shape facts (``STRICT`` ...) proofs may use."""
        self.mapping = {}
        self._built = {}
        self._bsrc = {}
        self._origin = {}
        self._drops = []
        self._blocked = blocked
        self._rule_var = None
        self._facts = constraints
        self.shapes = ShapeFeature(constraints=constraints != STRUCTURAL,
                                   strict_broadcast=constraints == STRICT)
        order = fgraph.toposort()
        self._order, self._order_rank, self._built_rank = order, None, {}
        for step, node in enumerate(order):
            if len(node.outputs) != 1:
                continue
            self._step = step
            # Rules read the node's inputs through the mapping; a node no
            # rule changes is not copied: replace_all rewires it at the end.
            old = new = node.outputs[0]
            merge = self._merge_key(node)
            same = self._built.get(merge[0]) if merge is not None else None
            if same is not None and same[0].type == old.type:
                self.mapping[old] = same[0]  # computed already: merged
                continue
            self._current = old
            for _ in range(LOCAL_FIXPOINT_LIMIT):
                try:
                    self._rule_var = new
                    candidate = self.rules(new) if new.owner is not None else None
                    if candidate is None or candidate is new:
                        break
                    candidate = conform(candidate, old, donors=self.inputs_of(new))
                except (TypeError, ValueError):
                    # an op refused the operands a rule built (e.g. negating
                    # booleans): the rule does not apply to these dtypes
                    break
                if candidate is None:
                    break
                new = candidate
            if new is not old:
                self.mapping[old] = new
                self._origin.setdefault(new, old)
            if merge is not None:
                self._built.setdefault(merge[0], (new, merge[1]))

    def _merge_key(self, node):
        """(``make``'s key, inputs) of an elementwise node read through the
        mapping, else None.  A later node (of the graph, or built by a rule)
        with the same key computes the same value, so the sweep merges it:
        two spellings the rules make one (``-a - b`` and ``-(a + b)``) are
        one node before fusion, which would compute both."""
        if not isinstance(node.op, (Elemwise, DimShuffle)):
            return None
        inputs = tuple(self.inputs_of(node.outputs[0]))
        return (node.op, tuple(map(id, inputs))), inputs

    # -- operands a rule stops reading
    def may_drop(self):
        """Whether a rule may stop reading an operand of the current node."""
        blocked = self._blocked
        return blocked is not None and self._current not in blocked and \
            self._rule_var not in blocked

    def drop(self, var):
        """Record that the current node's replacement no longer reads ``var``
        (its producers may die, and with them the checks they perform)."""
        self._drops.append(((self._current, self._rule_var), var))

    def _validate_drops(self):
        """None when the sweep's result is sound, else (nodes whose operands
        must not be dropped, whether shape constraints may be used).

        The nodes that die because an operand was dropped must be unable to
        fail (``ShapeFeature.check_free``): otherwise a user's shape error
        would vanish.  A proof that used an equality some node checks is
        only valid while that node runs, so if one of those witnesses dies
        the sweep reruns without constraints."""
        if not self._drops:
            return None
        live = self._live_after()
        dead = {n for n in self.fgraph.apply_nodes if n not in live}
        if not dead:
            return None
        shapes = self.shapes
        if shapes.used_constraints and any(w in dead for w in shapes.witnesses):
            return set(), _WEAKER[self._facts]
        bad = {n for n in dead if not shapes.check_free(n)}
        if not bad:
            return None
        blamed = set()
        for old, var in self._drops:
            seen, stack = set(), [var]
            while stack:
                owner = stack.pop().owner
                if owner is None or owner not in dead or owner in seen:
                    continue
                if owner in bad:
                    blamed.update(old)
                    break
                seen.add(owner)
                stack.extend(owner.inputs)
        return blamed or {v for old, _ in self._drops for v in old}, self._facts

    def _live_after(self):
        """The original nodes still needed once the mapping is applied, and
        those whose replacement is: a rule's replacement fails wherever the
        node did, except through the operands it drops (``drop``), which are
        validated on their own."""
        mapping, live = self.mapping, set()
        stops = set(self.fgraph.inputs)
        stack = [mapping.get(o, o) for o in self.fgraph.outputs]
        seen = set()
        while stack:
            v = stack.pop()
            if v in seen or v in stops:
                continue
            seen.add(v)
            owner = v.owner
            if owner is None:
                continue
            live.add(owner)
            stack.extend(self.inputs_of(v))
        live.update(old.owner for old, new in mapping.items()
                    if new in seen and old.owner is not None)
        return live

    def rules(self, var):
        raise NotImplementedError

    # -- reading the rewritten graph
    def resolve(self, var):
        return self.mapping.get(var, var)

    def inputs_of(self, var):
        owner = var.owner
        if owner is None:
            return []
        mapping = self.mapping
        return [mapping.get(i, i) for i in owner.inputs]

    def single_client(self, var):
        """Whether ``var`` feeds only one node (a fresh variable counts with
        the clients of the variable it replaced)."""
        clients = self.fgraph.clients.get(self._origin.get(var, var))
        return clients is None or len(clients) <= 1

    # -- building
    def make(self, op, *inputs):
        """``op(*inputs)``, reusing the node if this sweep already built it."""
        key = (op, tuple(map(id, inputs)))
        hit = self._built.get(key)
        if hit is None:  # the inputs are stored too, so their ids stay unique
            hit = self._built[key] = (_fold(op.make_node(*inputs)), inputs)
            # after what it reads: the node being rewritten (its own old
            # output included) and what was built before
            self._built_rank[hit[0]] = (self._step << _RANK_BITS) + len(self._built)
        return hit[0]

    def elem(self, scalar_op, *inputs):
        from ..tensor.math import elemwise_op

        return self.make(elemwise_op(scalar_op), *inputs)

    def cast(self, var, dtype):
        dtype = np.dtype(dtype).name
        return var if var.dtype == dtype else self.elem(scal.Cast(dtype), var)

    def broadcast_sources(self, var):
        """Variables whose runtime shapes broadcast together to ``var``'s shape.

        Through Elemwise nodes this is the union over the inputs (statically
        size-1 inputs never change the broadcast shape); anything else is its
        own source.  If the sources of ``a`` are a subset of those of ``b``
        (same ndim), ``a`` never widens ``b`` when broadcast with it.
        """
        memo = self._bsrc
        if var in memo:
            return memo[var]
        stack = [var]
        while stack:
            v = stack[-1]
            if v in memo:
                stack.pop()
                continue
            owner = v.owner
            if owner is None or not isinstance(owner.op, Elemwise):
                memo[v] = frozenset() if is_all_ones_shape(v) else frozenset([v])
                stack.pop()
                continue
            ins = [i for i in self.inputs_of(v) if not is_all_ones_shape(i)]
            pending = [i for i in ins if i not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[v] = _union([memo[i] for i in ins])
            stack.pop()
        return memo[var]

    def shape_covered(self, var, by):
        """``var`` broadcast with ``by`` has exactly ``by``'s shape."""
        if var.ndim != by.ndim:
            return False
        if is_all_ones_shape(var):
            return True
        near = self._covered_nearby(var, by)
        if near is not None:
            return near
        return self.broadcast_sources(var) <= self.broadcast_sources(by)

    def _rank(self, var):
        """A topological rank of a variable of the rewritten graph (each
        after everything it reads), or None where unknown (owner-less, or
        built outside ``make``)."""
        owner = var.owner
        if owner is None:
            return None
        rank = self._built_rank.get(var)
        if rank is None:
            if self._order_rank is None:
                self._order_rank = {n: k << _RANK_BITS for k, n in enumerate(self._order)}
            rank = self._order_rank.get(owner)
        return rank

    def _elemwise_region(self, var, budget):
        """Up to ``budget`` variables ``broadcast_sources`` walks from
        ``var`` (its own sources are theirs), nearest first."""
        seen, queue = {var}, collections.deque([var])
        while queue and len(seen) < budget:
            v = queue.popleft()
            owner = v.owner
            if owner is not None and isinstance(owner.op, Elemwise):
                for i in self.inputs_of(v):
                    if i not in seen and not is_all_ones_shape(i):
                        seen.add(i)
                        queue.append(i)
        return seen

    def _covered_nearby(self, var, by, budget=48):
        """``shape_covered``'s answer found near the two variables, or None.

        The exact subset test needs both source sets, and along a residual
        recurrence (h = f(h) + h) and its gradient each step has a set of
        its own that grows with the chain: quadratic in all.  Near ``by``,
        every variable its walk reaches has sources among ``by``'s; near
        ``var``, a source outside that region is not ``by``'s when the walk
        from ``by`` was complete or when it ranks after ``by`` (computed
        later: no ancestor).  So: False on such a source; True when every
        path from ``var`` meets ``by``'s region within the budget; else
        None."""
        by_region = self._elemwise_region(by, budget)
        by_complete = len(by_region) < budget  # then its leaves are by's sources
        owner = by.owner
        by_is_leaf = owner is None or not isinstance(owner.op, Elemwise)
        limit = None if by_is_leaf else self._rank(by)
        undecided = False  # a path left the budget, or met a source of unknown standing
        seen, queue = {var}, collections.deque([var])
        while queue:
            v = queue.popleft()
            if v in by_region:
                continue  # its sources are by's
            owner = v.owner
            if owner is not None and isinstance(owner.op, Elemwise):
                if len(seen) >= budget:
                    undecided = True
                    continue
                for i in self.inputs_of(v):
                    if i not in seen and not is_all_ones_shape(i):
                        seen.add(i)
                        queue.append(i)
                continue
            # v is a source of var outside by's (explored) region
            if by_is_leaf or by_complete:
                return False  # by's sources are known: v is not one
            rank = self._rank(v)
            if rank is not None and limit is not None and rank > limit:
                return False  # computed after by: not its ancestor
            undecided = True
        return None if undecided else True


_NO_SOURCES = frozenset()
#: a node's rank is its step in the sweep's order shifted by this, plus the
#: count of nodes built before (fewer than 2**40 per sweep)
_RANK_BITS = 40


def _union(sets):
    """The union of frozensets, reusing the largest when it holds the others:
    along a chain of elementwise nodes (a residual recurrence) most nodes
    add no source, and copying their inputs' set at each one made the
    sources pass quadratic in the chain's length."""
    if not sets:
        return _NO_SOURCES
    largest = max(sets, key=len)
    if all(s is largest or s <= largest for s in sets):
        return largest
    return largest.union(*[s for s in sets if s is not largest])


def _fold(node):
    """The node's output, or its value as a constant when every input is a
    small constant (rules build nodes after the constant folding pass ran)."""
    out = node.outputs[0]
    if not all(isinstance(i, Constant) for i in node.inputs) or \
            not isinstance(node.op, (Elemwise, DimShuffle)):
        return out
    with np.errstate(all="ignore"):
        (value,) = node.op.perform(node, [i.data for i in node.inputs])
    value = np.array(value, dtype=out.dtype)
    if value.nbytes > MAX_FOLDED_BYTES:
        return out
    return TensorConstant(out.type, value)


def conform(new, old, donors=()):
    """``new`` made to have ``old``'s exact type, or None if that is not possible.

    A dtype difference is a cast; missing leading dims are padded; a static
    shape that is wider in ``old`` is restored by broadcasting with the
    first donor (an operand of the replaced expression) that carries it.
    """
    from ..tensor import math as tm

    if new.type == old.type:
        return new
    if new.dtype != old.dtype:
        new = tm.cast(new, old.dtype)
    if new.ndim < old.ndim:
        new = pad_left(new, old.ndim)
    if new.ndim != old.ndim:
        return None
    if new.type.shape != old.type.shape:
        for donor in donors:
            if donor.ndim == old.ndim and new.type.shape != old.type.shape:
                widened = tm.second(donor, new)
                if widened.type.shape != new.type.shape and _refines(old.type.shape,
                                                                    widened.type.shape):
                    new = widened
    return new if new.type == old.type else None


def _refines(target, shape):
    """``shape`` is no more specific than ``target`` anywhere."""
    return all(s is None or s == t for s, t in zip(shape, target))


def const_like(value, dtype, ndim=0):
    """A strong constant of ``dtype`` (padded to ``ndim`` size-1 dims)."""
    data = np.asarray(value, dtype=dtype).reshape((1,) * ndim)
    return TensorConstant(TensorType(data.dtype, shape=data.shape), data)


# ------------------------------------------------------------------- rules

#: exponent -> how to compute x ** exponent from cheaper ops (float results)
_FLOAT_POWERS = {
    1.0: lambda r, x: x,
    2.0: lambda r, x: r.elem(scal.sqr, x),
    3.0: lambda r, x: r.elem(scal.mul, x, r.elem(scal.sqr, x)),
    4.0: lambda r, x: r.elem(scal.sqr, r.elem(scal.sqr, x)),
    0.5: lambda r, x: r.elem(scal.sqrt, x),
    -1.0: lambda r, x: r.elem(scal.reciprocal, x),
    -2.0: lambda r, x: r.elem(scal.reciprocal, r.elem(scal.sqr, x)),
}
#: integer results: only exponents whose integer meaning is exact (wrapping)
_INT_POWERS = (1.0, 2.0, 3.0, 4.0)


class Canonicalize(SweepRewrite):
    """Exact algebraic simplifications (see the module docstring)."""

    name = "canonicalize"

    def rules(self, var):
        op = var.owner.op
        ins = self.inputs_of(var)
        if ins and all(isinstance(i, Constant) for i in ins):
            folded = self.make(op, *ins) if isinstance(op, (Elemwise, DimShuffle)) else None
            return folded if isinstance(folded, Constant) else None
        if isinstance(op, Elemwise):
            return self._elemwise(var)
        if isinstance(op, DimShuffle):
            return self._dimshuffle(var)
        if isinstance(op, SumToShapeOf):
            return self._sum_to_shape(var)
        if isinstance(op, Reduce) and op.kind == "sum":
            return self._sum_of_fill(var)
        if isinstance(op, Subtensor) and op.idx_spec == (("int",),):
            return self._shape_entry(var)
        return None

    # -- elementwise
    def _elemwise(self, var):
        name = var.owner.op.scalar_op.name
        ins = self.inputs_of(var)
        if name != "second":
            sunk = self._sink_fill(var, ins)
            if sunk is not None:
                return sunk
        method = getattr(self, "_r_" + name, None)
        if method is None and isinstance(var.owner.op.scalar_op, scal.Cast):
            method = self._r_cast
        return None if method is None else method(var, ins)

    def _sink_fill(self, var, ins):
        """``f(..., second(a, b), ...)`` -> ``second(a, f(..., b, ...))``: the
        broadcast moves outward, so constants fold and fills cancel."""
        for k, inp in enumerate(ins):
            if scalar_name(inp) != "second":
                continue
            a, b = self.inputs_of(inp)
            if b.dtype != inp.dtype:
                if not isinstance(b, Constant):
                    return None
                b = const_like(b.data, inp.dtype, b.ndim)
            inner = self.make(var.owner.op, *(ins[:k] + [b] + ins[k + 1:]))
            if inner.dtype != var.dtype:
                return None
            return self.elem(scal.second, a, inner)
        return None

    def _r_second(self, var, ins):
        x, y = ins
        if self.shape_covered(x, y):
            return y
        if self.may_drop() and self.shapes.covers(y, x):
            # x's dims are 1 or ones y's were broadcast from: the fill neither
            # widens y nor can fail
            self.drop(x)
            return y
        if scalar_name(x) == "second":  # second(second(a, b), y): b only adds its shape
            a, b = self.inputs_of(x)
            if is_all_ones_shape(b):
                return self.elem(scal.second, a, y)
        return None

    def _r_cast(self, var, ins):
        (x,) = ins
        if x.dtype == var.dtype:
            return x
        if isinstance(x.owner and x.owner.op, Elemwise) and isinstance(
                x.owner.op.scalar_op, scal.Cast):
            (src,) = self.inputs_of(x)
            if widening_cast(src.dtype, x.dtype):
                return self.cast(src, var.dtype)
        return None

    def _r_identity(self, var, ins):
        return ins[0]

    def _r_neg(self, var, ins):
        (x,) = ins
        name = scalar_name(x)
        if name == "neg":
            return self.inputs_of(x)[0]
        if name == "mul" and x.dtype.startswith("float") and self.single_client(x):
            a, b = self.inputs_of(x)
            for v, c in ((a, b), (b, a)):
                if isinstance(c, Constant):  # -(v * c) = v * (-c), exactly
                    return self.elem(scal.mul, v, const_like(-c.data, c.dtype, c.ndim))
        return None

    def _r_add(self, var, ins):
        a, b = ins
        for v, c in ((a, b), (b, a)):
            if is_constant_all(c, 0) and self.shape_covered(c, v):
                return v
        na, nb = self._negated(a, var), self._negated(b, var)
        if na is not None and nb is not None:  # (-a) + (-b) -> -(a + b)
            return self.elem(scal.neg, self.elem(scal.add, na, nb))
        if nb is not None:  # a + (-b) = a - b exactly
            return self.elem(scal.sub, a, nb)
        if na is not None:
            return self.elem(scal.sub, b, na)
        return self._collect(var, ins, "add", np.add, _same_sign)

    def _r_sub(self, var, ins):
        a, b = ins
        if is_constant_all(b, 0) and self.shape_covered(b, a):
            return a
        if is_constant_all(a, 0) and self.shape_covered(a, b) and _float_of(b, var):
            return self.elem(scal.neg, b)
        if isinstance(b, Constant) and var.dtype.startswith("float") and b.dtype == var.dtype:
            # x - c = x + (-c) exactly; the add form joins constant collection
            return self.elem(scal.add, a, const_like(-b.data, b.dtype, b.ndim))
        nb = self._negated(b, var)
        if nb is not None:  # a - (-b) = a + b exactly
            return self.elem(scal.add, a, nb)
        na = self._negated(a, var)
        if na is not None:  # (-a) - b -> -(a + b)
            return self.elem(scal.neg, self.elem(scal.add, na, b))
        return None

    def _negated(self, v, out):
        """``a`` where ``v`` is ``-a`` in ``out``'s float dtype (the negation
        an add or sub computing ``out`` can absorb exactly), else None."""
        if scalar_name(v) != "neg" or not _float_of(v, out):
            return None
        return self.inputs_of(v)[0]

    def _r_mul(self, var, ins):
        a, b = ins
        for v, c in ((a, b), (b, a)):
            if is_constant_all(c, 1) and self.shape_covered(c, v):
                return v
            if is_constant_all(c, -1) and self.shape_covered(c, v) and _float_of(v, var):
                return self.elem(scal.neg, v)
        if a is b:
            return self.elem(scal.sqr, a)
        if var.dtype.startswith("float"):
            for v, c in ((a, b), (b, a)):
                if isinstance(c, Constant) and scalar_name(v) == "neg" and \
                        _float_of(v, var) and self.single_client(v):
                    return self.elem(scal.mul, self.inputs_of(v)[0],
                                     const_like(-c.data, c.dtype, c.ndim))
        return self._collect(var, ins, "mul", np.multiply, _same_direction)

    def _r_true_div(self, var, ins):
        x, c = ins
        if not var.dtype.startswith("float"):
            return None
        if is_constant_all(c, 1) and self.shape_covered(c, x):
            return x
        if is_constant_all(c, -1) and self.shape_covered(c, x) and _float_of(x, var):
            return self.elem(scal.neg, x)
        if is_constant_all(x, 1) and self.shape_covered(x, c) and c.dtype == var.dtype:
            return self.elem(scal.reciprocal, c)
        if isinstance(c, Constant):
            data = c.data.astype(var.dtype)
            with np.errstate(all="ignore"):
                inv = np.reciprocal(data)
            tiny = np.finfo(data.dtype).tiny
            if np.all(np.isfinite(inv)) and np.all(np.abs(data) >= tiny):
                return self.elem(scal.mul, x, _array_const(inv, c))
        return None

    def _r_pow(self, var, ins):
        x, e = ins
        exponent = uniform_constant(e)
        if exponent is None or not np.isreal(exponent):
            return None
        exponent = float(exponent)
        out_dtype = var.dtype
        if not out_dtype.startswith("float"):
            if exponent not in _INT_POWERS and exponent != 0.0:
                return None
        elif exponent not in _FLOAT_POWERS and exponent != 0.0:
            return None
        base = self.cast(x, out_dtype)
        if exponent == 0.0:  # pow(anything, 0) is 1, NaN included
            return self.elem(scal.second, base, const_like(1, out_dtype, base.ndim))
        return _FLOAT_POWERS[exponent](self, base)

    def _collect(self, var, ins, name, combine, compatible):
        """``(x op c1) op c2`` -> ``x op (c1 op c2)`` for a chain of one
        associative op, when folding cannot hide an overflow (``compatible``)."""
        a, b = ins
        for v, c2 in ((a, b), (b, a)):
            if not isinstance(c2, Constant) or scalar_name(v) != name:
                continue
            if v.dtype != var.dtype or not self.single_client(v):
                continue
            p, q = self.inputs_of(v)
            for x, c1 in ((p, q), (q, p)):
                if isinstance(c1, Constant) and not isinstance(x, Constant):
                    d1, d2 = c1.data.astype(var.dtype), c2.data.astype(var.dtype)
                    if not compatible(d1, d2):
                        continue
                    with np.errstate(all="ignore"):
                        merged = combine(d1, d2)
                    shape = np.broadcast_shapes(c1.type.shape, c2.type.shape)
                    merged = np.broadcast_to(merged, shape).copy()
                    return self.elem(getattr(scal, name), x,
                                     TensorConstant(TensorType(merged.dtype, shape=shape), merged))
        return None

    # -- shapes
    def _sum_to_shape(self, var):
        """``SumToShapeOf(g, x)``: nothing to sum where g's dim is provably
        x's; a static sum where x's dim is 1; through identical DimShuffles
        of both operands (their inserted axes are 1 in both); under the
        strict rule, ``second`` (``_strict_sum_to_shape``)."""
        g, x = self.inputs_of(var)
        reduced = self._reduce_to_shape(g, x, strict=False)
        if reduced is not None:
            return reduced
        gs, xs = g.owner, x.owner
        if gs is not None and xs is not None and isinstance(gs.op, DimShuffle) and \
                gs.op == xs.op and not gs.op.dropped:
            (inner_g,), (inner_x,) = self.inputs_of(g), self.inputs_of(x)
            inner = self._reduce_to_shape(inner_g, inner_x, self.strict_broadcast)
            if inner is None:
                inner = self.make(SumToShapeOf(), inner_g, inner_x)
            return self.make(gs.op, inner)
        return self._strict_sum_to_shape(g, x) if self.strict_broadcast else None

    def _reduce_to_shape(self, g, x, strict):
        """What ``SumToShapeOf(g, x)`` computes, built from what the shapes
        prove (then ``strict``: ``_strict_sum_to_shape``), or None."""
        if self.shape_covered(g, x):
            return g
        shapes = self.shapes
        if self.may_drop() and g.ndim == x.ndim:
            g_dims, x_dims = shapes.shape_of(g), shapes.shape_of(x)
            axes = []
            for k, (gd, xd) in enumerate(zip(g_dims, x_dims)):
                if shapes.same_dim(gd, xd):
                    continue
                if xd != 1:
                    axes = None
                    break
                axes.append(k)
            if axes is not None:
                self.drop(x)
                if not axes:
                    return g
                total = self.make(Reduce("sum", axes, dtype=g.dtype), g)
                return self.make(DimShuffle(total.ndim, keepdims_order(g.ndim, axes)), total)
        return self._strict_sum_to_shape(g, x) if strict else None

    def _strict_sum_to_shape(self, g, x):
        """Under the strict rule only x's dims of static size 1 can be summed
        over: a static sum there, then ``second(x, ...)``, which raises
        ``RuntimeBroadcastAssumption`` if another dim of x is 1 at run time
        where g's is not (so it needs no shape fact).  None where g's static
        size is 1 and x's unknown (x could widen g: only a sum is right)."""
        if g.ndim != x.ndim:
            return None
        axes = []
        for k, (gs, xs) in enumerate(zip(g.type.shape, x.type.shape)):
            if xs is None and gs == 1:
                return None
            if xs == 1 and gs != 1:
                axes.append(k)
        if axes:
            total = self.make(Reduce("sum", axes, dtype=g.dtype), g)
            g = self.make(DimShuffle(total.ndim, keepdims_order(g.ndim, axes)), total)
        return self.elem(scal.second, x, g)

    def _shape_entry(self, var):
        """``x.shape[k]`` of a computed x -> the same dim read from the
        variables it derives from (inputs where possible), so x need not be
        kept (or materialized) just for its shape."""
        from ..ops.shape import Shape

        src, index = self.inputs_of(var)
        k = uniform_constant(index) if index.ndim == 0 else None
        if src.owner is None or not isinstance(src.owner.op, Shape) or k is None or \
                not self.may_drop():
            return None
        (x,) = self.inputs_of(src)
        if x.owner is None or not -x.ndim <= int(k) < x.ndim:
            return None
        shapes = self.shapes
        dim = shapes.shape_of(x)[int(k)]
        if dim != shapes.shape_of(x, structural=True)[int(k)]:
            shapes.used_constraints = True
        expr = self.dim_value(dim, avoid=x)
        if expr is None:
            return None
        self.drop(x)
        return expr

    def dim_value(self, dim, avoid=None):
        """An int64 scalar holding canonical ``dim``, read from the shapes of
        the variables its symbols come from (never ``avoid``), or None.  A
        broadcast of several dims is the last one that is not 1."""
        from ..ops.shape import Shape
        from ..ops.subtensor import Subtensor

        members = sorted(dim_members(dim), key=_dim_order) if dim != 1 else []
        value = const_like(1, "int64")
        for k, member in enumerate(members):
            if isinstance(member, int):
                entry = const_like(member, "int64")
            else:
                home, axis = member.home
                if home is avoid:
                    return None
                entry = self.make(Subtensor((("int",),)), self.make(Shape(), self.resolve(home)),
                                  const_like(axis, "int64"))
            value = entry if k == 0 else self.elem(
                scal.switch, self.elem(scal.eq, entry, const_like(1, "int64")), value, entry)
        return value

    # -- structure
    def _dimshuffle(self, var):
        op = var.owner.op
        (x,) = self.inputs_of(var)
        if op.new_order == tuple(range(op.input_ndim)):
            return x
        if x.owner is not None and isinstance(x.owner.op, DimShuffle):
            inner = x.owner.op
            (src,) = self.inputs_of(x)
            order = tuple("x" if o == "x" else inner.new_order[o] for o in op.new_order)
            if order == tuple(range(src.ndim)):
                return src
            return self.make(DimShuffle(src.ndim, order), src)
        return None

    def _sum_of_fill(self, var):
        """``sum(second(x, c))`` for a finite scalar constant c: c times the
        number of elements summed, broadcast to the remaining shape."""
        from ..ops.shape import Alloc
        from ..tensor import basic as tb

        (filled,) = self.inputs_of(var)
        op = var.owner.op
        if scalar_name(filled) != "second":
            return None
        x, c = self.inputs_of(filled)
        value = uniform_constant(c)
        if value is None or not is_all_ones_shape(c) or x.ndim != filled.ndim or \
                not np.isfinite(value) or op.dtype is not None and op.dtype != var.dtype:
            return None
        dtype = var.dtype
        count = None
        for axis in op.axis:
            n = tb.shape_i(x, axis)
            count = n if count is None else self.elem(scal.mul, count, n)
        total = const_like(value, dtype) if count is None else self.elem(
            scal.mul, self.cast(count, dtype), const_like(value, dtype))
        rest = [axis for axis in range(x.ndim) if axis not in op.axis]
        if not rest:
            return total
        return self.make(Alloc(), total, *[tb.shape_i(x, axis) for axis in rest])


def _dim_order(member):
    """Ints first, then symbols by age: a deterministic order for exprs."""
    return (0, member, 0) if isinstance(member, int) else (1, 0, member.serial)


def keepdims_order(ndim, axes):
    """The DimShuffle pattern that re-inserts reduced ``axes`` (keepdims)."""
    kept = iter(range(ndim - len(axes)))
    return tuple("x" if i in axes else next(kept) for i in range(ndim))


def _float_of(operand, out):
    """Negation is exact only in the (float) dtype of the result itself."""
    return out.dtype.startswith("float") and operand.dtype == out.dtype


def _array_const(values, like):
    values = np.broadcast_to(values, like.type.shape).copy()
    return TensorConstant(TensorType(values.dtype, shape=like.type.shape), values)


def _same_sign(c1, c2):
    """Adding same-signed constants in one step overflows iff doing it in two does."""
    both = np.concatenate([np.ravel(c1), np.ravel(c2)])
    return bool(np.all(both >= 0) or np.all(both <= 0)) and bool(np.all(np.isfinite(both))) \
        if both.dtype.kind == "f" else True


def _same_direction(c1, c2):
    """Scaling by constants all >= 1 (or all <= 1) in magnitude: the folded
    product overflows / underflows exactly when the chain did."""
    both = np.abs(np.concatenate([np.ravel(c1), np.ravel(c2)]))
    if both.dtype.kind != "f":
        return True
    return bool(np.all(np.isfinite(both)) and (np.all(both >= 1) or np.all(both <= 1)))


canonicalize = pipeline.register(Canonicalize(), 10, "fast_run", "fast_compile")
