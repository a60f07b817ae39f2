"""Reductions: sum prod mean var std max min argmax argmin all any logsumexp —
values and dtypes against NumPy for every axis form (int, negative, tuple,
None, ()) and keepdims, odd shapes (0-d, empty, non-contiguous, transposed),
and gradients against finite differences (prod with zeros included)."""

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






def fn(inputs, outputs, mode):
    return graphc.function(inputs, outputs, mode=mode)


def _lse_ref(x, axis=None, keepdims=False):
    x = np.asarray(x)
    if x.size == 0 or axis == () or x.ndim == 0:  # scipy mishandles these
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)).astype(
                x.dtype if x.dtype.kind == "f" else "float64")
    return sp.logsumexp(x, axis=axis, keepdims=keepdims)


REDUCTIONS = {
    "sum": (T.sum, np.sum),
    "prod": (T.prod, np.prod),
    "mean": (T.mean, np.mean),
    "var": (T.var, np.var),
    "std": (T.std, np.std),
    "max": (T.max, np.max),
    "min": (T.min, np.min),
    "all": (T.all, np.all),
    "any": (T.any, np.any),
    "logsumexp": (T.logsumexp, _lse_ref),
}
NAMES = sorted(REDUCTIONS)
AXES = [None, 0, 1, 2, -1, -3, (0, 1), (0, 2), (2, 1), (-1, 0), (0, 1, 2), [1], ()]
AXIS_IDS = [str(a).replace(" ", "") for a in AXES]


def _data(name, rng, shape, dtype):
    if name in ("all", "any"):  # plenty of zeros, and some rows all zero / all non-zero
        v = rng.integers(0, 2, size=shape) * rng.uniform(0.5, 2, size=shape)
        if v.ndim >= 2 and v.shape[0] > 1:
            v[0] = 0
            v[1] = 1
        return v.astype(dtype)
    if name == "prod":
        return rng.uniform(0.5, 1.5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# ================================================================== values

@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=AXIS_IDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_values(name, dtype, axis, keepdims, mode, rng):
    op, ref = REDUCTIONS[name]
    x = T.tensor3("x", dtype=dtype)
    out = op(x, axis=axis, keepdims=keepdims)
    v = _data(name, rng, (2, 3, 4), dtype)
    expected = np.asarray(ref(v, axis=_np_axis(axis), keepdims=keepdims))
    assert out.dtype == expected.dtype
    assert out.ndim == expected.ndim
    assert_same(fn([x], out, mode)(v), expected)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("all", "any", "logsumexp")])
def test_reduction_methods(name, mode, rng):
    x = T.dmatrix("x")
    v = _data(name, rng, (3, 4), "float64")
    ref = REDUCTIONS[name][1]
    outs = [getattr(x, name)(), getattr(x, name)(axis=0), getattr(x, name)(axis=-1, keepdims=True)]
    got = fn([x], outs, mode)(v)
    for g, kw in zip(got, [{}, {"axis": 0}, {"axis": -1, "keepdims": True}]):
        assert_same(g, ref(v, **kw))


def test_any_all_methods(mode):
    x = T.bmatrix("x")
    v = np.array([[0, 1, 2], [0, 0, 0]], dtype="int8")
    got = fn([x], [x.any(), x.all(), x.any(axis=1), x.all(axis=0, keepdims=True)], mode)(v)
    for g, e in zip(got, [v.any(), v.all(), v.any(axis=1), v.all(axis=0, keepdims=True)]):
        assert_same(g, e)


@pytest.mark.parametrize("name", NAMES)
def test_reduction_layouts(name, mode, rng):
    """Non-contiguous, transposed, reversed and Fortran-ordered inputs."""
    op, ref = REDUCTIONS[name]
    x = T.dmatrix("x")
    f = fn([x], [op(x), op(x, axis=0), op(x, axis=1, keepdims=True)], mode)
    base = _data(name, rng, (6, 8), "float64")
    for v in (base[:, ::2], base[::2, 1::3], base.T, base[::-1, ::-1], np.asfortranarray(base)):
        got = f(v)
        for g, kw in zip(got, [{}, {"axis": 0}, {"axis": 1, "keepdims": True}]):
            assert_same(g, ref(v, **kw))


@pytest.mark.parametrize("name", NAMES)
def test_reduction_of_0d(name, mode, rng):
    op, ref = REDUCTIONS[name]
    s = T.dscalar("s")
    v = np.asarray(0.75)
    f = fn([s], [op(s), op(s, keepdims=True), op(s, axis=())], mode)
    for g, kw in zip(f(v), [{}, {"keepdims": True}, {"axis": ()}]):
        assert_same(g, np.asarray(ref(v, **kw)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", NAMES)
def test_reduction_of_empty(name, mode):
    """Empty inputs: reductions with an identity give it; max/min raise like NumPy."""
    op, ref = REDUCTIONS[name]
    x = T.dmatrix("x")
    v = np.zeros((0, 3))
    # reducing the non-empty axis gives an empty result
    assert_same(fn([x], op(x, axis=1), mode)(v), np.asarray(ref(v, axis=1)))
    assert_same(fn([x], op(x, axis=1, keepdims=True), mode)(v),
                np.asarray(ref(v, axis=1, keepdims=True)))
    f0 = fn([x], op(x, axis=0), mode)
    fall = fn([x], op(x), mode)
    if name in ("max", "min"):
        with pytest.raises(ValueError):
            f0(v)
        with pytest.raises(ValueError):
            fall(v)
    else:
        assert_same(f0(v), np.asarray(ref(v, axis=0)))
        assert_same(fall(v), np.asarray(ref(v)))


def test_sum_prod_empty_identities(mode):
    x = T.fmatrix("x")
    v = np.zeros((3, 0), dtype="float32")
    s, p, a, o = fn([x], [x.sum(axis=1), x.prod(axis=1), T.all(x, axis=1), T.any(x, axis=1)],
                    mode)(v)
    assert_same(s, np.zeros(3, "float32"))
    assert_same(p, np.ones(3, "float32"))
    assert_same(a, np.ones(3, bool))
    assert_same(o, np.zeros(3, bool))


INPUT_DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "uint64", "float16",
                "float32", "float64"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", INPUT_DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_dtype_rules(name, dtype, mode):
    """The output dtype NumPy gives for each input dtype (int sums widen,
    means of ints are float64, max keeps the dtype, all/any are bool)."""
    op, ref = REDUCTIONS[name]
    v = np.array([[0, 1, 2], [3, 1, 2]]).astype(dtype)
    x = T.matrix("x", dtype=dtype)
    for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}):
        expected = np.asarray(ref(v, **kw))
        out = op(x, **kw)
        assert out.dtype == expected.dtype, (kw, out.dtype, expected.dtype)
        assert_same(fn([x], out, mode)(v), expected)


@pytest.mark.parametrize("name", ["sum", "prod", "mean"])
@pytest.mark.parametrize("dtype", ["int8", "int32", "float32", "float64", "uint16"])
def test_reduction_dtype_argument(name, dtype, mode):
    op, ref = REDUCTIONS[name]
    v = np.array([[1, 2, 3], [4, 5, 6]], dtype="int16")
    x = T.wmatrix("x")
    for kw in ({}, {"axis": 1}):
        if name == "mean" and not dtype.startswith("float"):
            continue
        out = op(x, dtype=dtype, **kw)
        expected = np.asarray(ref(v, dtype=dtype, **kw))
        assert out.dtype == expected.dtype
        assert_same(fn([x], out, mode)(v), expected)


def test_var_std_ddof(mode, rng):
    x = T.dmatrix("x")
    v = rng.standard_normal((4, 5))
    outs = [T.var(x, ddof=1), T.std(x, axis=0, ddof=1), T.var(x, axis=1, corrected=True),
            x.var(axis=1, ddof=2, keepdims=True), x.std(ddof=1)]
    exp = [np.var(v, ddof=1), np.std(v, axis=0, ddof=1), np.var(v, axis=1, ddof=1),
           np.var(v, axis=1, ddof=2, keepdims=True), np.std(v, ddof=1)]
    for g, e in zip(fn([x], outs, mode)(v), exp):
        assert_same(g, e)


def test_var_float32_and_large_offset(mode, rng):
    """var subtracts the mean first: no catastrophic cancellation."""
    x = T.fvector("x")
    v = (1e4 + rng.standard_normal(1000)).astype("float32")
    got = fn([x], T.var(x), mode)(v)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.var(v.astype("float64")), rtol=1e-3)


def test_max_min_nan_propagate(mode):
    x = T.dmatrix("x")
    v = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -1.0]])
    got = fn([x], [T.max(x, axis=1), T.min(x, axis=1), T.max(x), T.argmax(x, axis=1),
                   T.argmin(x, axis=1)], mode)(v)
    for g, e in zip(got, [np.max(v, axis=1), np.min(v, axis=1), np.max(v),
                          np.argmax(v, axis=1), np.argmin(v, axis=1)]):
        assert_same(g, e)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "bool", "float32"])
def test_max_min_integer_extremes(dtype, mode):
    info = np.iinfo(dtype) if dtype not in ("bool", "float32") else None
    if info is not None:
        v = np.array([[info.min, info.max, 0], [1, info.min, info.max]], dtype=dtype)
    elif dtype == "bool":
        v = np.array([[True, False, False], [False, False, False]])
    else:
        v = np.array([[-np.inf, np.inf, 0], [1, -3e38, 3e38]], dtype=dtype)
    x = T.matrix("x", dtype=dtype)
    got = fn([x], [T.max(x, axis=1), T.min(x, axis=0), T.max(x), T.min(x)], mode)(v)
    for g, e in zip(got, [v.max(axis=1), v.min(axis=0), v.max(), v.min()]):
        assert_same(g, e)


# ------------------------------------------------------------- arg reductions

@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -2, (1,)], ids=str)
@pytest.mark.parametrize("kind", ["argmax", "argmin"])
def test_argreductions(kind, axis, keepdims, mode, rng):
    op, ref = getattr(T, kind), getattr(np, kind)
    x = T.dtensor3("x")
    v = rng.standard_normal((2, 3, 4))
    out = op(x, axis=axis, keepdims=keepdims)
    np_axis = axis[0] if isinstance(axis, tuple) else axis
    expected = ref(v, axis=np_axis, keepdims=keepdims)
    assert out.dtype == "int64" and out.ndim == expected.ndim
    f = fn([x], out, mode)
    assert_same(f(v), expected)
    vt = v.transpose(2, 0, 1)[:, ::-1]
    assert_same(f(vt), ref(vt, axis=np_axis, keepdims=keepdims))


def test_argreduction_ties_and_dtypes(mode):
    x = T.ivector("x")
    v = np.array([3, 7, 7, -1, -1, 2], dtype="int32")
    got = fn([x], [T.argmax(x), T.argmin(x), x.argmax(), x.argmin(axis=0)], mode)(v)
    for g, e in zip(got, [1, 3, 1, 3]):
        assert_same(g, np.asarray(e, dtype="int64"))
    b = T.vector("b", dtype="bool")
    assert_same(fn([b], T.argmax(b), mode)(np.array([False, True, True])), np.int64(1))
    s = T.dscalar("s")
    assert_same(fn([s], T.argmax(s), mode)(2.0), np.int64(0))


def test_argreduction_empty_raises(mode):
    x = T.dmatrix("x")
    f = fn([x], T.argmax(x, axis=0), mode)
    with pytest.raises(ValueError):
        f(np.zeros((0, 3)))
    assert_same(fn([x], T.argmax(x, axis=0), mode)(np.zeros((2, 0))), np.zeros(0, "int64"))


# --------------------------------------------------------------- logsumexp

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp_stability(dtype, mode):
    x = T.matrix("x", dtype=dtype)
    v = np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -1e4],
                  [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0], [-np.inf, 0.0, 1.0]],
                 dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sp.logsumexp(v, axis=1)
    got = fn([x], T.logsumexp(x, axis=1), mode)(v)
    assert_same(got, expected)
    g = T.grad(T.sum(T.logsumexp(x, axis=1)[:2]), x)
    gv = fn([x], g, mode)(v)
    assert np.all(np.isfinite(gv[:2]))
    np.testing.assert_allclose(gv[:2], sp.softmax(v[:2].astype("float64"), axis=1),
                               rtol=1e-5, atol=1e-6)


def test_reduce_list_of_variables_is_stacked(mode, rng):
    """T.max([0*x, 1-x*y]) as in Theano: the list is stacked first."""
    x, y = T.dvector("x"), T.dvector("y")
    xv, yv = rng.standard_normal(4), rng.standard_normal(4)
    out = T.max([0 * x, 1 - x * y], axis=0)
    assert_same(fn([x, y], out, mode)(xv, yv), np.max([0 * xv, 1 - xv * yv], axis=0))
    total = T.sum([x, y])
    assert_same(fn([x, y], total, mode)(xv, yv), np.sum([xv, yv]))
    m = T.mean([x.sum(), y.sum(), 1.0])
    assert_same(fn([x, y], m, mode)(xv, yv), np.mean([xv.sum(), yv.sum(), 1.0]))


# ------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("name", NAMES)
def test_bad_axes_raise(name):
    op = REDUCTIONS[name][0]
    x = T.dtensor3("x")
    for axis in (3, -4, (0, 3)):
        with pytest.raises(ValueError):
            op(x, axis=axis)
    with pytest.raises(ValueError):
        op(x, axis=(1, 1))
    with pytest.raises(ValueError):
        op(x, axis=(0, -3))


def test_bad_argreduce_axes_raise():
    x = T.dmatrix("x")
    for axis in (2, -3):
        with pytest.raises(ValueError):
            T.argmax(x, axis=axis)


def test_static_shapes_of_reductions():
    x = TensorType("float64", shape=(2, None, 4))("x")
    assert T.sum(x, axis=1).type.shape == (2, 4)
    assert T.max(x, axis=(0, 2)).type.shape == (None,)
    assert T.mean(x, axis=-1, keepdims=True).type.shape == (2, None, 1)
    assert T.sum(x, keepdims=True).type.shape == (1, 1, 1)
    assert T.argmax(x, axis=0).type.shape == (None, 4)
    assert T.sum(x).ndim == 0


# ================================================================ gradients

GRAD_AXES = [None, 0, 1, -1, (0, 2), (2, 0, 1)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", GRAD_AXES, ids=[str(a).replace(" ", "") for a in GRAD_AXES])
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min",
                                  "logsumexp"])
def test_reduction_grad(name, axis, keepdims, mode, rng):
    op = REDUCTIONS[name][0]
    if name == "prod":
        v = rng.uniform(0.5, 1.5, (2, 3, 4)) * rng.choice([-1, 1], (2, 3, 4))
    else:
        v = rng.permutation(np.linspace(-2, 2, 24)).reshape(2, 3, 4)  # no ties
    verify_grad(lambda t: op(t, axis=axis, keepdims=keepdims), [v], rng=rng, mode=mode,
                n_tests=1)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min",
                                  "logsumexp"])
def test_reduction_grad_float32(name, mode, rng):
    op = REDUCTIONS[name][0]
    x = T.fmatrix("x")
    v = rng.uniform(0.5, 1.5, (3, 4)).astype("float32")
    g = T.grad(T.sum(op(x, axis=1) * np.float32(2)), x)
    assert g.dtype == "float32"
    got = fn([x], g, mode)(v)
    x64 = T.dmatrix("x64")
    want = fn([x64], T.grad(T.sum(op(x64, axis=1) * 2.0), x64), mode)(v.astype("float64"))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_reduction_grad_0d(mode, rng):
    for name in ["sum", "prod", "mean", "max", "min", "logsumexp"]:
        verify_grad(REDUCTIONS[name][0], [np.asarray(0.7)], rng=rng, mode=mode, n_tests=1)


@pytest.mark.parametrize("n_zeros", [0, 1, 2])
def test_prod_grad_with_zeros(n_zeros, mode, rng):
    v = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    flat = v.reshape(-1)
    flat[rng.choice(flat.size, n_zeros, replace=False)] = 0.0
    verify_grad(T.prod, [v], rng=rng, mode=mode, n_tests=1)
    # per row: rows with 0, 1 and 2 zeros at once
    w = rng.uniform(0.5, 2.0, (3, 4))
    w[1, 2] = 0.0
    w[2, [0, 3]] = 0.0
    w[0, :n_zeros] = 0.0
    verify_grad(lambda t: T.prod(t, axis=1), [w], rng=rng, mode=mode, n_tests=1)
    verify_grad(lambda t: T.prod(t, axis=0, keepdims=True), [w.T.copy()], rng=rng, mode=mode,
                n_tests=1)


def test_prod_grad_exact_values(mode):
    x = T.dvector("x")
    g = fn([x], T.grad(T.prod(x), x), mode)
    assert_same(g(np.array([2.0, 3.0, 4.0])), np.array([12.0, 8.0, 6.0]))
    assert_same(g(np.array([2.0, 0.0, 4.0])), np.array([0.0, 8.0, 0.0]))
    assert_same(g(np.array([0.0, 0.0, 4.0])), np.array([0.0, 0.0, 0.0]))
    assert_same(g(np.array([0.0])), np.array([1.0]))
    assert_same(g(np.zeros(0)), np.zeros(0))


def test_max_grad_ties_go_to_every_maximum(mode):
    """Theano's rule: each element equal to the maximum gets the gradient."""
    x = T.dmatrix("x")
    g = fn([x], T.grad(T.sum(T.max(x, axis=1)) + T.min(x), x), mode)
    v = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]])
    assert_same(g(v), np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]))


def test_reduction_grad_static_broadcastable_dims(mode, rng):
    """Reducing over dims known to be 1 and over rows/cols."""
    r, c = T.drow("r"), T.dcol("c")
    rv, cv = rng.standard_normal((1, 4)), rng.standard_normal((3, 1))
    for op in (T.sum, T.prod, T.mean, T.max, T.logsumexp):
        for axis in (None, 0, 1, (0, 1)):
            cost = T.sum(op(r, axis=axis) * 1.5) + T.sum(op(c, axis=axis, keepdims=True) ** 2)
            gr, gc = fn([r, c], T.grad(cost, [r, c]), mode)(rv, cv)
            assert gr.shape == (1, 4) and gc.shape == (3, 1)
            f = fn([r, c], cost, mode)
            eps = 1e-6
            for k, (val, got) in enumerate([(rv, gr), (cv, gc)]):
                num = np.zeros(val.shape)
                for idx in np.ndindex(*val.shape):
                    p, m = [rv.copy(), cv.copy()], [rv.copy(), cv.copy()]
                    p[k][idx] += eps
                    m[k][idx] -= eps
                    num[idx] = (f(*p) - f(*m)) / (2 * eps)
                np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-6)


def test_reduction_of_broadcast_expression_grad(mode, rng):
    """sum over an axis that came from broadcasting a row against a col."""
    verify_grad(lambda a, b: T.sum(a * b, axis=0), [rng.standard_normal((1, 4)),
                                                     rng.standard_normal((3, 1))],
                rng=rng, mode=mode)
    verify_grad(lambda a, b: T.var(a + b, axis=1), [rng.standard_normal((1, 4)),
                                                    rng.standard_normal((3, 1))],
                rng=rng, mode=mode)


def test_reduction_grad_integer_inputs_are_zero(mode):
    graphc.config.floatX = "float64"
    i, x = T.imatrix("i"), T.dmatrix("x")
    cost = T.sum(x) * T.sum(i) + T.max(i) * 1.0 + T.mean(i) + T.prod(i) * 0.5
    gi, gx = T.grad(cost, [i, x])
    iv = np.array([[1, 2], [3, 4]], dtype="int32")
    xv = np.ones((2, 2))
    ri, rx = fn([i, x], [gi, gx], mode)(iv, xv)
    assert ri.shape == (2, 2) and np.all(ri == 0)
    assert_same(rx, np.full((2, 2), 10.0))


def test_argmax_is_not_differentiable_but_does_not_break_grad(mode, rng):
    x = T.dmatrix("x")
    idx = T.argmax(x, axis=1)
    cost = T.sum(T.max(x, axis=1) * idx)
    g = T.grad(cost, x)
    v = rng.standard_normal((3, 4))
    expected = np.zeros((3, 4))
    am = np.argmax(v, axis=1)
    expected[np.arange(3), am] = am
    assert_same(fn([x], g, mode)(v), expected)


def test_second_order_reduction_grads(mode, rng):
    v = rng.uniform(-1, 1, (2, 3))
    for op in (T.logsumexp, T.prod, T.var, T.std, T.mean, T.max):
        verify_grad(lambda t: T.grad(op(T.sin(t)), t), [v], rng=rng, mode=mode, n_tests=1)
    verify_grad(lambda t: T.grad(T.sum(T.logsumexp(t, axis=1) ** 2), t), [v], rng=rng,
                mode=mode, n_tests=1)


def test_numpy_integer_axes(mode, rng):
    x = T.dtensor3("x")
    v = rng.standard_normal((2, 3, 4))
    outs = [T.sum(x, axis=np.int64(1)), T.max(x, axis=(np.int32(0), np.int64(-1))),
            T.argmax(x, axis=np.int64(2))]
    got = fn([x], outs, mode)(v)
    for g, e in zip(got, [v.sum(axis=1), v.max(axis=(0, 2)), v.argmax(axis=2)]):
        assert_same(g, e)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min",
                                  "logsumexp"])
def test_float32_reduction_graphs_stay_float32(name):
    from graphc.graph.traversal import ancestors

    x = T.fmatrix("x")
    y = REDUCTIONS[name][0](x, axis=1)
    g = T.grad(T.sum(y), x)
    assert y.dtype == "float32"
    wide = [v for v in ancestors([y, g]) if getattr(v.type, "dtype", None) == "float64"]
    assert not wide, wide


def test_mean_accumulator_like_numpy(mode):
    """NumPy sums float16 in float32 and integers in float64 for the mean."""
    h = T.vector("h", dtype="float16")
    hv = np.full(10000, 10, dtype="float16")
    got = fn([h], T.mean(h), mode)(hv)
    assert_same(got, np.mean(hv))
    assert got == 10
    big = T.lvector("big")
    bv = np.array([2**62, 2**62, 2**62], dtype="int64")
    assert_same(fn([big], T.mean(big), mode)(bv), np.mean(bv))
    g = T.grad(T.mean(h), h)
    assert g.dtype == "float16"
