"""The rewrite pipeline: named passes at fixed positions, selected by tags.

Each pass is a small object with ``apply(fgraph) -> number of changes``.
``optimize`` runs the passes a mode selects, in position order, and returns a
report: per pass how often it fired and how long it took, and the node
counts before and after, so a user can see which rewrite did what (and
which one is slow).
"""

import time

from ..graph.gcpause import gc_paused
from ..graph.provenance import pinned_user_trace


class GraphRewrite:
    """A whole-graph pass.  Subclasses set ``name`` and implement ``apply``."""

    name = "rewrite"

    def apply(self, fgraph):
        raise NotImplementedError

    def __repr__(self):
        return f"<rewrite {self.name}>"


class _Registry:
    def __init__(self):
        self.entries = []  # (position, rewrite, tags)

    def register(self, rewrite, position, *tags):
        if any(r.name == rewrite.name for _, r, _ in self.entries):
            raise ValueError(f"a rewrite named {rewrite.name!r} is already registered")
        self.entries.append((position, rewrite, frozenset(tags)))
        self.entries.sort(key=lambda e: e[0])
        return rewrite

    def select(self, include, exclude=()):
        return [r for _, r, tags in self.entries
                if tags & set(include) and r.name not in exclude and not tags & set(exclude)]

    def table(self):
        """The pipeline as (position, name, tags) rows, for documentation."""
        return [(p, r.name, sorted(t)) for p, r, t in self.entries]


pipeline = _Registry()

#: optimizer level -> tags of the passes it runs
LEVELS = {"FAST_RUN": ("fast_run",), "FAST_COMPILE": ("fast_compile",), None: ()}


class RewriteReport:
    """What the optimizer did to one function graph."""

    def __init__(self, nodes_before, kernels_before=(0, 0)):
        self.nodes_before = nodes_before
        self.nodes_after = nodes_before
        # (KernelOp nodes, Elemwise nodes): fusion turns the second into the first
        self.kernels_before = self.kernels_after = kernels_before
        self.pruned_nodes = 0
        self.passes = []  # (name, changes, seconds)
        self.work = {}    # name -> PassWork, when optimize(count_work=True)

    @property
    def fired(self):
        return {name: n for name, n, _ in self.passes if n}

    @property
    def total_time(self):
        return sum(t for _, _, t in self.passes)

    def __str__(self):
        lines = [f"nodes: {self.nodes_before} before, {self.nodes_after} after rewriting "
                 f"({self.total_time * 1e3:.2f} ms)",
                 f"kernels/elemwise: {self.kernels_before[0]}/{self.kernels_before[1]} before, "
                 f"{self.kernels_after[0]}/{self.kernels_after[1]} after; "
                 f"{self.pruned_nodes} dead nodes pruned"]
        for name, n, t in self.passes:
            lines.append(f"  {name:<24} fired {n:>5}  {t * 1e3:8.3f} ms")
        return "\n".join(lines)


class PassWork:
    """How much work one pass did, counted rather than timed (a count is
    not disturbed by machine load, and one that grows faster than the
    graph is the evidence of a super-linear pass): Python lines executed
    (loop iterations included), whole-graph walks (``traversal.walk``, a
    toposort or a FunctionGraph rebuild, and ``fgraph.toposort()``, a copy
    of the order), Apply nodes built, and symbolic shape inferences
    (``ShapeFeature``, one per node it is asked about).  A builtin's own
    work counts as one line whatever its size (a set union, ``in`` on a
    list), so lines miss growth inside one; the walks cover the
    graph-sized builtins the passes use."""

    __slots__ = ("lines", "walks", "nodes_built", "shape_inferences")

    def __init__(self, lines=0, walks=0, nodes_built=0, shape_inferences=0):
        self.lines, self.walks = lines, walks
        self.nodes_built, self.shape_inferences = nodes_built, shape_inferences

    def __repr__(self):
        return (f"PassWork(lines={self.lines}, walks={self.walks}, "
                f"nodes_built={self.nodes_built}, shape_inferences={self.shape_inferences})")


def _counted_calls():
    """Code object -> the ``PassWork`` field its calls add to."""
    from ..graph.basic import Apply
    from ..graph.fg import FunctionGraph
    from ..graph.shape_feature import ShapeFeature
    from ..graph.traversal import walk

    return {walk.__code__: "walks", FunctionGraph.toposort.__code__: "walks",
            Apply.__init__.__code__: "nodes_built",
            ShapeFeature._infer_node.__code__: "shape_inferences"}


def _run_counted(rewrite, fgraph):
    """``rewrite.apply(fgraph)`` under a line-counting ``sys.settrace``
    (about 3x slower; a debugger's or coverage tool's trace function is
    set aside meanwhile): (changes, PassWork)."""
    import sys

    work = PassWork()
    counted = _counted_calls()

    def trace_lines(frame, event, arg):
        if event == "line":
            work.lines += 1
        return trace_lines

    def trace_calls(frame, event, arg):
        field = counted.get(frame.f_code)
        if field is not None:
            setattr(work, field, getattr(work, field) + 1)
        return trace_lines

    outer = sys.gettrace()
    sys.settrace(trace_calls)
    try:
        changes = rewrite.apply(fgraph)
    finally:
        sys.settrace(outer)
    return changes, work


def optimize(fgraph, level="FAST_RUN", exclude=(), count_work=False):
    """Run the passes of ``level`` over ``fgraph`` in place; returns the report.

    ``count_work``: count each pass's work (``PassWork``) into
    ``report.work`` (pass name -> counts); about 3x slower, for checking
    how a pass scales (``benchmarks/optimizer_figures.py``).

    Every pass is linear in the graph size (``tests/test_rewrite_scaling.py``
    counts the work).  Two costs that are not a pass's own are kept out:
    the cyclic collector is paused (each collection walks the whole heap,
    graph included, so collecting as rewrites allocate grows with the graph
    size), and the user frames recorded on every new node are found once
    (``pinned_user_trace``) instead of by a stack walk per node."""
    if level not in LEVELS:
        raise ValueError(f"unknown optimizer level {level!r}; known: {sorted(map(str, LEVELS))}")
    report = RewriteReport(len(fgraph.apply_nodes), kernel_counts(fgraph))
    with gc_paused(), pinned_user_trace():
        for rewrite in pipeline.select(LEVELS[level], exclude):
            t0 = time.perf_counter()
            if count_work:
                changes, report.work[rewrite.name] = _run_counted(rewrite, fgraph)
            else:
                changes = rewrite.apply(fgraph)
            report.passes.append((rewrite.name, changes, time.perf_counter() - t0))
    report.nodes_after = len(fgraph.apply_nodes)
    report.kernels_after = kernel_counts(fgraph)
    report.pruned_nodes = fgraph.pruned_nodes  # dead code the rewrites left behind
    return report


def kernel_counts(fgraph):
    """(number of KernelOp nodes, number of Elemwise nodes) in ``fgraph``."""
    from ..ops.elemwise import Elemwise
    from ..ops.kernel import KernelOp

    kernels = elemwise = 0
    for node in fgraph.apply_nodes:
        kernels += isinstance(node.op, KernelOp)
        elemwise += isinstance(node.op, Elemwise)
    return kernels, elemwise
