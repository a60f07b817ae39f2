"""Reverse-mode differentiation: gradients are graphs built from the ops'
``L_op`` rules, so they are optimized and compiled like any expression.

The walk is iterative (no recursion): a 10^5-node graph differentiates fine.
"""

import numpy as np

from .graph.basic import Apply, Variable
from .graph.op import Op
from .graph.gcpause import gc_paused
from .graph.provenance import format_trace
from .graph.traversal import toposort
from .graph.type import Type
from .tensor import math as tm
from .tensor.var import as_tensor_variable


class DisconnectedType(Type):
    """The type of "this input does not influence that output"."""

    def make_variable(self, name=None):
        return Variable(self, name=name)

    def __str__(self):
        return "DisconnectedType"


def disconnected_type():
    return DisconnectedType().make_variable()


class NullType(Type):
    """The type of an undefined or unimplemented gradient; ``why_null`` says why."""

    def __init__(self, why_null):
        self.why_null = why_null

    def make_variable(self, name=None):
        return Variable(self, name=name)

    def __str__(self):
        return f"NullType({self.why_null})"


class NullTypeGradError(TypeError):
    """A requested gradient is undefined or not implemented."""


class DisconnectedInputError(ValueError):
    """``wrt`` does not influence the cost (and disconnected_inputs='raise')."""


def grad_not_implemented(op, x_pos, x, comment=""):
    return NullType(f"the gradient of {op} w.r.t. input {x_pos} is not implemented. "
                    f"{comment}").make_variable()


def grad_undefined(op, x_pos, x, comment=""):
    return NullType(f"the gradient of {op} w.r.t. input {x_pos} is mathematically "
                    f"undefined. {comment}").make_variable()


def _is_skip(g):
    return g is None or isinstance(g.type, DisconnectedType)


def _node_where(node):
    return format_trace(node.tag.trace)


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", add_names=True,
         known_grads=None, return_disconnected="zero", null_gradients="raise"):
    """d cost / d wrt, symbolically.

    ``wrt`` is a variable or a list (the result has the same structure).
    ``known_grads`` maps variables to gradients to start from (cost may then be
    None) and, as in Theano, fix the gradient of those variables.
    ``consider_constant`` variables get their own gradient but pass none on
    to what they are computed from.  ``disconnected_inputs`` ('raise', 'warn'
    or 'ignore') says what to do for a wrt the cost does not depend on.
    """
    with gc_paused():
        return _grad(cost, wrt, consider_constant, disconnected_inputs, add_names, known_grads,
                     return_disconnected, null_gradients)


def _grad(cost, wrt, consider_constant, disconnected_inputs, add_names, known_grads,
          return_disconnected, null_gradients):
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore'")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be symbolic variables, got {type(w).__name__} {w!r}")
    seeds = {}
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"grad: the cost {cost} must be a scalar (0-d), but it has "
                            f"{cost.ndim} dimensions; sum or average it first")
        if not cost.dtype.startswith("float"):
            raise TypeError(f"grad: the cost {cost} has integer dtype {cost.dtype}; its gradient "
                            "is zero everywhere. Cast it to a float dtype if that is intended")
        seeds[cost] = tm.ones_like(cost)
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ValueError(f"known_grads: gradient {g} of {var} has {g.ndim} dims, "
                             f"expected {var.ndim}")
        seeds[var] = g
    if not seeds:
        raise ValueError("grad needs a cost or known_grads")

    consider_constant = list(consider_constant or ())
    constants = set(map(id, consider_constant))
    # As in Theano, a variable in consider_constant still receives its own
    # gradient; the gradient just does not flow through it to its ancestors.
    order = toposort(list(seeds), stop_at=consider_constant)
    # Variables whose value depends on some wrt along connected paths.
    depends = {id(w) for w in wrt_list}
    for node in order:
        if any(id(i) in depends for i in node.inputs):
            pattern = node.op.connection_pattern(node)
            for j, out in enumerate(node.outputs):
                if id(out) in constants:
                    continue
                if any(id(i) in depends and pattern[k][j] for k, i in enumerate(node.inputs)):
                    depends.add(id(out))

    # The gradient of a variable in known_grads is the one given (Theano's
    # rule): contributions that reach it through the cost are not added.
    fixed = {id(v) for v in (known_grads or {})}
    terms = {id(v): [g] for v, g in seeds.items()}
    summed = {}
    nulls = {}

    def total(v):
        if id(v) not in summed:
            summed[id(v)] = _sum_terms(v, terms[id(v)], add_names)
        return summed[id(v)]

    for node in reversed(order):
        live = [id(o) in terms and id(o) not in constants for o in node.outputs]
        null_outs = [id(o) in nulls and id(o) not in constants for o in node.outputs]
        if not any(live) and not any(null_outs):
            continue
        if not any(id(i) in depends for i in node.inputs):
            continue
        if any(null_outs):  # an undefined gradient poisons what it flows into
            pattern = node.op.connection_pattern(node)
            for k, inp in enumerate(node.inputs):
                if id(inp) in depends and id(inp) not in fixed:
                    for j, o in enumerate(node.outputs):
                        if null_outs[j] and pattern[k][j]:
                            nulls.setdefault(id(inp), nulls[id(o)])
            if not any(live):
                continue
        out_grads = []
        for o, is_live in zip(node.outputs, live):
            if is_live:
                out_grads.append(total(o))
            elif hasattr(o, "dtype"):
                out_grads.append(tm.zeros_like(o) if o.dtype.startswith("float")
                                 else tm.zeros_like(o, dtype="float64"))
            else:
                out_grads.append(None)
        in_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
        if len(in_grads) != len(node.inputs):
            raise ValueError(f"{node.op}.L_op returned {len(in_grads)} gradients for "
                             f"{len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, in_grads):
            if id(inp) not in depends or id(inp) in fixed or _is_skip(g):
                continue
            if isinstance(g.type, NullType):
                nulls.setdefault(id(inp), g.type.why_null + "\n" + _node_where(node))
                continue
            if g.ndim != inp.ndim:
                raise ValueError(
                    f"internal error: {node.op} gave a {g.ndim}-d gradient for its {inp.ndim}-d "
                    f"input {inp}; the node was created at\n{_node_where(node)}")
            if id(inp) in summed:
                raise AssertionError(f"internal error: gradient of {inp} used before complete")
            terms.setdefault(id(inp), []).append(g)

    # A float wrt is disconnected unless a connected path (per the ops'
    # connection_pattern) leads from it to the cost, as in Theano.  An integer
    # wrt has a zero gradient anyway: it is disconnected only when no path at
    # all leads to the cost (e.g. a random state read only by the sampler).
    connected = _connected_ancestors(list(seeds), constants)
    structural = None
    results = []
    for w in wrt_list:
        if id(w) in nulls:
            if null_gradients == "raise":
                raise NullTypeGradError(f"grad w.r.t. {w}: {nulls[id(w)]}")
            results.append(NullType(nulls[id(w)]).make_variable())
            continue
        if id(w) in terms:
            g = total(w)
            if w.dtype.startswith("float") and g.dtype != w.dtype:
                g = tm.cast(g, w.dtype)
            if not w.dtype.startswith("float"):
                g = tm.zeros_like(w, dtype=_float_of(w))
            results.append(g)
            continue
        reachable = id(w) in connected
        if not reachable and not w.dtype.startswith("float"):
            if structural is None:
                structural = _connected_ancestors(list(seeds), constants, structural=True)
            reachable = id(w) in structural
        if not reachable:
            msg = (f"grad method was asked to compute the gradient with respect to a variable "
                   f"that is not part of the computational graph of the cost, or is used only "
                   f"by a non-differentiable operator: {w}")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg + ". Pass disconnected_inputs='ignore' to get "
                                                   "zeros instead.")
            if disconnected_inputs == "warn":
                import warnings

                warnings.warn(msg, stacklevel=2)
        if return_disconnected == "None":
            results.append(None)
        elif return_disconnected == "Disconnected":
            results.append(disconnected_type())
        else:
            results.append(tm.zeros_like(w, dtype=w.dtype if w.dtype.startswith("float")
                                         else _float_of(w)))
    return results[0] if single else results


def _connected_ancestors(outputs, constants, structural=False):
    """ids of the variables that ``outputs`` truly depend on: following each
    op's connection_pattern (every input when ``structural``) and not looking
    through ``constants``."""
    seen = set()
    stack = list(outputs)
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        node = var.owner
        if node is None or id(var) in constants:
            continue
        pattern = None if structural else node.op.connection_pattern(node)
        j = var.index
        for k, inp in enumerate(node.inputs):
            if (structural or pattern[k][j]) and id(inp) not in seen:
                stack.append(inp)
    return seen


def _float_of(w):
    from .config import config

    return config.floatX


def _sum_terms(var, gs, add_names):
    total = gs[0]
    for g in gs[1:]:
        total = total + g
    if add_names and len(gs) > 1 and var.name:
        total.name = f"(dcost/d{var.name})"
    return total


# ------------------------------------------------------------ gradient tools

class _GradHook(Op):
    """Identity in the forward pass with a custom backward rule."""

    __props__ = ("kind", "a", "b")

    def __init__(self, kind, a=None, b=None):
        self.kind, self.a, self.b = kind, a, b

    def __str__(self):
        return {"disconnected": "DisconnectedGrad", "zero": "ZeroGrad", "clip": "GradClip",
                "scale": "GradScale"}[self.kind]

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        return (inputs[0],)

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if self.kind == "disconnected":
            return [disconnected_type()]
        if self.kind == "zero":
            return [tm.zeros_like(g)]
        if self.kind == "clip":
            return [tm.clip(g, self.a, self.b)]
        return [g * self.a]

    def connection_pattern(self, node):
        return [[self.kind != "disconnected"]]


def disconnected_grad(x):
    """x in the forward pass; the gradient does not flow through it."""
    return _GradHook("disconnected")(x)


def zero_grad(x):
    """x in the forward pass; its gradient is zero."""
    return _GradHook("zero")(x)


def grad_clip(x, lower_bound, upper_bound):
    """x in the forward pass; the gradient through it is clipped to [lower, upper]."""
    if lower_bound > upper_bound:
        raise ValueError("grad_clip: lower_bound must not exceed upper_bound")
    return _GradHook("clip", float(lower_bound), float(upper_bound))(x)


def grad_scale(x, multiplier):
    return _GradHook("scale", float(multiplier))(x)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression[i] / d wrt, stacked along a new leading axis (one row per
    element of ``expression``, flattened)."""
    from .ops.jacobian import jacobian_rows

    expression = as_tensor_variable(expression)
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        out = grad(expression, wrt_list, consider_constant, disconnected_inputs)
    else:
        out = [jacobian_rows(expression, w, consider_constant, disconnected_inputs)
               for w in wrt_list]
    return out[0] if single else out


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The matrix of second derivatives of a scalar cost w.r.t. each vector in wrt."""
    cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"hessian: cost {cost} must be a scalar")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    out = []
    for w in wrt_list:
        if w.ndim != 1:
            raise TypeError(f"hessian: {w} must be a vector, got {w.ndim} dimensions")
        g = grad(cost, w, consider_constant, disconnected_inputs)
        out.append(jacobian(g, w, consider_constant, disconnected_inputs))
    return out[0] if single else out


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, out_type=None, abs_tol=None,
                rel_tol=None, mode=None, cast_to_output_type=False, no_debug_ref=True):
    """Check the symbolic gradient of ``fun`` at ``pt`` against central finite
    differences of a random projection of its output; raises on mismatch.

    ``fun`` takes one symbolic tensor per array in ``pt`` and returns a tensor.
    """
    from .compile.function import function
    from .tensor.type import TensorType

    rng = rng if rng is not None else np.random.default_rng(0)
    pt = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) and p.dtype.kind == "f"
                   else "float64") for p in pt]
    inputs = [TensorType(p.dtype, shape=(None,) * p.ndim).make_variable(f"input{i}")
              for i, p in enumerate(pt)]
    out = as_tensor_variable(fun(*inputs))
    lowest = min((np.finfo(p.dtype).bits for p in pt), default=64)
    eps = eps or (1e-7 if lowest == 64 else 3e-3)
    abs_tol = abs_tol if abs_tol is not None else (1e-5 if lowest == 64 else 3e-2)
    rel_tol = rel_tol if rel_tol is not None else (1e-4 if lowest == 64 else 3e-2)
    f_out = function(inputs, out, mode=mode, on_unused_input="ignore")
    shape = np.shape(f_out(*pt))
    for _ in range(n_tests):
        proj = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
        proj = np.asarray(proj, dtype=out.dtype if out.dtype.startswith("float") else "float64")
        cost = tm.sum(out * proj)
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        f_cost = function(inputs, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(inputs, grads, mode=mode, on_unused_input="ignore")
        analytic = f_grad(*pt)
        for k, p in enumerate(pt):
            numeric = np.zeros(p.shape, dtype=np.float64)
            for idx in np.ndindex(*p.shape):
                plus = [q.copy() for q in pt]
                minus = [q.copy() for q in pt]
                plus[k][idx] += eps
                minus[k][idx] -= eps
                numeric[idx] = (float(f_cost(*plus)) - float(f_cost(*minus))) / (2 * eps)
            err = np.abs(numeric - analytic[k])
            tol = abs_tol + rel_tol * np.abs(numeric)
            if not np.all(err <= tol):
                worst = np.unravel_index(np.argmax(err - tol), err.shape) if err.ndim else ()
                raise GradientError(k, analytic[k], numeric, worst, float(np.max(err)))
    return True


class GradientError(AssertionError):
    """verify_grad found a symbolic gradient that disagrees with finite differences."""

    def __init__(self, arg, analytic, numeric, where, max_err):
        self.arg, self.analytic, self.numeric = arg, analytic, numeric
        super().__init__(
            f"gradient w.r.t. input {arg} disagrees with finite differences: max abs error "
            f"{max_err:.3g} at index {where}: symbolic {np.asarray(analytic)[where]!r} vs "
            f"numeric {np.asarray(numeric)[where]!r}")


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product: eval_points^T d f / d wrt."""
    single = not isinstance(wrt, (list, tuple))
    fs = f if isinstance(f, (list, tuple)) else [f]
    evs = eval_points if isinstance(eval_points, (list, tuple)) else [eval_points]
    res = grad(None, wrt, consider_constant, disconnected_inputs,
               known_grads=dict(zip(fs, evs)))
    return res
