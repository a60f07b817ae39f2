"""Stability rewrites: the optimized graph has the stable structure, agrees
with the unoptimized graph wherever that one is finite, and stays finite
(with correct gradients) at extreme inputs where that one overflows."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.gradient import verify_grad
from graphc.ops.nnet import CrossentropySoftmax1Hot, LogSoftmax, SoftmaxGrad
from graphc.rewrite.stability import positive_scalar_op
from graphc.ops import scalar as scal
from helpers import tols
from test_rewrite_canonicalize import scalar_ops

NO_OPT = Mode("python", optimizer=None)
EXTREME = np.array([-1000.0, -710.0, -88.0, -1.0, 0.0, 0.5, 88.0, 710.0, 1000.0])
MODERATE = np.array([-4.0, -1.5, -0.5, 0.0, 0.25, 2.0, 4.0])  # where the unstable forms are accurate


def _sigmoid(v):
    return np.exp(-np.logaddexp(0, -v))


def both(inputs, outputs):
    return graphc.function(inputs, outputs), graphc.function(inputs, outputs, mode=NO_OPT)


def agree_where_finite(f, ref, *args):
    """Equal to the reference wherever the reference is finite; finite everywhere."""
    with np.errstate(all="ignore"):
        got, want = f(*args), ref(*args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], **tols(w.dtype))
    return got


# (name, cost of x, forward in NumPy, gradient of the summed cost in NumPy)
SIGMOID_CASES = {
    "log_sigmoid": (lambda x: T.log(T.nnet.sigmoid(x)),
                    lambda v: -np.logaddexp(0, -v), lambda v: _sigmoid(-v)),
    "log_1m_sigmoid": (lambda x: T.log(1 - T.nnet.sigmoid(x)),
                       lambda v: -np.logaddexp(0, v), lambda v: -_sigmoid(v)),
    "log_1p_exp": (lambda x: T.log(1 + T.exp(x)),
                   lambda v: np.logaddexp(0, v), _sigmoid),
    "log1p_exp": (lambda x: T.log1p(T.exp(x)),
                  lambda v: np.logaddexp(0, v), _sigmoid),
    "log_hand_sigmoid": (lambda x: T.log(1 / (1 + T.exp(-x))),
                         lambda v: -np.logaddexp(0, -v), lambda v: _sigmoid(-v)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(SIGMOID_CASES))
def test_sigmoid_log_forms_are_stable(case, dtype):
    build, fwd, grad = SIGMOID_CASES[case]
    x = T.vector("x", dtype=dtype)
    out = build(x)
    f, ref = both([x], [out, T.grad(out.sum(), x)])
    names = set(scalar_ops(f))
    assert "log" not in names and "log1p" not in names and "softplus" in names
    agree_where_finite(f, ref, MODERATE.astype(dtype))
    value, gradient = f(EXTREME.astype(dtype))
    assert np.isfinite(value).all() and np.isfinite(gradient).all()
    np.testing.assert_allclose(value, fwd(EXTREME).astype(dtype), **tols(dtype))
    np.testing.assert_allclose(gradient, grad(EXTREME).astype(dtype), **tols(dtype))


def test_brief_examples():
    x = T.dscalar("x")
    y = T.log(T.nnet.sigmoid(x))
    assert graphc.function([x], y)(-1000.0) == -1000.0
    assert graphc.function([x], T.grad(y, x))(-1000.0) == 1.0


def test_nan_and_infinite_inputs_propagate():
    x = T.dvector("x")
    y = T.log(T.nnet.sigmoid(x))
    f, ref = both([x], [y, T.grad(y.sum(), x)])
    v = np.array([np.nan, np.inf, -np.inf])
    with np.errstate(all="ignore"):
        value, gradient = f(v)
        want = ref(v)[0]
    np.testing.assert_array_equal(value, want)  # nan, 0, -inf
    # the gradient sigmoid(-x) is its limit at +-inf; the unoptimized
    # g / s * s * (1 - s) is 0 / 0 at -inf, where s is 0
    np.testing.assert_array_equal(gradient, [np.nan, 0.0, 1.0])
    with np.errstate(all="ignore"):
        assert np.isnan(ref(v)[1][2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hand_sigmoid", [False, True])
def test_binary_crossentropy_of_sigmoid(dtype, hand_sigmoid):
    x, t = T.vector("x", dtype=dtype), T.vector("t", dtype=dtype)
    p = 1 / (1 + T.exp(-x)) if hand_sigmoid else T.nnet.sigmoid(x)
    loss = T.nnet.binary_crossentropy(p, t)
    f, ref = both([x, t], [loss, T.grad(loss.sum(), x)])
    assert "log" not in scalar_ops(f)
    targets = (np.arange(EXTREME.size) % 2).astype(dtype)
    agree_where_finite(f, ref, MODERATE.astype(dtype), targets[:MODERATE.size])
    value, gradient = f(EXTREME.astype(dtype), targets)
    want = np.logaddexp(0, EXTREME) - targets * EXTREME
    np.testing.assert_allclose(value, want.astype(dtype), **tols(dtype))
    np.testing.assert_allclose(gradient, (_sigmoid(EXTREME) - targets).astype(dtype),
                               **tols(dtype))


def test_hand_written_binary_crossentropy():
    x, t = T.dvectors("x", "t")
    p = T.nnet.sigmoid(x)
    loss = -T.mean(t * T.log(p) + (1 - t) * T.log(1 - p))
    f, _ = both([x, t], [loss, T.grad(loss, x)])
    targets = (np.arange(EXTREME.size) % 2).astype(float)
    value, gradient = f(EXTREME, targets)
    want = np.mean(np.logaddexp(0, EXTREME) - targets * EXTREME)
    np.testing.assert_allclose(value, want)
    np.testing.assert_allclose(gradient, (_sigmoid(EXTREME) - targets) / EXTREME.size,
                               rtol=1e-10, atol=1e-300)


def _softmax(v):
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(v):
    s = v - v.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


XV = np.array([[1000.0, -1000.0, 0.0, 3.0], [1.0, 2.0, 3.0, -710.0], [-88.0, 88.0, 0.0, 1.0]])
LABELS = np.array([1, 0, 2])


def _ce_costs(x, labels, onehot):
    sm = T.nnet.softmax(x)
    return {
        "int_labels": T.nnet.categorical_crossentropy(sm, labels).mean(),
        "one_hot": T.nnet.categorical_crossentropy(sm, onehot).mean(),
        "hand_indexed": -T.mean(T.log(sm)[T.arange(x.shape[0]), labels]),
        "hand_log_then_index": -T.mean(T.log(sm[T.arange(x.shape[0]), labels])),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["int_labels", "one_hot", "hand_indexed", "hand_log_then_index"])
def test_softmax_crossentropy_is_stable(case, dtype):
    x = T.matrix("x", dtype=dtype)
    labels, onehot = T.lvector("labels"), T.matrix("onehot", dtype=dtype)
    cost = _ce_costs(x, labels, onehot)[case]
    outputs = [cost, T.grad(cost, x)]
    f = graphc.function([x, labels, onehot], outputs, on_unused_input="ignore")
    ref = graphc.function([x, labels, onehot], outputs, mode=NO_OPT, on_unused_input="ignore")
    ops = [n.op for n in f.maker.fgraph.toposort()]
    # integer labels fuse into one node; one-hot targets use LogSoftmax
    assert any(isinstance(op, LogSoftmax if case == "one_hot" else CrossentropySoftmax1Hot)
               for op in ops)
    assert not any(isinstance(op, SoftmaxGrad) for op in ops)
    assert "log" not in scalar_ops(f)
    oh = np.eye(4, dtype=dtype)[LABELS]
    agree_where_finite(f, ref, (XV * 1e-2).astype(dtype), LABELS, oh)
    value, gradient = f(XV.astype(dtype), LABELS, oh)
    picked = _log_softmax(XV)[np.arange(3), LABELS]
    np.testing.assert_allclose(value, -picked.mean(), **tols(dtype))
    np.testing.assert_allclose(gradient, ((_softmax(XV) - np.eye(4)[LABELS]) / 3).astype(dtype),
                               **tols(dtype))


def test_log_softmax_and_repeated_labels():
    x, labels = T.dmatrix("x"), T.lvector("labels")
    sm = T.nnet.softmax(x)
    rows = T.constant(np.array([0, 0, 1]))
    cost = -T.sum(T.log(sm)[rows, labels])
    f, ref = both([x, labels], [T.log(sm), T.grad(cost, x)])
    agree_where_finite(f, ref, XV[:2] * 1e-2, LABELS)
    logsm, gradient = f(XV[:2], np.array([1, 1, 3]))
    np.testing.assert_allclose(logsm, _log_softmax(XV[:2]))
    counts = np.zeros((2, 4))
    np.add.at(counts, ([0, 0, 1], [1, 1, 3]), 1)
    np.testing.assert_allclose(gradient, counts.sum(1, keepdims=True) * _softmax(XV[:2]) - counts)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_and_its_gradient(dtype):
    x = T.matrix("x", dtype=dtype)
    out = T.log(T.sum(T.exp(x), axis=1))
    f, ref = both([x], [out, T.grad(out.sum(), x)])
    agree_where_finite(f, ref, (XV * 1e-2).astype(dtype))
    value, gradient = f(XV.astype(dtype))
    m = XV.max(axis=1)
    np.testing.assert_allclose(value, m + np.log(np.exp(XV - m[:, None]).sum(1)), **tols(dtype))
    np.testing.assert_allclose(gradient, _softmax(XV).astype(dtype), **tols(dtype))


def test_softmax_grad_op_values_and_gradient(rng):
    sm = _softmax(rng.standard_normal((3, 5)))
    dy = rng.standard_normal((3, 5))
    a, b = T.dmatrices("a", "b")
    f = graphc.function([a, b], SoftmaxGrad(-1)(a, b), mode=NO_OPT)
    np.testing.assert_allclose(f(dy, sm), (dy - (dy * sm).sum(1, keepdims=True)) * sm)
    verify_grad(lambda u, s: SoftmaxGrad(-1)(u, s), [dy, sm], rng=rng)
    verify_grad(lambda u: T.nnet.softmax(u, axis=0), [rng.standard_normal((4, 3))], rng=rng)
    verify_grad(lambda u: T.nnet.logsoftmax(u), [rng.standard_normal((2, 3))], rng=rng)


def test_second_derivative_through_softmax_grad(rng):
    x = T.dvector("x")
    cost = T.sum(T.nnet.softmax(x) * T.constant(np.arange(4.0)))
    h = graphc.gradient.hessian(cost, x)
    f, ref = both([x], h)
    v = rng.standard_normal(4)
    np.testing.assert_allclose(f(v), ref(v), rtol=1e-10, atol=1e-12)


def test_sympy_decides_positive_scalar_ops():
    assert positive_scalar_op(scal.sigmoid) and positive_scalar_op(scal.softplus)
    assert not positive_scalar_op(scal.exp)  # positive, but overflows at finite x
    assert not positive_scalar_op(scal.sqrt) and not positive_scalar_op(scal.tanh)
    assert not positive_scalar_op(scal.add)


def test_cancellation_keeps_unrelated_quotients():
    # x / x never cancels (0/0, inf/inf are NaN); a bare exp(x) / exp(x) is
    # left as written too: nothing in the result depends on x any more
    x = T.dvector("x")
    f, ref = both([x], [x / x, T.exp(x) / T.exp(x)])
    v = np.array([0.0, np.inf, 2.0, -1.0, 1000.0, np.nan])
    with np.errstate(all="ignore"):
        for got, want in zip(f(v), ref(v)):
            np.testing.assert_array_equal(got, want)


def test_cancellation_gives_the_limit_at_infinite_inputs():
    x, g = T.dvectors("x", "g")
    s = T.nnet.sigmoid(x)
    out = g / s * s * (1 - s)  # the gradient of log(sigmoid(x)) given g
    f, ref = both([x, g], out)
    names = scalar_ops(f)
    # g * sigmoid(-x): no fallback to the unstable form, nothing divided
    assert names.count("sigmoid") == 1 and not {"switch", "true_div", "reciprocal"} & set(names)
    v = np.array([-np.inf, np.inf, np.nan, -1000.0, 3.0])
    with np.errstate(all="ignore"):
        got, want = f(v, np.ones(5)), ref(v, np.ones(5))
    np.testing.assert_array_equal(got[:3], [1.0, 0.0, np.nan])  # limits; NaN stays NaN
    assert np.isnan(want[0]) and want[1] == 0.0
    np.testing.assert_allclose(got[3:], _sigmoid(-v[3:]))
    # what multiplies the cancelled factor still propagates its inf and NaN
    gv = np.array([np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(f(np.zeros(3), gv), gv / 2)


def test_sigmoid_of_a_quotient_is_its_limit_at_infinity():
    x = T.dvector("x")
    f, ref = both([x], T.exp(x) / (1 + T.exp(x)))
    assert scalar_ops(f) == ["sigmoid"]
    v = np.array([-np.inf, -800.0, -3.0, 0.0, 2.0, 800.0, np.inf, np.nan])
    with np.errstate(all="ignore"):
        got, want = f(v), ref(v)
    np.testing.assert_allclose(got[2:5], want[2:5], rtol=1e-15)
    # the original is inf / inf = NaN from v = 710 on; the limit is 1
    assert np.isnan(want[5]) and np.isnan(want[6])
    np.testing.assert_array_equal(got[[0, 1, 5, 6, 7]], [0.0, 0.0, 1.0, 1.0, np.nan])


def _logistic_regression(dtype):
    """W2 (Ketkar's logistic regression step): inputs, [p, loss, dw, db]."""
    X, y = T.matrix("X", dtype=dtype), T.vector("y", dtype=dtype)
    w, b = T.vector("w", dtype=dtype), T.scalar("b", dtype=dtype)
    p = 1 / (1 + T.exp(-T.dot(X, w) - b))
    loss = T.mean(-y * T.log(p) - (1 - y) * T.log(1 - p))
    return [X, y, w, b], [p, loss, *T.grad(loss, [w, b])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logistic_regression_computes_one_sigmoid_and_one_softplus(dtype):
    inputs, outputs = _logistic_regression(dtype)
    f, ref = both(inputs, outputs)
    names = scalar_ops(f)
    # p = sigmoid(z), the loss from softplus(+-z) (one exp and one log1p in
    # the kernel), the gradient (sigmoid(z) - y) / n: its sigmoid is p's
    assert names.count("sigmoid") == 1 and set(names).isdisjoint(
        {"exp", "log", "log1p", "switch", "true_div", "sqr"})
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((40, 5)).astype(dtype)
    wv, bv = rng.standard_normal(5).astype(dtype), np.asarray(0.3, dtype)
    labels = (rng.random(40) < 0.5).astype(dtype)
    agree_where_finite(f, ref, xv, labels, wv, bv)
    agree_where_finite(f, ref, xv, rng.random(40).astype(dtype), wv, bv)  # soft labels
    # logits of hundreds: the unoptimized graph overflows, this one is exact
    big = xv * 200
    p, loss, dw, db = f(big, labels, wv, bv)
    z = big.astype(float) @ wv.astype(float) + float(bv)
    g = (_sigmoid(z) - labels) / 40
    np.testing.assert_allclose(loss, np.mean(np.logaddexp(0, z) - labels * z), **tols(dtype))
    np.testing.assert_allclose(dw, big.T.astype(float) @ g, **tols(dtype))
    np.testing.assert_allclose(db, g.sum(), **tols(dtype))


def test_complementary_sigmoids_need_the_same_other_factors():
    x, y, c = T.dvectors("x", "y", "c")
    s = T.nnet.sigmoid
    cases = {  # output, sigmoids left
        "paired": ((1 - y) * s(x) * c - c * y * s(-x), 1),
        "mirrored": (-(y * s(-x)) + s(x) * (1 - y), 1),
        "negated": (-(c * y * s(-x) - c * s(x) * (1 - y)), 1),
        "other_factor": ((1 - y) * s(x) * c - y * s(-x), 2),
        "same_sign": ((1 - y) * s(x) + y * s(-x), 2),
        "other_weight": ((1 - y) * s(x) - c * s(-x), 2),
    }
    xv = np.array([-np.inf, -800.0, -2.0, 0.0, 0.5, 3.0, 800.0, np.inf, np.nan, 1.0, np.inf])
    yv = np.array([0.0, 1.0, 0.25, 1.0, 0.0, np.nan, 0.5, 1.0, 0.0, np.inf, np.inf])
    cv = np.array([2.0, 0.5, 1.0, -3.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    for name, (out, sigmoids) in cases.items():
        f = graphc.function([x, y, c], out, on_unused_input="ignore")
        ref = graphc.function([x, y, c], out, mode=NO_OPT, on_unused_input="ignore")
        assert scalar_ops(f).count("sigmoid") == sigmoids, name
        with np.errstate(all="ignore"):
            got, want = f(xv, yv, cv), ref(xv, yv, cv)
        np.testing.assert_allclose(got[:-1], want[:-1], rtol=1e-15, atol=1e-300)  # NaN too
        if sigmoids == 1:  # 1 - inf where the original is -inf * 1 - inf * 0
            assert got[-1] == -np.inf and np.isnan(want[-1]), name
        else:
            np.testing.assert_array_equal(got[-1], want[-1])


def test_stability_is_in_fast_run_only():
    from graphc.rewrite import pipeline

    table = {name: (pos, tags) for pos, name, tags in pipeline.table()}
    assert table["stability"] == (20, ["fast_run"])
    assert table["canonicalize"][0] == 10


# ------------------------------------------- fused softmax cross-entropy

def _ce_graph(form, x, y):
    if form == "categorical":
        return T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)
    return -T.log(T.nnet.softmax(x))[T.arange(x.shape[0]), y]


@pytest.mark.parametrize("form", ["categorical", "indexed"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropy_and_its_gradient_fuse(form, dtype):
    from graphc.ops.nnet import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx

    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    loss = T.mean(_ce_graph(form, x, y))
    f, ref = both([x, y], [loss, graphc.grad(loss, x)])
    ops = [type(n.op) for n in f.maker.fgraph.toposort()]
    assert CrossentropySoftmax1Hot in ops and CrossentropySoftmax1HotDx in ops
    names = {t.__name__ for t in ops}
    assert not names & {"Softmax", "LogSoftmax", "SoftmaxGrad", "AdvancedIncSubtensor"}
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((5, 4)).astype(dtype)
    xv[1, 2] = 80.0  # exp overflows float32 in a naive softmax
    yv = np.array([0, 2, 3, -1, 1], "int32")
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    for got, want in zip(f(xv, yv), ref(xv, yv)):
        np.testing.assert_allclose(got, want, **tol)
    xv[2, 0] = np.nan  # a NaN logit poisons its row, as unfused
    with np.errstate(all="ignore"):
        got, want = f(xv, yv), ref(xv, yv)
    assert np.isnan(got[0]) and np.isnan(want[0])
    np.testing.assert_array_equal(np.isnan(got[1]), np.isnan(want[1]))


def test_crossentropy_labels_out_of_range_raise():
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = _ce_graph("categorical", x, y).sum()
    f = graphc.function([x, y], loss, mode="python")
    g = graphc.function([x, y], graphc.grad(loss, x), mode="python")
    for fn in (f, g):
        with pytest.raises(IndexError, match="label 7"):
            fn(np.zeros((3, 4)), np.array([0, 7, 1], "int32"))


def test_crossentropy_rows_broadcast_like_indexing():
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = T.sum(_ce_graph("categorical", x, y) * T.arange(3))
    f, ref = both([x, y], [loss, graphc.grad(loss, x)])
    xv = np.array([[0.5, -1.0, 2.0]])  # one row, three labels
    yv = np.array([0, 2, 2], "int32")
    for got, want in zip(f(xv, yv), ref(xv, yv)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_crossentropy_op_gradients():
    from graphc.gradient import verify_grad
    from graphc.ops.nnet import CrossentropySoftmax1Hot

    yv = np.array([1, 0, 3], "int32")
    xv = np.random.default_rng(1).standard_normal((3, 4))
    verify_grad(lambda x: CrossentropySoftmax1Hot()(x, yv)[0].sum(), [xv])
    verify_grad(lambda x: (CrossentropySoftmax1Hot()(x, yv)[1] ** 3).sum()
                + (CrossentropySoftmax1Hot()(x, yv)[0] ** 2).sum(), [xv])
    # second derivative, through the fused gradient op
    verify_grad(lambda x: (graphc.grad(CrossentropySoftmax1Hot()(x, yv)[0].sum(), x) ** 2).sum(),
                [xv])


def test_logistic_regression_gradient_matches_finite_differences(mode):
    # the optimized gradient ((sigmoid(z) - y) / n through the complements
    # rule, compiled on each backend) against central differences of the loss
    rng = np.random.default_rng(5)
    xv = rng.standard_normal((30, 4))
    labels = (rng.random(30) < 0.5).astype("float64")

    def loss(w, b):
        p = 1 / (1 + T.exp(-T.dot(xv, w) - b))
        return T.mean(-labels * T.log(p) - (1 - labels) * T.log(1 - p)) + 0.01 * T.sum(w ** 2)

    verify_grad(loss, [rng.standard_normal(4), np.asarray(0.3)], rng=rng, mode=mode)
