"""The table of scalar operations that elementwise math is made of.

Each ScalarOp carries, in one place: its NumPy implementation (the reference
semantics), its output-dtype rule (a NumPy ufunc whose type resolution it
follows, so promotion is exactly NumPy 2's), its gradient written with tensor
ops, and a sympy form for the optimizer and code generators.
"""

import math

import importlib

import numpy as np


class _LazyModule:
    """A module imported on first attribute use: sympy and scipy.special take
    ~0.35 s to import and most programs never need them (sympy serves the
    optimizer's analyses, scipy.special a few special functions)."""

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


sympy = _LazyModule("sympy")


def _sympy_function(name):
    """``sympy.<name>`` as a sympy_fn, resolved when first called."""
    return lambda *args: getattr(sympy, name)(*args)


def _special(name, fallback):
    """SciPy's ``special.<name>`` (faster and exact) when SciPy is installed,
    else a pure-Python ``fallback``; SciPy is imported on first call."""
    impl = []

    def apply(x):
        if not impl:
            try:
                impl.append(getattr(importlib.import_module("scipy.special"), name))
            except ImportError:  # pragma: no cover - exercised only without scipy
                impl.append(fallback)
        return impl[0](x)

    return apply


def _vectorize(fn):
    vec = np.vectorize(fn, otypes=[np.float64])

    def apply(x):
        x = np.asarray(x)
        out = vec(x.astype(np.float64))
        return out.astype(x.dtype) if x.dtype.kind == "f" else out

    return apply


def _digamma_py(x):
    if x <= 0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0:  # reflection
        return _digamma_py(1 - x) - math.pi / math.tan(math.pi * x)
    while x < 6:
        result -= 1 / x
        x += 1
    f = 1 / (x * x)
    return result + math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


_erf = _special("erf", _vectorize(math.erf))
_erfc = _special("erfc", _vectorize(math.erfc))
_gamma = _special("gamma", _vectorize(
    lambda v: math.gamma(v) if v > 0 or v != math.floor(v) else math.nan))
_gammaln = _special("gammaln", _vectorize(
    lambda v: math.lgamma(v) if v > 0 or v != math.floor(v) else math.inf))
_psi = _special("psi", _vectorize(_digamma_py))


def _as_float(x):
    return x


def _sigmoid(x):
    # exp(-logaddexp(0, -x)) never overflows and keeps the input's float dtype.
    return np.exp(-np.logaddexp(np.zeros((), x.dtype), -x))


def _softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def _ultra_fast_sigmoid(x):
    """Theano's piecewise-linear/rational sigmoid approximation (max error ~0.02)."""
    h = 0.5 * x
    a = np.abs(h)
    z = np.where(a < 1.7, 1.5 * a / (1 + a),
                 np.where(a < 3, 0.935409070603099 + 0.0458812946797165 * (a - 1.7),
                          0.99505475368673))
    z = np.where(h < 0, -z, z)
    return (0.5 * (z + 1)).astype(x.dtype, copy=False)


def _round_half_away(x):
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(x.dtype, copy=False)


def _second(x, y):
    return np.broadcast_to(y, np.broadcast_shapes(np.shape(x), np.shape(y)))


def _identity(x):
    return x


class ScalarOp:
    """One scalar operation: implementation, dtype rule, gradient, sympy form.

    ``dtype_ufunc`` is the NumPy ufunc whose type resolution defines the output
    dtype (``nfunc`` itself when it is a ufunc).  ``grad(inputs, output, gz)``
    returns one tensor expression (or None for "no gradient") per input.
    """

    def __init__(self, name, nfunc, nin, dtype_ufunc=None, grad=None, sympy_fn=None,
                 symbol=None, precedence=None, commutative=False):
        self.name = name
        self.nfunc = nfunc
        self.nin = nin
        self.dtype_ufunc = dtype_ufunc if dtype_ufunc is not None else nfunc
        self._grad = grad
        self.sympy_fn = sympy_fn
        self.symbol = symbol
        self.precedence = precedence
        self.commutative = commutative

    def output_dtype(self, dtypes):
        """(input cast dtypes, output dtype); entries of ``dtypes`` may be the
        Python types int/float/bool for weak (literal) operands."""
        resolved = self.dtype_ufunc.resolve_dtypes(tuple(dtypes) + (None,))
        return resolved[:-1], resolved[-1]

    def impl(self, *inputs):
        return self.nfunc(*inputs)

    def weak_int_out_of_range(self, position, value, dtype):
        """The Python integer ``value`` (input ``position``) does not fit the
        integer ``dtype`` it would be cast to: the array to use instead, or
        None to raise OverflowError as NumPy 2 does."""
        return None

    def grad(self, inputs, output, gz):
        if self._grad is None:
            from ..gradient import grad_not_implemented

            return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]
        return self._grad(inputs, output, gz)

    def __eq__(self, other):
        return isinstance(other, ScalarOp) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (type(self), self.name)

    def __str__(self):
        return self.name

    __repr__ = __str__


class Cast(ScalarOp):
    """Conversion to ``dtype`` (NumPy ``astype`` semantics)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).name
        super().__init__(f"Cast{{{self.dtype}}}", self._cast, 1, grad=_grad_cast)

    def _cast(self, x):
        return np.asarray(x).astype(self.dtype)

    def output_dtype(self, dtypes):
        d = dtypes[0]
        return (np.dtype(d) if isinstance(d, np.dtype) else np.result_type(d(0)),), np.dtype(self.dtype)

    def _key(self):
        return (Cast, self.dtype)


# ---------------------------------------------------------------- gradients
# Written with tensor operations (imported lazily: tensor builds on this module).

def _T():
    from ..tensor import math as tm

    return tm


def _floats_only(x, g):
    """Integer and boolean inputs get no gradient (Theano's rule)."""
    return g if x.dtype.startswith("float") else None


def _g(fn):
    def grad(inputs, output, gz):
        return [_floats_only(x, g) for x, g in zip(inputs, fn(_T(), inputs, output, gz))]

    return grad


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _zero_grad(inputs, output, gz):
    tm = _T()
    return [tm.zeros_like(x, dtype=gz.dtype) if x.dtype.startswith("float") else None for x in inputs]


def _grad_cast(inputs, output, gz):
    (x,) = inputs
    if not x.dtype.startswith("float") or not output.dtype.startswith("float"):
        return [None]
    return [_T().cast(gz, x.dtype)]


_g_add = _g(lambda T, i, o, gz: [gz, gz])
_g_sub = _g(lambda T, i, o, gz: [gz, -gz])
_g_mul = _g(lambda T, i, o, gz: [gz * i[1], gz * i[0]])
_g_div = _g(lambda T, i, o, gz: [gz / i[1], -gz * i[0] / T.sqr(i[1])])
_g_pow = _g(lambda T, i, o, gz: [gz * i[1] * i[0] ** (i[1] - 1),
                                 gz * T.log(i[0]) * o])
_g_mod = _g(lambda T, i, o, gz: [gz, -gz * T.floor_div_float(i[0], i[1])])


SCALAR_OPS = {}


def _def(name, nfunc, nin, grad=None, dtype_ufunc=None, sympy_fn=None, **kw):
    op = ScalarOp(name, nfunc, nin, dtype_ufunc=dtype_ufunc, grad=grad, sympy_fn=sympy_fn, **kw)
    SCALAR_OPS[name] = op
    return op


# arithmetic
add = _def("add", np.add, 2, _g_add, sympy_fn=lambda a, b: a + b, symbol="+", precedence=1,
           commutative=True)
sub = _def("sub", np.subtract, 2, _g_sub, sympy_fn=lambda a, b: a - b, symbol="-", precedence=1)
mul = _def("mul", np.multiply, 2, _g_mul, sympy_fn=lambda a, b: a * b, symbol="*", precedence=2,
           commutative=True)
true_div = _def("true_div", np.true_divide, 2, _g_div, sympy_fn=lambda a, b: a / b, symbol="/",
                precedence=2)
int_div = _def("int_div", np.floor_divide, 2, _zero_grad, symbol="//", precedence=2,
               sympy_fn=lambda a, b: sympy.floor(a / b))
mod = _def("mod", np.remainder, 2, _g_mod, symbol="%", precedence=2,
           sympy_fn=lambda a, b: sympy.Mod(a, b))
pow = _def("pow", np.power, 2, _g_pow, sympy_fn=lambda a, b: a ** b, symbol="**", precedence=4)
neg = _def("neg", np.negative, 1, _g(lambda T, i, o, gz: [-gz]), sympy_fn=lambda a: -a,
           symbol="-", precedence=3)
abs_ = _def("abs", np.absolute, 1, _g(lambda T, i, o, gz: [gz * T.sgn(i[0])]), sympy_fn=_sympy_function("Abs"))
sqr = _def("sqr", np.square, 1, _g(lambda T, i, o, gz: [gz * 2 * i[0]]), sympy_fn=lambda a: a ** 2)
sqrt = _def("sqrt", np.sqrt, 1, _g(lambda T, i, o, gz: [gz * 0.5 / o]), sympy_fn=_sympy_function("sqrt"))
reciprocal = _def("reciprocal", lambda x: np.true_divide(1, x), 1,
                  _g(lambda T, i, o, gz: [-gz * T.sqr(o)]), dtype_ufunc=np.sqrt,
                  sympy_fn=lambda a: 1 / a)
maximum = _def("maximum", np.maximum, 2,
               _g(lambda T, i, o, gz: [gz * T.ge(i[0], i[1]), gz * T.lt(i[0], i[1])]),
               sympy_fn=_sympy_function("Max"), commutative=True)
minimum = _def("minimum", np.minimum, 2,
               _g(lambda T, i, o, gz: [gz * T.le(i[0], i[1]), gz * T.gt(i[0], i[1])]),
               sympy_fn=_sympy_function("Min"), commutative=True)
identity = _def("identity", _identity, 1, _g(lambda T, i, o, gz: [gz]), dtype_ufunc=np.positive,
                sympy_fn=lambda a: a)


class _Second(ScalarOp):
    """``second(x, y)``: y broadcast to the joint shape (Theano's ``fill``);
    the dtype is y's (a literal y takes x's kind as NumPy would)."""

    def output_dtype(self, dtypes):
        x, y = dtypes
        out = np.add.resolve_dtypes((x, y, None))[-1] if isinstance(y, type) else y
        return (x if isinstance(x, np.dtype) else out, out), out


second = _Second("second", _second, 2,
                 grad=_g(lambda T, i, o, gz: [T.zeros_like(i[0], dtype=gz.dtype),
                                              gz]),
                 sympy_fn=lambda a, b: b)
SCALAR_OPS["second"] = second

# exponentials and logarithms
exp = _def("exp", np.exp, 1, _g(lambda T, i, o, gz: [gz * o]), sympy_fn=_sympy_function("exp"))
exp2 = _def("exp2", np.exp2, 1, _g(lambda T, i, o, gz: [gz * o * _LN2]),
            sympy_fn=lambda a: 2 ** a)
expm1 = _def("expm1", np.expm1, 1, _g(lambda T, i, o, gz: [gz * (o + 1)]),
             sympy_fn=lambda a: sympy.exp(a) - 1)
log = _def("log", np.log, 1, _g(lambda T, i, o, gz: [gz / i[0]]), sympy_fn=_sympy_function("log"))
log2 = _def("log2", np.log2, 1, _g(lambda T, i, o, gz: [gz / (i[0] * _LN2)]),
            sympy_fn=lambda a: sympy.log(a, 2))
log10 = _def("log10", np.log10, 1, _g(lambda T, i, o, gz: [gz / (i[0] * _LN10)]),
             sympy_fn=lambda a: sympy.log(a, 10))
log1p = _def("log1p", np.log1p, 1, _g(lambda T, i, o, gz: [gz / (1 + i[0])]),
             sympy_fn=lambda a: sympy.log(1 + a))

# trigonometric and hyperbolic
sin = _def("sin", np.sin, 1, _g(lambda T, i, o, gz: [gz * T.cos(i[0])]), sympy_fn=_sympy_function("sin"))
cos = _def("cos", np.cos, 1, _g(lambda T, i, o, gz: [-gz * T.sin(i[0])]), sympy_fn=_sympy_function("cos"))
tan = _def("tan", np.tan, 1, _g(lambda T, i, o, gz: [gz * (1 + T.sqr(o))]), sympy_fn=_sympy_function("tan"))
arcsin = _def("arcsin", np.arcsin, 1,
              _g(lambda T, i, o, gz: [gz / T.sqrt(1 - T.sqr(i[0]))]), sympy_fn=_sympy_function("asin"))
arccos = _def("arccos", np.arccos, 1,
              _g(lambda T, i, o, gz: [-gz / T.sqrt(1 - T.sqr(i[0]))]), sympy_fn=_sympy_function("acos"))
arctan = _def("arctan", np.arctan, 1, _g(lambda T, i, o, gz: [gz / (1 + T.sqr(i[0]))]),
              sympy_fn=_sympy_function("atan"))
arctan2 = _def("arctan2", np.arctan2, 2,
               _g(lambda T, i, o, gz: [gz * i[1] / (T.sqr(i[0]) + T.sqr(i[1])),
                                       -gz * i[0] / (T.sqr(i[0]) + T.sqr(i[1]))]),
               sympy_fn=_sympy_function("atan2"))
sinh = _def("sinh", np.sinh, 1, _g(lambda T, i, o, gz: [gz * T.cosh(i[0])]), sympy_fn=_sympy_function("sinh"))
cosh = _def("cosh", np.cosh, 1, _g(lambda T, i, o, gz: [gz * T.sinh(i[0])]), sympy_fn=_sympy_function("cosh"))
tanh = _def("tanh", np.tanh, 1, _g(lambda T, i, o, gz: [gz * (1 - T.sqr(o))]), sympy_fn=_sympy_function("tanh"))
arcsinh = _def("arcsinh", np.arcsinh, 1,
               _g(lambda T, i, o, gz: [gz / T.sqrt(T.sqr(i[0]) + 1)]), sympy_fn=_sympy_function("asinh"))
arccosh = _def("arccosh", np.arccosh, 1,
               _g(lambda T, i, o, gz: [gz / T.sqrt(T.sqr(i[0]) - 1)]), sympy_fn=_sympy_function("acosh"))
arctanh = _def("arctanh", np.arctanh, 1, _g(lambda T, i, o, gz: [gz / (1 - T.sqr(i[0]))]),
               sympy_fn=_sympy_function("atanh"))

# special functions
erf = _def("erf", _erf, 1,
           _g(lambda T, i, o, gz: [gz * _TWO_OVER_SQRT_PI * T.exp(-T.sqr(i[0]))]),
           dtype_ufunc=np.exp, sympy_fn=_sympy_function("erf"))
erfc = _def("erfc", _erfc, 1,
            _g(lambda T, i, o, gz: [-gz * _TWO_OVER_SQRT_PI * T.exp(-T.sqr(i[0]))]),
            dtype_ufunc=np.exp, sympy_fn=_sympy_function("erfc"))
psi = _def("psi", _psi, 1, None, dtype_ufunc=np.exp, sympy_fn=_sympy_function("digamma"))
gamma = _def("gamma", _gamma, 1, _g(lambda T, i, o, gz: [gz * o * T.psi(i[0])]),
             dtype_ufunc=np.exp, sympy_fn=_sympy_function("gamma"))
gammaln = _def("gammaln", _gammaln, 1, _g(lambda T, i, o, gz: [gz * T.psi(i[0])]),
               dtype_ufunc=np.exp, sympy_fn=_sympy_function("loggamma"))
sigmoid = _def("sigmoid", _sigmoid, 1, _g(lambda T, i, o, gz: [gz * o * (1 - o)]),
               dtype_ufunc=np.exp, sympy_fn=lambda a: 1 / (1 + sympy.exp(-a)))


def _ultra_fast_sigmoid_grad(T, i, o, gz):
    # The derivative of the approximation itself: 0.25 * z'(|x / 2|) per piece.
    a = T.abs(i[0] * 0.5)
    dz = T.switch(T.lt(a, 1.7), 1.5 / T.sqr(1 + a),
                  T.switch(T.lt(a, 3), T.fill(a, 0.0458812946797165), T.zeros_like(a)))
    return [gz * 0.25 * dz]


ultra_fast_sigmoid = _def("ultra_fast_sigmoid", _ultra_fast_sigmoid, 1,
                          _g(_ultra_fast_sigmoid_grad), dtype_ufunc=np.exp)
softplus = _def("softplus", _softplus, 1, _g(lambda T, i, o, gz: [gz * T.sigmoid(i[0])]),
                dtype_ufunc=np.exp, sympy_fn=lambda a: sympy.log(1 + sympy.exp(a)))

# piecewise and rounding
sgn = _def("sgn", np.sign, 1, _zero_grad, sympy_fn=_sympy_function("sign"))
floor = _def("floor", np.floor, 1, _zero_grad, sympy_fn=_sympy_function("floor"))
ceil = _def("ceil", np.ceil, 1, _zero_grad, sympy_fn=_sympy_function("ceiling"))
trunc = _def("trunc", np.trunc, 1, _zero_grad)


class _Round(ScalarOp):
    """Rounding as ``np.round``: integers are returned unchanged (same dtype);
    bool and float inputs follow ``np.rint``'s dtype rule."""

    def output_dtype(self, dtypes):
        (d,) = dtypes
        if isinstance(d, np.dtype) and d.kind in "iu":
            return (d,), d
        if d is int:
            return (np.dtype(np.int64),), np.dtype(np.int64)
        return super().output_dtype(dtypes)

    def impl(self, x):
        x = np.asarray(x)
        return x if x.dtype.kind in "iu" else self.nfunc(x)


round_half_to_even = _Round("round_half_to_even", np.rint, 1, grad=_zero_grad)
round_half_away_from_zero = _Round("round_half_away_from_zero", _round_half_away, 1,
                                   grad=_zero_grad, dtype_ufunc=np.rint)
SCALAR_OPS["round_half_to_even"] = round_half_to_even
SCALAR_OPS["round_half_away_from_zero"] = round_half_away_from_zero

# predicates, comparisons and logic (boolean results: no gradient)
isnan = _def("isnan", np.isnan, 1, _zero_grad)
isinf = _def("isinf", np.isinf, 1, _zero_grad)


class _Compare(ScalarOp):
    """A comparison: NumPy 2 compares with out-of-range Python integers
    exactly (``int8_array < 300`` is all True), so such a literal keeps its
    own (int64) dtype instead of overflowing."""

    def weak_int_out_of_range(self, position, value, dtype):
        return np.asarray(value)


def _def_cmp(name, nfunc, symbol):
    op = _Compare(name, nfunc, 2, grad=_zero_grad, symbol=symbol, precedence=0)
    SCALAR_OPS[name] = op
    return op


eq = _def_cmp("eq", np.equal, "==")
neq = _def_cmp("neq", np.not_equal, "!=")
lt = _def_cmp("lt", np.less, "<")
le = _def_cmp("le", np.less_equal, "<=")
gt = _def_cmp("gt", np.greater, ">")
ge = _def_cmp("ge", np.greater_equal, ">=")
and_ = _def("and", np.bitwise_and, 2, _zero_grad, symbol="&", precedence=-1)
or_ = _def("or", np.bitwise_or, 2, _zero_grad, symbol="|", precedence=-1)
xor = _def("xor", np.bitwise_xor, 2, _zero_grad, symbol="^", precedence=-1)
invert = _def("invert", np.invert, 1, _zero_grad, symbol="~", precedence=3)


class _Switch(ScalarOp):
    """``switch(cond, a, b)``: NumPy ``where``; the dtype promotes a and b only."""

    def output_dtype(self, dtypes):
        cond, a, b = dtypes
        ca, cb, out = np.add.resolve_dtypes((a, b, None))
        return (np.dtype(bool), ca, cb), out


def _g_switch(inputs, output, gz):
    T = _T()
    cond, a, b = inputs
    zero = T.zeros_like(gz)
    return [None, _floats_only(a, T.switch(cond, gz, zero)),
            _floats_only(b, T.switch(cond, zero, gz))]


switch = _Switch("switch", lambda c, a, b: np.where(c, a, b), 3, grad=_g_switch,
                 sympy_fn=lambda c, a, b: sympy.Piecewise((a, c), (b, True)))
SCALAR_OPS["switch"] = switch


class _Clip(ScalarOp):
    """``clip(x, lo, hi)``: x's dtype promoted with the bounds'."""

    def output_dtype(self, dtypes):
        x, lo, hi = dtypes
        r = np.maximum.resolve_dtypes((x, lo, None))[-1]
        r = np.minimum.resolve_dtypes((r, hi, None))[-1]
        return (r, r, r), r

    def weak_int_out_of_range(self, position, value, dtype):
        # NumPy 2 drops a Python-int bound beyond the dtype's range on the
        # side where it clips nothing; any other out-of-range bound overflows.
        info = np.iinfo(dtype)
        if position == 1 and value < info.min:
            return np.asarray(info.min, dtype=dtype)
        if position == 2 and value > info.max:
            return np.asarray(info.max, dtype=dtype)
        return None


def _g_clip(inputs, output, gz):
    T = _T()
    x, lo, hi = inputs
    return [_floats_only(x, gz * T.and_(T.ge(x, lo), T.le(x, hi))),
            _floats_only(lo, gz * T.lt(x, lo)),
            _floats_only(hi, gz * T.gt(x, hi))]


clip = _Clip("clip", np.clip, 3, grad=_g_clip,
             sympy_fn=lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi))
SCALAR_OPS["clip"] = clip
