"""Memory planning (rewrite/memory.py, the Runner): values are freed after
their last use, kernels overwrite dead buffers in place, and never a buffer
the user passed, a constant, a shared value or a value returned."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.backends import get_backend
from graphc.compile.mode import Mode
from graphc.compile.profile import ProfileStats
from graphc.compile.runner import Runner
from graphc.graph.fg import FunctionGraph
from graphc.kernel.ir import KApply, KInput, Kernel, KernelInput, apply_scalar, evaluate
from graphc.ops import scalar as scal
from graphc.ops.kernel import KernelOp
from graphc.rewrite import optimize

from helpers import assert_same

NO_OPT = Mode("python", optimizer=None)
NO_PLAN = ("memory_plan",)


def inplace_nodes(f):
    return [n for n in f.maker.fgraph.toposort()
            if isinstance(n.op, KernelOp) and n.op.inplace]


def peak_bytes(fgraph, values, free_dead):
    runner = Runner(fgraph, get_backend("python"), free_dead=free_dead)
    prof = ProfileStats()
    runner.run(values, prof)
    return prof.peak_bytes


def liveness_peak(fgraph, values):
    """The least peak any plan of ``fgraph``'s schedule can have when a value
    is freed right after its last use: the most bytes of values alive at one
    step (an in-place output continues the buffer of the input it destroys;
    inputs live from the start, outputs to the end, constants always)."""
    from graphc.graph.basic import Constant

    runner = Runner(fgraph, get_backend("python"), free_dead=False)
    schedule = [entry[0] for entry in runner.schedule]
    env = dict(zip(fgraph.inputs, values))
    for node, thunk, *_ in runner.schedule:
        # copies: an in-place thunk must not clobber a value measured later
        env.update(zip(node.outputs, thunk([v.data if isinstance(v, Constant) else np.array(env[v])
                                            for v in node.inputs])))
    born, last, continues = {v: -1 for v in fgraph.inputs}, {}, {}
    for t, node in enumerate(schedule):
        last.update((v, t) for v in node.inputs)
        born.update((o, t) for o in node.outputs)
        if isinstance(node.op, KernelOp):
            continues.update((node.outputs[o], node.inputs[i]) for o, i in node.op.inplace)
    last.update((v, len(schedule)) for v in fgraph.outputs)
    spans = {}
    for v, t in born.items():
        buf = v
        while buf in continues:
            buf = continues[buf]
        lo, hi = spans.get(buf, (t, t))
        spans[buf] = (min(lo, t), max(hi, last.get(v, t)))
    constants = {v for n in schedule for v in n.inputs if isinstance(v, Constant)}
    fixed = sum(np.asarray(c.data).nbytes for c in constants)
    return fixed + max(sum(np.asarray(env[buf]).nbytes for buf, (lo, hi) in spans.items()
                           if lo <= t <= hi) for t in range(len(schedule)))


def test_kernel_overwrites_a_dead_product(rng):
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    f = graphc.function([x], T.tanh(T.dot(x, W)) * 2)
    ref = graphc.function([x], T.tanh(T.dot(x, W)) * 2, mode=NO_OPT)
    (node,) = inplace_nodes(f)
    assert node.op.destroy_map == {0: [0]}
    xv = rng.standard_normal((3, 4))
    x_before, W_before = xv.copy(), W.get_value()
    assert_same(f(xv), ref(xv))
    np.testing.assert_array_equal(xv, x_before)  # the user's input is untouched
    np.testing.assert_array_equal(W.get_value(), W_before)


def test_inputs_constants_and_shared_values_are_never_destroyed(rng):
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((3, 4)), "W")
    c = T.constant(rng.standard_normal((3, 4)))
    f = graphc.function([x], [T.exp(x) + 1, W * 2 + c])
    assert not inplace_nodes(f)


def test_a_returned_value_is_never_overwritten(rng):
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    a = T.dot(x, W)
    f = graphc.function([x], [a, T.tanh(a)])
    assert not inplace_nodes(f)
    xv = rng.standard_normal((2, 4))
    got_a, got_t = f(xv)
    assert_same(got_t, np.tanh(got_a))


def test_a_buffer_read_later_through_a_view_is_kept(rng):
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    a = T.dot(x, W)
    out = T.dot(T.exp(a) * 3, W) * a.T   # a.T, a view of a, is read after exp(a) * 3
    f = graphc.function([x], out)
    ref = graphc.function([x], out, mode=NO_OPT)
    schedule = f.maker.fgraph.toposort()
    a_var = schedule[0].outputs[0]
    exp_kernel = next(n for n in schedule if isinstance(n.op, KernelOp) and a_var in n.inputs)
    assert not exp_kernel.op.inplace
    assert inplace_nodes(f)  # the final product may overwrite the dead second product
    xv = rng.standard_normal((4, 4))
    assert_same(f(xv), ref(xv))


def test_runtime_broadcast_falls_back_to_a_new_buffer(rng):
    # the dead input has a dimension of unknown length that is 1 at run
    # time: the output is larger, so the kernel must not write into it
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    W = graphc.shared(rng.standard_normal((4, 4)), "W")
    expr = T.tanh(T.dot(x, W)) + y
    f = graphc.function([x, y], expr)
    ref = graphc.function([x, y], expr, mode=NO_OPT)
    assert inplace_nodes(f)
    xv, yv = rng.standard_normal((1, 4)), rng.standard_normal((5, 4))
    assert_same(f(xv, yv), ref(xv, yv))


def test_freeing_dead_values_lowers_the_peak(rng):
    x = T.dvector("x")
    h = x
    for _ in range(6):
        h = T.dot(T.outer(h, h), h) * 0.1  # non-fusable steps, each a new buffer
    f = graphc.function([x], h, mode=graphc.compile.mode.Mode("python"))
    xv = rng.standard_normal(300)
    free = peak_bytes(f.maker.fgraph, [xv], True)
    keep = peak_bytes(f.maker.fgraph, [xv], False)
    assert free < keep / 2
    assert_same(Runner(f.maker.fgraph, get_backend("python")).run([xv])[0],
                Runner(f.maker.fgraph, get_backend("python"), free_dead=False).run([xv])[0])


def test_w3_like_training_step_peak_drops_with_planning(rng):
    x = T.fmatrix("x")
    W1 = graphc.shared(rng.standard_normal((64, 32)).astype("float32"), "W1")
    W2 = graphc.shared(rng.standard_normal((32, 8)).astype("float32"), "W2")
    h = T.nnet.relu(T.dot(x, W1))
    loss = T.mean(T.sqr(T.tanh(T.dot(h, W2))))
    upd = [(W, W - np.float32(0.1) * g) for W, g in zip([W1, W2], graphc.grad(loss, [W1, W2]))]
    shared = [W1, W2]
    outputs = [loss] + [u for _, u in upd]
    planned = FunctionGraph([x] + shared, outputs)
    optimize(planned, "FAST_RUN")
    unplanned = FunctionGraph([x] + shared, outputs)
    optimize(unplanned, "FAST_RUN", exclude=NO_PLAN)
    assert any(isinstance(n.op, KernelOp) and n.op.inplace for n in planned.toposort())
    assert not any(isinstance(n.op, KernelOp) and n.op.inplace for n in unplanned.toposort())
    xv = rng.standard_normal((128, 64)).astype("float32")
    values = [xv, W1.get_value(), W2.get_value()]
    with_plan = peak_bytes(planned, values, True)
    without = peak_bytes(unplanned, values, False)
    bound = liveness_peak(planned, values)
    # the plan reaches the liveness optimum of its schedule, which holds far
    # less than keeping every value (the activations of both layers, their
    # gradients and the loss terms are dead before the last updates)
    assert with_plan <= bound < without
    run = Runner(planned, get_backend("python")).run(values)
    ref = graphc.function([x], outputs, mode=NO_OPT)(xv)
    for got, want in zip(run, ref):
        assert_same(got, want)


def test_bad_destroy_plan_is_refused_at_compile_time():
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x) + 1)
    fg = f.maker.fgraph
    (node,) = fg.toposort()
    node.op = KernelOp(node.op.kernel, inplace={0: 0})  # would overwrite the user's x
    with pytest.raises(RuntimeError, match="memory plan"):
        Runner(fg, get_backend("python"))


def _two_output_kernel():
    """o0 = i0 + i1, o1 = i0 * i1 over float64 vectors."""
    a, b = KInput(0, "float64"), KInput(1, "float64")
    return Kernel([KernelInput("float64", 1), KernelInput("float64", 1)],
                  [apply_scalar(scal.add, a, b), apply_scalar(scal.mul, a, b)], 1)


def test_evaluate_writes_into_destinations_with_out_of_place_values(rng):
    k = _two_output_kernel()
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    want = evaluate(k, [a, b])
    # o0 into a's buffer while o1 still reads a: o1 must see the old a
    a_buf, b_buf = a.copy(), b.copy()
    got = evaluate(k, [a_buf, b_buf], out=[a_buf, b_buf])
    for g, w in zip(got, want):
        assert_same(g, w)
    a_buf = a.copy()
    got = evaluate(k, [a_buf, b], out=[a_buf, None])
    assert got[0] is a_buf
    for g, w in zip(got, want):
        assert_same(g, w)


def test_evaluate_ignores_unfit_destinations(rng):
    k = _two_output_kernel()
    a, b = rng.standard_normal(1), rng.standard_normal(4)   # loop shape (4,)
    got = evaluate(k, [a, b], out=[a, None])
    assert got[0] is not a and got[0].shape == (4,)
    assert isinstance(k.outputs[0], KApply)
