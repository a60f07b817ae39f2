"""FunctionGraph: the private copy of a user graph that compilation works on.

It owns cloned Apply nodes (user Variables are never mutated), knows each
variable's clients, and offers topological order and replacement, the
primitives the rewrite passes are built on.
"""

from .basic import Constant
from .traversal import clone_graph, walk


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
        """Recompute order and clients from the outputs (one walk): a node no
        output needs is not reached, so this is also dead-code elimination."""
        old = getattr(self, "apply_nodes", None)
        self.clients = {}
        self.apply_nodes, placed = walk(self.outputs, stop_at=self.inputs, clients=self.clients)
        if old is not None:
            self.pruned_nodes += sum(1 for n in old if n not in placed)
        for i, out in enumerate(self.outputs):
            readers = self.clients.get(out)
            if readers is None:
                self.clients[out] = [("output", i)]
            else:
                readers.append(("output", i))
        self._variables = None

    @property
    def variables(self):
        """Every Variable of the graph (inputs, and each node's inputs and
        outputs); computed on first use after a change, since few passes ask."""
        if self._variables is None:
            variables = set(self.inputs)
            for node in self.apply_nodes:
                variables.update(node.inputs)
                variables.update(node.outputs)
            self._variables = variables
        return self._variables

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
        """Make every reader of each ``old`` read its ``new`` (one level: a
        pair's ``new`` is not looked up again), then rebuild order and
        clients, which prunes what no output needs any more.

        Only the readers the clients map lists are rewired, so the cost is
        that of the rebuild, not of a scan of every node per call; the map
        is exact as long as passes change inputs only through this method
        or onto fresh variables (``specialize`` rewires shape readers onto
        a new Gemm output)."""
        if not pairs:
            return
        mapping = dict(pairs)
        clients = self.clients
        rewired = set()
        for old in mapping:
            for node, _ in clients.get(old, ()):
                if node != "output" and node not in rewired:
                    rewired.add(node)
                    node.inputs = [mapping.get(i, i) for i in node.inputs]
        self.outputs = [mapping.get(o, o) for o in self.outputs]
        self._rebuild()

    def __str__(self):
        return f"FunctionGraph({len(self.apply_nodes)} nodes, {len(self.outputs)} outputs)"
