"""Execute a schedule of thunks over a flat storage list.

Errors raised inside a thunk are re-raised with the node, the input
shapes/dtypes and the user line that created the node.
"""

import time

import numpy as np

from ..graph.basic import Constant
from ..graph.provenance import format_trace
from ..graph.shape_feature import RuntimeBroadcastAssumption
from ..rewrite.memory import FOREVER, check_destroy_plan, destroys_graph_input, last_uses


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

    # A fused kernel fails as a whole: name the fused node the user wrote.
    source = node
    fused = getattr(node.tag, "fused_nodes", None)
    if fused:
        from ..kernel.from_graph import failing_member

        source = failing_member(fused, node.inputs, input_values) or node
    try:
        expression = pprint(source.outputs[0], max_depth=2)
    except Exception:
        expression = str(source)
    lines = [str(exc), f"Apply node that caused the error: {node}"]
    if source is not node:
        lines.append(f"Fused operation that failed: {source.op}")
    lines += [f"Expression: {expression}", "Inputs:"]
    for k, (var, value) in enumerate(zip(node.inputs, input_values)):
        line = f"  #{k} {_user_label(var)}: {_describe_value(value)}"
        if config.exception_verbosity == "high" and np.size(value) <= 16:
            text = np.array2string(np.asarray(value), separator=", ").replace("\n", "")
            line += f", value {text}"
        lines.append(line)
    lines.append(f"The node was created at:\n{format_trace(source.tag.trace)}")
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
    """A compiled schedule: storage slots, constants and one thunk per node.

    ``run`` executes a Python function generated for this schedule (Theano's
    CVM idea, in Python): one straight-line statement per node, every value a
    local variable, constants bound once, dead values dropped by ``del``.  So
    a call costs one Python call per thunk and nothing per slot.  Profiled
    calls take the instrumented loop over ``schedule`` instead.
    """

    def __init__(self, fgraph, backend, free_dead=True):
        """``free_dead``: drop each value right after its last use (the
        memory plan's liveness), so a call holds only live buffers; off, every
        value is held until the call returns (for measuring the difference)."""
        self.fgraph = fgraph
        index = {}
        self.storage_template = []

        def slot(var):
            if var not in index:
                index[var] = len(self.storage_template)
                self.storage_template.append(var.data if isinstance(var, Constant) else None)
            return index[var]

        self.input_slots = [slot(v) for v in fgraph.inputs]
        nodes = fgraph.toposort()
        # shared variables whose buffer in-place update nodes (at the end of
        # the schedule, from ``first_inplace_update`` on) overwrite
        inplace_updated = check_destroy_plan(nodes, fgraph)
        self.private_slots = [index[v] for v in inplace_updated]
        self.first_inplace_update = next(
            (t for t, node in enumerate(nodes) if destroys_graph_input(node)), None)
        dead_after = _dead_after(nodes, fgraph.outputs) if free_dead else [()] * len(nodes)
        self.schedule = []
        self.fallbacks = []
        # a backend may lower the whole schedule at once (the llvm backend
        # compiles all its kernels as one module)
        make_thunks = getattr(backend, "make_thunks", None)
        thunks = (make_thunks(nodes) if make_thunks is not None
                  else [backend.make_thunk(node) for node in nodes])
        for node, dead, thunk in zip(nodes, dead_after, thunks):
            ins = [slot(v) for v in node.inputs]
            outs = [slot(v) for v in node.outputs]
            if getattr(thunk, "fallback", False) and backend.name != "python" \
                    and not getattr(node.op, "library", None):
                self.fallbacks.append(node)
            # (node, thunk, input slots, output slots, slots to free after it)
            self.schedule.append((node, thunk, ins, outs, [slot(v) for v in dead]))
        self.output_slots = [slot(v) for v in fgraph.outputs]
        self.index = index
        self.node_times = None
        self._names = [f"c{s}" if isinstance(var, Constant) else f"v{s}"
                       for var, s in sorted(index.items(), key=lambda item: item[1])]
        self._run_fast = _generate_run(self)

    def run(self, input_values, profile=None):
        """The values of ``fgraph.outputs`` (a list) for ``input_values``
        (one per ``fgraph.inputs``, already checked)."""
        if profile is None:
            return self._run_fast(input_values)
        return self._run_profiled(input_values, profile)

    def _run_profiled(self, input_values, profile):
        storage = list(self.storage_template)
        for s, v in zip(self.input_slots, input_values):
            storage[s] = v
        for s in self.private_slots:
            storage[s] = private_buffer(storage[s], [storage[i] for i in self.input_slots
                                                     if i != s])
        profile.begin_call(storage)
        for position, (node, thunk, ins, outs, dead) in enumerate(self.schedule):
            if position == self.first_inplace_update:
                for later, _, later_ins, _, _ in self.schedule[position:]:
                    args = [storage[i] for i in later_ins]
                    try:
                        later.op.check_inputs(later, args)
                    except Exception as exc:
                        _raise_node_error(later, args, exc)
            args = [storage[i] for i in ins]
            try:
                t0 = time.perf_counter()
                results = thunk(args)
                profile.record(node, time.perf_counter() - t0)
            except NodeError:
                raise
            except Exception as exc:
                _raise_node_error(node, args, exc)
            for o, r in zip(outs, results):
                storage[o] = r
            del args, results
            for d in dead:
                storage[d] = None
            # the slots that changed (pass freed slots too)
            profile.record_live(storage, outs + dead if dead else outs)
        return [storage[s] for s in self.output_slots]

    def fail(self, position, values, exc):
        """Re-raise ``exc``, raised by the thunk of schedule entry
        ``position``, with node context; ``values`` maps the generated
        code's variable names to the values of the call."""
        node, _, ins, _, _ = self.schedule[position]
        args = [values.get(self._names[i], self.storage_template[i]) for i in ins]
        _raise_node_error(node, args, exc)


def _raise_node_error(node, args, exc):
    if isinstance(exc, RuntimeBroadcastAssumption):
        # not a user error: the Function reruns the call with its NumPy-broadcasting variant
        exc.node = exc.node or node
        raise exc
    err = node_error(node, args, exc)
    # The user sees the node, names, shapes and their own line, not the
    # NumPy traceback from inside perform (kept on err.__cause__ with
    # exception_verbosity='high').
    if err.verbose:
        raise err from exc
    raise err from None


def _generate_run(runner):
    """``run(input_values) -> list of outputs`` for ``runner``'s schedule, as
    generated Python (see ``Runner``).  Before each node the body sets ``k``
    to its schedule position, so a failure is reported against that node."""
    # slot s is the local v<s>, or the global c<s> for a constant
    names = runner._names
    env = {"NodeError": NodeError, "fail": runner.fail, "private": private_buffer}
    for s, name in enumerate(names):
        if name[0] == "c":
            env[name] = runner.storage_template[s]
    body = []
    params = [names[s] for s in runner.input_slots]
    if params:
        body.append(f"{', '.join(params)}, = input_values")
    for s in runner.private_slots:
        others = ", ".join(names[i] for i in runner.input_slots if i != s)
        body.append(f"{names[s]} = private({names[s]}, ({others}{',' if others else ''}))")
    for k, (node, thunk, ins, outs, dead) in enumerate(runner.schedule):
        if k == runner.first_inplace_update:
            # every in-place update checks its inputs before the first writes
            for j, (later, _, later_ins, _, _) in enumerate(runner.schedule[k:], k):
                env[f"check{j}"], env[f"n{j}"] = later.op.check_inputs, later
                body.append(f"k = {j}")
                body.append(f"check{j}(n{j}, [{', '.join(names[i] for i in later_ins)}])")
        env[f"t{k}"] = thunk
        args = ", ".join(names[i] for i in ins)
        targets = ", ".join(names[o] for o in outs)
        body.append(f"k = {k}")
        body.append(f"{targets}{',' if outs else ''} = t{k}([{args}])" if outs
                    else f"t{k}([{args}])")
        freed = [names[d] for d in dead if names[d][0] == "v"]
        if freed:
            body.append(f"del {', '.join(freed)}")
    result = ", ".join(names[s] for s in runner.output_slots)
    lines = ["def run(input_values):"]
    if runner.schedule:
        lines.append("    k = -1")
        lines.append("    try:")
        lines += ["        " + line for line in body]
        lines += ["    except NodeError:",
                  "        raise",
                  "    except Exception as exc:",
                  "        if k < 0:",  # not a thunk: the inputs did not unpack
                  "            raise",
                  "        fail(k, locals(), exc)",
                  "        raise"]
    else:
        lines += ["    " + line for line in body]
    lines.append(f"    return [{result}]")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<graphc runner {id(runner):#x}>", "exec")
    exec(code, env)
    run = env["run"]
    run.source = source
    return run


def private_buffer(value, others):
    """``value`` (a shared variable's array that an in-place update will
    overwrite), copied when it may share memory with one of ``others`` (the
    call's other inputs and shared values), which must keep their values."""
    if isinstance(value, np.ndarray) and may_share_any(
            value, [o for o in others if isinstance(o, np.ndarray)]):
        return value.copy()
    return value


def _tracked_owner(a):
    """The array owning ndarray ``a``'s memory when NumPy tracks it: ``a`` or
    its base, a plain ndarray with no base of its own (NumPy collapses view
    chains onto it).  None when memory comes from elsewhere (a buffer object,
    an array subclass, ...): then only ``np.may_share_memory`` can tell."""
    owner = a.base
    if owner is None:
        owner = a
    return owner if type(owner) is np.ndarray and owner.base is None else None


def may_share_any(a, others):
    """Whether ndarray ``a`` may share memory with one of the ndarrays
    ``others``.  Arrays with different tracked owners cannot overlap, so the
    bounds check (``np.may_share_memory``) runs only for the same owner or
    untracked memory."""
    owner = _tracked_owner(a)
    for b in others:
        if b is a:
            return True
        other = _tracked_owner(b)
        if (owner is None or other is None or other is owner) and np.may_share_memory(a, b):
            return True
    return False


class MemoryClaims:
    """Arrays that belong to someone already (a call's inputs, shared
    values, outputs handed out so far), indexed by tracked owner so that
    checking a new array costs a dict lookup, not a scan."""

    __slots__ = ("_by_owner", "_untracked", "_all")

    def __init__(self, arrays=()):
        self._by_owner = {}
        self._untracked = []
        self._all = []
        for a in arrays:
            self.add(a)

    def add(self, a):
        owner = _tracked_owner(a)
        if owner is None:
            self._untracked.append(a)
        else:
            self._by_owner.setdefault(id(owner), []).append(a)
        self._all.append(a)

    def overlaps(self, a):
        """Whether ndarray ``a`` may share memory with a claimed array
        (empty arrays share nothing, but are not their own copies)."""
        owner = _tracked_owner(a)
        if owner is None:
            candidates = self._all
        else:
            candidates = self._by_owner.get(id(owner), []) + self._untracked
        return any(c is a or (a.size and c.size and np.may_share_memory(a, c))
                   for c in candidates)


def _dead_after(schedule, outputs):
    """Per node of ``schedule``: the values no later node (nor the user)
    reads, to drop once it has run — its inputs' last uses, and its own
    outputs that nobody reads.  A view keeps its base alive by itself, so
    dropping a reference is always safe."""
    last = last_uses(schedule, outputs)
    dead = [[] for _ in schedule]
    for var, t in last.items():
        if t != FOREVER:
            dead[t].append(var)
    for t, node in enumerate(schedule):
        dead[t].extend(o for o in node.outputs if o not in last)
    return dead
