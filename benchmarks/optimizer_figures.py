"""Optimizer figures: node and kernel counts before/after rewriting for
W1, W2 and W3 (see WORKLOADS.md), W3's peak live memory with and without
memory planning, W3's compile time per pass, and the pipeline's scaling on
unrolled graphs of 10^3..10^5 nodes (time per node for every pass).

Run: python benchmarks/optimizer_figures.py [--quick]
"""

import statistics
import sys
import time

import numpy as np

import graphc
import graphc.tensor as T
from graphc.backends import get_backend
from graphc.compile.profile import ProfileStats
from graphc.compile.runner import Runner
from graphc.graph.fg import FunctionGraph
from graphc.ops.blas import Dot
from graphc.ops.kernel import KernelOp
from graphc.rewrite import optimize


def w1():
    x = T.fvector("x")
    return [x], [T.exp(-x * x) * T.sin(x) + T.tanh(x) / (1 + abs(x))], []


def w2(rng):
    """Ketkar listing 4-10 as written (float64, 1000x100)."""
    x, y = T.dmatrix("x"), T.dvector("y")
    w = graphc.shared(rng.standard_normal(100), name="w")
    b = graphc.shared(0., name="b")
    p = 1 / (1 + T.exp(-T.dot(x, w) - b))
    error = T.nnet.binary_crossentropy(p, y)
    loss = error.mean() + 0.01 * T.sum(w ** 2)
    gw, gb = T.grad(loss, [w, b])
    return [x, y], [p, error], [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]


def w3(rng):
    """float32 MLP 784-512-256-10, relu, softmax CE with int labels, SGD 0.1."""
    x, y = T.fmatrix("x"), T.ivector("y")
    h, params = x, []
    sizes = [784, 512, 256, 10]
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = graphc.shared((rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in))
                          .astype("float32"), f"W{k}")
        b = graphc.shared(np.zeros(n_out, "float32"), f"b{k}")
        params += [W, b]
        h = T.dot(h, W) + b
        if k < len(sizes) - 2:
            h = T.nnet.relu(h)
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y))
    grads = graphc.grad(loss, params)
    return [x, y], [loss], [(p, p - np.float32(0.1) * g) for p, g in zip(params, grads)]


def counts(name, inputs, outputs, updates):
    f = graphc.function(inputs, outputs, updates=updates, mode="python")
    r = f.maker.fgraph.rewrite_report
    nodes = f.maker.fgraph.toposort()
    kernels = [n for n in nodes if isinstance(n.op, KernelOp)]
    products = [n for n in nodes if isinstance(n.op, Dot) or type(n.op).__name__ == "Gemm"]
    print(f"{name}: nodes {r.nodes_before} -> {r.nodes_after}; elemwise {r.kernels_before[1]}"
          f" -> kernels {r.kernels_after[0]} (+{r.kernels_after[1]} unfused elemwise); "
          f"GEMM/dot nodes {len(products)}; reduction kernels "
          f"{sum(1 for k in kernels if k.op.kernel.reduce)}")
    return f


def w3_memory(rng):
    inputs, outputs, updates = w3(rng)
    shared = [p for p, _ in updates]
    graph_outputs = outputs + [u for _, u in updates]
    xv = rng.standard_normal((256, 784)).astype("float32")
    yv = rng.integers(0, 10, 256).astype("int32")
    values = [xv, yv] + [p.get_value() for p in shared]
    result = {}
    for label, exclude, free in [("no planning", ("memory_plan",), False),
                                 ("free after last use", ("memory_plan",), True),
                                 ("free + in-place kernels", (), True)]:
        fg = FunctionGraph(inputs + shared, graph_outputs)
        optimize(fg, "FAST_RUN", exclude=exclude)
        runner = Runner(fg, get_backend("python"), free_dead=free)
        prof = ProfileStats()
        runner.run(values, prof)
        inplace = sum(1 for n in fg.toposort() if isinstance(n.op, KernelOp) and n.op.inplace)
        result[label] = prof.peak_bytes
        print(f"W3 peak live buffers ({label}): {prof.peak_bytes / 2 ** 20:.2f} MiB "
              f"(in-place kernels: {inplace})")
    return result


def w3_compile_time(rng, repeats=5):
    times, pass_times = [], {}
    for _ in range(repeats):
        inputs, outputs, updates = w3(rng)
        t0 = time.perf_counter()
        f = graphc.function(inputs, outputs, updates=updates, mode="python")
        times.append(time.perf_counter() - t0)
        for name, _, t in f.maker.fgraph.rewrite_report.passes:
            pass_times.setdefault(name, []).append(t)
    print(f"W3 compile time (python backend): median {statistics.median(times) * 1e3:.1f} ms "
          f"of {repeats}; per pass (median ms): " + ", ".join(
              f"{k} {statistics.median(v) * 1e3:.2f}" for k, v in pass_times.items()))


def unrolled(n_nodes):
    """An unrolled recurrence, ~8 nodes per step: h = tanh(dot(h, W) + x[t]) * 0.5 + h."""
    x = T.dmatrix("x")
    W = graphc.shared(np.eye(4) * 0.5, "W")
    h = T.dvector("h0")
    steps = max(1, n_nodes // 6)
    for t in range(steps):
        h = T.tanh(T.dot(h, W) + x[t % 50]) * 0.5 + h
    return [x], [h.sum()]


def scaling(sizes, repeats=3):
    """Per size: the pipeline's median time of ``repeats`` runs (each on a
    fresh graph), per pass in us/node, then the work each pass did per node
    (``optimize(count_work=True)``: Python lines executed, whole-graph
    walks, nodes built), which machine load does not disturb."""
    for n in sizes:
        totals, pass_times = [], {}
        for _ in range(repeats):
            inputs, outputs = unrolled(n)
            fg = FunctionGraph(inputs, outputs)
            nodes = len(fg.apply_nodes)
            t0 = time.perf_counter()
            report = optimize(fg, "FAST_RUN")  # pauses the collector itself
            totals.append(time.perf_counter() - t0)
            for name, _, t in report.passes:
                pass_times.setdefault(name, []).append(t)
        total = statistics.median(totals)
        per_pass = ", ".join(f"{name} {statistics.median(t) / nodes * 1e6:.2f}"
                             for name, t in pass_times.items())
        print(f"unrolled {nodes:>6} nodes -> {report.nodes_after:>6}: pipeline {total:.2f} s "
              f"({total / nodes * 1e6:.1f} us/node, median of {repeats}); "
              f"per pass us/node: {per_pass}")
        counted = optimize(FunctionGraph(*unrolled(n)), "FAST_RUN", count_work=True).work
        print(f"unrolled {nodes:>6} work per node (lines/walks/nodes built): " + ", ".join(
            f"{name} {w.lines / nodes:.1f}/{w.walks}/{w.nodes_built / nodes:.3f}"
            for name, w in counted.items()))


def main():
    quick = "--quick" in sys.argv
    rng = np.random.default_rng(0)
    counts("W1", *w1())
    counts("W2", *w2(rng))
    counts("W3", *w3(rng))
    w3_memory(rng)
    w3_compile_time(rng)
    scaling([10 ** 3, 10 ** 4] + ([] if quick else [10 ** 5]))


if __name__ == "__main__":
    sys.setrecursionlimit(1000)  # every graph walk must be iterative
    main()
