"""Deep graphs (an unrolled 2,000-step RNN, ~10^4-10^5 nodes with its
gradient) build, differentiate, compile, run and print without recursion."""

import sys
import time

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc import printing

STEPS = 2000
N = 4


@pytest.fixture
def low_recursion_limit():
    """Any recursive walk over a 2,000-deep chain fails under this limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(500)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _reference(xv, Wv, h0):
    hs = [h0]
    for t in range(len(xv)):
        hs.append(np.tanh(hs[-1] @ Wv + xv[t]))
    cost = hs[-1].sum()
    # backprop through time
    gW = np.zeros_like(Wv)
    dh = np.ones_like(h0)
    for t in range(len(xv), 0, -1):
        da = dh * (1 - hs[t] ** 2)
        gW += np.outer(hs[t - 1], da)
        dh = Wv @ da
    return cost, gW


def test_unrolled_rnn_grad_compile_run(mode, low_recursion_limit):
    rng = np.random.default_rng(0)
    Wv = rng.standard_normal((N, N)) * 0.4
    x = T.dmatrix("x")
    h0 = T.dvector("h0")
    W = graphc.shared(Wv, "W")
    t0 = time.perf_counter()
    h = h0
    for t in range(STEPS):
        h = T.tanh(T.dot(h, W) + x[t])
    cost = h.sum()
    gW = graphc.grad(cost, W)
    f = graphc.function([x, h0], [cost, gW], mode=mode)
    n_nodes = len(f.maker.fgraph.toposort())
    assert n_nodes >= 5 * STEPS  # really ~10^4 nodes and more
    xv = rng.standard_normal((STEPS, N)) * 0.3
    h0v = np.zeros(N)
    cost_v, gW_v = f(xv, h0v)
    elapsed = time.perf_counter() - t0
    ref_cost, ref_gW = _reference(xv, Wv, h0v)
    np.testing.assert_allclose(cost_v, ref_cost, rtol=1e-10)
    np.testing.assert_allclose(gW_v, ref_gW, rtol=1e-8, atol=1e-12)
    assert elapsed < 30, f"build+grad+compile+run took {elapsed:.1f}s for {n_nodes} nodes"


def test_deep_graph_training_step_with_updates(mode, low_recursion_limit):
    """The same chain with an SGD update of W: a 10^4-node update graph."""
    rng = np.random.default_rng(1)
    W = graphc.shared(rng.standard_normal((N, N)) * 0.3, "W")
    x = T.dmatrix("x")
    h = T.zeros((N,))
    for t in range(STEPS // 2):
        h = T.tanh(T.dot(h, W) + x[t])
    cost = T.sum(h ** 2)
    step = graphc.function([x], cost, updates=[(W, W - 0.01 * graphc.grad(cost, W))], mode=mode)
    xv = rng.standard_normal((STEPS // 2, N)) * 0.3
    before = W.get_value()
    c0 = step(xv)
    assert np.isfinite(c0)
    assert not np.array_equal(before, W.get_value())


def test_deep_debugprint_and_pprint(low_recursion_limit):
    x = T.dvector("x")
    h = x
    for _ in range(2000):
        h = T.tanh(h) * 0.5
    text = printing.debugprint(h, file="str")
    lines = text.splitlines()
    assert len(lines) >= 4000
    x_lines = [ln for ln in lines if ln.lstrip(" |").startswith("x [id")]
    assert len(x_lines) == 1
    # the input is nested under every level: tanh and mul alternate down the chain
    assert x_lines[0].count(" |") == 4000
    one_line = printing.pprint(h)
    assert one_line.startswith("tanh(tanh(") and one_line.count("tanh") == 2000


def test_deep_runtime_error_is_reported(mode, low_recursion_limit):
    x = T.dvector("x")
    y = T.dvector("y")
    h = x
    for _ in range(2000):
        h = h * 0.999 + 0.001
    bad = h + y
    f = graphc.function([x, y], bad, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    assert "y" in str(info.value) and "(4,)" in str(info.value)


def test_wide_graph_many_inputs(mode, low_recursion_limit):
    xs = [T.dscalar(f"x{i}") for i in range(600)]
    total = xs[0]
    for v in xs[1:]:
        total = total + v * v
    g = graphc.grad(total, xs)
    f = graphc.function(xs, [total] + g[:3], mode=mode)
    vals = np.arange(600.0) / 600
    out = f(*vals)
    np.testing.assert_allclose(out[0], vals[0] + np.sum(vals[1:] ** 2))
    np.testing.assert_allclose(out[1:], [1.0, 2 * vals[1], 2 * vals[2]])
