"""Reductions with an epilogue (``b - lr * sum(g, axis=0)``, ``sum(x) / n``)
run as compiled code on the llvm backend: a reduction kernel then an
epilogue kernel, with the NumPy reference's values."""
import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.ops.kernel import KernelOp


def _epilogue_nodes(f):
    return [n for n in f.maker.fgraph.toposort()
            if isinstance(n.op, KernelOp) and n.op.kernel.epilogue is not None]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bias_update_and_mean_compile_without_fallback(dtype):
    g = T.matrix("g", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    new_b = b - np.asarray(0.1, dtype) * T.sum(g * g, axis=0)
    loss = T.mean(T.sqr(g))
    f = graphc.function([g, b], [new_b, loss], mode="llvm")
    ref = graphc.function([g, b], [new_b, loss], mode="python")
    assert _epilogue_nodes(f), "the optimizer should fuse the epilogues"
    assert not [n for n in f.runner.fallbacks if isinstance(n.op, KernelOp)]
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (1, 5), (300, 64), (0, 3)]:
        gv = rng.standard_normal(shape).astype(dtype)
        bv = rng.standard_normal(shape[1]).astype(dtype)
        if shape[0]:
            gv[0, 0] = np.inf
        for got, want in zip(f(gv, bv), ref(gv, bv)):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_epilogue_reading_a_broadcast_input():
    x = T.dmatrix("x")
    c = T.dvector("c")
    out = T.sum(T.exp(x), axis=1) * c + 1.0
    f = graphc.function([x, c], out, mode="llvm")
    xv = np.random.default_rng(1).standard_normal((4, 6))
    cv = np.arange(4.0)
    np.testing.assert_allclose(f(xv, cv), np.exp(xv).sum(axis=1) * cv + 1.0, rtol=1e-12)
    with pytest.raises(ValueError):
        f(xv, np.arange(3.0))


def test_report_shows_llvm_ir_of_every_compiled_kernel():
    x = T.fmatrix("x")
    b = T.fvector("b")
    f = graphc.function([x, b], [T.exp(x) * 2, b - np.float32(0.1) * T.sum(x * x, axis=0)],
                        mode="llvm")
    report = f.report()
    kernels = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, KernelOp)]
    assert len(report.sources) == len(kernels) == 2
    for info in report.sources:
        assert info.language == "LLVM IR"
        assert "define" in str(info.source) and "fmul" in str(info.source)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "maximum0"])
def test_gemm_activation_runs_compiled_with_the_exact_numpy_values(dtype, activation):
    """The llvm backend applies a Gemm's relu epilogue as a compiled in-place
    kernel; values equal the python backend's NumPy pass bit for bit,
    NaN, -0.0 and inf included."""
    from graphc.backends.llvm import _GemmActivationPlan
    from graphc.ops.blas import Gemm

    a, b, c = T.matrix(dtype=dtype), T.matrix(dtype=dtype), T.vector(dtype=dtype)
    out = Gemm(beta=1.0, activation=activation)(a, b, c)
    f = graphc.function([a, b, c], out, mode=Mode("llvm", optimizer=None))
    ref = graphc.function([a, b, c], out, mode=Mode("python", optimizer=None))
    (node,) = f.maker.fgraph.toposort()
    assert _GemmActivationPlan.of(node) is not None
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((4, 6)).astype(dtype)
    cv = np.array([np.nan, -0.0, np.inf, -np.inf, 1.0, -1e30], dtype)
    got, want = f(av, bv, cv), ref(av, bv, cv)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))
