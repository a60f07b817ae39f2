"""Elementwise math, reductions and linear algebra of ``graphc.tensor``."""

import builtins

import numpy as np

from ..ops import scalar as scal
from ..ops.blas import Dot, MatMul
from ..ops.elemwise import Elemwise
from ..ops.reduce import ArgReduce, Reduce, normalize_axis
from .var import as_tensor_variable, constant

_ELEMWISE = {}


def elemwise_op(scalar_op):
    """The (shared) Elemwise op for a scalar op."""
    op = _ELEMWISE.get(scalar_op)
    if op is None:
        op = _ELEMWISE[scalar_op] = Elemwise(scalar_op)
    return op


def _make(scalar_op, doc):
    def fn(*args):
        return elemwise_op(scalar_op)(*[_stack_lists(a) for a in args])

    fn.__name__ = scalar_op.name
    fn.__doc__ = doc
    return fn


def _stack_lists(x):
    return as_tensor_variable(x) if isinstance(x, (list, tuple)) else x


add = _make(scal.add, "x + y, elementwise.")
sub = _make(scal.sub, "x - y, elementwise.")
mul = _make(scal.mul, "x * y, elementwise.")
true_div = _make(scal.true_div, "x / y (true division), elementwise.")
int_div = _make(scal.int_div, "x // y (floor division), elementwise.")
floor_div = int_div
mod = _make(scal.mod, "x % y with Python's sign convention, elementwise.")
pow = _make(scal.pow, "x ** y, elementwise.")
neg = _make(scal.neg, "-x, elementwise.")
abs = _make(scal.abs_, "|x|, elementwise.")
abs_ = abs
exp = _make(scal.exp, "e ** x.")
exp2 = _make(scal.exp2, "2 ** x.")
expm1 = _make(scal.expm1, "exp(x) - 1, accurate near 0.")
log = _make(scal.log, "Natural logarithm.")
log2 = _make(scal.log2, "Base-2 logarithm.")
log10 = _make(scal.log10, "Base-10 logarithm.")
log1p = _make(scal.log1p, "log(1 + x), accurate near 0.")
sqrt = _make(scal.sqrt, "Square root.")
sqr = _make(scal.sqr, "x * x.")
square = sqr
reciprocal = _make(scal.reciprocal, "1 / x (float result).")
inv = reciprocal
sin = _make(scal.sin, "Sine.")
cos = _make(scal.cos, "Cosine.")
tan = _make(scal.tan, "Tangent.")
arcsin = _make(scal.arcsin, "Inverse sine.")
arccos = _make(scal.arccos, "Inverse cosine.")
arctan = _make(scal.arctan, "Inverse tangent.")
arctan2 = _make(scal.arctan2, "arctan(y / x) in the right quadrant.")
sinh = _make(scal.sinh, "Hyperbolic sine.")
cosh = _make(scal.cosh, "Hyperbolic cosine.")
tanh = _make(scal.tanh, "Hyperbolic tangent.")
arcsinh = _make(scal.arcsinh, "Inverse hyperbolic sine.")
arccosh = _make(scal.arccosh, "Inverse hyperbolic cosine.")
arctanh = _make(scal.arctanh, "Inverse hyperbolic tangent.")
sgn = _make(scal.sgn, "Sign: -1, 0 or 1.")
sign = sgn
floor = _make(scal.floor, "Round down.")
ceil = _make(scal.ceil, "Round up.")
trunc = _make(scal.trunc, "Round toward zero.")
maximum = _make(scal.maximum, "Elementwise maximum (NaN propagates).")
minimum = _make(scal.minimum, "Elementwise minimum (NaN propagates).")
erf = _make(scal.erf, "Error function.")
erfc = _make(scal.erfc, "Complementary error function.")
gamma = _make(scal.gamma, "Gamma function.")
gammaln = _make(scal.gammaln, "log |Gamma(x)|.")
psi = _make(scal.psi, "Digamma function.")
isnan = _make(scal.isnan, "True where x is NaN.")
isinf = _make(scal.isinf, "True where x is +-inf.")
eq = _make(scal.eq, "x == y, elementwise (symbolic).")
neq = _make(scal.neq, "x != y, elementwise.")
lt = _make(scal.lt, "x < y, elementwise.")
le = _make(scal.le, "x <= y, elementwise.")
gt = _make(scal.gt, "x > y, elementwise.")
ge = _make(scal.ge, "x >= y, elementwise.")
and_ = _make(scal.and_, "Bitwise / logical and.")
or_ = _make(scal.or_, "Bitwise / logical or.")
xor = _make(scal.xor, "Bitwise / logical xor.")
invert = _make(scal.invert, "Bitwise / logical not.")
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
switch = _make(scal.switch, "switch(cond, a, b): a where cond else b (NumPy where).")
where = switch
clip = _make(scal.clip, "Limit x to [lo, hi].")
second = _make(scal.second, "second(x, y): y broadcast to the shape of x + y.")
identity = _make(scal.identity, "A copy of x.")
sigmoid = _make(scal.sigmoid, "1 / (1 + exp(-x)), without overflow.")
ultra_fast_sigmoid = _make(scal.ultra_fast_sigmoid, "Theano's fast piecewise sigmoid approximation.")
softplus = _make(scal.softplus, "log(1 + exp(x)), without overflow.")


def fill(model, value):
    """``value`` broadcast to the shape of ``model`` (Theano's ``fill``)."""
    return second(model, value)


def round(x, mode="half_to_even"):
    """Round to the nearest integer: ``half_to_even`` (NumPy) or ``half_away_from_zero``."""
    ops = {"half_to_even": scal.round_half_to_even,
           "half_away_from_zero": scal.round_half_away_from_zero}
    if mode not in ops:
        raise ValueError(f"round mode must be one of {sorted(ops)}, got {mode!r}")
    return elemwise_op(ops[mode])(x)


def cast(x, dtype):
    """``x.astype(dtype)``; a no-op when x already has that dtype."""
    x = as_tensor_variable(x)
    if dtype == "floatX":
        from ..config import config

        dtype = config.floatX
    dtype = np.dtype(dtype).name
    if x.dtype == dtype:
        return x
    return elemwise_op(scal.Cast(dtype))(x)


def floor_div_float(x, y):
    return floor(true_div(x, y))


def zeros_like(x, dtype=None):
    x = as_tensor_variable(x)
    return second(x, constant(np.zeros((), dtype=dtype or x.dtype)))


def ones_like(x, dtype=None):
    x = as_tensor_variable(x)
    return second(x, constant(np.ones((), dtype=dtype or x.dtype)))


# ------------------------------------------------------------------ reductions

def _keep(x, out, axes, keepdims):
    if not keepdims:
        return out
    from .basic import dimshuffle

    kept = iter(range(out.ndim))
    return dimshuffle(out, ["x" if i in axes else next(kept) for i in range(x.ndim)])


def _reduce(kind, x, axis, keepdims, dtype=None):
    x = as_tensor_variable(_stack_lists(x))
    axes = normalize_axis(axis, x.ndim)
    # max/min over no axis is x itself; sum/prod/all/any may change the dtype.
    out = Reduce(kind, axes, dtype)(x) if axes or kind not in ("max", "min") else x
    return _keep(x, out, axes, keepdims)


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (None = all axes), NumPy's dtype rule."""
    return _reduce("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over ``axis``; its gradient is exact when x contains zeros."""
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; a list of tensors is stacked first (Theano)."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    return _reduce("any", x, axis, keepdims)


def _count(x, axes):
    from .basic import shape

    n = None
    for a in axes:
        s = x.type.shape[a]
        term = constant(np.int64(s)) if s is not None else shape(x)[a]
        n = term if n is None else n * term
    return constant(np.int64(1)) if n is None else n


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean; integer inputs give float64 (NumPy).

    As NumPy, integers are summed in float64 and float16 in float32."""
    x = as_tensor_variable(_stack_lists(x))
    axes = normalize_axis(axis, x.ndim)
    is_float = x.dtype.startswith("float")
    out_dtype = dtype or (x.dtype if is_float else "float64")
    acc_dtype = dtype or ("float32" if x.dtype == "float16" else out_dtype)
    total = sum(x, axis=axes, dtype=acc_dtype, keepdims=keepdims)
    return cast(true_div(total, cast(_count(x, axes), acc_dtype)), out_dtype)


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance (``ddof``: delta degrees of freedom, as NumPy)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    ddof = 1 if corrected else ddof
    centered = x - mean(x, axis=axes, keepdims=True)
    ss = sum(sqr(centered), axis=axes, keepdims=keepdims)
    n = cast(_count(x, axes), ss.dtype)
    return ss / (n - ddof) if ddof else ss / n


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum (flattened when axis is None)."""
    return _argreduce("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _argreduce("argmin", x, axis, keepdims)


def _argreduce(kind, x, axis, keepdims):
    x = as_tensor_variable(x)
    if axis is None:
        out = ArgReduce(kind, None)(x)
        if keepdims:
            from .basic import dimshuffle

            out = dimshuffle(out, ["x"] * x.ndim)
        return out
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"{kind} takes a single axis, got {axis}")
        axis = axis[0]
    (a,) = normalize_axis(axis, x.ndim)
    return _keep(x, ArgReduce(kind, a)(x), (a,), keepdims)


def max_and_argmax(x, axis=None, keepdims=False):
    return max(x, axis, keepdims), argmax(x, axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably by shifting by the maximum.

    Integer and boolean inputs give float64 (as scipy.special.logsumexp); an
    empty reduction gives -inf."""
    from ..gradient import disconnected_grad

    x = as_tensor_variable(_stack_lists(x))
    if not x.dtype.startswith("float"):
        x = cast(x, "float64")
    axes = normalize_axis(axis, x.ndim)
    # The shift: the maximum (-inf over an empty axis), 0 where it is infinite.
    m = Reduce("max", axes, initial=-np.inf)(x) if axes else x
    m = disconnected_grad(_keep(x, m, axes, True))
    m = switch(isinf(m), zeros_like(m), m)
    out = log(sum(exp(x - m), axis=axes, keepdims=True)) + m
    if keepdims:
        return out
    from .basic import dimshuffle

    return dimshuffle(out, [i for i in range(x.ndim) if i not in axes])


# ------------------------------------------------------------- linear algebra

def dot(a, b):
    """Theano's dot: 1-d/2-d products as NumPy ``dot``; 0-d operands multiply;
    higher ranks contract the last axis of a with the second-to-last of b."""
    a, b = as_tensor_variable(_stack_lists(a)), as_tensor_variable(_stack_lists(b))
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    return tensordot(a, b, axes=[[a.ndim - 1], [builtins.max(b.ndim - 2, 0)]])


def matmul(a, b):
    """NumPy ``matmul`` (``a @ b``), batched over leading axes."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim <= 2 and b.ndim <= 2 and a.ndim and b.ndim:
        return Dot()(a, b)
    return MatMul()(a, b)


def batched_dot(a, b):
    """Theano's batched_dot: ``dot(a[i], b[i])`` for each i of the first axis."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError(f"batched_dot: operands need a batch axis, got {a.ndim}-d and "
                        f"{b.ndim}-d")
    if a.ndim == 1 or b.ndim == 1:
        # one number per batch entry scales the other operand
        return mul(a.dimshuffle(0, *["x"] * (b.ndim - 1)) if a.ndim == 1 else a,
                   b.dimshuffle(0, *["x"] * (a.ndim - 1)) if b.ndim == 1 else b)
    return batched_tensordot(a, b, [[a.ndim - 1], [builtins.max(1, b.ndim - 2)]])


def batched_tensordot(a, b, axes=2):
    """``tensordot(a[i], b[i], axes)`` for each i of the first (batch) axis;
    ``axes`` count the batch axis (as in Theano)."""
    from .basic import reshape, shape, transpose

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(1, axes + 1))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, int) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int) else list(axes_b)
    axes_a = [x % a.ndim for x in axes_a]
    axes_b = [x % b.ndim for x in axes_b]
    if len(axes_a) != len(axes_b) or 0 in axes_a or 0 in axes_b:
        raise ValueError(f"batched_tensordot: bad axes {axes} for {a.ndim}-d and {b.ndim}-d "
                         "operands (the batch axis 0 cannot be summed over)")
    if None not in (a.type.shape[0], b.type.shape[0]) and a.type.shape[0] != b.type.shape[0]:
        raise ValueError(f"batched_dot: batch sizes differ: {a} has shape {a.type.shape}, "
                         f"{b} has shape {b.type.shape}")
    for i, j in zip(axes_a, axes_b):
        da, db = a.type.shape[i], b.type.shape[j]
        if da is not None and db is not None and da != db:
            raise ValueError(f"batched_dot: axis {i} of {a} (shape {a.type.shape}) has length "
                             f"{da} but axis {j} of {b} (shape {b.type.shape}) has length {db}")
    free_a = [i for i in range(1, a.ndim) if i not in axes_a]
    free_b = [i for i in range(1, b.ndim) if i not in axes_b]
    sa, sb = shape(a), shape(b)
    k = prod([sa[i] for i in axes_a]) if axes_a else 1
    m = prod([sa[i] for i in free_a]) if free_a else 1
    n = prod([sb[i] for i in free_b]) if free_b else 1
    at = reshape(transpose(a, [0] + free_a + axes_a), [sa[0], m, k], ndim=3)
    bt = reshape(transpose(b, [0] + axes_b + free_b), [sb[0], k, n], ndim=3)
    out = MatMul()(at, bt)
    final = [shape(out)[0]] + [sa[i] for i in free_a] + [sb[i] for i in free_b]
    return reshape(out, final, ndim=len(final))


def outer(x, y):
    """Outer product of two vectors (flattened first if needed)."""
    from .basic import flatten

    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1:
        x = flatten(x)
    if y.ndim != 1:
        y = flatten(y)
    return mul(x.dimshuffle(0, "x"), y.dimshuffle("x", 0))


def tensordot(a, b, axes=2):
    """NumPy ``tensordot``: transpose + reshape to one GEMM + reshape back."""
    from .basic import reshape, shape, transpose

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, int) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int) else list(axes_b)
    axes_a = [x % a.ndim for x in axes_a]
    axes_b = [x % b.ndim for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} of b")
    for i, j in zip(axes_a, axes_b):
        da, db = a.type.shape[i], b.type.shape[j]
        if da is not None and db is not None and da != db:
            raise ValueError(f"tensordot: axis {i} of {a} (shape {a.type.shape}) has length {da} "
                             f"but axis {j} of {b} (shape {b.type.shape}) has length {db}")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    at = transpose(a, free_a + axes_a)
    bt = transpose(b, axes_b + free_b)
    sa, sb = shape(a), shape(b)
    k = prod([sa[i] for i in axes_a]) if axes_a else 1
    m = prod([sa[i] for i in free_a]) if free_a else 1
    n = prod([sb[i] for i in free_b]) if free_b else 1
    out = Dot()(reshape(at, [m, k], ndim=2), reshape(bt, [k, n], ndim=2))
    final = [sa[i] for i in free_a] + [sb[i] for i in free_b]
    return reshape(out, final, ndim=len(final))
