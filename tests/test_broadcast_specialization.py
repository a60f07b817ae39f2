"""Broadcast specialization: functions compile under the strict broadcasting
rule (only dims of static size 1 broadcast) and fall back, once, to the
NumPy-broadcasting graph when a call broadcasts a dim of unknown size."""

import pickle
import sys

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.function import FALLEN_BACK_VARIANT, NUMPY_VARIANT, STRICT_VARIANT
from graphc.compile.mode import Mode
from graphc.graph.shape_feature import RuntimeBroadcastAssumption, ShapeFeature
from graphc.kernel.ir import Kernel, KernelInput, KInput, apply_scalar, evaluate
from graphc.ops import scalar as scal
from graphc.ops.blas import Gemm
from graphc.ops.elemwise import SumToShapeOf
from graphc.ops.kernel import KernelOp

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/benchmarks")
from workloads import build_w3_function  # noqa: E402

UNOPT = Mode("python", optimizer=None)


def ops_of(f):
    return [n.op for n in f.maker.fgraph.toposort()]


def has_sum_to_shape(f):
    return any(isinstance(op, SumToShapeOf) for op in ops_of(f))


def numpy_rule(mode):
    """``mode``'s backend with the NumPy broadcasting rule from the start."""
    return Mode(mode, strict_broadcast=False)


# ------------------------------------------------------------------ structure

def test_w3_train_step_fuses_to_eight_kernels_without_runtime_sums():
    f = build_w3_function("python", batch=8)[0]
    assert f.broadcasting == STRICT_VARIANT
    ops = ops_of(f)
    assert sum(isinstance(op, KernelOp) for op in ops) <= 8
    assert sum(isinstance(op, Gemm) for op in ops) == 8
    assert not has_sum_to_shape(f)
    # each bias gradient's column sum is fused with the bias's SGD update
    updates = [op for op in ops if isinstance(op, KernelOp) and op.kernel.epilogue is not None]
    assert len(updates) == 4  # three bias updates and the mean's division
    generic = build_w3_function(Mode("python", strict_broadcast=False), batch=8)[0]
    assert has_sum_to_shape(generic)


def test_w2_logistic_regression_has_no_runtime_sums():
    X, y = T.dmatrix("X"), T.dvector("y")
    w, b = graphc.shared(np.zeros(4), name="w"), graphc.shared(0.0, name="b")
    p = 1 / (1 + T.exp(-T.dot(X, w) - b))
    loss = T.nnet.binary_crossentropy(p, y).mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(loss, [w, b])
    updates = [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]
    f = graphc.function([X, y], [p, loss], updates=updates, mode="python")
    assert not has_sum_to_shape(f)
    generic = graphc.function([X, y], [p, loss], updates=updates,
                              mode=Mode("python", strict_broadcast=False))
    assert has_sum_to_shape(generic)
    assert len(f.maker.fgraph.apply_nodes) < len(generic.maker.fgraph.apply_nodes)


def test_product_gradient_of_vectors_is_the_other_vector(mode):
    x, y = T.dvectors("x", "y")
    g = graphc.grad((x * y).sum(), x)
    f = graphc.function([x, y], g, mode=mode)
    assert not has_sum_to_shape(f)
    # one kernel; it still reads x: x * y is what checks x's length against y's
    assert [type(op) for op in ops_of(f)] == [KernelOp]
    xv, yv = np.arange(5.0), np.array([1.0, -2.0, np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(f(xv, yv), yv)
    assert f.broadcasting == STRICT_VARIANT
    np.testing.assert_array_equal(f(xv[:1], yv[:2]), [-1.0])  # summed, via the fallback


def test_strict_shape_feature_equates_broadcast_operands():
    x, y = T.dvectors("x", "y")
    z = x + y
    numpy_facts, strict = ShapeFeature(), ShapeFeature(strict_broadcast=True)
    assert isinstance(numpy_facts.shape_of(z)[0], frozenset)  # either may be 1 at run time
    assert not numpy_facts.same_dim(numpy_facts.shape_of(x)[0], numpy_facts.shape_of(y)[0])
    strict.shape_of(z)
    assert strict.same_dim(strict.shape_of(x)[0], strict.shape_of(y)[0])
    assert strict.shape_of(z) == strict.shape_of(x)
    assert strict.witnesses == [z.owner]  # true only while the add runs
    assert isinstance(strict.shape_of(z, structural=True)[0], frozenset)
    # a dim of static size 1 still broadcasts: nothing to equate
    s = T.tensor("float64", shape=(1,), name="s")
    strict = ShapeFeature(strict_broadcast=True)
    assert strict.shape_of(x + s) == strict.shape_of(x) and not strict.witnesses


# --------------------------------------------------------------- the checks

def _add_kernel(strict, flags=(False,)):
    ins = [KernelInput("float64", 1), KernelInput("float64", 1, flags)]
    out = apply_scalar(scal.add, KInput(0, "float64"), KInput(1, "float64"))
    return Kernel(ins, [out], 1, strict_broadcast=strict)


def test_strict_kernel_refuses_to_broadcast_an_unknown_dim():
    strict, plain = _add_kernel(True), _add_kernel(False)
    assert strict != plain and "strict" in strict.text  # part of its identity
    a, one = np.arange(5.0), np.array([2.0])
    np.testing.assert_array_equal(evaluate(plain, [a, one])[0], a + 2)
    with pytest.raises(RuntimeBroadcastAssumption):
        evaluate(strict, [a, one])
    # equal shapes, and dims flagged static 1, are fine
    np.testing.assert_array_equal(evaluate(strict, [a, a])[0], a + a)
    np.testing.assert_array_equal(evaluate(_add_kernel(True, (True,)), [a, one])[0], a + 2)
    # a genuine mismatch stays a ValueError
    with pytest.raises(ValueError, match="cannot be broadcast"):
        evaluate(strict, [a, np.arange(3.0)])


def test_llvm_loop_shape_checks_only_on_the_slow_path():
    runtime = pytest.importorskip("graphc.backends.llvm.runtime")
    strict = _add_kernel(True)
    a = np.arange(5.0)
    with pytest.raises(RuntimeBroadcastAssumption):
        runtime._loop_shape(strict, [a, a[:1]])
    assert runtime._loop_shape(_add_kernel(False), [a, a[:1]]) == (5,)
    # arrays may carry leading length-1 padding: the flags align to the right
    with pytest.raises(RuntimeBroadcastAssumption):
        runtime._loop_shape(strict, [a, np.ones((1, 1))])
    assert runtime._loop_shape(_add_kernel(True, (True,)), [a, np.ones((1, 1))]) == (5,)


def test_runtime_broadcast_assumption_is_exported():
    import graphc.compile

    assert graphc.compile.RuntimeBroadcastAssumption is RuntimeBroadcastAssumption
    assert not issubclass(RuntimeBroadcastAssumption, ValueError)  # never a user error


# ----------------------------------------------------------- the fallback

def test_length_one_vector_falls_back_with_numpy_values_and_gradient(mode):
    x, y = T.dvectors("x", "y")
    cost = (x * y + T.exp(x)).sum()
    gx, gy = graphc.grad(cost, [x, y])
    f = graphc.function([x, y], [cost, gx, gy], mode=mode)
    ref = graphc.function([x, y], [cost, gx, gy], mode=UNOPT)
    xv, yv = np.array([0.5]), np.array([1.0, -2.0, 3.0, 0.25, 4.0])
    x0, y0 = xv.copy(), yv.copy()
    got = f(xv, yv)
    assert f.broadcasting == FALLEN_BACK_VARIANT
    for g, w in zip(got, ref(xv, yv)):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert got[1].shape == (1,)  # the gradient sums over the broadcast
    np.testing.assert_array_equal(xv, x0)
    np.testing.assert_array_equal(yv, y0)
    # equal lengths still work on the generic graph, which now runs for good
    for g, w in zip(f(yv, yv), ref(yv, yv)):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert has_sum_to_shape(f) and f.maker.strict_fgraph is not f.maker.fgraph


def test_row_matrix_broadcasts_against_a_matrix(mode):
    a, m = T.dmatrices("a", "m")
    out = T.tanh(a + m) * m
    ga = graphc.grad(out.sum(), a)
    f = graphc.function([a, m], [out, ga], mode=mode)
    ref = graphc.function([a, m], [out, ga], mode=UNOPT)
    rng = np.random.default_rng(0)
    mv = rng.standard_normal((4, 3))
    same = rng.standard_normal((4, 3))
    for g, w in zip(f(same, mv), ref(same, mv)):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert f.broadcasting == STRICT_VARIANT
    row = rng.standard_normal((1, 3))
    for g, w in zip(f(row, mv), ref(row, mv)):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert f.broadcasting == FALLEN_BACK_VARIANT


def _bias_model(mode, n_bias):
    X, W = T.dmatrix("X"), T.dmatrix("W")
    b = graphc.shared(np.full(n_bias, 0.5), name="b")
    loss = (T.nnet.relu(T.dot(X, W) + b) ** 2).sum()
    gb = graphc.grad(loss, b)
    f = graphc.function([X, W], [loss, gb], updates=[(b, b - 0.1 * gb)], mode=mode)
    return f, b, X, W, loss, gb


def test_length_one_bias_updates_once_through_the_fallback(mode):
    f, b, X, W, loss, gb = _bias_model(mode, 1)
    ref = graphc.function([X, W], [loss, gb], mode=UNOPT)
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    x0, w0 = xv.copy(), wv.copy()
    want_loss, want_gb = ref(xv, wv)
    got_loss, got_gb = f(xv, wv)
    assert f.broadcasting == FALLEN_BACK_VARIANT
    assert got_gb.shape == (1,)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(got_gb, want_gb, rtol=1e-12)
    # the update was applied exactly once (not by the aborted attempt too)
    np.testing.assert_allclose(b.get_value(), 0.5 - 0.1 * want_gb, rtol=1e-12)
    np.testing.assert_array_equal(xv, x0)
    np.testing.assert_array_equal(wv, w0)
    # the second call goes straight to the generic graph
    before = b.get_value()
    want_loss, want_gb = ref(xv, wv)
    f(xv, wv)
    np.testing.assert_allclose(b.get_value(), before - 0.1 * want_gb, rtol=1e-12)


def test_second_call_does_not_compile_again(mode, monkeypatch):
    f, b, *_ = _bias_model(mode, 1)
    function_module = sys.modules["graphc.compile.function"]
    calls = []
    real = function_module._compile_graph
    monkeypatch.setattr(function_module, "_compile_graph",
                        lambda *a: calls.append(a) or real(*a))
    xv, wv = np.ones((2, 3)), np.ones((3, 4))
    f(xv, wv)
    f(xv, wv)
    f(xv, wv)
    assert len(calls) == 1


def test_aborted_attempt_leaves_shared_storage_and_inputs_untouched(mode):
    """The strict graph's in-place kernels write only into its own dead
    buffers: a call that falls back changes no input and no shared value
    before the generic graph runs."""
    x = T.dvector("x")
    s = graphc.shared(np.arange(4.0), name="s")
    t = graphc.shared(np.ones(4), name="t")
    y = T.exp(s * 2.0) + x
    z = T.sqrt(abs(y)) - t
    f = graphc.function([x], [z], updates=[(s, s + z), (t, t * 2.0)], mode=mode)
    s_before, t_before = s.get_value(borrow=True), t.get_value(borrow=True)
    s_copy, t_copy = s_before.copy(), t_before.copy()
    xv = np.array([3.0])
    x_copy = xv.copy()
    ref = np.sqrt(np.abs(np.exp(s_copy * 2.0) + xv)) - t_copy
    (got,) = f(xv)
    assert f.broadcasting == FALLEN_BACK_VARIANT
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    np.testing.assert_array_equal(xv, x_copy)
    np.testing.assert_array_equal(s_before, s_copy)  # the old storage was not written
    np.testing.assert_array_equal(t_before, t_copy)
    np.testing.assert_allclose(s.get_value(), s_copy + ref, rtol=1e-13)
    np.testing.assert_array_equal(t.get_value(), t_copy * 2.0)


def test_genuine_mismatch_error_is_unchanged(mode):
    x, y = T.dvectors("x", "y")
    out = T.exp(x) * y
    strict = graphc.function([x, y], out, mode=mode)
    generic = graphc.function([x, y], out, mode=numpy_rule(mode))
    messages = []
    for f in (strict, generic):
        with pytest.raises(ValueError) as info:
            f(np.ones(5), np.ones(3))
        assert not isinstance(info.value, RuntimeBroadcastAssumption)
        messages.append(str(info.value).splitlines()[0])
    assert "(5,)" in messages[0] and "(3,)" in messages[0]
    assert messages[0] == messages[1]
    # with a length-1 operand in the mix the fallback still reports the mismatch
    z = T.dvector("z")
    f = graphc.function([x, y, z], x * y + z, mode=mode)
    with pytest.raises(ValueError, match=r"\(5,\).*\(3,\)|\(3,\).*\(5,\)"):
        f(np.ones(5), np.ones(1), np.ones(3))


def test_opt_out_compiles_the_numpy_graph_from_the_start(mode):
    x, y = T.dvectors("x", "y")
    g = graphc.grad((x * y).sum(), x)
    f = graphc.function([x, y], g, mode=numpy_rule(mode))
    assert f.broadcasting == NUMPY_VARIANT and has_sum_to_shape(f)
    graphc.config.strict_broadcast = False
    f2 = graphc.function([x, y], g, mode=mode)
    assert f2.broadcasting == NUMPY_VARIANT
    np.testing.assert_array_equal(f2(np.ones(1), np.arange(3.0)), [3.0])


def test_report_and_profile_say_which_variant_runs():
    x, y = T.dvectors("x", "y")
    f = graphc.function([x, y], x + y, mode="python", profile=True)
    assert "strict" in str(f.report())
    f(np.ones(3), np.ones(3))
    assert "strict" in f.profile.summary(file="str")
    f(np.ones(1), np.ones(3))
    assert "fell back" in str(f.report())
    assert "fell back" in f.profile.summary(file="str")


def test_pickled_function_keeps_specializing_and_falling_back(mode):
    f, b, *_ = _bias_model(mode, 1)
    g = pickle.loads(pickle.dumps(f))
    assert g.broadcasting == STRICT_VARIANT
    xv, wv = np.ones((2, 3)), np.ones((3, 4))
    loss, gb = g(xv, wv)
    assert g.broadcasting == FALLEN_BACK_VARIANT and gb.shape == (1,)
    v = T.dvector("v")
    opted_out = graphc.function([v], v * 2.0, mode=numpy_rule(mode))
    assert pickle.loads(pickle.dumps(opted_out)).broadcasting == NUMPY_VARIANT


def test_gemm_bias_of_length_one_falls_back(mode):
    X, W = T.dmatrices("X", "W")
    c = T.dvector("c")
    out = T.dot(X, W) + c
    f = graphc.function([X, W, c], out, mode=mode)
    assert any(isinstance(op, Gemm) for op in ops_of(f))
    xv, wv = np.ones((2, 3)), np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(f(xv, wv, np.ones(4)), xv @ wv + 1)
    assert f.broadcasting == STRICT_VARIANT
    np.testing.assert_allclose(f(xv, wv, np.array([2.0])), xv @ wv + 2)
    assert f.broadcasting == FALLEN_BACK_VARIANT


def test_unfused_elemwise_checks_the_rule_too(mode):
    """FAST_COMPILE does not fuse: lone Elemwise nodes check the strict rule."""
    x, y = T.dvectors("x", "y")
    out = T.exp(x) * y
    f = graphc.function([x, y], [out, graphc.grad(out.sum(), x)],
                        mode=Mode(mode, optimizer="FAST_COMPILE"))
    assert not any(isinstance(op, KernelOp) for op in ops_of(f))
    xv, yv = np.array([0.5]), np.arange(4.0)
    got_out, got_g = f(xv, yv)
    assert f.broadcasting == FALLEN_BACK_VARIANT
    np.testing.assert_allclose(got_out, np.exp(0.5) * yv, rtol=1e-14)
    np.testing.assert_allclose(got_g, [np.exp(0.5) * yv.sum()], rtol=1e-14)
