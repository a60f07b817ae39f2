"""Array dimensions read inside kernels (``KShape`` leaves): ``x.shape[c]``
and the scalar values computed from it (``mean``'s ``1/n`` and its gradient)
are computed by the kernels that read them, so no ``Shape`` / ``Subtensor`` /
scalar kernel nodes remain and the kernels around them are not split."""
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.backends.llvm import codegen, runtime
from graphc.compile.mode import Mode
from graphc.kernel.ir import (KApply, KConst, KInput, Kernel, KernelInput, KReduced, KShape,
                              Reduction, apply_scalar, cast, evaluate)
from graphc.ops import scalar as scal
from graphc.ops.kernel import KernelOp
from graphc.ops.shape import Shape
from graphc.ops.subtensor import Subtensor
from graphc.printing import op_label

from helpers import assert_same

NO_OPT = Mode("python", optimizer=None)


def compiled(mode, inputs, outputs, strict=None):
    """``outputs`` compiled in ``mode`` and unoptimized (the reference)."""
    f_mode = Mode(mode) if strict is None else Mode(mode, strict_broadcast=strict)
    return (graphc.function(inputs, outputs, mode=f_mode),
            graphc.function(inputs, outputs, mode=NO_OPT))


def check_same(f, ref, *args):
    with np.errstate(all="ignore"):
        got, want = f(*args), ref(*args)
    for g, w in zip(got, want):
        assert_same(g, w)


def assert_no_shape_nodes(f):
    """No Shape or Subtensor node is left, nor a kernel computing values
    from dimensions alone (every kernel reads some array's elements)."""
    topo = f.maker.fgraph.toposort()
    labels = [op_label(n.op) for n in topo]
    assert not any(isinstance(n.op, (Shape, Subtensor)) for n in topo), labels
    assert all(any(i.in_loop for i in n.op.kernel.inputs)
               for n in topo if isinstance(n.op, KernelOp)), labels


def shape_leaves(f):
    return [(n.index, n.axis) for node in f.maker.fgraph.toposort()
            if isinstance(node.op, KernelOp)
            for n in node.op.kernel.nodes if isinstance(n, KShape)]


# ------------------------------------------------------------------ kernel IR

def one_over_n_kernel():
    """``x * (1 / float64(shape(i1)[0]))`` with input 1 read for its shape only."""
    n = cast(KShape(1, 0), "float64")
    body = apply_scalar(scal.mul, KInput(0, "float64"),
                        apply_scalar(scal.true_div, KConst(1.0, "float64"), n))
    return Kernel([KernelInput("float64", 1), KernelInput("float32", 2, shape_only=True)],
                  [body], 1)


def test_shape_leaf_text_key_and_reference_values():
    k = one_over_n_kernel()
    assert "i1: float32[n,n]@shape" in k.text and "shape(i1)[0]" in k.text
    assert k.expression(0) == "i0 * (1.0 / float64(shape(i1)[0]))"
    assert KShape(1, 0) == KShape(1, 0) and KShape(1, 0) != KShape(1, 1)
    assert k.key() != Kernel(k.inputs[:1] + (KernelInput("float32", 2, shape_only=True),),
                             [apply_scalar(scal.mul, KInput(0, "float64"),
                                           cast(KShape(1, 1), "float64"))], 1).key()
    x = np.arange(5.0)
    # the shape-only input neither shapes the loop nor is converted: any
    # dtype, any length, even empty
    (out,) = evaluate(k, [x, np.zeros((4, 0), "int8")])
    np.testing.assert_array_equal(out, x * (1.0 / 4.0))
    (out,) = evaluate(k, [x, np.zeros((0, 3), "float32")])
    np.testing.assert_array_equal(out, x * np.inf)


def test_shape_leaf_validation():
    spec = KernelInput("float64", 1)
    with pytest.raises(ValueError, match="dimension"):
        Kernel([spec], [cast(KShape(0, 1), "float64")], 1)
    with pytest.raises(ValueError, match="shape-only"):
        Kernel([KernelInput("float64", 1, shape_only=True)], [KInput(0, "float64")], 1)
    with pytest.raises(ValueError, match="both"):
        KernelInput("float64", 1, epilogue=True, shape_only=True)
    # a shape-only input may have a higher rank than the loop
    Kernel([KernelInput("float64", 3, shape_only=True)], [cast(KShape(0, 2), "float64")], 0)


def test_split_epilogue_keeps_the_arrays_its_dimensions_read():
    """sum(x, axis=1) / x.shape[1]: the epilogue part reads x for its shape."""
    x = KInput(0, "float64")
    k = Kernel([KernelInput("float64", 2)], [x], 2, Reduction("sum", [1]),
               [apply_scalar(scal.true_div, KReduced(0, "float64"), cast(KShape(0, 1), "float64"))])
    body, tail, loop, late = k.split_epilogue()
    assert loop == [0] and late == [0]
    assert [i.shape_only for i in tail.inputs] == [False, True]
    a = np.arange(12.0).reshape(3, 4)
    (reduced,) = evaluate(body, [a])
    (split,) = evaluate(tail, [reduced, a])
    (whole,) = evaluate(k, [a])
    np.testing.assert_array_equal(split, whole)
    np.testing.assert_array_equal(whole, a.sum(axis=1) / 4)


def test_inplace_never_overwrites_an_array_whose_dimensions_are_read():
    x = KInput(0, "float64")
    k = Kernel([KernelInput("float64", 1)],
               [apply_scalar(scal.mul, x, cast(KShape(0, 0), "float64"))], 1)
    assert codegen.inplace_pairs(k, {0: 0}) == ()


@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_dimension_is_the_whole_arrays(monkeypatch, threads):
    """Split across threads, each part still reads the full array's
    dimension (not the part's length), also through extra leading axes."""
    from graphc.backends.llvm import compile_kernel

    monkeypatch.setattr(runtime, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(runtime, "GIL_HOLD_MAX_WORK", 1)
    monkeypatch.setattr(runtime, "max_threads", threads)
    k = one_over_n_kernel()
    run = compile_kernel(k)
    x = np.arange(10_000.0)
    shaped = np.zeros((1, 7, 3), "float32")  # a leading length-1 axis
    (out,) = run([x, shaped])
    (want,) = evaluate(k, [x, shaped])
    np.testing.assert_array_equal(out, want)
    assert (run.stats.parallel_calls > 0) == (threads > 1)
    (out,) = run([x, np.zeros((0, 3), "float32")])
    np.testing.assert_array_equal(out, x * np.inf)


# ------------------------------------------------------------------- fusion

def test_mean_and_its_gradient_are_only_kernels(mode, rng):
    x = T.dvector("x")
    m = x.mean()
    f, ref = compiled(mode, [x], [m, graphc.grad(m * m, x)])
    assert_no_shape_nodes(f)
    assert all(isinstance(n.op, KernelOp) for n in f.maker.fgraph.toposort())
    assert len(f.maker.fgraph.toposort()) == 2
    assert shape_leaves(f)
    label = op_label(f.maker.fgraph.toposort()[0].op)
    assert "float64(shape(i0)[0])" in label, label
    check_same(f, ref, rng.standard_normal(7))
    check_same(f, ref, np.array([1.0, np.inf, np.nan, -0.0]))
    # n = 0: the mean is 0/0 = NaN and the gradient's 1/n is inf, as unfused
    check_same(f, ref, np.zeros(0))


@pytest.mark.parametrize("strict", [True, False])
def test_var_and_std_like_graphs(mode, rng, strict):
    x, y = T.dmatrix("x"), T.dvector("y")
    mu = x.mean(axis=0)
    var = ((x - mu) ** 2).mean(axis=0)
    std = T.sqrt(var + 1e-5)
    cost = (((x - mu) / std) * y).mean()
    outputs = [var, std, cost, *graphc.grad(cost, [x, y])]
    f, ref = compiled(mode, [x, y], outputs, strict=strict)
    assert_no_shape_nodes(f)
    for shape in [(6, 4), (1, 4), (0, 4)]:
        check_same(f, ref, rng.standard_normal(shape), rng.standard_normal(4))
    check_same(f, ref, rng.standard_normal((5, 3)), np.array([1.0]))  # y broadcasts


def test_mean_over_several_axes(mode, rng):
    x = T.tensor3("x")
    means = [x.mean(axis=(0, 2)), x.mean(axis=(1, 2)), x.mean()]
    f, ref = compiled(mode, [x], [*means, graphc.grad(sum(m.sum() for m in means), x)])
    assert_no_shape_nodes(f)
    assert len({axis for _, axis in shape_leaves(f)}) == 3
    for shape in [(2, 3, 4), (1, 5, 1), (2, 0, 3)]:
        check_same(f, ref, rng.standard_normal(shape))


def test_broadcasting_inputs(mode, rng):
    """The divisor reads the reduced array's dimension, whichever operand
    broadcasts into the loop."""
    x, row = T.dmatrix("x"), T.drow("row")
    m = (x + row).mean(axis=0)
    f, ref = compiled(mode, [x, row], [m, graphc.grad(m.sum(), row)])
    assert_no_shape_nodes(f)
    check_same(f, ref, rng.standard_normal((5, 3)), rng.standard_normal((1, 3)))
    check_same(f, ref, rng.standard_normal((0, 3)), rng.standard_normal((1, 3)))


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "uint8"])
def test_mean_of_other_dtypes(mode, rng, dtype):
    x = T.matrix("x", dtype=dtype)
    outputs = [x.mean(), x.mean(axis=1)]
    if dtype == "float32":
        outputs.append(graphc.grad(x.mean(axis=1).sum(), x))
    f, ref = compiled(mode, [x], outputs)
    assert_no_shape_nodes(f)
    values = (rng.standard_normal((4, 3)) * 10).astype(dtype)
    check_same(f, ref, values)
    check_same(f, ref, np.zeros((3, 0), dtype))


def test_dimension_used_outside_kernels_keeps_its_node(mode, rng):
    """A dimension also read by a non-kernel node stays computed there; the
    kernels still read their own copy, and values match."""
    x = T.dmatrix("x")
    n = x.shape[1]
    f, ref = compiled(mode, [x], [x / T.cast(n, "float64"), T.zeros((n,)), n])
    check_same(f, ref, rng.standard_normal((3, 5)))


def test_out_of_range_dimension_still_raises(mode):
    x = T.dvector("x")
    with pytest.raises(IndexError, match="out of bounds"):
        graphc.function([x], x * T.cast(T.shape(x)[1], "float64"), mode=mode)(np.ones(3))


def test_pickled_function_with_shape_leaves(mode, rng):
    x = T.dmatrix("x")
    f = graphc.function([x], [x.mean(axis=0), graphc.grad(x.mean(), x)], mode=mode)
    g = pickle.loads(pickle.dumps(f))
    assert shape_leaves(g) == shape_leaves(f)
    v = rng.standard_normal((3, 4))
    for a, b in zip(f(v), g(v)):
        np.testing.assert_array_equal(a, b)


def test_w2_has_no_shape_nodes_and_one_elementwise_kernel():
    """W2 (logistic regression step): the mean's 1/n reads y's dimension
    inside the kernels; the forward and gradient elementwise work is one
    kernel."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import workloads

    made = []
    real = graphc.function

    def capture(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    try:
        graphc.function = capture
        step = workloads.w2(True).make_graphc(None)
    finally:
        graphc.function = real
    step()
    topo = made[-1].maker.fgraph.toposort()
    kinds = {type(n.op) for n in topo}
    assert Shape not in kinds and Subtensor not in kinds, [op_label(n.op) for n in topo]
    # no kernel of its own for 1/n: every kernel reads some array's elements
    dimension_only = [n for n in topo if isinstance(n.op, KernelOp)
                      and not any(i.in_loop for i in n.op.kernel.inputs)]
    assert not dimension_only, [op_label(n.op) for n in dimension_only]
    elementwise = [n for n in topo if isinstance(n.op, KernelOp)
                   and n.op.kernel.reduce is None and n.op.kernel.ndim == 1]
    assert any(len(n.outputs) >= 2 for n in elementwise), [op_label(n.op) for n in topo]


def test_invariant_chain_is_hoisted_out_of_the_row():
    """The compiled row computes ``1 / float64(n)`` once, before its loop."""
    k = one_over_n_kernel()
    module = codegen.build_module(k, "k")
    text = str(module)
    row = text[text.index("define internal void @\"k.row0\""):]
    row = row[:row.index("\n}")]
    head, loop = row.split("\nloop:", 1)
    assert "fdiv" in head and "fdiv" not in loop
    assert isinstance(k.outputs[0], KApply)
