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


def _describe_value(v):
    a = np.asarray(v)
    return f"{a.dtype}{list(a.shape)}"


def node_error(node, input_values, exc):
    """A copy of ``exc`` whose message adds the node and its provenance."""
    shapes = ", ".join(_describe_value(v) for v in input_values)
    names = ", ".join(str(i) for i in node.inputs)
    msg = (f"{exc}\nApply node that caused the error: {node.op}({names})\n"
           f"Inputs (dtype[shape]): {shapes}\n"
           f"The node was created at:\n{format_trace(node.tag.trace)}")
    cls = type(exc)
    try:
        err_cls = type(cls.__name__, (NodeError, cls), {})
        err = err_cls(msg)
    except TypeError:
        err = RuntimeError(msg)
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
                raise node_error(node, args, exc) from exc
            for o, r in zip(outs, results):
                storage[o] = r
        return [storage[s] for s in self.output_slots]
