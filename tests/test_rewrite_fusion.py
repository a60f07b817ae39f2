"""Elementwise fusion (rewrite/fusion.py): the structure of the fused graph
(via ``f.maker.fgraph.toposort()``) and values identical to the unoptimized
graph, including NaN/inf inputs."""

import io

import networkx as nx
import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc import printing
from graphc.compile.mode import Mode
from graphc.kernel.from_graph import kernel_from_elemwise
from graphc.kernel.ir import evaluate
from graphc.ops.elemwise import DimShuffle, Elemwise
from graphc.ops.kernel import KernelOp
from graphc.ops.reduce import Reduce

from helpers import assert_same

NO_OPT = Mode("python", optimizer=None)
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def nodes(f):
    return f.maker.fgraph.toposort()


def kernels(f):
    return [n for n in nodes(f) if isinstance(n.op, KernelOp)]


def compile_both(inputs, outputs, **kw):
    return graphc.function(inputs, outputs, **kw), graphc.function(inputs, outputs, mode=NO_OPT,
                                                                    **kw)


def check_same(f, ref, *args):
    got, want = f(*args), ref(*args)
    if not isinstance(want, list):
        got, want = [got], [want]
    for g, w in zip(got, want):
        assert_same(g, w)


def with_specials(a):
    a = np.array(a)
    flat = a.reshape(-1)
    flat[:len(SPECIALS)] = SPECIALS[:flat.size]
    return a


def test_w1_becomes_one_kernel_with_same_values(rng):
    x = T.fvector("x")
    y = T.exp(-x * x) * T.sin(x) + T.tanh(x) / (1 + abs(x))
    f, ref = compile_both([x], y)
    (node,) = nodes(f)
    assert isinstance(node.op, KernelOp) and node.inputs == [f.maker.fgraph.inputs[0]]
    xv = with_specials(rng.standard_normal(50).astype("float32") * 3)
    check_same(f, ref, xv)
    assert f.maker.fgraph.rewrite_report.kernels_after == (1, 0)
    assert f.maker.fgraph.rewrite_report.kernels_before[1] >= 8


def test_value_used_outside_becomes_an_extra_output(rng):
    x = T.dmatrix("x")
    a = T.exp(x) * 2
    f, ref = compile_both([x], [a, T.tanh(a) + 1, T.sqrt(a)])
    (node,) = nodes(f)
    assert len(node.outputs) == 3
    check_same(f, ref, with_specials(rng.standard_normal((3, 4))))


def test_no_cycle_through_a_non_elementwise_node(rng):
    # exp(x) feeds dot, whose result is added back to exp(x): one kernel
    # holding exp and add would need the dot inside it
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    e = T.exp(x)
    f, ref = compile_both([x], T.tanh(e * T.dot(e, W)))
    ks = kernels(f)
    assert len(ks) == 2
    assert nx.is_directed_acyclic_graph(f.maker.fgraph.to_networkx())
    check_same(f, ref, rng.standard_normal((3, 4)))


def test_single_reader_cluster_moves_into_its_reader(rng):
    # the relu mask (x > 0) is read only by the later switch: one kernel
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    h = T.dot(x, W)
    mask = T.gt(h, 0)
    g = T.dot(T.tanh(h), W)
    f, ref = compile_both([x], T.switch(mask, g, 0.0))
    assert [str(k.op) for k in kernels(f)][-1].startswith("Kernel{switch((i")
    check_same(f, ref, rng.standard_normal((3, 4)))


def test_broadcast_pads_become_lower_rank_inputs(rng):
    x = T.dmatrix("x")
    b = T.dvector("b")
    f, ref = compile_both([x, b], T.tanh(x + b) * 2)
    (node,) = nodes(f)  # the DimShuffle pad is read through
    assert [i.ndim for i in node.inputs] == [2, 1]
    assert node.op.kernel.inputs[1].ndim == 1
    check_same(f, ref, rng.standard_normal((3, 4)), with_specials(rng.standard_normal(4)))


def test_different_broadcast_patterns_do_not_share_a_loop(rng):
    # exp of a column would be recomputed for every column if fused
    col = T.dcol("c")
    x = T.dmatrix("x")
    f, ref = compile_both([col, x], T.exp(col) * x)
    assert len(kernels(f)) == 2
    check_same(f, ref, rng.standard_normal((3, 1)), rng.standard_normal((3, 5)))


def test_output_whose_shape_may_differ_from_the_loop_is_not_fused():
    # x and y have unknown lengths: at run time x may have length 1 and
    # broadcast against y, so exp(x) cannot be an output of the add's loop
    x, y = T.dvector("x"), T.dvector("y")
    f, ref = compile_both([x, y], [T.exp(x), T.exp(x) + y])
    assert len(kernels(f)) == 2
    check_same(f, ref, np.array([0.5]), np.array([1.0, 2.0, 3.0]))
    check_same(f, ref, np.array([0.5, 1, 2]), np.array([1.0, 2.0, 3.0]))


def test_internal_value_may_broadcast_at_run_time():
    x, y = T.dvector("x"), T.dvector("y")
    f, ref = compile_both([x, y], T.exp(x) + y)
    assert len(kernels(f)) == 1
    check_same(f, ref, np.array([0.5]), np.array([1.0, 2.0, 3.0]))


def test_static_equal_shapes_allow_the_extra_output(rng):
    x = T.tensor("float64", shape=(3,), name="x")
    y = T.tensor("float64", shape=(3,), name="y")
    f, ref = compile_both([x, y], [T.exp(x), T.exp(x) + y])
    assert len(kernels(f)) == 1
    check_same(f, ref, rng.standard_normal(3), rng.standard_normal(3))


def test_sum_of_a_product_is_one_reduction_kernel(rng):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f, ref = compile_both([x, y], T.sum(x * y, axis=1))
    (node,) = nodes(f)
    assert node.op.kernel.reduce.kind == "sum" and node.op.kernel.reduce.axes == (1,)
    check_same(f, ref, with_specials(rng.standard_normal((3, 4))), rng.standard_normal((3, 4)))


def test_mean_squared_error_fuses_into_the_sum(rng):
    # static length: mean is sum * (1/n) with a constant n (with a dynamic
    # length, mean reads Shape((p - y) ** 2), a second reader of the square)
    p = T.tensor("float32", shape=(7,), name="p")
    y = T.tensor("float32", shape=(7,), name="y")
    f, ref = compile_both([p, y], T.mean((p - y) ** 2))
    red = [k for k in kernels(f) if k.op.kernel.reduce is not None]
    assert len(red) == 1 and "(i0 - i1)" in str(red[0].op)
    assert not any(isinstance(n.op, (Elemwise, Reduce)) for n in nodes(f))
    check_same(f, ref, rng.standard_normal(7).astype("float32"),
               rng.standard_normal(7).astype("float32"))


@pytest.mark.parametrize("dtype", ["int8", "int32", "bool"])
def test_integer_sum_accumulates_in_the_reduce_dtype(dtype):
    x = T.vector("x", dtype=dtype)
    expr = T.sum(x * 2) if dtype != "bool" else T.sum(x)
    f, ref = compile_both([x], expr)
    (node,) = nodes(f)
    assert node.outputs[0].dtype == ref.maker.fgraph.outputs[0].dtype == "int64"
    xv = np.arange(200).astype(dtype) if dtype != "bool" else np.ones(300, bool)
    check_same(f, ref, xv)


def test_max_over_unknown_length_keeps_reduce_semantics():
    x = T.dvector("x")
    f, ref = compile_both([x], T.max(T.exp(x)))
    assert any(isinstance(n.op, Reduce) for n in nodes(f))  # an empty x must raise
    with pytest.raises(ValueError):
        f(np.zeros(0))
    check_same(f, ref, np.array([1.0, np.nan, 3.0]))


def test_max_over_static_length_or_identity_initial_fuses(rng):
    x = T.tensor("float32", shape=(None, 5), name="x")
    f, ref = compile_both([x], T.max(x * 2, axis=1))
    (node,) = nodes(f)
    assert node.op.kernel.reduce.kind == "max"
    check_same(f, ref, with_specials(rng.standard_normal((3, 5)).astype("float32")))
    y = T.dmatrix("y")
    g, gref = compile_both([y], T.logsumexp(y, axis=1))
    assert not any(isinstance(n.op, Reduce) for n in nodes(g))
    check_same(g, gref, with_specials(rng.standard_normal((4, 3))))
    check_same(g, gref, np.zeros((2, 0)))


def test_gradient_graph_is_fused(rng):
    x = T.dmatrix("x")
    w = T.dvector("w")
    cost = T.sum(T.tanh(x * w) ** 2)
    gw = graphc.grad(cost, w)
    f, ref = compile_both([x, w], [cost, gw])
    assert not any(isinstance(n.op, Elemwise) for n in nodes(f))
    report = f.maker.fgraph.rewrite_report
    assert report.kernels_after[0] < report.kernels_before[1]
    check_same(f, ref, rng.standard_normal((3, 4)), rng.standard_normal(4))


def test_lone_elementwise_node_is_a_kernel_too(rng):
    x = T.dmatrix("x")
    f, ref = compile_both([x], T.dot(x, x.T) * 2)
    assert not any(isinstance(n.op, Elemwise) for n in nodes(f))
    check_same(f, ref, rng.standard_normal((3, 3)))


def test_constants_become_literals_and_arrays_stay_inputs(rng):
    x = T.dmatrix("x")
    c = T.constant(np.arange(4.0))
    f, ref = compile_both([x], (x + 2.5) * c)
    (node,) = nodes(f)
    assert len(node.inputs) == 2 and "2.5" in str(node.op)
    check_same(f, ref, rng.standard_normal((3, 4)))


def test_kernel_of_only_literals_keeps_an_array_input():
    # constant folding off: every operand is a size-1 constant
    c = T.constant(np.array([[2.0]]))
    f = graphc.function([], T.exp(c) * 3, mode=Mode("python", optimizer="FAST_RUN"))
    g = graphc.function([], T.exp(c) * 3, mode=NO_OPT)
    from graphc.rewrite.fusion import elemwise_fusion
    from graphc.graph.fg import FunctionGraph

    fg = FunctionGraph([], [T.exp(c) * 3])
    elemwise_fusion.apply(fg)
    (node,) = fg.toposort()
    assert len(node.inputs) == 1
    assert_same(evaluate(node.op.kernel, [node.inputs[0].data])[0], g())
    assert_same(f(), g())


def test_casts_are_fused_with_their_dtype(rng):
    x = T.ivector("x")
    y = T.fvector("y")
    f, ref = compile_both([x, y], T.cast(x * 3, "float32") / y + x)
    (node,) = nodes(f)
    assert node.outputs[0].dtype == ref.maker.fgraph.outputs[0].dtype
    check_same(f, ref, np.arange(5, dtype="int32"), with_specials(np.ones(5, "float32")))


def test_debugprint_shows_the_kernel_expression():
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x) * 2 + 1)
    out = io.StringIO()
    printing.debugprint(f, file=out)
    assert "Kernel{(exp(i0) * 2.0) + 1.0}" in out.getvalue()


def test_dead_nodes_are_pruned_and_counted():
    x = T.dvector("x")
    f = graphc.function([x], T.tanh(T.exp(x) + 1))
    fg = f.maker.fgraph
    assert fg.pruned_nodes >= 3 and fg.prune() == 0
    assert not any(isinstance(n.op, DimShuffle) for n in fg.toposort())


def test_kernel_from_elemwise_matches_perform(rng):
    x = T.fmatrix("x")
    b = T.dvector("b")
    node = (x * b).owner
    kernel, inputs = kernel_from_elemwise(node)
    assert inputs == [x, b]  # the pad of b is read through
    xv, bv = rng.standard_normal((2, 3)).astype("float32"), rng.standard_normal(3)
    padded = bv.reshape(1, 3)
    assert_same(evaluate(kernel, [xv, bv])[0], node.op.perform(node, [xv, padded])[0])


def test_failing_fused_node_is_named_in_the_error():
    x = T.dmatrix("xm")
    y = T.dvector("yv")
    z = T.exp(x) * 2
    f = graphc.function([x, y], T.tanh(z + y))
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones(4))
    msg = str(info.value)
    assert "Fused operation that failed: Elemwise{add" in msg
    assert "z + y" in msg  # the user's source line of the add


def test_kernels_have_a_bounded_number_of_operands(rng):
    # a sum of 300 products (what the gradient of an unrolled loop builds)
    from graphc.rewrite.fusion import MAX_KERNEL_OPERANDS

    xs = [T.dvector(f"x{k}") for k in range(300)]
    total = xs[0]
    for x in xs[1:]:
        total = total + T.dot(x, x) * x
    f, ref = compile_both(xs, total)
    ks = kernels(f)
    assert len(ks) > 1
    assert all(len(k.inputs) + len(k.outputs) <= MAX_KERNEL_OPERANDS for k in ks)
    assert nx.is_directed_acyclic_graph(f.maker.fgraph.to_networkx())
    args = [rng.standard_normal(3) for _ in xs]
    check_same(f, ref, *args)
