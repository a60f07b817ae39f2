"""The rewrite pipeline: named passes at fixed positions, selected by tags.

Each pass is a small object with ``apply(fgraph) -> number of changes``.
``optimize`` runs the passes a mode selects, in position order, and returns a
report: per pass how often it fired and how long it took, and the node
counts before and after, so a user can see which rewrite did what (and
which one is slow).
"""

import time


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


def optimize(fgraph, level="FAST_RUN", exclude=()):
    """Run the passes of ``level`` over ``fgraph`` in place; returns the report."""
    if level not in LEVELS:
        raise ValueError(f"unknown optimizer level {level!r}; known: {sorted(map(str, LEVELS))}")
    report = RewriteReport(len(fgraph.apply_nodes), kernel_counts(fgraph))
    for rewrite in pipeline.select(LEVELS[level], exclude):
        t0 = time.perf_counter()
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
