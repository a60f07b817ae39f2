"""The kernel IR: construction, canonical text/hash, NumPy evaluation."""
import numpy as np
import pytest

import graphc.tensor as T
from graphc.kernel import (KConst, KInput, Kernel, KernelInput, KReduced, Reduction, apply_scalar,
                           cast, evaluate)
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


# ------------------------------------------------------------ epilogues

def _bias_update_kernel(dtype, lr=0.1):
    """``b - lr * sum(g, axis=0)``: the reduction of input 0, then an
    epilogue reading input 1 in the reduced (1-d) output space."""
    g, b = KInput(0, dtype), KInput(1, dtype)
    step = apply_scalar(s.mul, KConst(lr, dtype), KReduced(0, dtype))
    return Kernel([KernelInput(dtype, 2), KernelInput(dtype, 1, epilogue=True)], [g], 2,
                  Reduction("sum", [0]), [apply_scalar(s.sub, b, step)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_epilogue_reads_reductions_and_output_space_inputs(dtype):
    k = _bias_update_kernel(dtype)
    g = np.arange(12, dtype=dtype).reshape(3, 4)
    b = np.linspace(-1, 1, 4).astype(dtype)
    (out,) = evaluate(k, [g, b])
    assert out.dtype == dtype and out.shape == (4,)
    want = b - np.asarray(0.1, dtype) * g.sum(axis=0, dtype=dtype)
    np.testing.assert_array_equal(out, want)
    assert k.output_dtypes == [dtype] and k.results == k.epilogue
    assert "epilogue:" in k.text and "@out" in k.text
    assert k.expression(0).startswith("i1 - (0.1") and k.expression(0).endswith(" * sum[0](i0))")


def test_epilogue_input_broadcasts_against_the_reduced_shape():
    k = _bias_update_kernel("float64")
    g = np.ones((5, 3))
    (col,) = evaluate(k, [g, np.array([2.0])])  # a length-1 input broadcasts
    np.testing.assert_array_equal(col, 2.0 - 0.1 * np.full(3, 5.0))
    (grown,) = evaluate(k, [np.ones((5, 1)), np.arange(4.0)])  # and so may the reduced value
    np.testing.assert_array_equal(grown, np.arange(4.0) - 0.5)
    with pytest.raises(ValueError, match="broadcast"):
        evaluate(k, [g, np.zeros(4)])


def test_epilogue_nan_inf_and_empty_reductions():
    x = KInput(0, "float64")
    # mean-like: sum / count, and max(x) - 1 with the max's -inf identity
    div = apply_scalar(s.true_div, KReduced(0, "float64"), KInput(1, "float64"))
    k = Kernel([KernelInput("float64", 1), KernelInput("float64", 0, epilogue=True)], [x], 1,
               Reduction("sum", [0]), [div, KReduced(0, "float64")])
    vals = np.array([1.0, np.inf, 2.0])
    mean, total = evaluate(k, [vals, np.float64(3.0)])
    assert mean == np.inf and total == np.inf
    mean, total = evaluate(k, [np.zeros(0), np.float64(0.0)])  # 0/0
    assert np.isnan(mean) and total == 0.0
    mean, _ = evaluate(k, [np.array([np.nan, 1.0]), np.float64(2.0)])
    assert np.isnan(mean)
    m = Kernel([KernelInput("float32", 1)], [KInput(0, "float32")], 1, Reduction("max", [0]),
               [apply_scalar(s.sub, KReduced(0, "float32"), KConst(1, "float32"))])
    (low,) = evaluate(m, [np.zeros(0, np.float32)])
    assert low == -np.inf and low.dtype == np.float32


def test_epilogue_results_are_fresh_distinct_arrays():
    r = KReduced(0, "float64")
    k = Kernel([KernelInput("float64", 2)], [KInput(0, "float64")], 2, Reduction("sum", [1]),
               [r, r])
    a, b = evaluate(k, [np.ones((2, 3))])
    assert a is not b and a.flags.writeable and a.flags.owndata
    np.testing.assert_array_equal(a, [3.0, 3.0])


def test_epilogue_is_part_of_the_kernel_identity():
    assert _bias_update_kernel("float32") == _bias_update_kernel("float32")
    assert _bias_update_kernel("float32", 0.1) != _bias_update_kernel("float32", 0.2)
    x = KInput(0, "float32")
    plain = Kernel([KernelInput("float32", 1)], [x], 1, Reduction("sum", [0]))
    identity = Kernel([KernelInput("float32", 1)], [x], 1, Reduction("sum", [0]),
                      [KReduced(0, "float32")])
    assert plain != identity and plain.key() != identity.key()
    np.testing.assert_array_equal(evaluate(plain, [np.arange(3.0)]),
                                  evaluate(identity, [np.arange(3.0)]))


def test_kernel_op_types_an_epilogue_in_the_output_space():
    k = _bias_update_kernel("float32")
    g = T.TensorType("float32", shape=(None, 7))("g")
    b = T.TensorType("float32", shape=(None,))("b")
    out = KernelOp(k)(g, b)
    assert out.type.shape == (7,)
    assert "sum[0](i0)" in str(KernelOp(k))
    node = out.owner
    assert node.op.infer_shape(node, [(5, 7), (7,)]) == [(7,)]


def test_rejects_inconsistent_epilogues():
    x, r = KInput(0, "float32"), KReduced(0, "float32")
    flat = [KernelInput("float32", 1)]
    with pytest.raises(ValueError, match="needs a reduction"):
        Kernel(flat, [x], 1, None, [x])
    with pytest.raises(ValueError, match="outside the epilogue"):
        Kernel(flat, [apply_scalar(s.add, x, r)], 1, Reduction("sum", [0]))
    with pytest.raises(ValueError, match="reductions"):
        Kernel(flat, [x], 1, Reduction("sum", [0]), [KReduced(1, "float32")])
    with pytest.raises(ValueError, match="other space"):  # the epilogue reads a loop input
        Kernel(flat, [x], 1, Reduction("sum", [0]), [apply_scalar(s.add, x, r)])
    with pytest.raises(ValueError, match="other space"):  # the body reads an epilogue input
        Kernel(flat + [KernelInput("float32", 0, epilogue=True)],
               [KInput(1, "float32")], 1, Reduction("sum", [0]), [r])
    with pytest.raises(ValueError, match="output rank"):
        Kernel(flat + [KernelInput("float32", 1, epilogue=True)], [x], 1,
               Reduction("sum", [0]), [r])
    with pytest.raises(ValueError, match="without an epilogue"):
        Kernel(flat + [KernelInput("float32", 0, epilogue=True)], [x], 1, Reduction("sum", [0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_epilogue_runs_as_reduction_then_elementwise(dtype):
    k = _bias_update_kernel(dtype)
    body, tail, loop, late = k.split_epilogue()
    assert (loop, late) == ([0], [1])
    assert body.epilogue is None and body.reduce.axes == (0,) and tail.reduce is None
    assert tail.ndim == k.out_ndim and not any(i.epilogue for i in tail.inputs)
    g = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, -0.0]], dtype)
    b = np.array([0.5, -np.inf, 2.0], dtype)
    (reduced,) = evaluate(body, [g])
    np.testing.assert_array_equal(evaluate(tail, [reduced, b])[0], evaluate(k, [g, b])[0])
    with pytest.raises(ValueError, match="no epilogue"):
        body.split_epilogue()


def test_deep_shared_dag_keys_and_text_stay_linear():
    """y = y*c + cos(y) repeated: every level reads y twice, so nested keys or
    infix text would double per level; equality, hashing and printing stay
    cheap at any depth."""
    y = KInput(0, "float64")
    for _ in range(500):
        y = apply_scalar(s.add, apply_scalar(s.mul, y, KConst(1.0001, "float64")),
                         apply_scalar(s.cos, y))
    k = Kernel([KernelInput("float64", 1)], [y], 1)
    assert len(k.nodes) == 1 + 1 + 3 * 500  # input, constant, 3 ops per level
    assert len(k.expression()) <= 200
    z = KInput(0, "float64")
    for _ in range(500):
        z = apply_scalar(s.add, apply_scalar(s.mul, z, KConst(1.0001, "float64")),
                         apply_scalar(s.cos, z))
    assert z == y and hash(z) == hash(y)
    assert apply_scalar(s.cos, z) != apply_scalar(s.sin, z)
