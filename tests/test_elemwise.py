"""Elementwise ops: values against NumPy/SciPy, shapes (0-d, empty, broadcast,
non-contiguous, transposed), NumPy 2 dtype promotion (weak Python scalars),
and gradients against finite differences (broadcasting operands included)."""

import warnings

import numpy as np
import pytest
import scipy.special as sp

from helpers import assert_same, tols

import graphc
import graphc.tensor as T
from graphc.gradient import verify_grad
from graphc.tensor.type import TensorType

FLOATS = ["float32", "float64"]
ALL_DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "uint64",
              "float16", "float32", "float64"]
INT_DTYPES = ["int8", "uint8", "int16", "int32", "int64"]


# ------------------------------------------------------------------ helpers





def npref(fn, *args):
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args))


def sample(rng, domain, shape, dtype="float64"):
    """Values in ``domain``: (lo, hi), or ("pm", lo, hi) for |v| in [lo, hi] with a random sign."""
    if domain[0] == "pm":
        _, lo, hi = domain
        v = rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    else:
        lo, hi = domain
        v = rng.uniform(lo, hi, size=shape)
    return np.asarray(v, dtype=dtype)


def fn(inputs, outputs, mode):
    return graphc.function(inputs, outputs, mode=mode)


def numeric_grad(f, vals, eps=1e-6):
    """Central finite differences of the scalar f(*vals) w.r.t. each array."""
    out = []
    for k, v in enumerate(vals):
        g = np.zeros(v.shape)
        for idx in np.ndindex(*v.shape):
            plus = [w.copy() for w in vals]
            minus = [w.copy() for w in vals]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (float(f(*plus)) - float(f(*minus))) / (2 * eps)
        out.append(g)
    return out


def check_grad(inputs, build, vals, mode, rng):
    """Gradient of sum(build(*inputs) * P) w.r.t. every input (whatever its
    static type) against finite differences; shapes must match the inputs'."""
    out = build(*inputs)
    out_shape = fn(inputs, out, mode)(*vals).shape
    proj = rng.uniform(0.5, 1.5, size=out_shape) * rng.choice([-1.0, 1.0], size=out_shape)
    cost = T.sum(out * proj)
    grads = T.grad(cost, inputs)
    f_cost = fn(inputs, cost, mode)
    analytic = fn(inputs, grads, mode)(*vals)
    numeric = numeric_grad(f_cost, vals)
    for k, (a, n, v) in enumerate(zip(analytic, numeric, vals)):
        assert a.shape == v.shape, f"gradient {k} has shape {a.shape}, input has {v.shape}"
        assert a.dtype == v.dtype
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-6, err_msg=f"input {k}")


# ---------------------------------------------------------- reference impls

def _ufs_ref(x):
    """Theano's ultra_fast_sigmoid, computed in float64."""
    x64 = np.asarray(x, dtype=np.float64)
    h = 0.5 * x64
    a = np.abs(h)
    z = np.where(a < 1.7, 1.5 * a / (1 + a),
                 np.where(a < 3, 0.935409070603099 + 0.0458812946797165 * (a - 1.7),
                          0.99505475368673))
    return (0.5 * (np.sign(h) * z + 1)).astype(np.asarray(x).dtype)


def _round_half_away(x):
    x = np.asarray(x)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(x.dtype)


# name -> (graphc fn, reference, value domain, grad kind, kinks)
# grad kind: "smooth" (verify_grad), "zero" (piecewise constant: zero gradient),
# "bool" (boolean output).
UNARY = {
    "neg": (T.neg, np.negative, (-3, 3), "smooth"),
    "abs": (T.abs, np.abs, ("pm", 0.1, 3), "smooth"),
    "exp": (T.exp, np.exp, (-3, 3), "smooth"),
    "exp2": (T.exp2, np.exp2, (-3, 3), "smooth"),
    "expm1": (T.expm1, np.expm1, (-3, 3), "smooth"),
    "log": (T.log, np.log, (0.1, 5), "smooth"),
    "log2": (T.log2, np.log2, (0.1, 5), "smooth"),
    "log10": (T.log10, np.log10, (0.1, 5), "smooth"),
    "log1p": (T.log1p, np.log1p, (-0.5, 5), "smooth"),
    "sqrt": (T.sqrt, np.sqrt, (0.1, 5), "smooth"),
    "sqr": (T.sqr, np.square, (-3, 3), "smooth"),
    "sin": (T.sin, np.sin, (-3, 3), "smooth"),
    "cos": (T.cos, np.cos, (-3, 3), "smooth"),
    "tan": (T.tan, np.tan, (-1.2, 1.2), "smooth"),
    "arcsin": (T.arcsin, np.arcsin, (-0.9, 0.9), "smooth"),
    "arccos": (T.arccos, np.arccos, (-0.9, 0.9), "smooth"),
    "arctan": (T.arctan, np.arctan, (-3, 3), "smooth"),
    "sinh": (T.sinh, np.sinh, (-3, 3), "smooth"),
    "cosh": (T.cosh, np.cosh, (-3, 3), "smooth"),
    "tanh": (T.tanh, np.tanh, (-3, 3), "smooth"),
    "arcsinh": (T.arcsinh, np.arcsinh, (-3, 3), "smooth"),
    "arccosh": (T.arccosh, np.arccosh, (1.1, 5), "smooth"),
    "arctanh": (T.arctanh, np.arctanh, (-0.9, 0.9), "smooth"),
    "erf": (T.erf, sp.erf, (-2, 2), "smooth"),
    "erfc": (T.erfc, sp.erfc, (-2, 2), "smooth"),
    "gamma": (T.gamma, sp.gamma, (0.5, 4), "smooth"),
    "gammaln": (T.gammaln, sp.gammaln, (0.5, 4), "smooth"),
    "sigmoid": (T.nnet.sigmoid, sp.expit, (-6, 6), "smooth"),
    "ultra_fast_sigmoid": (T.nnet.ultra_fast_sigmoid, _ufs_ref, ("pm", 0.05, 3.3), "smooth"),
    "hard_sigmoid": (T.nnet.hard_sigmoid, lambda x: np.clip(x * 0.2 + 0.5, 0, 1),
                     ("pm", 0.05, 2.4), "smooth"),
    "softplus": (T.nnet.softplus, lambda x: np.logaddexp(0, x), (-6, 6), "smooth"),
    "relu": (T.nnet.relu, lambda x: np.maximum(x, 0), ("pm", 0.05, 3), "smooth"),
    "elu": (T.nnet.elu, lambda x: np.where(x > 0, x, np.expm1(x)), ("pm", 0.05, 3), "smooth"),
    "sgn": (T.sgn, np.sign, (-3, 3), "zero"),
    "sign": (T.sign, np.sign, (-3, 3), "zero"),
    "floor": (T.floor, np.floor, (-3, 3), "zero"),
    "ceil": (T.ceil, np.ceil, (-3, 3), "zero"),
    "round": (T.round, np.round, (-3, 3), "zero"),
    "isnan": (T.isnan, np.isnan, (-3, 3), "bool"),
    "isinf": (T.isinf, np.isinf, (-3, 3), "bool"),
}
UNARY_NAMES = sorted(UNARY)
SMOOTH_UNARY = [n for n in UNARY_NAMES if UNARY[n][3] == "smooth"]
ZERO_GRAD_UNARY = [n for n in UNARY_NAMES if UNARY[n][3] == "zero"]
# Reference functions that are NumPy ufuncs: their dtype rule is NumPy's.
NUMPY_UNARY = [n for n in UNARY_NAMES
               if any(UNARY[n][1] is getattr(np, f, None) for f in dir(np))]

BINARY = {
    "add": (T.add, np.add, (-3, 3), (-3, 3), "smooth"),
    "sub": (T.sub, np.subtract, (-3, 3), (-3, 3), "smooth"),
    "mul": (T.mul, np.multiply, (-3, 3), (-3, 3), "smooth"),
    "true_div": (T.true_div, np.true_divide, (-3, 3), ("pm", 0.5, 3), "smooth"),
    "int_div": (T.int_div, np.floor_divide, (-5, 5), ("pm", 0.5, 3), "zero"),
    "mod": (T.mod, np.remainder, (-5, 5), ("pm", 0.5, 3), "smooth"),
    "pow": (T.pow, np.power, (0.5, 3), (-2, 2), "smooth"),
    "arctan2": (T.arctan2, np.arctan2, (-3, 3), (0.5, 3), "smooth"),
    "maximum": (T.maximum, np.maximum, (-3, 3), (-3, 3), "smooth"),
    "minimum": (T.minimum, np.minimum, (-3, 3), (-3, 3), "smooth"),
    "eq": (T.eq, np.equal, (-3, 3), (-3, 3), "bool"),
    "neq": (T.neq, np.not_equal, (-3, 3), (-3, 3), "bool"),
    "lt": (T.lt, np.less, (-3, 3), (-3, 3), "bool"),
    "le": (T.le, np.less_equal, (-3, 3), (-3, 3), "bool"),
    "gt": (T.gt, np.greater, (-3, 3), (-3, 3), "bool"),
    "ge": (T.ge, np.greater_equal, (-3, 3), (-3, 3), "bool"),
}
BINARY_NAMES = sorted(BINARY)
LOGIC = {"and_": (T.and_, np.bitwise_and), "or_": (T.or_, np.bitwise_or),
         "xor": (T.xor, np.bitwise_xor)}


def _binary_sample(name, rng, shape_a, shape_b, dtype="float64"):
    _, _, da, db, kind = BINARY[name]
    a = sample(rng, da, shape_a, dtype)
    b = sample(rng, db, shape_b, dtype)
    if kind == "bool":  # small integers: plenty of ties for the comparisons
        a = np.round(a).astype(dtype)
        b = np.round(b).astype(dtype)
    return a, b


# ================================================================ unary values

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_values(name, dtype, mode, rng):
    op, ref, domain, _ = UNARY[name]
    x = T.matrix("x", dtype=dtype)
    out = op(x)
    expected_dtype = "bool" if UNARY[name][3] == "bool" else dtype
    assert out.dtype == expected_dtype
    v = sample(rng, domain, (4, 5), dtype)
    assert_same(fn([x], out, mode)(v), npref(ref, v))


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_shapes(name, mode, rng):
    """0-d, empty, non-contiguous, transposed and reversed inputs."""
    op, ref, domain, _ = UNARY[name]
    s = T.dscalar("s")
    f0 = fn([s], op(s), mode)
    v0 = sample(rng, domain, ())
    r0 = f0(v0)
    assert isinstance(r0, np.ndarray) and r0.shape == ()
    assert_same(r0, npref(ref, v0))
    x = T.dmatrix("x")
    f = fn([x], op(x), mode)
    base = sample(rng, domain, (5, 6))
    for v in (np.empty((0, 3)), np.empty((3, 0)), base[:, ::2], base[::2, 1::2], base.T,
              base[::-1, ::-1], np.asfortranarray(base)):
        assert_same(f(v), npref(ref, v))
    t = T.dtensor3("t")
    v3 = sample(rng, domain, (2, 3, 4)).transpose(2, 0, 1)
    assert_same(fn([t], op(t), mode)(v3), npref(ref, v3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_unary_special_values(mode):
    x = T.dvector("x")
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0])
    for op, ref in [(T.isnan, np.isnan), (T.isinf, np.isinf), (T.exp, np.exp),
                    (T.log, np.log), (T.sqrt, np.sqrt), (T.nnet.sigmoid, sp.expit),
                    (T.nnet.softplus, lambda a: np.logaddexp(0, a)), (T.tanh, np.tanh),
                    (T.abs, np.abs), (T.sgn, np.sign), (T.floor, np.floor)]:
        assert_same(fn([x], op(x), mode)(v), npref(ref, v))


def test_sigmoid_softplus_no_overflow(mode):
    for dtype in FLOATS:
        x = T.vector("x", dtype=dtype)
        v = np.array([-1000, -100, -30, 0, 30, 100, 1000], dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s, p = fn([x], [T.nnet.sigmoid(x), T.nnet.softplus(x)], mode)(v)
        assert np.all(np.isfinite(s)) and np.all(np.isfinite(p))
        assert_same(s, sp.expit(v))
        assert_same(p, np.logaddexp(np.zeros((), dtype), v))


def test_ultra_fast_and_hard_sigmoid_approximate_sigmoid(mode):
    x = T.dvector("x")
    v = np.linspace(-10, 10, 401)
    u, h = fn([x], [T.nnet.ultra_fast_sigmoid(x), T.nnet.hard_sigmoid(x)], mode)(v)
    assert np.max(np.abs(u - sp.expit(v))) < 0.03
    assert np.max(np.abs(h - sp.expit(v))) < 0.1
    assert np.all((h >= 0) & (h <= 1)) and np.all((u > 0) & (u < 1))
    assert_same(h, np.clip(0.2 * v + 0.5, 0, 1))


def test_relu_leaky_and_elu_alpha(mode, rng):
    x = T.fmatrix("x")
    v = rng.standard_normal((3, 4)).astype("float32")
    r, e = fn([x], [T.nnet.relu(x, alpha=0.1), T.nnet.elu(x, alpha=0.5)], mode)(v)
    assert_same(r, np.where(v > 0, v, np.float32(0.1) * v))
    assert_same(e, np.where(v > 0, v, np.float32(0.5) * np.expm1(v)))
    assert T.nnet.relu(T.imatrix()).dtype == "int32"
    assert T.nnet.hard_sigmoid(x).dtype == "float32"


def test_round_modes(mode):
    x = T.dvector("x")
    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 3.7])
    f = fn([x], [T.round(x), T.round(x, mode="half_to_even"),
                 T.round(x, mode="half_away_from_zero")], mode)
    default, even, away = f(v)
    assert_same(default, np.round(v))
    assert_same(even, np.round(v))
    assert_same(away, _round_half_away(v))
    with pytest.raises(ValueError):
        T.round(x, mode="bankers")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["bool"] + INT_DTYPES)
@pytest.mark.parametrize("name", NUMPY_UNARY)
def test_unary_on_integer_inputs(name, dtype, mode):
    """Unary NumPy ufuncs on bool/int inputs: the dtype NumPy gives (or TypeError)."""
    op, ref, _, _ = UNARY[name]
    v = np.array([[0, 1, 2], [3, 4, 5]]).astype(dtype)
    x = T.matrix("x", dtype=dtype)
    try:
        expected = npref(ref, v)
    except TypeError:
        with pytest.raises(TypeError):
            op(x)
        return
    out = op(x)
    assert out.dtype == expected.dtype
    assert_same(fn([x], out, mode)(v), expected)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("name", ["erf", "erfc", "gamma", "gammaln", "sigmoid"])
def test_special_functions_on_integer_inputs(name, dtype, mode):
    op, ref, _, _ = UNARY[name]
    v = np.array([1, 2, 3], dtype=dtype)
    x = T.vector("x", dtype=dtype)
    out = op(x)
    assert out.dtype == "float64"
    assert_same(fn([x], out, mode)(v), ref(v))


def test_round_keeps_integers(mode):
    """np.round leaves integers (and their dtype) alone."""
    x = T.lvector("x")
    v = np.array([2**62 + 1, -(2**61) - 3, 7], dtype="int64")
    for out in (T.round(x), T.round(x, mode="half_away_from_zero")):
        assert out.dtype == "int64"
        assert_same(fn([x], out, mode)(v), v)


# =============================================================== binary values

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_values(name, dtype, mode, rng):
    op, ref, _, _, kind = BINARY[name]
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    out = op(x, y)
    assert out.dtype == ("bool" if kind == "bool" else dtype)
    a, b = _binary_sample(name, rng, (4, 5), (4, 5), dtype)
    assert_same(fn([x, y], out, mode)(a, b), npref(ref, a, b))


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_broadcasting_and_layouts(name, mode, rng):
    op, ref, _, _, _ = BINARY[name]
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = fn([x, y], op(x, y), mode)
    cases = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((1, 4), (3, 1)), ((3, 4), (1, 1)),
             ((3, 1), (3, 4)), ((0, 4), (1, 4)), ((0, 1), (1, 5)), ((3, 0), (3, 1))]
    for sa, sb in cases:
        a, b = _binary_sample(name, rng, sa, sb)
        assert_same(f(a, b), npref(ref, a, b))
    # non-contiguous and transposed operands
    a, b = _binary_sample(name, rng, (6, 8), (8, 6))
    for va, vb in [(a[:, ::2], b[::2, :].T), (a.T, b), (a[::-1], b.T[::-1]),
                   (np.asfortranarray(a), b.T)]:
        assert_same(f(va, vb), npref(ref, va, vb))
    # incompatible runtime shapes fail
    a, b = _binary_sample(name, rng, (3, 4), (2, 4))
    with pytest.raises(ValueError):
        f(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_static_broadcast_patterns(name, mode, rng):
    """row with col, scalar with matrix, vector with matrix (rank padding)."""
    op, ref, _, _, _ = BINARY[name]
    r, c, s, v, m = T.drow("r"), T.dcol("c"), T.dscalar("s"), T.dvector("v"), T.dmatrix("m")
    a, b = _binary_sample(name, rng, (1, 4), (3, 1))
    out = op(r, c)
    assert out.type.shape == (None, None)
    assert_same(fn([r, c], out, mode)(a, b), npref(ref, a, b))
    assert op(r, r).type.broadcastable == (True, False)
    a, b = _binary_sample(name, rng, (), (3, 4))
    assert_same(fn([s, m], op(s, m), mode)(a, b), npref(ref, a, b))
    assert_same(fn([m, s], op(m, s), mode)(b, a), npref(ref, b, a))
    a, b = _binary_sample(name, rng, (4,), (3, 4))
    assert_same(fn([v, m], op(v, m), mode)(a, b), npref(ref, a, b))
    a, b = _binary_sample(name, rng, (), ())
    s2 = T.dscalar("s2")
    r0 = fn([s, s2], op(s, s2), mode)(a, b)
    assert r0.shape == ()
    assert_same(r0, npref(ref, a, b))


def test_static_shape_mismatch_raises():
    x = TensorType("float64", shape=(3, 4))("x")
    y = TensorType("float64", shape=(2, 4))("y")
    with pytest.raises(ValueError):
        x + y
    z = TensorType("float64", shape=(3, 1))("z")
    assert (x + z).type.shape == (3, 4)
    assert (z + T.drow()).type.shape == (3, None)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_division_and_mod(dtype, mode):
    lo = 0 if dtype.startswith("u") else -7
    a = np.arange(lo, 8).astype(dtype)
    b = np.array([3, 2, 5, 1] * 10)[:a.size].astype(dtype)
    if not dtype.startswith("u"):
        b[::3] *= -1
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = fn([x, y], [x // y, x % y, x / y, T.int_div(x, y), T.mod(x, y), T.true_div(x, y)], mode)
    q, r, t, q2, r2, t2 = f(a, b)
    for got, want in [(q, a // b), (r, a % b), (t, a / b), (q2, a // b), (r2, a % b),
                      (t2, a / b)]:
        assert_same(got, want)
    assert t.dtype == "float64"


def test_float_floor_div_and_mod_signs(mode):
    x, y = T.fvector("x"), T.fvector("y")
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.0, 3.0], dtype="float32")
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, 1.5], dtype="float32")
    q, r = fn([x, y], [x // y, x % y], mode)(a, b)
    assert_same(q, a // b)
    assert_same(r, a % b)


def test_pow_integer_and_mixed(mode):
    i = T.ivector("i")
    f = T.fvector("f")
    a = np.array([0, 1, 2, 3, -2], dtype="int32")
    b = np.array([0.5, 1.0, 2.0, 3.0, 4.0], dtype="float32")
    out = fn([i, f], [i ** 2, 2 ** i[:4], f ** i, i ** f, f ** 2, f ** 0.5], mode)(a, b)
    expected = [a ** 2, 2 ** a[:4], b ** a, a ** b, b ** 2, b ** 0.5]
    for got, want in zip(out, expected):
        assert_same(got, want)


@pytest.mark.parametrize("dtype", ["bool"] + INT_DTYPES)
def test_logic_ops(dtype, mode):
    if dtype == "bool":
        a = np.array([True, True, False, False])
        b = np.array([True, False, True, False])
    else:
        a = np.array([0, 1, 5, 12, 127]).astype(dtype)
        b = np.array([3, 1, 6, 10, 64]).astype(dtype)
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    outs = [T.and_(x, y), T.or_(x, y), T.xor(x, y), T.invert(x), x & y, x | y, x ^ y, ~x,
            T.bitwise_and(x, y)]
    got = fn([x, y], outs, mode)(a, b)
    expected = [a & b, a | b, a ^ b, ~a, a & b, a | b, a ^ b, ~a, a & b]
    for g, e in zip(got, expected):
        assert_same(g, e)


def test_logic_on_comparisons(mode, rng):
    x = T.dmatrix("x")
    v = rng.standard_normal((3, 4))
    out = (x > 0) & (x < 1) | ~(x > -0.5) ^ T.eq(x, x)
    assert out.dtype == "bool"
    assert_same(fn([x], out, mode)(v), (v > 0) & (v < 1) | ~(v > -0.5) ^ (v == v))


@pytest.mark.parametrize("name", list(LOGIC) + ["invert"])
def test_logic_on_floats_is_a_type_error(name):
    x = T.fmatrix("x")
    with pytest.raises(TypeError):
        T.invert(x) if name == "invert" else LOGIC[name][0](x, x)


def test_comparison_operators_and_identity(mode, rng):
    x, y = T.dvector("x"), T.dvector("y")
    a = np.array([1.0, 2.0, 3.0, np.nan])
    b = np.array([2.0, 2.0, 1.0, np.nan])
    outs = [x < y, x <= y, x > y, x >= y, T.eq(x, y), T.neq(x, y), x < 2, 2 < x]
    for o in outs:
        assert o.dtype == "bool"
    got = fn([x, y], outs, mode)(a, b)
    with np.errstate(invalid="ignore"):
        expected = [a < b, a <= b, a > b, a >= b, a == b, a != b, a < 2, 2 < a]
    for g, e in zip(got, expected):
        assert_same(g, e)
    assert (x == y) is False  # Python identity, as in Theano
    assert (x == x) is True


def test_maximum_minimum_nan_propagate(mode):
    x, y = T.dvector("x"), T.dvector("y")
    a = np.array([1.0, np.nan, 3.0])
    b = np.array([np.nan, 2.0, 1.0])
    mx, mn = fn([x, y], [T.maximum(x, y), T.minimum(x, y)], mode)(a, b)
    assert_same(mx, np.maximum(a, b))
    assert_same(mn, np.minimum(a, b))


# ============================================================ switch, clip, cast

@pytest.mark.parametrize("dtype", FLOATS)
def test_switch_where_values(dtype, mode, rng):
    c, a, b = T.bmatrix("c"), T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    cv = rng.integers(0, 2, (3, 4)).astype("int8")
    av = rng.standard_normal((3, 4)).astype(dtype)
    bv = rng.standard_normal((3, 4)).astype(dtype)
    f = fn([c, a, b], [T.switch(c, a, b), T.where(c, a, b), T.switch(T.gt(a, b), a, 0)], mode)
    s, w, z = f(cv, av, bv)
    assert_same(s, np.where(cv, av, bv))
    assert_same(w, np.where(cv, av, bv))
    assert_same(z, np.where(av > bv, av, 0).astype(dtype))
    # broadcasting: condition row, branches col and scalar; float condition
    cr, ac, bs = T.bmatrix("cr"), T.matrix("ac", dtype=dtype), T.scalar("bs", dtype=dtype)
    g = fn([cr, ac, bs], T.switch(cr, ac, bs), mode)
    crv, acv, bsv = cv[:1], av[:, :1], np.asarray(2.5, dtype=dtype)
    assert_same(g(crv, acv, bsv), np.where(crv, acv, bsv))
    fc = T.matrix("fc", dtype=dtype)
    fcv = np.array([[0.0, 0.5], [-1.0, 0.0]], dtype=dtype)
    assert_same(fn([fc, a, b], T.switch(fc, a, b), mode)(fcv, av[:2, :2], bv[:2, :2]),
                np.where(fcv, av[:2, :2], bv[:2, :2]))


def test_switch_dtypes():
    c = T.bvector("c")
    for da, db in [("float32", "float64"), ("int8", "int16"), ("int32", "float32"),
                   ("bool", "int8"), ("uint8", "int8"), ("bool", "bool")]:
        a, b = T.vector(dtype=da), T.vector(dtype=db)
        expected = np.where(np.ones(2, bool), np.ones(2, da), np.ones(2, db)).dtype
        assert T.switch(c, a, b).dtype == expected
    f = T.fvector()
    assert T.switch(c, f, 0).dtype == "float32"
    assert T.switch(c, f, 2.5).dtype == "float32"
    assert T.switch(c, T.bvector(), 3.5).dtype == "float64"
    assert T.switch(c, 1, 2.5).dtype == "float64"


@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_values(dtype, mode, rng):
    x = T.matrix("x", dtype=dtype)
    v = rng.uniform(-3, 3, (4, 5)).astype(dtype)
    lo, hi = T.row("lo", dtype=dtype), T.scalar("hi", dtype=dtype)
    lov = rng.uniform(-2, 0, (1, 5)).astype(dtype)
    hiv = np.asarray(1.0, dtype=dtype)
    f = fn([x, lo, hi], [T.clip(x, -1, 1), T.clip(x, lo, hi), x.clip(0, 0.5)], mode)
    a, b, c = f(v, lov, hiv)
    assert_same(a, np.clip(v, -1, 1))
    assert_same(b, np.clip(v, lov, hiv))
    assert_same(c, np.clip(v, 0, 0.5))
    assert a.dtype == dtype


def test_clip_dtypes(mode):
    b = T.bvector("b")
    assert T.clip(b, 0, 5).dtype == "int8"
    assert T.clip(b, 0.5, 2).dtype == "float64"
    assert T.clip(T.fvector(), 0, 1).dtype == "float32"
    assert T.clip(b, T.wscalar(), T.wscalar()).dtype == "int16"
    # NumPy 2 clips with out-of-range Python integer bounds without overflow
    v = np.array([-128, -5, 0, 5, 127], dtype="int8")
    for lo, hi in [(0, 300), (-300, 0), (-1000, 1000)]:
        out = T.clip(b, lo, hi)
        assert out.dtype == np.clip(v, lo, hi).dtype
        assert_same(fn([b], out, mode)(v), np.clip(v, lo, hi))


CAST_VALUES = np.array([-2.7, -0.5, 0.0, 0.5, 1.0, 2.7, 100.3])


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_cast_values(dtype, mode):
    x = T.dvector("x")
    v = np.abs(CAST_VALUES) if dtype.startswith("u") or dtype == "bool" else CAST_VALUES
    out = T.cast(x, dtype)
    assert out.dtype == dtype
    assert_same(fn([x], out, mode)(v), v.astype(dtype))
    assert_same(fn([x], x.astype(dtype), mode)(v), v.astype(dtype))
    i = T.lvector("i")
    iv = np.array([0, 1, 3, 100], dtype="int64")
    assert_same(fn([i], T.cast(i, dtype), mode)(iv), iv.astype(dtype))


def test_cast_identity_and_floatx():
    x = T.fvector("x")
    assert T.cast(x, "float32") is x
    graphc.config.floatX = "float32"
    assert T.cast(T.ivector(), "floatX").dtype == "float32"


# =========================================================== dtype promotion

def _np_outcome(call):
    """The result dtype of a NumPy call, or the exception class it raises."""
    try:
        with np.errstate(all="ignore"):
            return np.asarray(call()).dtype
    except (TypeError, OverflowError) as exc:
        return OverflowError if isinstance(exc, OverflowError) else TypeError


def _graphc_outcome(call):
    try:
        return np.dtype(call().dtype)
    except (TypeError, OverflowError) as exc:
        return OverflowError if isinstance(exc, OverflowError) else TypeError


PROMOTION_OPS = {**{n: (BINARY[n][0], BINARY[n][1]) for n in BINARY_NAMES},
                 **LOGIC}


@pytest.mark.parametrize("name", sorted(PROMOTION_OPS))
def test_binary_dtype_promotion_matches_numpy(name):
    op, ref = PROMOTION_OPS[name]
    for da in ALL_DTYPES:
        for db in ALL_DTYPES:
            want = _np_outcome(lambda: ref(np.ones(2, da), np.ones(2, db)))
            got = _graphc_outcome(lambda: op(T.vector(dtype=da), T.vector(dtype=db)))
            assert got == want, (name, da, db, got, want)
            # 0-d operands are not value-based in NumPy 2: same rule
            got0 = _graphc_outcome(lambda: op(T.scalar(dtype=da), T.vector(dtype=db)))
            want0 = _np_outcome(lambda: ref(np.ones((), da), np.ones(2, db)))
            assert got0 == want0, (name, da, db, "0-d")


WEAK_SCALARS = [True, False, 1, -1, 7, 300, -300, 2**40, 0.5, -2.5]
WEAK_OPS = ["add", "sub", "mul", "true_div", "int_div", "mod", "maximum", "minimum",
            "eq", "neq", "lt", "le", "gt", "ge", "and_", "or_", "xor"]


@pytest.mark.parametrize("name", WEAK_OPS)
def test_python_scalars_are_weak(name, mode):
    """x op literal and literal op x: NumPy 2's dtype, values, and OverflowError."""
    op, ref = PROMOTION_OPS[name]
    for dtype in ALL_DTYPES:
        data = np.array([1, 2, 3]).astype(dtype)
        x = T.vector("x", dtype=dtype)
        for s in WEAK_SCALARS:
            if s in (0, False) and name in ("int_div", "mod", "true_div"):
                continue
            for flip in (False, True):
                want = _np_outcome(lambda: ref(s, data) if flip else ref(data, s))
                got = _graphc_outcome(lambda: op(s, x) if flip else op(x, s))
                assert got == want, (name, dtype, s, flip, got, want)
                if isinstance(want, np.dtype):
                    out = op(s, x) if flip else op(x, s)
                    with np.errstate(all="ignore"):
                        expected = ref(s, data) if flip else ref(data, s)
                        assert_same(fn([x], out, mode)(data), expected)


def test_promotion_examples_from_the_spec():
    assert (T.fmatrix() * 0.1).dtype == "float32"
    assert (0.1 * T.fmatrix()).dtype == "float32"
    assert (T.ivector() / T.ivector()).dtype == "float64"
    assert (T.ivector() / 2).dtype == "float64"
    assert (T.ivector() // 2).dtype == "int32"
    assert (T.fvector() + 1).dtype == "float32"
    assert (T.bvector() + 1.5).dtype == "float64"
    assert (T.vector(dtype="float16") * 2.5).dtype == "float16"
    assert (T.vector(dtype="bool") + 1).dtype == "int64"
    assert (T.vector(dtype="bool") + True).dtype == "bool"
    assert (T.bvector() + T.wvector()).dtype == "int16"
    assert (T.ivector() + T.fvector()).dtype == "float64"
    assert (T.bvector() + T.fvector()).dtype == "float32"
    assert (T.lscalar() + T.bvector()).dtype == "int64"
    assert (T.fvector() * np.float64(0.1)).dtype == "float64"  # NumPy scalars are strong
    assert (T.bvector() + np.int16(3)).dtype == "int16"
    assert (T.as_tensor_variable(1) + 2.5).dtype == "float64"
    with pytest.raises(OverflowError):
        T.bvector() + 300
    with pytest.raises(OverflowError):
        T.vector(dtype="uint8") - (-1)
    with pytest.raises(OverflowError):
        T.ivector() * 2**40
    assert (T.bvector() < 300).dtype == "bool"


def test_comparison_with_out_of_range_python_int(mode):
    """NumPy 2 compares with out-of-range Python integers exactly."""
    x = T.bvector("x")
    u = T.vector("u", dtype="uint8")
    v = np.array([-128, -1, 0, 127], dtype="int8")
    uv = np.array([0, 1, 255], dtype="uint8")
    f = fn([x, u], [x < 300, x > -300, T.eq(x, 1000), T.neq(x, 1000), u > -1, 256 > u], mode)
    got = f(v, uv)
    expected = [v < 300, v > -300, v == 1000, v != 1000, uv > -1, 256 > uv]
    for g, e in zip(got, expected):
        assert_same(g, e)


@pytest.mark.parametrize("dtype", ["bool"] + INT_DTYPES + FLOATS)
def test_unary_operator_dtypes(dtype):
    x = T.vector("x", dtype=dtype)
    for op, ref in [(T.neg, np.negative), (T.abs, np.abs), (T.sqr, np.square),
                    (T.exp, np.exp), (T.sqrt, np.sqrt), (T.sgn, np.sign), (T.floor, np.floor),
                    (T.isnan, np.isnan), (T.invert, np.invert), (T.log1p, np.log1p)]:
        assert _graphc_outcome(lambda: op(x)) == _np_outcome(lambda: ref(np.ones(2, dtype)))


# ================================================================== gradients

@pytest.mark.parametrize("name", SMOOTH_UNARY)
def test_unary_grad(name, mode, rng):
    op, _, domain, _ = UNARY[name]
    verify_grad(op, [sample(rng, domain, (2, 3))], rng=rng, mode=mode)
    verify_grad(op, [sample(rng, domain, ())], rng=rng, mode=mode)


@pytest.mark.parametrize("name", SMOOTH_UNARY)
def test_unary_grad_float32_dtype(name, mode, rng):
    op, _, domain, _ = UNARY[name]
    x = T.fvector("x")
    g = T.grad(T.sum(op(x)), x)
    assert g.dtype == "float32"
    v = sample(rng, domain, (5,), "float32")
    got = fn([x], g, mode)(v)
    assert got.dtype == np.float32
    x64 = T.dvector("x64")
    want = fn([x64], T.grad(T.sum(op(x64)), x64), mode)(v.astype("float64"))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", SMOOTH_UNARY + ["sgn", "floor", "round"])
def test_float32_forward_and_grad_graphs_stay_float32(name):
    """No silent float64 intermediates (weak literals in the ops' formulas)."""
    from graphc.graph.traversal import ancestors

    x = T.fvector("x")
    y = UNARY[name][0](x)
    g = T.grad(T.sum(y), x)
    wide = [v for v in ancestors([y, g]) if getattr(v.type, "dtype", None) == "float64"]
    assert not wide, wide


@pytest.mark.parametrize("name", ZERO_GRAD_UNARY)
def test_piecewise_constant_ops_have_zero_grad(name, mode, rng):
    op = UNARY[name][0]
    x = T.dmatrix("x")
    g = T.grad(T.sum(op(x) * x), x)  # d/dx (op(x) * x) = op(x) since op' = 0
    v = sample(rng, (-3, 3), (3, 4))
    assert_same(fn([x], g, mode)(v), npref(UNARY[name][1], v))


@pytest.mark.parametrize("name", [n for n in BINARY_NAMES if BINARY[n][4] == "smooth"])
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((1, 4), (3, 4)),
                                    ((), (2, 3)), ((2, 3), (1, 1)), ((3,), (2, 3))],
                         ids=["same", "col-row", "row-full", "0d-full", "full-11",
                              "vec-mat"])
def test_binary_grad(name, shapes, mode, rng):
    """Broadcast dims that are only known at run time (verify_grad's inputs
    have unknown static shapes) must be summed in the gradient."""
    a, b = _binary_sample(name, rng, *shapes)
    verify_grad(BINARY[name][0], [a, b], rng=rng, mode=mode)


STATIC_BCAST = [
    ("row*col", lambda: (T.drow("r"), T.dcol("c")), [(1, 4), (3, 1)]),
    ("mat+row", lambda: (T.dmatrix("m"), T.drow("r")), [(3, 4), (1, 4)]),
    ("col+mat", lambda: (T.dcol("c"), T.dmatrix("m")), [(3, 1), (3, 4)]),
    ("vec+mat", lambda: (T.dvector("v"), T.dmatrix("m")), [(4,), (3, 4)]),
    ("scalar+mat", lambda: (T.dscalar("s"), T.dmatrix("m")), [(), (3, 4)]),
    ("known(3,1)+(1,4)", lambda: (TensorType("float64", shape=(3, 1))("a"),
                                  TensorType("float64", shape=(1, 4))("b")), [(3, 1), (1, 4)]),
    ("mat(3,1 at run time)+row", lambda: (T.dmatrix("m"), T.drow("r")), [(3, 1), (1, 4)]),
    ("mat(1,1 at run time)+mat", lambda: (T.dmatrix("m"), T.dmatrix("n")), [(1, 1), (3, 4)]),
    ("mat+(None,1)", lambda: (T.dmatrix("m"), T.tensor("float64", shape=(None, 1))),
     [(3, 4), (3, 1)]),
    ("tensor3 mixed", lambda: (T.tensor("float64", shape=(None, 1, None)),
                               T.tensor("float64", shape=(1, None, None))),
     [(2, 1, 1), (1, 3, 4)]),
]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_div", "pow", "maximum",
                                  "arctan2", "mod"])
@pytest.mark.parametrize("case", STATIC_BCAST, ids=[c[0] for c in STATIC_BCAST])
def test_binary_grad_static_broadcast(name, case, mode, rng):
    _, make, shapes = case
    inputs = make()
    vals = list(_binary_sample(name, rng, *shapes))
    check_grad(list(inputs), BINARY[name][0], vals, mode, rng)


def test_grad_through_dimshuffle_broadcast(mode, rng):
    v, m = T.dvector("v"), T.dmatrix("m")
    vals = [rng.standard_normal(3), rng.standard_normal((3, 4))]
    check_grad([v, m], lambda v, m: T.tanh(v.dimshuffle(0, "x") * m)
               + m.T.sum(axis=0).dimshuffle(0, "x"), vals, mode, rng)
    x = T.dmatrix("x")
    check_grad([x], lambda x: x * x.T + T.exp(x[:, :1]), [rng.standard_normal((3, 3))], mode, rng)


def test_ternary_grads(mode, rng):
    x, lo, hi = T.dmatrix("x"), T.drow("lo"), T.dscalar("hi")
    xv = rng.uniform(-3, 3, (3, 4))
    lov = rng.uniform(-2, -0.5, (1, 4))
    hiv = np.asarray(0.7)
    xv[np.abs(xv - hiv) < 0.05] += 0.1
    check_grad([x, lo, hi], T.clip, [xv, lov, hiv], mode, rng)
    c, a, b = T.dmatrix("c"), T.dcol("a"), T.dmatrix("b")
    cv = (rng.standard_normal((3, 4)) > 0).astype("float64")
    f_vals = [rng.standard_normal((3, 1)), rng.standard_normal((1, 4))]
    out = T.switch(c, a, b)
    g = T.grad(T.sum(out * np.arange(12.0).reshape(3, 4)), [a, b])
    ga, gb = fn([c, a, b], g, mode)(cv, *f_vals)
    w = np.arange(12.0).reshape(3, 4)
    assert_same(ga, np.sum(np.where(cv, w, 0), axis=1, keepdims=True))
    assert_same(gb, np.sum(np.where(cv, 0, w), axis=0, keepdims=True))
    verify_grad(lambda a, b: T.where(T.gt(a, 0), a * b, b), [rng.standard_normal((3, 4)),
                                                            rng.standard_normal((1, 4))],
                rng=rng, mode=mode)
    verify_grad(T.clip, [rng.uniform(-3, 3, (4,)), rng.uniform(-3, -1, (4,)),
                         rng.uniform(1, 3, (4,))], rng=rng, mode=mode)


def test_comparison_and_rounding_grads_are_zero(mode, rng):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    cost = T.sum(T.cast(T.lt(x, y), "float64") * x + T.cast(T.isnan(y), "float64")
                 + T.int_div(x, y))
    gx, gy = T.grad(cost, [x, y])
    xv, yv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    rx, ry = fn([x, y], [gx, gy], mode)(xv, yv)
    assert_same(rx, (xv < yv).astype("float64"))
    assert_same(ry, np.zeros((3, 4)))


def test_integer_inputs_get_zero_gradient(mode, rng):
    graphc.config.floatX = "float64"
    x, i = T.dvector("x"), T.ivector("i")
    cost = T.sum(x * i) + T.sum(T.exp(i)) + T.sum(i ** 2 * 1.0)
    gx, gi = T.grad(cost, [x, i])
    assert gi.dtype.startswith("float")
    xv = rng.standard_normal(3)
    iv = np.array([1, -2, 3], dtype="int32")
    rx, ri = fn([x, i], [gx, gi], mode)(xv, iv)
    assert_same(rx, iv.astype("float64"))
    assert ri.shape == (3,)
    assert np.all(ri == 0)
    # a float input reached only through an integer cast gets zeros too
    gz = T.grad(T.sum(T.cast(T.cast(x, "int32"), "float64") * 2.0), x)
    assert_same(fn([x], gz, mode)(xv), np.zeros(3))


def test_bool_and_int_elementwise_outputs_cut_gradient(mode, rng):
    x = T.dvector("x")
    flags = T.ge(x, 0)
    assert flags.dtype == "bool"
    cost = T.sum(T.switch(flags, x ** 2, -x))
    g = T.grad(cost, x)
    v = rng.standard_normal(6)
    assert_same(fn([x], g, mode)(v), np.where(v >= 0, 2 * v, -1.0))


def test_cast_grad(mode, rng):
    x = T.fvector("x")
    y = T.cast(x, "float64")
    g = T.grad(T.sum(T.sqr(y)), x)
    assert g.dtype == "float32"
    v = rng.standard_normal(4).astype("float32")
    assert_same(fn([x], g, mode)(v), 2 * v)
    d = T.dvector("d")
    g2 = T.grad(T.sum(T.cast(d, "float32") * np.float32(3)), d)
    assert g2.dtype == "float64"
    assert_same(fn([d], g2, mode)(v.astype("float64")), np.full(4, 3.0))


def test_ultra_fast_sigmoid_grad_regions(mode, rng):
    """Each piece of the approximation (incl. saturation) differentiates right."""
    pts = np.array([-8.0, -5.0, -3.0, -1.0, -0.2, 0.3, 1.5, 3.1, 4.0, 6.5, 9.0])
    verify_grad(T.nnet.ultra_fast_sigmoid, [pts], rng=rng, mode=mode)


def test_grad_of_shared_subexpression_and_weak_constants(mode, rng):
    x = T.fmatrix("x")
    y = T.exp(x * 0.5) + x ** 2 - 3 * x
    g = T.grad(T.sum(y * y), x)
    assert g.dtype == "float32"
    v = rng.standard_normal((2, 3)).astype("float32")
    yv = np.exp(v * 0.5) + v ** 2 - 3 * v
    want = 2 * yv * (0.5 * np.exp(0.5 * v) + 2 * v - 3)
    np.testing.assert_allclose(fn([x], g, mode)(v), want, rtol=1e-5, atol=1e-5)


def test_second_order_through_broadcast_gradients(mode, rng):
    """The gradient of a runtime-broadcast gradient (SumToShapeOf) and of
    statically summed broadcast dims is itself differentiable."""
    a, b = rng.uniform(-1, 1, (3, 1)), rng.uniform(-1, 1, (3, 4))
    verify_grad(lambda x, y: T.grad(T.sum(T.sin(x * y)), x), [a, b], rng=rng, mode=mode)
    verify_grad(lambda x, y: T.grad(T.sum(T.sin(x * y)), y), [a, b], rng=rng, mode=mode)
    r, m = T.drow("r"), T.dmatrix("m")
    vals = [rng.uniform(-1, 1, (1, 4)), rng.uniform(-1, 1, (3, 4))]
    check_grad([r, m], lambda r, m: T.grad(T.sum(T.exp(r * m)), r), vals, mode, rng)


def test_pow_with_constant_exponents_grad(mode, rng):
    v = rng.uniform(-2, 2, (3, 4))
    v[np.abs(v) < 0.1] = 0.5
    verify_grad(lambda x: x ** 2 + x ** 3 - 2.0 ** x + T.sqr(x) / 3, [v], rng=rng, mode=mode)
    verify_grad(lambda x: T.abs(x) ** 1.5, [v], rng=rng, mode=mode)


def test_mixed_precision_grads_keep_input_dtypes(mode, rng):
    x, y, i = T.fvector("x"), T.dvector("y"), T.bvector("i")
    out = x * y + x * i + T.sqr(x) * 0.5
    assert out.dtype == "float64"
    gx, gy = T.grad(T.sum(out), [x, y])
    assert gx.dtype == "float32" and gy.dtype == "float64"
    xv = rng.standard_normal(3).astype("float32")
    yv = rng.standard_normal(3)
    iv = np.array([1, -2, 3], dtype="int8")
    rx, ry = fn([x, y, i], [gx, gy], mode)(xv, yv, iv)
    assert_same(rx, (yv + iv + xv).astype("float32"))
    assert_same(ry, xv.astype("float64"))


def test_maximum_minimum_of_identical_operands_grad(mode, rng):
    """max(x, x) == x: the tie must not double (or drop) the gradient."""
    x = T.dvector("x")
    g = T.grad(T.sum(T.maximum(x, x) + 2 * T.minimum(x, x)), x)
    assert_same(fn([x], g, mode)(rng.standard_normal(4)), np.full(4, 3.0))
