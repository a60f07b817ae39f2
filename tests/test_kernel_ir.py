"""The kernel IR: construction, canonical text/hash, NumPy evaluation."""
import numpy as np
import pytest

import graphc.tensor as T
from graphc.kernel import (KConst, KInput, Kernel, KernelInput, Reduction, apply_scalar, cast,
                           evaluate)
from graphc.ops import scalar as s
from graphc.ops.kernel import KernelOp


def _w1_kernel(dtype="float32"):
    x = KInput(0, dtype)
    e = apply_scalar(s.mul, apply_scalar(s.exp, apply_scalar(s.neg, apply_scalar(s.mul, x, x))),
                     apply_scalar(s.sin, x))
    d = apply_scalar(s.add, KConst(1, dtype), apply_scalar(s.abs_, x))
    return Kernel([KernelInput(dtype, 1)], [apply_scalar(s.add, e, apply_scalar(
        s.true_div, apply_scalar(s.tanh, x), d))], 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_matches_numpy(dtype):
    a = np.linspace(-4, 4, 101).astype(dtype)
    (out,) = evaluate(_w1_kernel(dtype), [a])
    assert out.dtype == dtype
    np.testing.assert_allclose(out, np.exp(-a * a) * np.sin(a) + np.tanh(a) / (1 + np.abs(a)),
                               rtol=1e-6)


def test_equal_kernels_hash_equal_and_share_subexpressions():
    k1, k2 = _w1_kernel(), _w1_kernel()
    assert k1 == k2 and hash(k1) == hash(k2) and k1.key() == k2.key()
    assert k1 != _w1_kernel("float64")
    # x appears 4 times but is one node; x*x is computed once
    assert sum(1 for n in k1.nodes if isinstance(n, KInput)) == 1


def test_promotion_inserts_explicit_casts():
    node = apply_scalar(s.add, KInput(0, "int32"), KInput(1, "float32"))
    assert node.dtype == "float64"
    assert all(a.dtype == "float64" for a in node.args)
    assert cast(KConst(3, "int64"), "float32") == KConst(3.0, "float32")


def test_nan_and_signed_zero_constants_are_distinct():
    assert KConst(0.0, "float32") != KConst(-0.0, "float32")
    assert KConst(np.nan, "float64") == KConst(np.nan, "float64")


def test_broadcasting_and_reduction():
    x, b = KInput(0, "float32"), KInput(1, "float32")
    k = Kernel([KernelInput("float32", 2), KernelInput("float32", 1)],
               [apply_scalar(s.sqr, apply_scalar(s.sub, x, b))], 2, Reduction("sum", [1]))
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    v = np.arange(4, dtype=np.float32)
    (out,) = evaluate(k, [a, v])
    np.testing.assert_allclose(out, ((a - v) ** 2).sum(axis=1))
    (empty,) = evaluate(k, [np.zeros((0, 4), np.float32), v])
    assert empty.shape == (0,)


def test_max_reduction_identity_and_nan():
    k = Kernel([KernelInput("float64", 1)], [KInput(0, "float64")], 1, Reduction("max", [0]))
    assert evaluate(k, [np.array([1.0, np.nan, 3.0])])[0] != evaluate(k, [np.array([1.0])])[0]
    assert np.isnan(evaluate(k, [np.array([1.0, np.nan, 3.0])])[0])
    assert evaluate(k, [np.zeros(0)])[0] == -np.inf


def test_kernel_op_static_shapes_and_perform():
    k = Kernel([KernelInput("float32", 2), KernelInput("float32", 1)],
               [apply_scalar(s.add, KInput(0, "float32"), KInput(1, "float32"))], 2)
    m = T.TensorType("float32", shape=(None, 5))("m")
    v = T.TensorType("float32", shape=(5,))("v")
    out = KernelOp(k)(m, v)
    assert out.type.shape == (None, 5)
    with pytest.raises(TypeError, match="kernel input 1"):
        KernelOp(k)(m, T.dvector())


def test_rejects_inconsistent_kernels():
    with pytest.raises(ValueError):
        Kernel([KernelInput("float32", 1)], [KInput(0, "float64")], 1)
    with pytest.raises(ValueError):
        Kernel([KernelInput("float32", 1)], [KInput(0, "float32")], 1, Reduction("sum", [2]))
