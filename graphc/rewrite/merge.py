"""Merge: equal constants and identical nodes (same op, same inputs) are
computed once.  One topological sweep, so it is linear in the graph size."""

from ..graph.basic import Constant
from .engine import GraphRewrite, pipeline


class MergeRewrite(GraphRewrite):
    def __init__(self, name="merge"):
        self.name = name

    def apply(self, fgraph):
        mapping = {}
        signatures = {}  # constant signature -> the constant kept
        known = set()    # constants already looked at (a signature copies the data)
        op_ids = {}      # id(op) -> id of the first equal op: each op object hashed once
        canonical_ops = {}
        seen = {}
        for var in fgraph.inputs:
            self._merge_constant(var, known, signatures, mapping)
        for node in fgraph.toposort():
            for var in node.inputs:
                if var.owner is None and var not in known:
                    self._merge_constant(var, known, signatures, mapping)
            op = node.op
            op_id = op_ids.get(id(op))
            if op_id is None:
                op_id = op_ids[id(op)] = id(canonical_ops.setdefault(op, op))
            key = (op_id, *[id(mapping.get(i, i)) for i in node.inputs])
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

    @staticmethod
    def _merge_constant(var, known, signatures, mapping):
        """Map ``var`` to the first equal constant met (toposort order)."""
        known.add(var)
        if isinstance(var, Constant):
            kept = signatures.setdefault(var.signature(), var)
            if kept is not var:
                mapping[var] = kept


merge = pipeline.register(MergeRewrite(), 0, "fast_run", "fast_compile")
# Folding and other rewrites create new duplicates: merge once more at the end.
merge_final = pipeline.register(MergeRewrite("merge_final"), 100, "fast_run", "fast_compile")
