"""FunctionGraph: the private copy of a user graph that compilation works on.

It owns cloned Apply nodes (user Variables are never mutated), knows each
variable's clients, and offers topological order and replacement, the
primitives the rewrite passes are built on.
"""

from .basic import Constant
from .traversal import clone_graph, toposort


class FunctionGraph:
    """Inputs, outputs and the nodes between them, with a clients map."""

    def __init__(self, inputs, outputs, clone=True, replace=None):
        inputs = list(inputs)
        if clone:
            replace = dict(replace or {})
            if replace:  # the replacements' own subgraphs are private copies too
                new_memo = clone_graph(list(replace.values()), stop_at=inputs)
                replace = {old: new_memo[new] for old, new in replace.items()}
            memo = clone_graph(outputs, replace=replace, stop_at=inputs)
            outputs = [memo[o] for o in outputs]
        self.inputs = inputs
        self.outputs = list(outputs)
        #: nodes dropped because no output needed them any more (after rewrites)
        self.pruned_nodes = 0
        self._rebuild()

    def _rebuild(self):
        """Recompute order, clients and variables from the outputs: a node no
        output needs is not reached, so this is also dead-code elimination."""
        old = getattr(self, "apply_nodes", None)
        self.apply_nodes = toposort(self.outputs, stop_at=self.inputs)
        if old is not None:
            kept = set(map(id, self.apply_nodes))
            self.pruned_nodes += sum(1 for n in old if id(n) not in kept)
        self.clients = {}
        for node in self.apply_nodes:
            for i, inp in enumerate(node.inputs):
                self.clients.setdefault(inp, []).append((node, i))
        for i, out in enumerate(self.outputs):
            self.clients.setdefault(out, []).append(("output", i))
        self.variables = set(self.inputs)
        for node in self.apply_nodes:
            self.variables.update(node.inputs)
            self.variables.update(node.outputs)

    def toposort(self):
        """Apply nodes, each after the nodes computing its inputs."""
        return list(self.apply_nodes)

    def prune(self):
        """Dead-code elimination: drop nodes no output needs; returns how
        many were dropped (rewrites that replace values leave the old
        producers unreachable, and ``replace_all`` prunes them already)."""
        before = self.pruned_nodes
        self._rebuild()
        return self.pruned_nodes - before

    def to_networkx(self):
        """The dataflow DAG as a ``networkx.DiGraph`` of Apply nodes (edge
        producer -> consumer, attribute ``var``) for analyses and checks such
        as ``networkx.is_directed_acyclic_graph``; linear in the graph size."""
        import networkx as nx

        inputs = set(self.inputs)
        graph = nx.DiGraph()
        graph.add_nodes_from(self.apply_nodes)
        graph.add_edges_from((var.owner, node, {"var": var})
                             for node in self.apply_nodes for var in node.inputs
                             if var.owner is not None and var not in inputs)
        return graph

    @property
    def constants(self):
        return [v for v in self.variables if isinstance(v, Constant)]

    def replace(self, old, new):
        """Make every client of ``old`` use ``new`` instead."""
        self.replace_all([(old, new)])

    def replace_all(self, pairs):
        if not pairs:
            return
        mapping = dict(pairs)
        for node in self.apply_nodes:
            node.inputs = [mapping.get(i, i) for i in node.inputs]
        self.outputs = [mapping.get(o, o) for o in self.outputs]
        self._rebuild()

    def __str__(self):
        return f"FunctionGraph({len(self.apply_nodes)} nodes, {len(self.outputs)} outputs)"
