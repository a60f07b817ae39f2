"""Merge: equal constants and identical nodes (same op, same inputs) are
computed once.  One topological sweep, so it is linear in the graph size."""

from ..graph.basic import Constant
from .engine import GraphRewrite, pipeline


class MergeRewrite(GraphRewrite):
    def __init__(self, name="merge"):
        self.name = name

    def apply(self, fgraph):
        mapping = {}
        constants = {}
        for var in fgraph.variables:
            if isinstance(var, Constant):
                key = var.signature()
                kept = constants.setdefault(key, var)
                if kept is not var:
                    mapping[var] = kept
        seen = {}
        for node in fgraph.toposort():
            inputs = tuple(mapping.get(i, i) for i in node.inputs)
            key = (node.op, tuple(map(id, inputs)))
            other = seen.get(key)
            if other is None:
                seen[key] = node
                continue
            if any(a.type != b.type for a, b in zip(node.outputs, other.outputs)):
                continue
            for old, new in zip(node.outputs, other.outputs):
                mapping[old] = new
        if mapping:
            fgraph.replace_all(list(mapping.items()))
        return len(mapping)


merge = pipeline.register(MergeRewrite(), 0, "fast_run", "fast_compile")
# Folding and other rewrites create new duplicates: merge once more at the end.
merge_final = pipeline.register(MergeRewrite("merge_final"), 100, "fast_run", "fast_compile")
