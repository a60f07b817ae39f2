"""Memory planning (position 110): liveness of values over the schedule, and
in-place kernels that write their output into a dead input's buffer.

The schedule is ``fgraph.toposort()``, the order the Runner executes.  The
Runner frees every value after its last use (``last_uses``); this pass adds
buffer *reuse*: a ``KernelOp`` output may overwrite input ``i`` when

* the input's buffer was freshly allocated by the node that produced it (a
  Kernel, Dot or Gemm result — never a function input the user passed, a
  constant, a shared variable's storage, or a view of one of those);
* nothing reads that buffer afterwards, directly or through a view: an op
  not known to return fresh memory may return a view of any of its inputs,
  so a value's buffer lives as long as every value derived from it by such
  ops (``buffer_last_uses``);
* no value sharing the buffer is a function output (the user gets it back);
* dtype and broadcast pattern equal the output's, and the kernel has no
  reduction (whose output is smaller than its loop);
* the output's expression ends in a NumPy ufunc that nothing else in the
  kernel reads, so ``evaluate`` can write it with ``out=`` (otherwise the
  in-place flag would save nothing).

``KernelOp.perform`` re-checks shape/dtype/writeability at run time (dims of
unknown length may broadcast), so a flag is always safe to ignore.

In-place updates (Theano's in-place GEMM): a shared variable W whose update
is a Gemm with C = W (the SGD step ``W - lr * dot(X.T, g)``) may be
accumulated into W's own array (``Gemm{inplace}``, BLAS beta=1) instead of a
new one, when

* that Gemm's result is read by nothing but the update (no node, no user
  output, no other update), and A and B are not (views of) W;
* no function output may view W's buffer (it is returned after the call);
* the Gemm runs after every other reader of W: in-place update Gemms are
  moved to the end of the schedule, ordered among themselves so that one
  reading another's W runs first (a cycle leaves one of them out of place).

Running last keeps calls atomic: the Runner checks the inputs of all of them
(``Gemm.check_inputs``) before the first one writes, so a failing call
leaves every shared value as it was, and it gives W's buffer a private copy
for the call when an input or another shared value overlaps it.  As in
Theano, an array obtained with ``get_value(borrow=True)`` (or given to
``shared``/``set_value`` with ``borrow=True``) is then updated in place.
"""

from collections import Counter

from ..ops.kernel import KernelOp
from .engine import GraphRewrite, pipeline

#: position of a value read by the user (a function output): never dies
FOREVER = float("inf")


def fresh_output_ops():
    """Op classes whose ``perform`` always returns newly allocated arrays
    (except the outputs of their ``destroy_map``: a KernelOp's in-place output
    is a dead fresh buffer, an in-place update Gemm's is the shared variable's
    own buffer, which only that update reads; ``buffer_sources`` follows both)."""
    from ..ops.blas import Dot

    classes = [KernelOp, Dot]
    try:
        from ..ops.blas import Gemm
        classes.append(Gemm)
    except ImportError:  # pragma: no cover - GEMM specialization not present
        pass
    return tuple(classes)


def last_uses(schedule, outputs):
    """value -> index of the last node of ``schedule`` reading it
    (``FOREVER`` for ``outputs``); values nobody reads are absent."""
    last = {}
    for t, node in enumerate(schedule):
        for var in node.inputs:
            last[var] = t
    for var in outputs:
        last[var] = FOREVER
    return last


def buffer_last_uses(schedule, outputs):
    """value -> the last schedule index at which its *buffer* may be read:
    its own last use, or later through any value a non-fresh op derived from
    it (which may be a view).  One reverse sweep: linear."""
    last = last_uses(schedule, outputs)
    fresh = fresh_output_ops()
    extended = dict(last)
    for node in reversed(schedule):
        if isinstance(node.op, fresh):
            continue
        derived = max((extended.get(o, -1) for o in node.outputs), default=-1)
        for var in node.inputs:
            if derived > extended.get(var, -1):
                extended[var] = derived
    return extended


def update_outputs(fgraph):
    """shared variable -> the fgraph output holding its new value."""
    targets = list(getattr(fgraph, "update_targets", None) or [])
    n_user = getattr(fgraph, "n_user_outputs", len(fgraph.outputs) - len(targets))
    return {var: fgraph.outputs[n_user + k] for k, var in enumerate(targets)}


def buffer_sources(schedule, inputs):
    """value -> the graph inputs whose buffer it may share: an op not known
    to return fresh memory may return a view of any of its inputs, and an
    in-place output is the buffer it destroys."""
    fresh = fresh_output_ops()
    none = frozenset()
    sources = {v: frozenset([v]) for v in inputs}
    for node in schedule:
        if isinstance(node.op, fresh):
            destroy = getattr(node.op, "destroy_map", None) or {}
            for o, var in enumerate(node.outputs):
                sources[var] = frozenset().union(
                    *(sources.get(node.inputs[i], none) for i in destroy.get(o, ())))
            continue
        shared = frozenset().union(*(sources.get(v, none) for v in node.inputs))
        for var in node.outputs:
            sources[var] = shared
    return sources


def _inplace_update_candidates(fgraph, schedule):
    """{Gemm node: shared variable it may update in place} (module docstring)."""
    from ..ops.blas import Gemm

    sources = buffer_sources(schedule, fgraph.inputs)
    uses = Counter(fgraph.outputs)
    none = frozenset()
    candidates = {}
    for shared, new in update_outputs(fgraph).items():
        node = new.owner
        if node is None or not isinstance(node.op, Gemm) or node.op.inplace or \
                node.op.beta == 0.0 or node.inputs[2] is not shared:
            continue
        if uses[new] != 1 or any(c != "output" for c, _ in fgraph.clients.get(new, ())):
            continue
        if new.type.ndim != shared.type.ndim or any(
                shared in sources.get(v, none) for v in node.inputs[:2]):
            continue
        candidates[node] = shared
    if candidates:
        returned = frozenset().union(*(sources.get(o, none) for o in fgraph.outputs))
        candidates = {n: s for n, s in candidates.items() if s not in returned}
    return candidates, sources


def _order_updates(candidates, sources):
    """The candidates in an order where a Gemm reading (a view of) another's
    W through A or B runs before that one overwrites it; members of a cycle
    are left out (they stay out of place)."""
    none = frozenset()
    readers = {node: [] for node in candidates}  # node -> candidates that must run first
    for node in candidates:
        for other, shared in candidates.items():
            if other is not node and any(shared in sources.get(v, none)
                                         for v in node.inputs[:2]):
                readers[other].append(node)
    ordered, placed = [], set()
    while True:
        ready = [n for n in candidates if n not in placed and all(r in placed for r in readers[n])]
        if not ready:
            return ordered
        ordered += ready
        placed.update(ready)


def plan_inplace_updates(fgraph, schedule):
    """(new schedule, number of Gemms made in place): in-place update Gemms
    marked and moved to the end of ``schedule`` (see the module docstring)."""
    candidates, sources = _inplace_update_candidates(fgraph, schedule)
    if not candidates:
        return schedule, 0
    tail = _order_updates(candidates, sources)
    moved = set(tail)
    for node in tail:
        node.op = node.op.clone_with(inplace=True)  # same inputs and outputs
    return [n for n in schedule if n not in moved] + tail, len(tail)


def plan_inplace(node, t, buffer_last, fresh):
    """{output index: input index} for KernelOp ``node`` at schedule index ``t``."""
    kernel = node.op.kernel
    if kernel.reduce is not None:
        return {}
    plan, taken = {}, set()
    for k in kernel.writable_roots:
        out = node.outputs[k]
        for i, var in enumerate(node.inputs):
            if i in taken or var.owner is None or not isinstance(var.owner.op, fresh):
                continue
            if sum(1 for v in node.inputs if v is var) != 1:
                continue
            if buffer_last.get(var) != t or var.type.dtype != out.type.dtype:
                continue
            if var.type.ndim != out.type.ndim or any(
                    (a == 1) != (b == 1) for a, b in zip(var.type.shape, out.type.shape)):
                continue
            plan[k] = i
            taken.add(i)
            break
    return plan


class MemoryPlan(GraphRewrite):
    """Mark KernelOps that may overwrite a dead input (see module docstring)."""

    name = "memory_plan"

    #: plan in-place update Gemms (off: every update gets a new array)
    inplace_updates = True

    def apply(self, fgraph):
        schedule = fgraph.toposort()
        changed = 0
        if self.inplace_updates:
            schedule, changed = plan_inplace_updates(fgraph, schedule)
            if changed:
                # the execution order the Runner follows (a valid topological
                # order: the moved Gemms' results are read by no node)
                fgraph.apply_nodes = schedule
        buffer_last = buffer_last_uses(schedule, fgraph.outputs)
        fresh = fresh_output_ops()
        for t, node in enumerate(schedule):
            if not isinstance(node.op, KernelOp) or node.op.inplace:
                continue
            plan = plan_inplace(node, t, buffer_last, fresh)
            if plan:
                # Same inputs and outputs, so the schedule is unchanged.
                node.op = KernelOp(node.op.kernel, inplace=plan)
                changed += 1
        return changed


def destroys_graph_input(node):
    """Whether ``node`` overwrites a graph input (an in-place update)."""
    destroy = getattr(node.op, "destroy_map", None)
    return bool(destroy) and any(node.inputs[i].owner is None
                                 for inputs in destroy.values() for i in inputs)


def check_destroy_plan(schedule, fgraph):
    """Raise if a node destroys a buffer that is read later, returned to the
    user, or not its own (an input, constant or shared value) -- except an
    in-place update of a shared variable that satisfies the conditions of
    the module docstring: a planning bug must fail at compile time, not
    corrupt results.  Returns the shared variables updated in place."""
    outputs = fgraph.outputs
    buffer_last = sources = None
    fresh = fresh_output_ops()
    updates = update_outputs(fgraph)
    inplace_updated = []
    for t, node in enumerate(schedule):
        destroy = getattr(node.op, "destroy_map", None)
        if not destroy:
            continue
        if buffer_last is None:
            buffer_last = buffer_last_uses(schedule, outputs)
            sources = buffer_sources(schedule, fgraph.inputs)
        for o, (i,) in destroy.items():
            var = node.inputs[i]
            if var.owner is None and updates.get(var) is node.outputs[o]:
                _check_inplace_update(schedule, t, node, var, outputs, sources)
                inplace_updated.append(var)
                continue
            if var.owner is None or not isinstance(var.owner.op, fresh) or \
                    buffer_last.get(var) != t:
                raise RuntimeError(f"memory plan: {node.op} would overwrite input #{i} "
                                   f"({var}), which is read later or not owned by the graph")
    return inplace_updated


def _check_inplace_update(schedule, t, node, shared, outputs, sources):
    none = frozenset()
    problem = None
    if not hasattr(node.op, "check_inputs"):
        problem = "could be written before a later node's inputs are checked"
    elif any(shared in sources.get(v, none) for later in schedule[t + 1:] for v in later.inputs):
        problem = "is read after it is overwritten"
    elif any(shared in sources.get(v, none) for v in node.inputs if v is not shared):
        problem = "is also read by the node that overwrites it"
    elif any(shared in sources.get(o, none) for o in outputs if o is not node.outputs[0]) or \
            sum(1 for o in outputs if o is node.outputs[0]) != 1:
        problem = "is returned to the user or another update"
    elif not all(destroys_graph_input(n) for n in schedule[t + 1:]):
        problem = "is overwritten before other nodes run (a failing node would leave it changed)"
    if problem is not None:
        raise RuntimeError(f"memory plan: {node.op} would update shared variable {shared} in "
                           f"place, but its buffer {problem}")


memory_plan = pipeline.register(MemoryPlan(), 110, "fast_run")
