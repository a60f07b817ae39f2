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
"""

from ..ops.kernel import KernelOp
from .engine import GraphRewrite, pipeline

#: position of a value read by the user (a function output): never dies
FOREVER = float("inf")


def fresh_output_ops():
    """Op classes whose ``perform`` always returns newly allocated arrays."""
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

    def apply(self, fgraph):
        schedule = fgraph.toposort()
        buffer_last = buffer_last_uses(schedule, fgraph.outputs)
        fresh = fresh_output_ops()
        changed = 0
        for t, node in enumerate(schedule):
            if not isinstance(node.op, KernelOp) or node.op.inplace:
                continue
            plan = plan_inplace(node, t, buffer_last, fresh)
            if plan:
                # Same inputs and outputs, so the schedule is unchanged.
                node.op = KernelOp(node.op.kernel, inplace=plan)
                changed += 1
        return changed


def check_destroy_plan(schedule, outputs):
    """Raise if a node destroys a buffer that is read later, returned to the
    user, or not its own (an input, constant or shared value): a planning
    bug must fail at compile time, not corrupt results."""
    buffer_last = None
    fresh = fresh_output_ops()
    for t, node in enumerate(schedule):
        destroy = getattr(node.op, "destroy_map", None)
        if not destroy:
            continue
        if buffer_last is None:
            buffer_last = buffer_last_uses(schedule, outputs)
        for o, (i,) in destroy.items():
            var = node.inputs[i]
            if var.owner is None or not isinstance(var.owner.op, fresh) or \
                    buffer_last.get(var) != t:
                raise RuntimeError(f"memory plan: {node.op} would overwrite input #{i} "
                                   f"({var}), which is read later or not owned by the graph")


memory_plan = pipeline.register(MemoryPlan(), 110, "fast_run")
