"""Numerical stability: the same functions, computed without overflow.

Forward patterns (one topological sweep, see ``canonicalize.SweepRewrite``):

- ``log(sigmoid(x))`` -> ``-softplus(-x)``; ``1 - sigmoid(x)`` -> ``sigmoid(-x)``
  (so ``log(1 - sigmoid(x))`` -> ``-softplus(x)``); ``log(1 + exp(x))`` and
  ``log1p(exp(x))`` -> ``softplus(x)``; ``1 / (1 + exp(-x))`` -> ``sigmoid(x)``;
- ``log(softmax(x))`` -> ``logsoftmax(x)``, also through an index
  (``log(softmax(x)[rows, labels])``); ``log(sum(exp(x)))`` -> ``logsumexp``.

Gradients: ``function`` rewrites the graph after ``grad`` built it, so the
gradients of the unstable forms are in the graph too, and they are what
overflows (``g / sigmoid(x) * sigmoid(x) * (1 - sigmoid(x))`` is NaN where
sigmoid underflows).  Four rules make them stable:

- *cancellation in products*: a product of factors (through mul, true_div,
  reciprocal, neg) drops a factor that is both in the numerator and the
  denominator when it is strictly positive and cannot overflow at a finite
  input (sympy decides positivity from each scalar op's ``sympy_fn``, once
  per op: sigmoid, softplus; not exp, whose overflow is a value of its own),
  and writes
  ``1 / (1 + exp(v))`` factors as sigmoids (``exp(v) / (1 + exp(v))`` ->
  ``sigmoid(v)``).  A product with a sum factor whose terms have such
  denominators is distributed over the sum first (the gradient of
  binary cross-entropy: ``(a / p - b / (1 - p)) * p * (1 - p)``);
- *complements in sums*: terms ``P (1 - y) sigmoid(v)`` and ``-P y
  sigmoid(-v)`` of one sum -> ``P (sigmoid(v) - y)`` (``sigmoid(-v) = 1 -
  sigmoid(v)``): the gradient of binary cross-entropy of ``sigmoid(z)``,
  which the cancellation leaves as ``(1 - y) sigmoid(z) - y sigmoid(-z)``, is
  ``sigmoid(z) - y``, reusing the forward pass's sigmoid;
- ``SoftmaxGrad(u / sm, sm)`` (the gradient through ``log(softmax)``, also
  when ``u / sm[idx]`` was scattered into zeros by an index's gradient) ->
  ``u - sm * sum(u)``, the log-softmax gradient;
- ``exp(x) * (g / sum(exp(x)))`` (the gradient through ``log(sum(exp(x)))``)
  -> ``exp(x - logsumexp(x)) * g``.

Values: at finite inputs these rewrites change results only where the
unoptimized graph over- or underflowed, and by rounding elsewhere (the
complements: by rounding of the larger terms, so ``sigmoid(40) - 1`` is 0
where ``-sigmoid(-40)`` is -4e-18, as NumPy's ``p - y`` gives).  At
+-inf they give the limit of the function where the unstable original
computes inf/inf, 0 * inf or inf - inf: the gradient of
``log(sigmoid(x))`` is 1 at x = -inf (the original: NaN), ``exp(v) / (1 +
exp(v))`` is 1 at v = +inf -- what Theano and PyTensor give.  NaN still
propagates: a cancelled factor's argument must still be read by the result
(``_reaches``), so a bare ``exp(x) / exp(x)`` is left alone.  (Keeping the
original's values at inf, with ``switch(finite, stable, original)``, made
every call compute the unstable graph as well, a vector select evaluating
both branches: W2's two elementwise kernels computed seven transcendentals
per element instead of two.)  The softmax rules keep NaN propagation
through ``sm``; a row with a -inf logit gets the limit value too.
"""

import collections

import numpy as np

from ..graph.basic import Constant
from ..ops import scalar as scal
from ..ops.elemwise import DimShuffle, Elemwise
from ..ops.nnet import (CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx, LogSoftmax,
                        Softmax, SoftmaxGrad)
from ..ops.shape import ARange
from ..ops.reduce import Reduce
from ..ops.subtensor import IncSubtensor, Subtensor
from .canonicalize import (Canonicalize, conform, const_like, is_all_ones_shape,
                           is_constant_all, scalar_name)
from .engine import pipeline

_PRODUCT_OPS = ("mul", "true_div", "reciprocal", "neg")
_SUM_OPS = ("add", "sub", "neg")

#: Products with more factors than this are left alone (keeps the pass linear).
MAX_FACTORS = 32
#: Terms of a sum searched for complementary sigmoids: every sum is searched,
#: also each of a chain of them (a residual recurrence), so the window is small.
MAX_COMPLEMENT_TERMS = 8

_POSITIVE = {}


def positive_scalar_op(scalar_op):
    """Whether ``scalar_op`` of a real argument is strictly positive (sympy,
    from its ``sympy_fn``) and never overflows at a finite input (its NumPy
    implementation at +-max float): cancelling such a factor only changes
    results where it underflowed to 0.  Asked once per op."""
    name = scalar_op.name
    if name not in _POSITIVE:
        verdict = False
        if scalar_op.nin == 1 and scalar_op.sympy_fn is not None:
            import sympy  # ~0.25 s to import: only when a rule first asks

            try:
                expr = scalar_op.sympy_fn(sympy.Symbol("a", real=True))
                verdict = bool(expr.is_positive)
            except (TypeError, ValueError, AttributeError):
                verdict = False
        if verdict:
            with np.errstate(all="ignore"):
                for dtype in (np.float32, np.float64):
                    big = np.finfo(dtype).max
                    edges = scalar_op.impl(np.array([-big, big], dtype=dtype))
                    verdict = verdict and bool(np.all(np.isfinite(edges)))
        _POSITIVE[name] = verdict
    return _POSITIVE[name]


class _Product:
    """``sign * prod(num) / prod(den)`` of one dtype."""

    def __init__(self, sign, num, den):
        self.sign, self.num, self.den = sign, num, den


class Stabilize(Canonicalize):
    """The stability rules, then the canonical ones (which clean up what the
    stability rules leave, e.g. the ``second(p, 1)`` of a fully cancelled
    product) in the same sweep."""

    name = "stability"

    def apply(self, fgraph):
        self._keys = {}
        self._key_ids = {}
        self._cancelled_args = []
        # the complements rule needs a sigmoid: graphs without one (and no
        # rule making one) skip its sum flattening (3x this pass's work)
        self._has_sigmoid = any(isinstance(node.op, Elemwise) and
                                node.op.scalar_op.name == "sigmoid"
                                for node in fgraph.apply_nodes)
        try:
            return super().apply(fgraph)
        finally:
            self._keys = self._key_ids = None

    def rules(self, var):
        new = self._stability_rules(var)
        return new if new is not None else super().rules(var)

    def _stability_rules(self, var):
        op = var.owner.op
        if isinstance(op, SoftmaxGrad):
            return self._softmax_grad(var)
        if not isinstance(op, Elemwise) or not var.dtype.startswith("float"):
            return None
        name = op.scalar_op.name
        if name == "log":
            return self._log(var)
        if name == "log1p":
            (x,) = self.inputs_of(var)
            if scalar_name(x) == "exp":
                return self.elem(scal.softplus, self.inputs_of(x)[0])
            return None
        if name == "sub":
            s = self._one_minus(var)
            if s is not None and scalar_name(s) == "sigmoid":
                return self.elem(scal.sigmoid, self.negate(self.inputs_of(s)[0]))
        if name in _SUM_OPS and not self._inside(var, _SUM_OPS):
            merged = self._complements(var)
            if merged is not None:
                return merged
        if name == "neg":
            fused = self._crossentropy(var)
            if fused is not None:
                return fused
        if name in _PRODUCT_OPS and not self._inside(var, _PRODUCT_OPS):
            return self._product(var)
        return None

    def _inside(self, var, names):
        """``var`` only feeds a larger product (sum), which is rewritten as a
        whole (so a cancellation sees every factor at once)."""
        clients = self.fgraph.clients.get(var)
        if not clients or len(clients) != 1 or clients[0][0] == "output":
            return False
        parent = clients[0][0].outputs[0]
        return parent.dtype == var.dtype and scalar_name(parent) in names

    def _one_minus(self, v):
        """``y`` where ``v`` is ``1 - y`` (a broadcast scalar 1), else None."""
        if scalar_name(v) != "sub":
            return None
        one, y = self.inputs_of(v)
        return y if is_constant_all(one, 1) and is_all_ones_shape(one) else None

    # -- structure helpers
    def negate(self, v):
        """``-v``, simplified when v is a negation or a constant."""
        name = scalar_name(v)
        if name == "neg":
            return self.inputs_of(v)[0]
        if name == "sub":
            a, b = self.inputs_of(v)
            if scalar_name(a) == "neg":  # -(-a - b) = a + b exactly
                return self.elem(scal.add, self.inputs_of(a)[0], b)
        if isinstance(v, Constant):
            return _constant(-v.data, v)
        return self.elem(scal.neg, v)

    def key(self, var):
        """Structural identity: equal keys compute equal values.

        A key is a small int: the structure ``(op, output index, input
        keys)`` is interned (hash-consed) in ``_key_ids``, so building,
        hashing and comparing one costs the same at any depth.  (Nested
        tuples would be rehashed all the way down on every set or dict use,
        quadratic along a chain and exponential through shared inputs.)"""
        keys = self._keys
        stack = [var]
        while stack:
            v = stack[-1]
            if v in keys:
                stack.pop()
                continue
            owner = v.owner
            if isinstance(v, Constant):
                structure = ("const", v.signature())
            elif owner is None or not isinstance(owner.op, (Elemwise, DimShuffle, Softmax,
                                                            Subtensor, Reduce)):
                structure = ("var", id(v))
            else:
                ins = self.inputs_of(v)
                pending = [i for i in ins if i not in keys]
                if pending:
                    stack.extend(pending)
                    continue
                structure = (owner.op, v.index, tuple(keys[i] for i in ins))
            keys[v] = self._key_ids.setdefault(structure, len(self._key_ids))
            stack.pop()
        return keys[var]

    def is_positive(self, v):
        owner = v.owner
        if owner is None:
            return False
        return isinstance(owner.op, Elemwise) and positive_scalar_op(owner.op.scalar_op)

    def flatten_product(self, var):
        """``var`` as a _Product through same-dtype mul/true_div/reciprocal/neg."""
        dtype = var.dtype
        sign, num, den = 1, [], []
        stack = [(var, False)]
        while stack:
            v, inverted = stack.pop()
            name = scalar_name(v) if v.dtype == dtype else None
            if len(num) + len(den) + len(stack) >= MAX_FACTORS:
                name = None
            if name == "mul":
                stack.extend((i, inverted) for i in self.inputs_of(v))
            elif name == "true_div":
                a, b = self.inputs_of(v)
                stack.extend([(a, inverted), (b, not inverted)])
            elif name == "reciprocal":
                stack.append((self.inputs_of(v)[0], not inverted))
            elif name == "neg":
                sign = -sign
                stack.append((self.inputs_of(v)[0], inverted))
            elif name == "sqr" and self._expandable(self.inputs_of(v)[0]):
                a = self.inputs_of(v)[0]
                stack.extend([(a, inverted), (a, inverted)])
            else:
                (den if inverted else num).append(v)
        return _Product(sign, num, den)

    def _cancellable(self, v):
        return self.is_positive(v)

    def _expandable(self, v):
        """A factor worth seeing twice inside ``sqr``."""
        return self.is_positive(v) or self._one_plus_exp(v) is not None

    def _one_plus_exp(self, v):
        """``e`` if v is ``1 + e`` (either order) with e = exp(...), else None."""
        if scalar_name(v) != "add":
            return None
        a, b = self.inputs_of(v)
        for one, e in ((a, b), (b, a)):
            if is_constant_all(one, 1) and is_all_ones_shape(one) and scalar_name(e) == "exp" \
                    and e.type == v.type:
                return e
        return None

    def simplify(self, prod):
        """Sigmoid-ify ``1 / (1 + exp(v))`` and cancel positive factors in
        place; returns the factors removed (they may carry the shape)."""
        removed = []
        num_keys = [self.key(f) for f in prod.num]
        den = []
        for d in self._cancel(prod, num_keys, removed):
            e = self._one_plus_exp(d)
            if e is None:
                den.append(d)
                continue
            (v,) = self.inputs_of(e)
            k = self.key(e)
            if k in num_keys:  # exp(v) / (1 + exp(v)) = sigmoid(v)
                i = num_keys.index(k)
                removed.append(prod.num.pop(i))
                num_keys.pop(i)
                self._cancelled_args.append(v)  # inf / inf at v = +inf: now 1
                s = self.elem(scal.sigmoid, v)
            else:  # 1 / (1 + exp(v)) = sigmoid(-v)
                s = self.elem(scal.sigmoid, self.negate(v))
            removed.append(d)
            prod.num.append(s)
            num_keys.append(self.key(s))
        prod.den = den
        prod.den = self._cancel(prod, num_keys, removed)  # against the new sigmoids
        return removed

    def _cancel(self, prod, num_keys, removed):
        """Drop cancellable factors found in both num and den (updates
        ``prod.num``, ``num_keys`` and ``removed``); the remaining den."""
        den = []
        for d in prod.den:
            k = self.key(d)
            if k in num_keys and self._cancellable(d):
                i = num_keys.index(k)
                removed.extend([prod.num.pop(i), d])
                num_keys.pop(i)
                self._cancelled_args.append(self.inputs_of(d)[0])
            else:
                den.append(d)
        return den

    def build_product(self, prod, like):
        num = None
        for f in prod.num:
            num = f if num is None else self.elem(scal.mul, num, f)
        den = None
        for f in prod.den:
            den = f if den is None else self.elem(scal.mul, den, f)
        if num is None:
            num = const_like(1, like.dtype, like.ndim)
        out = num if den is None else self.elem(scal.true_div, num, den)
        return self.elem(scal.neg, out) if prod.sign < 0 else out

    def flatten_sum(self, var, limit=MAX_FACTORS):
        """``var`` as [(sign, term)] through same-dtype add/sub/neg (at most
        about ``limit`` terms: the rest stay sums)."""
        terms, stack = [], [(var, 1)]
        while stack:
            v, sign = stack.pop()
            name = scalar_name(v) if v.dtype == var.dtype else None
            if len(terms) + len(stack) >= limit:
                name = None
            if name == "add":
                stack.extend((i, sign) for i in self.inputs_of(v))
            elif name == "sub":
                a, b = self.inputs_of(v)
                stack.extend([(a, sign), (b, -sign)])
            elif name == "neg":
                stack.append((self.inputs_of(v)[0], -sign))
            else:
                terms.append((sign, v))
        return terms

    # -- rules
    def _product(self, var):
        """Simplify the product rooted at ``var`` (repeatedly: sigmoid-ifying
        can enable a distribution).  The result must still read every
        cancelled factor's argument (``_reaches``), so a NaN there still
        gives NaN."""
        self._cancelled_args = []
        current = var
        for _ in range(4):
            step = self._product_step(current)
            if step is None:
                break
            current = conform(step, var, donors=self.inputs_of(var))
            if current is None:
                return None
        if current is var or not self._reaches(current, self._cancelled_args):
            return None
        return current

    def elem(self, scalar_op, *inputs):
        if scalar_op is scal.sigmoid:
            self._has_sigmoid = True
        return super().elem(scalar_op, *inputs)

    def _complements(self, var):
        """Terms ``P (1 - y) sigmoid(v)`` and ``-P y sigmoid(-v)`` of the sum
        rooted at ``var`` (P: the same other factors) -> ``P (sigmoid(v) - y)``,
        as ``sigmoid(-v) = 1 - sigmoid(v)``: the gradient of binary
        cross-entropy, which the product rules leave as two sigmoids,
        becomes the sigmoid the forward pass computes anyway.  (The softplus
        twin, ``(1 - y) softplus(v) + y softplus(-v) = softplus(v) - y v``,
        is not used: it is NaN at v = +inf, and softplus(+-v) share their
        exp and log1p in the compiled kernel.)  The sweep retries the rules
        on the new sum, so each pair is found in turn."""
        if not (self._has_sigmoid and var.dtype.startswith("float")):
            return None
        terms = self.flatten_sum(var, limit=MAX_COMPLEMENT_TERMS)
        products = [self.flatten_product(t) for _, t in terms]
        if not any(scalar_name(f) == "sigmoid" for p in products for f in p.num):
            return None
        flat = [(sign * p.sign, p, collections.Counter(map(self.key, p.num)),
                 collections.Counter(map(self.key, p.den)))
                for (sign, _), p in zip(terms, products)]
        for i, (sign, p, num, den) in enumerate(flat):
            sigmoids = [a for a, f in enumerate(p.num)
                        if scalar_name(f) == "sigmoid" and f.dtype == var.dtype]
            for a in sigmoids:
                for b, w in enumerate(p.num):
                    y = self._one_minus(w)
                    if b == a or y is None or y.dtype != var.dtype:
                        continue
                    j = self._complement_term(flat, i, p.num[a], w, y)
                    if j is None:
                        continue
                    rest = [f for k, f in enumerate(p.num) if k not in (a, b)]
                    merged = self.elem(scal.sub, p.num[a], y)
                    term = self.build_product(_Product(1, rest + [merged], p.den), var)
                    kept = [(s, t) for k, (s, t) in enumerate(terms) if k not in (i, j)]
                    new = self.build_sum(kept + [(sign, term)])
                    return self._finish(new, var, [terms[i][1], terms[j][1]])
        return None

    def _complement_term(self, flat, i, sig, w, y):
        """The index of the term of ``flat`` (``_complements``) that pairs
        with term i: of the opposite sign, with term i's factors but
        ``sigmoid(-v)`` for ``sig`` = sigmoid(v) and ``y`` for ``w`` = 1 - y;
        else None."""
        sign, _, num, den = flat[i]
        flipped = self.elem(scal.sigmoid, self.negate(self.inputs_of(sig)[0]))
        want = num - collections.Counter([self.key(sig), self.key(w)])
        want.update([self.key(flipped), self.key(y)])
        for j, (sign_j, _, num_j, den_j) in enumerate(flat):
            if j != i and sign_j == -sign and num_j == want and den_j == den:
                return j
        return None

    def _reaches(self, var, targets, limit=64):
        """Every target is among the first ``limit`` ancestors of ``var``: the
        stable form still depends on what was cancelled, so a bare ``e / e``
        (NaN where e overflows, a value of its own) is left as written."""
        wanted = {self.key(self._unnegated(t)) for t in targets}
        seen, stack = set(), [var]
        while stack and wanted and len(seen) < limit:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            wanted.discard(self.key(v))
            ins = self.inputs_of(v)
            stack.extend(ins[1:] if scalar_name(v) == "second" else ins)  # not the shape
        return not wanted

    def _unnegated(self, v):
        """``v`` without outer negations (-v is finite exactly when v is)."""
        while scalar_name(v) == "neg":
            v = self.inputs_of(v)[0]
        return v

    def _product_step(self, var):
        prod = self.flatten_product(var)
        if not prod.den and not any(scalar_name(f) in ("add", "sub") or f.owner is not None and
                                    isinstance(f.owner.op, DimShuffle) for f in prod.num):
            return None  # nothing to cancel, distribute or see through
        removed = self.simplify(prod)
        if removed:
            return self._finish(self.build_product(prod, var), var, removed)
        softmaxed = self._softmax_of_exp(prod)
        if softmaxed is not None:
            return self._finish(self.build_product(prod, var), var, softmaxed)
        return self._distribute(prod, var)

    def _finish(self, new, old, donors):
        return conform(new, old, donors=list(donors) + self.inputs_of(old))

    def _distribute(self, prod, var):
        """``S * f * ...`` with a sum S whose terms divide by some positive
        factor f of the product: multiply each term out and cancel there."""
        positive_keys = {self.key(f) for f in prod.num if self._cancellable(f)}
        if not positive_keys:
            return None
        for k, s in enumerate(prod.num):
            if scalar_name(s) not in ("add", "sub") or s.dtype != var.dtype:
                continue
            terms = self.flatten_sum(s)
            flat = [(sign, self.flatten_product(t)) for sign, t in terms]
            if not any(self.key(d) in positive_keys for _, p in flat for d in p.den):
                continue
            others = prod.num[:k] + prod.num[k + 1:]
            built, donors = [], [s] + others + prod.den
            for sign, p in flat:
                term = _Product(1, p.num + others, p.den + prod.den)
                donors.extend(self.simplify(term))
                built.append((sign * p.sign * prod.sign, self.build_product(term, var)))
            return self._finish(self.build_sum(built), var, donors)
        return None

    def build_sum(self, terms):
        """The sum of ``[(sign, term)]``: positive terms first, negative ones
        subtracted (one negation only if no term is positive)."""
        terms = sorted(terms, key=lambda t: t[0] < 0)
        total = None
        for sign, term in terms:
            if total is None:
                total = term
            else:
                total = self.elem(scal.add if sign == terms[0][0] else scal.sub, total, term)
        return total if terms[0][0] > 0 else self.elem(scal.neg, total)

    def _softmax_of_exp(self, prod):
        """``exp(x) * dimshuffle(q / sum(exp(x), axes))``, the gradient through
        ``log(sum(exp(x)))``: ``exp(x) / sum(exp(x))`` becomes
        ``exp(x - logsumexp(x))``.  Returns the removed factors, or None."""
        from ..tensor import math as tm

        exps = {self.key(f): i for i, f in enumerate(prod.num) if scalar_name(f) == "exp"}
        if not exps:
            return None
        for j, f in enumerate(prod.num):
            owner = f.owner
            if owner is None or not isinstance(owner.op, DimShuffle):
                continue
            (q,) = self.inputs_of(f)
            if q.dtype != f.dtype:
                continue
            inner = self.flatten_product(q)
            for d_index, d in enumerate(inner.den):
                dop = d.owner and d.owner.op
                if not isinstance(dop, Reduce) or dop.kind != "sum" or dop.dtype not in (
                        None, d.dtype):
                    continue
                (e,) = self.inputs_of(d)
                i = exps.get(self.key(e))
                if i is None or owner.op.new_order != _keepdims_order(e.ndim, dop.axis):
                    continue
                (x,) = self.inputs_of(e)
                lse = tm.logsumexp(x, axis=dop.axis, keepdims=True)
                inner.den.pop(d_index)
                shifted = self.elem(scal.exp, self.elem(scal.sub, x, lse))
                rest = self.make(owner.op, self.build_product(inner, q))
                removed = [prod.num[i], f]
                prod.num = [g for k, g in enumerate(prod.num) if k not in (i, j)]
                prod.num.extend([shifted, rest])
                return removed
        return None

    def _log(self, var):
        (x,) = self.inputs_of(var)
        name = scalar_name(x)
        if name == "sigmoid":  # log(sigmoid(v)) = -softplus(-v)
            (v,) = self.inputs_of(x)
            return self.elem(scal.neg, self.elem(scal.softplus, self.negate(v)))
        e = self._one_plus_exp(x)
        if e is not None:
            return self.elem(scal.softplus, self.inputs_of(e)[0])
        owner = x.owner
        if owner is None:
            return None
        if isinstance(owner.op, Softmax):
            return self.make(LogSoftmax(owner.op.axis), self.inputs_of(x)[0])
        if isinstance(owner.op, Subtensor):
            src, *idx = self.inputs_of(x)
            if src.owner is not None and isinstance(src.owner.op, Softmax):
                logsm = self.make(LogSoftmax(src.owner.op.axis), self.inputs_of(src)[0])
                return self.make(owner.op, logsm, *idx)
        if isinstance(owner.op, Reduce) and owner.op.kind == "sum":
            (e,) = self.inputs_of(x)
            if scalar_name(e) == "exp" and x.dtype == e.dtype:
                from ..tensor import math as tm

                return tm.logsumexp(self.inputs_of(e)[0], axis=owner.op.axis)
        return None

    def _softmax_grad(self, var):
        """``SoftmaxGrad(u / sm, sm)`` -> ``u - sm * sum(u)`` (stable)."""
        dy, sm = self.inputs_of(var)
        if sm.owner is None or not isinstance(sm.owner.op, Softmax):
            return None
        u = self._divide_out(dy, sm)
        if u is None:
            return None
        fused = self._crossentropy_grad(u, sm)
        if fused is not None:
            return fused
        axis = var.owner.op.axis % sm.ndim
        total = self.make(Reduce("sum", (axis,)), u)
        pattern = ["x" if i == axis else (i if i < axis else i - 1) for i in range(sm.ndim)]
        total = self.make(DimShuffle(total.ndim, pattern), total)
        return self.elem(scal.sub, u, self.elem(scal.mul, sm, total))

    def _divide_out(self, d, sm):
        """``u`` with ``d == u / sm`` elementwise, built from d's structure, or None."""
        prod = self.flatten_product(d)
        sm_key = self.key(sm)
        for i, f in enumerate(prod.den):
            if self.key(f) == sm_key:
                prod.den.pop(i)
                return conform(self.build_product(prod, d), d, donors=[sm])
        if scalar_name(d) in ("add", "sub"):
            parts = []
            for sign, term in self.flatten_sum(d):
                u = self._divide_out(term, sm) if term is not d else None
                if u is None:
                    return None
                parts.append(u if sign > 0 else self.elem(scal.neg, u))
            total = parts[0]
            for p in parts[1:]:
                total = self.elem(scal.add, total, p)
            return total
        owner = d.owner
        if owner is not None and isinstance(owner.op, IncSubtensor) and \
                not owner.op.set_instead_of_inc:
            zeros, w, *idx = self.inputs_of(d)
            if not self._is_zero(zeros):
                return None
            picked = self.key(self.make(Subtensor(owner.op.idx_spec), sm, *idx))
            wprod = self.flatten_product(w)
            for i, f in enumerate(wprod.den):
                if self.key(f) == picked:
                    wprod.den.pop(i)
                    w_new = conform(self.build_product(wprod, w), w,
                                    donors=[f])
                    if w_new is None:
                        return None
                    return self.make(owner.op, zeros, w_new, *idx)
        return None

    # -- softmax cross-entropy with integer labels
    def _label_picks(self, picked):
        """``(x, y)`` when ``picked`` is ``m[arange(n), y]`` of a matrix m with
        n its number of rows and y an integer vector, else None."""
        owner = picked.owner
        if owner is None or not isinstance(owner.op, Subtensor) or \
                owner.op.idx_spec != (("adv",), ("adv",)):
            return None
        m, rows, labels = self.inputs_of(picked)
        if m.ndim != 2 or labels.ndim != 1 or labels.type.numpy_dtype.kind not in "iu" or \
                rows.owner is None or not isinstance(rows.owner.op, ARange):
            return None
        shapes = self.shapes
        start, stop, step = (shapes.value(v) for v in self.inputs_of(rows))
        if start != 0 or step != 1 or stop is None or isinstance(stop, tuple) or \
                not shapes.same_dim(stop, shapes.shape_of(m)[0]):
            return None
        return m, labels

    def _crossentropy_op(self, x, labels):
        """The one ``CrossentropySoftmax1Hot`` node of (x, labels) of this sweep."""
        return self.make(CrossentropySoftmax1Hot(), x, labels).owner

    def _crossentropy(self, var):
        """``-LogSoftmax(x)[arange(n), y]`` (what the log rule makes of
        ``categorical_crossentropy(softmax(x), y)``) -> one fused node."""
        (picked,) = self.inputs_of(var)
        found = self._label_picks(picked)
        if found is None:
            return None
        logsm, labels = found
        owner = logsm.owner
        if owner is None or not isinstance(owner.op, LogSoftmax) or \
                owner.op.axis % 2 != 1:
            return None
        (x,) = self.inputs_of(logsm)
        return self._crossentropy_op(x, labels).outputs[0]

    def _crossentropy_grad(self, u, sm):
        """``u`` = one-hot scatter of ``c`` at ``(arange(n), y)`` into zeros,
        the softmax-input gradient being ``u - sm * sum(u)`` -> the fused
        gradient node of ``-c`` (a fill of ``-c`` over the picks is read
        through: the node broadcasts dy itself)."""
        owner = u.owner
        if sm.owner.op.axis % 2 != 1 or owner is None or \
                not isinstance(owner.op, IncSubtensor) or owner.op.set_instead_of_inc or \
                owner.op.idx_spec != (("adv",), ("adv",)):
            return None
        zeros, c, rows, labels = self.inputs_of(u)
        if not self._is_zero(zeros) or c.ndim > 1 or c.dtype != sm.dtype:
            return None
        picked = self.make(Subtensor(owner.op.idx_spec), sm, rows, labels)
        if self._label_picks(picked) is None:
            return None
        (x,) = self.inputs_of(sm)
        fused = self._crossentropy_op(x, labels)
        if scalar_name(c) == "second":
            filled, value = self.inputs_of(c)
            if value.ndim <= 1 and value.dtype == c.dtype and \
                    self.shapes.covers(fused.outputs[0], filled):
                c = value
        dy = self.negate(c)
        if dy.ndim == 0:
            dy = self.make(DimShuffle(0, ("x",)), dy)
        return self.make(CrossentropySoftmax1HotDx(), dy, fused.outputs[1], labels)

    def _is_zero(self, v):
        if is_constant_all(v, 0):
            return True
        if scalar_name(v) == "second":
            return is_constant_all(self.inputs_of(v)[1], 0)
        return False


def _keepdims_order(ndim, axes):
    """The DimShuffle pattern that re-inserts reduced ``axes`` (keepdims)."""
    kept = iter(range(ndim - len(axes)))
    return tuple("x" if i in axes else next(kept) for i in range(ndim))


def _constant(value, like):
    from ..tensor.type import TensorType
    from ..tensor.var import TensorConstant

    value = np.asarray(value, dtype=like.dtype)
    return TensorConstant(TensorType(value.dtype, shape=like.type.shape), value)


stability = pipeline.register(Stabilize(), 20, "fast_run")
