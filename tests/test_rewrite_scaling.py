"""The rewrite pipeline does work linear in the graph size.

Time is not measured (the machine is shared and a larger heap is slower per
node anyway); the work is counted with ``optimize(count_work=True)``: the
Python lines each pass executes, its whole-graph walks, the nodes it builds
and the shapes it infers.  Between a graph and one ten times larger of the
same kind, each count per node must stay put: a pass that walked the graph
once per node, rescanned a growing list or re-inferred shapes per sweep
would multiply its count per node by ~10.
"""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.graph.fg import FunctionGraph
from graphc.graph.gcpause import gc_paused
from graphc.ops.kernel import KernelOp
from graphc.rewrite import optimize
from helpers import assert_same

#: growth allowed in a count per node between the two sizes (the counts
#: also hold a constant part, e.g. a pass's setup, which only shrinks)
SLACK = 1.15


def residual_recurrence(steps, with_gradient):
    """h = tanh(dot(h, W) + b + x[t]) * 0.5 + h unrolled; with a gradient,
    the SGD step of ``-sum(log(sigmoid(h)))`` (stability rules, gradient
    fills and ``SumToShapeOf`` for canonicalize)."""
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    W = graphc.shared(np.eye(4) * 0.5, "W")
    b = graphc.shared(np.zeros(4), "b")
    h = h0
    for t in range(steps):
        h = T.tanh(T.dot(h, W) + b + x[t % 8]) * 0.5 + h
    cost = -T.log(T.nnet.sigmoid(h)).sum()
    if not with_gradient:
        return [x, h0], [cost], []
    gW, gb = graphc.grad(cost, [W, b])
    return [x, h0], [cost], [(W, W - 0.1 * gW), (b, b - 0.1 * gb)]


def counted(steps, with_gradient, strict_broadcast):
    """(graph size, {pass: PassWork}) of optimizing the recurrence the way
    ``function`` sets the graph up."""
    inputs, outputs, updates = residual_recurrence(steps, with_gradient)
    shared = [var for var, _ in updates]
    with gc_paused():
        fgraph = FunctionGraph(inputs + shared, outputs + [new for _, new in updates])
    fgraph.update_targets, fgraph.n_user_outputs = shared, len(outputs)
    fgraph.strict_broadcast = strict_broadcast
    size = len(fgraph.apply_nodes)
    return size, optimize(fgraph, "FAST_RUN", count_work=True).work


@pytest.mark.parametrize("with_gradient, strict_broadcast", [
    (False, True), (True, True), (True, False)])
def test_work_per_node_does_not_grow(with_gradient, strict_broadcast):
    counted(3, with_gradient, strict_broadcast)  # one-time work: imports, sympy queries
    small_steps = 20 if with_gradient else 60
    n_small, small = counted(small_steps, with_gradient, strict_broadcast)
    n_large, large = counted(10 * small_steps, with_gradient, strict_broadcast)
    assert n_large > 9 * n_small
    assert small.keys() == large.keys() and "elemwise_fusion" in large
    for name, work in large.items():
        before = small[name]
        # whole-graph walks: a fixed number per pass, whatever the size
        assert work.walks == before.walks <= 4, (name, before, work)
        for field in ("lines", "nodes_built", "shape_inferences"):
            per_node_small = getattr(before, field) / n_small
            per_node_large = getattr(work, field) / n_large
            assert per_node_large <= SLACK * per_node_small + 0.01, (
                f"{name}: {field} per node grew from {per_node_small:.3f} "
                f"({n_small} nodes) to {per_node_large:.3f} ({n_large} nodes)")


def test_counting_leaves_the_result_alone():
    """``count_work`` only observes: same graph, same report otherwise."""
    results = []
    for count in (False, True):
        inputs, outputs, _ = residual_recurrence(30, with_gradient=False)
        fgraph = FunctionGraph(inputs, outputs)
        report = optimize(fgraph, "FAST_RUN", count_work=count)
        results.append(([type(n.op).__name__ for n in fgraph.toposort()],
                        {name: fired for name, fired, _ in report.passes}))
        assert bool(report.work) == count
    assert results[0] == results[1]


def test_guarded_cancellation_read_by_later_rules(mode):
    """Rules that walk through a stable product's result (here the
    structural keys of the next product, in the gradient of
    ``log(sigmoid(tanh(x) + x))``) terminate.  When that result kept the
    replaced expression as a ``switch`` fallback, reading through the
    replacement looped forever."""
    x = T.dvector("x")
    cost = -T.log(T.nnet.sigmoid(T.tanh(x) + x)).sum()
    outputs = [cost, graphc.grad(cost, x)]
    f = graphc.function([x], outputs, mode=mode)
    ref = graphc.function([x], outputs, mode=Mode("python", optimizer=None))
    report = f.maker.fgraph.rewrite_report
    assert report.fired["stability"] >= 1
    assert all(isinstance(n.op, KernelOp) for n in f.maker.fgraph.toposort())
    values = np.array([-1000.0, -3.0, 0.0, 0.5, 40.0, np.inf, -np.inf, np.nan])
    with np.errstate(all="ignore"):
        got, want = f(values), ref(values)
    finite = np.isfinite(want[1])
    assert_same(got[1][finite], want[1][finite])
    # at +-inf the gradient -sigmoid(-u) (1 + 1 - tanh(x)**2) is its limit
    # (the unoptimized graph: NaN at -inf); NaN stays NaN
    np.testing.assert_array_equal(got[1][5:], [-0.0, -1.0, np.nan])
    # the cost overflows to inf in the reference at -1000: stable here
    assert np.isfinite(got[1][0]) and got[1][0] == pytest.approx(-1.0)
