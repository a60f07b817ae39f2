"""Large kernel outputs reuse their buffer between calls (runtime.OutputRecycler)
only when nothing else references it: a result the caller keeps, or a view
of it, is never overwritten."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T

pytest.importorskip("llvmlite")

from graphc.backends.llvm import runtime  # noqa: E402


@pytest.fixture
def small_threshold(monkeypatch):
    """Recycle from 1 KiB, so small test arrays take the large-output path."""
    monkeypatch.setattr(runtime, "RECYCLE_MIN_BYTES", 1024)


def expr(x):
    return (x * 2 + 1) * (x - 3) / (x * x + 1)


def kernel_thunk(f):
    (thunk,) = [t for _, t, *_ in f.runner.schedule if hasattr(t, "recyclers")]
    return thunk


def test_results_the_caller_keeps_are_never_overwritten(small_threshold, rng):
    x = T.dvector("x")
    f = graphc.function([x], expr(x), mode="llvm")
    values = [rng.standard_normal(4096) for _ in range(5)]
    kept = [f(v) for v in values]
    assert len({id(k) for k in kept}) == len(kept)
    for v, k in zip(values, kept):
        np.testing.assert_allclose(k, expr(v), rtol=1e-12)
    assert kernel_thunk(f).recyclers[0].reused == 0


def test_a_dropped_result_is_reused_and_a_view_pins_it(small_threshold, rng):
    x = T.dvector("x")
    f = graphc.function([x], expr(x), mode="llvm")
    recycler = kernel_thunk(f).recyclers[0]
    v = rng.standard_normal(4096)
    for _ in range(4):
        f(v)  # result dropped at once
    assert recycler.reused >= 3
    view = f(v)[10:20]  # only a view survives: it keeps its base alive
    before = view.copy()
    for _ in range(4):
        out = f(v * 3)
        np.testing.assert_allclose(out, expr(v * 3), rtol=1e-12)
        del out
    np.testing.assert_array_equal(view, before)


def test_ping_pong_loop_reuses_while_the_previous_result_is_held(small_threshold, rng):
    x = T.fvector("x")
    f = graphc.function([x], expr(x), mode="llvm")
    recycler = kernel_thunk(f).recyclers[0]
    v = rng.standard_normal(4096).astype("float32")
    y = f(v)
    previous = []
    for k in range(6):
        old_values = y.copy()
        y_new = f(v + k)
        np.testing.assert_array_equal(y, old_values)  # the held result is intact
        y = y_new
        previous.append(id(y))
    assert recycler.reused >= 4 and len(set(previous)) <= 3


def test_dead_intermediates_are_reused_across_calls(small_threshold, rng):
    x, w = T.dmatrix("x"), T.dvector("w")
    h = T.exp(x) * 2.0           # one kernel
    out = T.dot(h, w) + T.sin(h).sum(axis=1)   # Gemm and a reduction read it
    f = graphc.function([x, w], out, mode="llvm")
    ref = graphc.function([x, w], out, mode="python")
    xv, wv = rng.standard_normal((64, 32)), rng.standard_normal(32)
    for k in range(4):
        np.testing.assert_allclose(f(xv + k, wv), ref(xv + k, wv), rtol=1e-10)
    thunks = [t for _, t, *_ in f.runner.schedule if hasattr(t, "recyclers")]
    assert any(r.reused for t in thunks for r in t.recyclers)


def test_small_outputs_are_not_kept(rng):
    x = T.dvector("x")
    f = graphc.function([x], expr(x), mode="llvm")
    for _ in range(3):
        f(rng.standard_normal(100))
    assert kernel_thunk(f).recyclers[0].kept == []
