"""Execute a schedule of thunks over a flat storage list.

Errors raised inside a thunk are re-raised with the node, the input
shapes/dtypes and the user line that created the node.
"""

import time

import numpy as np

from ..graph.basic import Constant
from ..graph.provenance import format_trace


class NodeError(Exception):
    """Base of runtime errors re-raised with node context (also a subclass of
    the original exception's type, so ``except ValueError`` still works)."""


_ERROR_CLASSES = {}


def _describe_value(v):
    a = np.asarray(v)
    return f"{a.dtype}, shape {a.shape}"


def _is_broadcast_pad(node):
    """A DimShuffle that only adds leading broadcastable dimensions (what
    NumPy-style broadcasting of operands of different ndim inserts)."""
    op = node.op
    order = getattr(op, "new_order", None)
    ndim = getattr(op, "input_ndim", None)
    if order is None or ndim is None or len(node.inputs) != 1:
        return False
    lead = len(order) - ndim
    return lead > 0 and list(order[:lead]) == ["x"] * lead and list(order[lead:]) == list(
        range(ndim))


def _user_label(var):
    """How the user would name ``var``: its name, the name of what was
    broadcast into it, or a short expression."""
    from ..printing import pprint

    v, padded = var, False
    while v.owner is not None and _is_broadcast_pad(v.owner):
        v, padded = v.owner.inputs[0], True
    if v.name is not None:
        label = v.name
    elif isinstance(v, Constant):
        label = f"constant {v}"
    else:
        try:
            label = pprint(v, max_depth=2)
        except Exception:  # printing must never hide the real error
            label = str(v)
        if len(label) > 80:
            label = label[:77] + "..."
    if padded:
        label += f" (broadcast to {var.type.ndim}-d)"
    return label


def node_error(node, input_values, exc):
    """A copy of ``exc`` whose message adds the node, the user's names,
    dtypes and shapes of its inputs, and where the user created it."""
    from ..config import config
    from ..printing import pprint

    try:
        expression = pprint(node.outputs[0], max_depth=2)
    except Exception:
        expression = str(node)
    lines = [str(exc), f"Apply node that caused the error: {node}",
             f"Expression: {expression}", "Inputs:"]
    for k, (var, value) in enumerate(zip(node.inputs, input_values)):
        line = f"  #{k} {_user_label(var)}: {_describe_value(value)}"
        if config.exception_verbosity == "high" and np.size(value) <= 16:
            text = np.array2string(np.asarray(value), separator=", ").replace("\n", "")
            line += f", value {text}"
        lines.append(line)
    lines.append(f"The node was created at:\n{format_trace(node.tag.trace)}")
    if config.exception_verbosity != "high":
        lines.append("HINT: set graphc.config.exception_verbosity = 'high' to see small input "
                     "values and the original traceback; graphc.printing.debugprint(f) shows "
                     "the compiled graph.")
    msg = "\n".join(lines)
    cls = type(exc)
    err_cls = _ERROR_CLASSES.get(cls)
    if err_cls is None:
        try:
            err_cls = type(cls.__name__, (NodeError, cls), {"__module__": cls.__module__})
        except TypeError:
            err_cls = RuntimeError
        _ERROR_CLASSES[cls] = err_cls
    try:
        err = err_cls(msg)
    except Exception:
        err = RuntimeError(msg)
    err.node = node
    err.original = exc
    err.verbose = config.exception_verbosity == "high"
    return err


class Runner:
    """A compiled schedule: storage slots, constants and one thunk per node."""

    def __init__(self, fgraph, backend):
        self.fgraph = fgraph
        index = {}
        self.storage_template = []

        def slot(var):
            if var not in index:
                index[var] = len(self.storage_template)
                self.storage_template.append(var.data if isinstance(var, Constant) else None)
            return index[var]

        self.input_slots = [slot(v) for v in fgraph.inputs]
        self.schedule = []
        self.fallbacks = []
        for node in fgraph.toposort():
            ins = [slot(v) for v in node.inputs]
            outs = [slot(v) for v in node.outputs]
            thunk = backend.make_thunk(node)
            if getattr(thunk, "fallback", False) and backend.name != "python":
                self.fallbacks.append(node)
            self.schedule.append((node, thunk, ins, outs))
        self.output_slots = [slot(v) for v in fgraph.outputs]
        self.index = index
        self.node_times = None

    def run(self, input_values, profile=None):
        storage = list(self.storage_template)
        for s, v in zip(self.input_slots, input_values):
            storage[s] = v
        for k, (node, thunk, ins, outs) in enumerate(self.schedule):
            args = [storage[i] for i in ins]
            try:
                if profile is None:
                    results = thunk(args)
                else:
                    t0 = time.perf_counter()
                    results = thunk(args)
                    profile.record(node, time.perf_counter() - t0)
            except NodeError:
                raise
            except Exception as exc:
                err = node_error(node, args, exc)
                # The user sees the node, names, shapes and their own line, not
                # the NumPy traceback from inside perform (kept on
                # err.__cause__ with exception_verbosity='high').
                if err.verbose:
                    raise err from exc
                raise err from None
            for o, r in zip(outs, results):
                storage[o] = r
        return [storage[s] for s in self.output_slots]
