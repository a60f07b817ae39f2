"""Elementwise fusion: clusters of Elemwise nodes (and the reduction that
consumes one) become one ``KernelOp`` each, so a code generator emits one
loop nest per cluster and intermediate arrays are never materialised.

Which nodes fuse
    * every ``Elemwise`` (any scalar op, casts included) is a candidate; so is
      a ``Reduce`` (sum/prod/max/min) that a kernel can compute exactly
      (``from_graph.reduction_of``);
    * broadcast pads (``DimShuffle{x,..,0,1,..}``) are read through: the pad's
      input becomes a lower-rank kernel input;
    * a producer fuses into a consumer only when both have the same loop
      rank and the same statically-broadcast dimensions, so a broadcast never
      makes a kernel recompute a value once per element of the broadcast axis;
    * a Reduce joins the cluster of its input only when every other value of
      that cluster is used inside it (a kernel's outputs are all reduced);
    * after a Reduce, Elemwise consumers in the reduced output space (same
      loop type as the Reduce's output, reading no loop-body value and no
      other cluster's value) join the kernel's *epilogue* (``sum(x) / n``,
      ``b - lr * sum(g, axis=0)``); their other operands become inputs read
      in the output space.  The raw reduction is a result only if used
      outside.

No cycles (convexity)
    Each node gets a *stage*: the maximum over its inputs of the producer's
    stage, plus one for every edge that is not fused (pads are transparent).
    A node fuses only with clusters whose stage equals its own, so every edge
    that leaves a cluster strictly increases the stage: a path out of a
    cluster can never come back into it.  One topological sweep, union-find
    for merging clusters: linear in the graph size.

Loop invariants
    ``x.shape[c]`` and scalar Elemwise values computed from dimensions and
    literals only (``from_graph.LoopInvariants``: ``1 / float64(n)`` of
    ``mean``) are inlined: every kernel reading one computes it itself from
    ``KShape`` leaves, so the invariant chain costs no nodes (it is dead once
    every reader is a kernel) and adds no stage between the kernels before
    and after it.  Such a read counts as reading ``x`` for the stages.

Shapes
    A kernel's loop shape is the broadcast of its inputs and every output
    has the loop shape.  A cluster value used outside the cluster becomes an
    extra output, which is only right when its shape is provably the loop
    shape: each of its dimensions either is statically the loop's, or every
    kernel input it does not depend on is statically 1 there.  (Dimensions of
    unknown length may still broadcast at run time.)  A value that fails is
    cut from its in-cluster consumers and the sweep runs again.  An epilogue's
    results have the broadcast shape of the reduced value and its inputs, so
    the same rule applies there: a value used outside must read every
    operand that is not statically all-1.

Single nodes
    A lone Elemwise becomes a one-node KernelOp too: the code generators then
    see exactly one kind of elementwise node (a Kernel), and the python
    backend evaluates it with the same NumPy calls as ``Elemwise.perform``.
    A lone Reduce becomes a reduction kernel for the same reason.
"""

from ..graph.basic import Constant
from ..kernel.from_graph import (LoopInvariants, build_kernel, is_broadcast_pad, reduction_of,
                                 unpad)
from ..ops.elemwise import Elemwise
from ..ops.kernel import KernelOp
from .engine import GraphRewrite, pipeline

import numpy as np

#: most inputs + outputs of one kernel (PyTensor caps fused ufuncs at 32 and
#: Composites at 1024; ctypes calls take at most 1024 arguments)
MAX_KERNEL_OPERANDS = 128


class _Cluster:
    __slots__ = ("stage", "loop", "members", "external", "reduce_node", "operands",
                 "epilogue", "out_loop", "out_values")

    def __init__(self, stage, loop, node, external):
        self.stage = stage
        # upper bound of the kernel's inputs + outputs (entries read from
        # outside, plus external client entries)
        self.operands = (len(node.inputs) if node is not None else 0) + external
        self.loop = loop            # (ndim, statically-broadcast dims)
        self.members = [node]       # Elemwise nodes
        self.external = external    # client entries of member outputs outside the cluster
        self.reduce_node = None     # the Reduce ending the loop body
        self.epilogue = []          # Elemwise nodes after the Reduce, in its output space
        self.out_loop = None        # loop type of the reduced output space
        self.out_values = set()     # the reduced value and the epilogue's values

    def takes_epilogue(self, loop, own):
        """Whether an Elemwise of ``loop`` type reading ``own`` values of this
        cluster can join the epilogue: it runs in the reduced output space and
        reads no loop-body value.  (Shapes are checked on the whole cluster:
        ``ElemwiseFusion._epilogue_violations``.)"""
        if self.reduce_node is None or loop != self.out_loop:
            return False
        return all(v in self.out_values for v in own)


def _loop_type(var):
    return var.type.ndim, tuple(d == 1 for d in var.type.shape)


class ElemwiseFusion(GraphRewrite):
    """See the module docstring."""

    name = "elemwise_fusion"

    def apply(self, fgraph):
        order = fgraph.toposort()
        invariants = LoopInvariants(order)
        forbidden = set()  # (producer, consumer) edges that must not fuse
        while True:
            clusters, cluster_of = self._group(order, fgraph.clients, forbidden, invariants)
            if getattr(fgraph, "strict_broadcast", False):
                break  # strict kernels check that every output has the loop shape
            cut = self._shape_violations(clusters, cluster_of, fgraph.clients)
            if not cut:
                break
            forbidden |= cut
        return self._replace(fgraph, clusters, cluster_of, invariants)

    # ------------------------------------------------------------- grouping
    @staticmethod
    def _group(order, clients, forbidden, invariants):
        """One topological sweep: stages and clusters (see module docstring)."""
        stage = {}
        cluster_of = {}   # node -> _Cluster (members and the closing Reduce)
        parent = {}       # union-find over _Cluster objects

        def find(c):
            root = c
            while parent[root] is not root:
                root = parent[root]
            while parent[c] is not root:
                parent[c], c = root, parent[c]
            return root

        def producer_stage(var):
            owner = var.owner
            if owner is None:
                return -1
            return find(cluster_of[owner]).stage if owner in cluster_of else stage[owner]

        for node in order:
            op = node.op
            if is_broadcast_pad(node):
                stage[node] = producer_stage(node.inputs[0])  # read through
                continue
            if isinstance(op, Elemwise):
                loop = _loop_type(node.outputs[0])
                reads, rigid = {}, -1  # fusable cluster -> input entries read from it
                candidates = {}        # cluster -> the inputs it produces
                inlined = [invariants.inlined(node, var) for var in node.inputs]
                for var, inline in zip(node.inputs, inlined):
                    owner = var.owner
                    if inline:
                        rigid = max([rigid] + [producer_stage(x) + 1
                                               for x in invariants.sources[unpad(var)]])
                    elif owner is not None and owner in cluster_of \
                            and (owner, node) not in forbidden:
                        candidates.setdefault(find(cluster_of[owner]), []).append(var)
                # A reduction's cluster takes the node into its epilogue only
                # alone (merging other clusters into an epilogue is not done).
                closed = [cl for cl in candidates if cl.reduce_node is not None]
                tail = None
                if len(closed) == 1 and closed[0].takes_epilogue(loop, candidates[closed[0]]):
                    tail = closed[0]
                for var, inline in zip(node.inputs, inlined):
                    if inline:
                        continue
                    owner = var.owner
                    cl = None
                    if owner is not None and owner in cluster_of and (owner, node) not in forbidden:
                        cl = find(cluster_of[owner])
                        if tail is not None:
                            cl = cl if cl is tail else None
                        elif cl.reduce_node is not None or cl.loop != loop:
                            cl = None
                    if cl is None:
                        rigid = max(rigid, producer_stage(var) + 1)
                    else:
                        reads[cl] = reads.get(cl, 0) + 1
                s = max([rigid, 0] + [cl.stage for cl in reads])
                # Join the clusters of stage s.  A lower-stage cluster stays an
                # input (its edge has +1 <= s) unless this node is its only
                # reader: then no path can leave it and come back, whatever
                # the stages, and it moves up to stage s.
                joined = [cl for cl, n in reads.items() if cl.stage == s or cl.external == n]
                n_out = len(clients.get(node.outputs[0], ()))
                if joined and sum(cl.operands - reads[cl] for cl in joined) + len(node.inputs) \
                        + n_out > MAX_KERNEL_OPERANDS:
                    # too many operands for one kernel (code generators pass
                    # each as an argument): start a new cluster one stage up
                    joined = []
                    s = max([rigid, 0] + [cl.stage + 1 for cl in reads])
                stage[node] = s
                if not joined:
                    cl = _Cluster(s, loop, node, n_out)
                    parent[cl] = cl
                    cluster_of[node] = cl
                    continue
                target = max(joined, key=lambda c: len(c.members))
                internal = sum(1 for var, inline in zip(node.inputs, inlined)
                               if not inline and var.owner is not None
                               and var.owner in cluster_of
                               and find(cluster_of[var.owner]) in joined)
                for cl in joined:
                    if cl is not target:
                        target.members.extend(cl.members)
                        target.external += cl.external
                        parent[cl] = target
                target.stage = s
                if target.reduce_node is not None:
                    target.epilogue.append(node)
                    target.out_values.add(node.outputs[0])
                else:
                    target.members.append(node)
                target.external += n_out - internal
                target.operands = sum(cl.operands - reads[cl] for cl in joined) \
                    + len(node.inputs) - internal + n_out
                cluster_of[node] = target
                continue
            red = reduction_of(node)
            if red is not None:
                (var,) = node.inputs
                owner = var.owner
                cl = None
                if owner is not None and owner in cluster_of and (owner, node) not in forbidden:
                    cl = find(cluster_of[owner])
                    # every other value of the cluster must stay inside it
                    if cl.reduce_node is not None or cl.loop != _loop_type(var) or cl.external != 1:
                        cl = None
                n_out = len(clients.get(node.outputs[0], ()))
                if cl is not None:
                    cl.external = n_out
                    stage[node] = cl.stage
                else:
                    s = producer_stage(var) + 1
                    cl = _Cluster(s, _loop_type(var), node, n_out)
                    cl.members = []
                    parent[cl] = cl
                    stage[node] = s
                cl.reduce_node = node
                cl.out_loop = _loop_type(node.outputs[0])
                cl.out_values = {node.outputs[0]}
                cluster_of[node] = cl
                continue
            stage[node] = max([0] + [producer_stage(v) + 1 for v in node.inputs])

        clusters = []
        seen = set()
        for node in order:
            if node in cluster_of:
                cl = find(cluster_of[node])
                cluster_of[node] = cl
                if id(cl) not in seen:
                    seen.add(id(cl))
                    clusters.append(cl)
        return clusters, cluster_of

    # --------------------------------------------------------------- shapes
    @staticmethod
    def _boundary_inputs(cl, cluster_of):
        """The unpadded variables the cluster reads from outside, which set
        its loop shape (size-1 constants become literals and do not)."""
        inputs = {}
        for node in cl.members:
            for var in node.inputs:
                if var.owner is not None and cluster_of.get(var.owner) is cl:
                    continue
                u = unpad(var)
                if isinstance(u, Constant) and np.size(u.data) == 1:
                    continue
                inputs[u] = None
        return list(inputs)

    def _shape_violations(self, clusters, cluster_of, clients):
        """Edges to cut: from each cluster output whose shape may differ from
        the loop shape at run time to its consumers inside the cluster."""
        cut = set()
        for cl in clusters:
            if cl.epilogue:
                cut |= self._epilogue_violations(cl, cluster_of, clients)
            if cl.reduce_node is not None or len(cl.members) < 2:
                continue  # a reduction's body has one output that reads every input
            inputs = self._boundary_inputs(cl, cluster_of)
            ndim = cl.loop[0]
            dims = [[_aligned_dim(u, d, ndim) for d in range(ndim)] for u in inputs]
            loop = []
            for d in range(ndim):
                known = {col[d] for col in dims if col[d] not in (None, 1)}
                loop.append(known.pop() if len(known) == 1 else
                            None if any(col[d] is None for col in dims) else 1)
            for node in cl.members:
                out = node.outputs[0]
                users = clients.get(out, ())
                if all(c != "output" and cluster_of.get(c) is cl for c, _ in users):
                    continue  # internal value: runtime broadcasting is harmless
                shape = out.type.shape
                bad = [d for d in range(ndim) if shape[d] is None or shape[d] != loop[d]]
                if not bad:
                    continue
                deps = self._input_ancestors(node, cl, cluster_of)
                if any(dims[k][d] != 1 and u not in deps
                       for d in bad for k, u in enumerate(inputs)):
                    inside = [(node, c) for c, _ in users
                              if c != "output" and cluster_of.get(c) is cl]
                    # no reader inside: a sibling widens the loop, so the
                    # node leaves its producers' cluster instead
                    cut.update(inside or [(var.owner, node) for var in node.inputs
                                          if cluster_of.get(var.owner) is cl])
        return cut

    @staticmethod
    def _epilogue_violations(cl, cluster_of, clients):
        """Edges to cut in an epilogue: results have the broadcast shape of
        the reduced value and the epilogue's inputs, so a value used outside
        must depend on every operand that is not statically all-1 (one it
        does not read could broadcast it at run time), like an elementwise
        cluster's extra outputs."""
        def in_epilogue(var):
            return var.owner is not None and cluster_of.get(var.owner) is cl \
                and var in cl.out_values

        reduced = cl.reduce_node.outputs[0]
        operands, reads = {reduced: None}, {reduced: {reduced}}
        for node in cl.epilogue:
            deps = set()
            for var in node.inputs:
                if in_epilogue(var):
                    deps |= reads[var]
                    continue
                u = unpad(var)
                if isinstance(u, Constant) and np.size(u.data) == 1:
                    continue
                operands[u] = None
                deps.add(u)
            reads[node.outputs[0]] = deps
        varying = [u for u in operands if not all(d == 1 for d in u.type.shape)]
        cut = set()
        for node in [cl.reduce_node] + cl.epilogue:
            out = node.outputs[0]
            users = clients.get(out, ())
            if all(c != "output" and cluster_of.get(c) is cl for c, _ in users):
                continue
            if all(u in reads[out] for u in varying):
                continue
            cut.update((node, c) for c, _ in users if c != "output" and cluster_of.get(c) is cl)
        return cut

    @staticmethod
    def _input_ancestors(node, cl, cluster_of):
        """The unpadded outside variables ``node`` depends on in its cluster."""
        found, stack, seen = set(), [node], {node}
        while stack:
            n = stack.pop()
            for var in n.inputs:
                owner = var.owner
                if owner is not None and cluster_of.get(owner) is cl:
                    if owner not in seen:
                        seen.add(owner)
                        stack.append(owner)
                else:
                    found.add(unpad(var))
        return found

    # ------------------------------------------------------------- rewrite
    @staticmethod
    def _replace(fgraph, clusters, cluster_of, invariants):
        pairs, created = [], []
        for cl in clusters:
            members = cl.members
            tail = []
            if cl.reduce_node is not None:
                outputs = [cl.reduce_node.inputs[0]]
                old = list(cl.reduce_node.outputs)
                ndim = cl.loop[0]
                if cl.epilogue:
                    old = [n.outputs[0] for n in [cl.reduce_node] + cl.epilogue
                           if any(c == "output" or cluster_of.get(c) is not cl
                                  for c, _ in fgraph.clients.get(n.outputs[0], ()))]
                    tail = cl.epilogue
            else:
                outputs = [n.outputs[0] for n in members
                           if any(c == "output" or cluster_of.get(c) is not cl
                                  for c, _ in fgraph.clients.get(n.outputs[0], ()))]
                old = outputs
                ndim = cl.loop[0]
            kernel, inputs = build_kernel(members, outputs, ndim, cl.reduce_node, tail, old,
                                          getattr(fgraph, "strict_broadcast", False), invariants)
            apply = KernelOp(kernel).make_node(*inputs)
            # errors at run time point at the user's line of the cluster's last node
            last = tail[-1] if tail else (cl.reduce_node or members[-1])
            apply.tag.trace = last.tag.trace
            apply.tag.fused_nodes = members + ([cl.reduce_node] if cl.reduce_node else []) + tail
            new = apply.outputs
            for o, n in zip(old, new):
                if o.type.dtype != n.type.dtype or o.type.ndim != n.type.ndim:
                    raise AssertionError(f"fusion changed the type of {o}: {o.type} -> {n.type}")
                if n.name is None:
                    n.name = o.name
            pairs.extend(zip(old, new))
            created.append(apply)
        # Kernels reading another cluster's values read its new outputs.
        mapping = dict(pairs)
        for apply in created:
            apply.inputs = [mapping.get(v, v) for v in apply.inputs]
        fgraph.replace_all(pairs)
        return len(clusters)


def _aligned_dim(var, d, ndim):
    """Static length of loop dimension ``d`` in ``var`` (right-aligned)."""
    off = ndim - var.type.ndim
    return 1 if d < off else var.type.shape[d - off]


elemwise_fusion = pipeline.register(ElemwiseFusion(), 50, "fast_run")
