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
from graphc.kernel.ir import KApply, KReduced, KShape, evaluate
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


def compile_both(inputs, outputs, mode=None, **kw):
    return (graphc.function(inputs, outputs, mode=mode, **kw),
            graphc.function(inputs, outputs, mode=NO_OPT, **kw))


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


NUMPY_RULE = Mode(optimizer="FAST_RUN", strict_broadcast=False)


def test_output_whose_shape_may_differ_from_the_loop_is_not_fused():
    # x and y have unknown lengths: under NumPy broadcasting x may have length
    # 1 at run time and broadcast against y, so exp(x) cannot be an output of
    # the add's loop
    x, y = T.dvector("x"), T.dvector("y")
    f, ref = compile_both([x, y], [T.exp(x), T.exp(x) + y], mode=NUMPY_RULE)
    assert len(kernels(f)) == 2
    check_same(f, ref, np.array([0.5]), np.array([1.0, 2.0, 3.0]))
    check_same(f, ref, np.array([0.5, 1, 2]), np.array([1.0, 2.0, 3.0]))


def test_strict_graph_fuses_the_output_and_falls_back_when_it_broadcasts():
    # under the strict rule the kernel checks that x has y's length, so exp(x)
    # is an output of the same loop; a length-1 x makes the call fall back
    x, y = T.dvector("x"), T.dvector("y")
    f, ref = compile_both([x, y], [T.exp(x), T.exp(x) + y])
    assert len(kernels(f)) == 1
    check_same(f, ref, np.array([0.5, 1, 2]), np.array([1.0, 2.0, 3.0]))
    check_same(f, ref, np.array([0.5]), np.array([1.0, 2.0, 3.0]))
    assert f.broadcasting.startswith("numpy (fell back")


def test_sibling_that_widens_the_loop_splits_the_cluster():
    # exp(x) feeds x + exp(x) (x's shape, returned) and y + exp(x) (wider when
    # x has length 1): the narrow output must not be computed in the wide loop
    x, y = T.dmatrix("x"), T.dmatrix("y")
    e = T.exp(x)
    f, ref = compile_both([x, y], [y + e, x + e], mode=NUMPY_RULE)
    fg = f.maker.fgraph
    narrow = fg.outputs[1].owner  # computes x + exp(x)
    assert fg.inputs[1] not in narrow.inputs  # ... in a loop that y does not widen
    check_same(f, ref, np.ones((1, 4)), np.ones((3, 4)))
    check_same(f, ref, np.ones((3, 4)), np.ones((3, 4)))


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


# ------------------------------------------------------------ epilogues

def epilogue_kernels(f):
    return [n for n in kernels(f) if n.op.kernel.epilogue is not None]


def compile_in(mode, inputs, outputs):
    """``outputs`` compiled in ``mode`` (a backend under test) and unoptimized."""
    return graphc.function(inputs, outputs, mode=mode), graphc.function(inputs, outputs,
                                                                        mode=NO_OPT)


def test_bias_update_is_one_kernel_with_an_epilogue(rng, mode):
    g, b = T.fmatrix("g"), T.fvector("b")
    lr = np.float32(0.1)
    f, ref = compile_in(mode, [g, b], b - lr * T.sum(g, axis=0))
    (node,) = nodes(f)
    k = node.op.kernel
    assert k.reduce.axes == (0,) and len(k.epilogue) == 1
    assert [i.epilogue for i in k.inputs] == [False, True]
    gv = with_specials(rng.standard_normal((6, 5)).astype("float32"))
    check_same(f, ref, gv, rng.standard_normal(5).astype("float32"))
    check_same(f, ref, gv, np.array([np.inf], "float32"))  # b broadcasts at run time
    check_same(f, ref, np.zeros((0, 5), "float32"), with_specials(np.zeros(5, "float32")))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mean_divides_in_the_epilogue(rng, mode, dtype):
    x = T.matrix("x", dtype=dtype)
    f, ref = compile_in(mode, [x], [T.mean(x), T.mean(x, axis=1)])
    # each mean is one reduction dividing in its epilogue by its divisor,
    # computed from the input's dimensions (KShape leaves: no shape nodes)
    assert len(kernels(f)) == 2 and len(epilogue_kernels(f)) == 2
    assert len(f.maker.fgraph.toposort()) == 2
    for node in epilogue_kernels(f):
        k = node.op.kernel
        assert [n.op.name for n in k.nodes[k.body_size:] if isinstance(n, KApply)][-1] \
            == "true_div"
        assert {(n.index, n.axis) for n in k.nodes if isinstance(n, KShape)} \
            == ({(0, 0), (0, 1)} if k.reduce.axes == (0, 1) else {(0, 1)})
    check_same(f, ref, with_specials(rng.standard_normal((4, 3)).astype(dtype)))
    check_same(f, ref, np.zeros((0, 3), dtype))  # 0/0 is NaN, as unfused


def test_scalar_operand_reaches_the_epilogue_through_its_pad(rng):
    x, c = T.dmatrix("x"), T.dscalar("c")
    f, ref = compile_both([x, c], T.exp(T.sum(x * x, axis=1) - c))
    (node,) = nodes(f)
    k = node.op.kernel
    assert [i.ndim for i, v in zip(k.inputs, node.inputs) if i.epilogue] == [0]
    assert "exp" in str(node.op) and k.reduce.axes == (1,)
    check_same(f, ref, with_specials(rng.standard_normal((3, 4))), np.float64(-np.inf))


def test_reduction_used_outside_stays_a_result(rng):
    x = T.dmatrix("x")
    s = T.sum(x, axis=0)
    f, ref = compile_both([x], [s, T.sqrt(s) * 2])
    (node,) = nodes(f)
    assert len(node.outputs) == 2 and node.op.kernel.epilogue[0] == KReduced(0, "float64")
    check_same(f, ref, with_specials(rng.standard_normal((3, 5))))


def test_epilogue_value_that_could_broadcast_later_is_cut(rng):
    # t = 2*sum(x, 0) is returned, and u = t + b may be longer than t when the
    # reduced length is 1 at run time: t must not be an epilogue result of
    # the kernel computing u (it would be broadcast to u's shape)
    x, b = T.dmatrix("x"), T.dvector("b")
    t = T.sum(x, axis=0) * 2
    f, ref = compile_both([x, b], [t, t + b], mode=NUMPY_RULE)
    assert all(len(n.op.kernel.results) == 1 for n in kernels(f))
    check_same(f, ref, rng.standard_normal((4, 1)), rng.standard_normal(3))
    check_same(f, ref, rng.standard_normal((4, 3)), with_specials(rng.standard_normal(3)))


def test_epilogue_result_reading_every_operand_is_kept(rng):
    x, b = T.dmatrix("x"), T.dvector("b")
    t = T.sum(x, axis=0) * b
    f, ref = compile_both([x, b], [t, T.exp(t)])
    (node,) = nodes(f)
    assert len(node.op.kernel.results) == 2
    check_same(f, ref, rng.standard_normal((4, 1)), rng.standard_normal(3))


def test_node_reading_two_reductions_is_not_an_epilogue(rng):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f, ref = compile_both([x, y], T.sum(x, axis=1) / T.sum(y, axis=1))
    assert len(kernels(f)) == 3 and not epilogue_kernels(f)
    assert nx.is_directed_acyclic_graph(f.maker.fgraph.to_networkx())
    check_same(f, ref, with_specials(rng.standard_normal((3, 4))), rng.standard_normal((3, 4)))


def test_loop_space_value_is_not_read_by_an_epilogue(rng):
    # e = exp(x) is used outside the reduction, so the sum stays a lone
    # reduction kernel; the division reads the full-size e: not an epilogue
    x = T.dvector("x")
    e = T.exp(x)
    f, ref = compile_both([x], [e / T.sum(e)])
    assert not epilogue_kernels(f)
    check_same(f, ref, with_specials(rng.standard_normal(6)))


def test_max_epilogue_keeps_reduce_semantics(rng):
    x = T.dvector("x")
    f, ref = compile_both([x], T.max(x) - 1)  # unknown length: Reduce must raise on empty
    assert any(isinstance(n.op, Reduce) for n in nodes(f)) and not epilogue_kernels(f)
    with pytest.raises(ValueError):
        f(np.zeros(0))
    y = T.tensor("float64", shape=(None, 4), name="y")
    g, gref = compile_both([y], T.max(y, axis=1) - 1)
    (node,) = nodes(g)
    assert node.op.kernel.reduce.kind == "max" and node.op.kernel.epilogue is not None
    check_same(g, gref, with_specials(rng.standard_normal((3, 4))))


def test_w3_mean_loss_and_kernel_count():
    import sys
    sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/benchmarks")
    from workloads import build_w3_function

    f = build_w3_function("python", batch=8)[0]
    assert len(kernels(f)) <= 8
    # the mean's division, and each bias update fused with its column sum
    assert len(epilogue_kernels(f)) == 4


def test_failing_epilogue_node_is_named_in_the_error():
    g, b = T.fmatrix("g"), T.fvector("b")
    f = graphc.function([g, b], b - np.float32(0.1) * T.sum(g, axis=0))
    assert epilogue_kernels(f)
    with pytest.raises(ValueError, match=r"(?s)broadcast.*Fused operation that failed: "
                                         r"Elemwise\{sub"):
        f(np.ones((3, 4), "float32"), np.ones(5, "float32"))
