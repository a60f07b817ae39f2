"""``graphc.function``: compile inputs -> outputs (+ shared-variable updates).

Flow: validate the user's inputs/outputs/updates/givens, collect shared
variables and their default updates, clone everything into a FunctionGraph,
lower it with the mode's backend, and wrap the Runner in a callable that
checks inputs, runs, and commits all updates together at the end of a call.
"""

import time
import warnings

import numpy as np

from ..backends import get_backend
from ..config import config
from ..graph.basic import Constant, Variable
from ..graph.fg import FunctionGraph
from ..graph.gcpause import gc_paused
from ..graph.provenance import format_trace
from ..graph.traversal import ancestors
from ..tensor.var import as_tensor_variable
from ..rewrite import optimize
from .mode import get_mode
from .profile import (CompileStats, ProfileStats, collecting_compile_stats,
                      compile_phase)
from .runner import Runner
from .sharedvalue import SharedVariable


class UnusedInputError(ValueError):
    """An explicit input that no output depends on (on_unused_input='raise')."""


class MissingInputError(ValueError):
    """An output depends on a variable that is neither an input nor shared."""


class In:
    """An input with options: ``In(x, value=default, name=..., borrow=...)``."""

    def __init__(self, variable, name=None, value=None, borrow=False, mutable=False,
                 allow_downcast=None):
        if not isinstance(variable, Variable):
            raise TypeError(f"In() wraps a symbolic variable, got {variable!r}")
        self.variable = variable
        self.name = name or variable.name
        self.value = value
        self.borrow = borrow
        self.allow_downcast = allow_downcast


class Out:
    """An output with options (``borrow=True`` may return internal storage)."""

    def __init__(self, variable, borrow=False):
        self.variable = variable
        self.borrow = borrow


def _where(var):
    if var.owner is not None:
        return "\nIt was created at:\n" + format_trace(var.owner.tag.trace)
    trace = getattr(var.tag, "trace", None)
    return "\nIt was created at:\n" + format_trace(trace) if trace else ""


def _where_used(var, outputs, stop_at):
    """Where the user created a node that reads ``var``."""
    from ..graph.traversal import toposort

    for node in toposort(outputs, stop_at=stop_at):
        if any(i is var for i in node.inputs):
            return (f"\nIt is used by {node.op}({', '.join(map(str, node.inputs))}), created "
                    f"at:\n{format_trace(node.tag.trace)}")
    return ""


def _normalize_updates(updates):
    if updates is None:
        return []
    if isinstance(updates, dict):
        pairs = list(updates.items())
    else:
        pairs = list(updates)
    out = []
    seen = set()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"updates must be (shared_variable, expression) pairs, got {pair!r}")
        var, expr = pair
        if not isinstance(var, SharedVariable):
            raise TypeError(f"update target {var} is not a shared variable; only shared "
                            "variables can be updated")
        if var in seen:
            raise ValueError(f"shared variable {var} has more than one update")
        seen.add(var)
        expr = as_tensor_variable(expr)
        if expr.ndim != var.ndim:
            raise TypeError(f"the update of shared variable {var} ({var.type}) has "
                            f"{expr.ndim} dimensions, expected {var.ndim}{_where(expr)}")
        if expr.dtype != var.dtype:
            if np.can_cast(expr.dtype, var.dtype, "safe"):
                from ..tensor.math import cast

                expr = cast(expr, var.dtype)
            else:
                raise TypeError(
                    f"an update must have the same type as the shared variable it updates: "
                    f"{var} is {var.type} but its update {expr} is {expr.type}. Cast the "
                    f"update, e.g. ({expr}).astype('{var.dtype}'){_where(expr)}")
        out.append((var, expr))
    return out


def _normalize_givens(givens):
    if givens is None:
        return {}
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    result = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"givens: {old!r} is not a symbolic variable")
        new = as_tensor_variable(new)
        if getattr(old, "ndim", None) != new.ndim:
            raise TypeError(f"givens: {old} ({old.type}) cannot be replaced by {new} "
                            f"({new.type}): different number of dimensions")
        if old.dtype != new.dtype:
            if not np.can_cast(new.dtype, old.dtype, "same_kind"):
                raise TypeError(f"givens: {old} ({old.type}) cannot be replaced by {new} "
                                f"({new.type}): incompatible dtypes")
            from ..tensor.math import cast

            new = cast(new, old.dtype)  # the graph keeps the dtypes it was built with
        result[old] = new
    return result


class FunctionMaker:
    """Holds what compilation produced (Theano's ``f.maker``)."""

    def __init__(self, fgraph, mode, inputs, outputs):
        self.fgraph = fgraph
        self.mode = mode
        self.inputs = inputs
        self.outputs = outputs


class Function:
    """A compiled function: call it with one value per input."""

    def __init__(self, inputs, input_specs, outputs, single_output, updates, runner, maker,
                 name, allow_input_downcast, profile, trust_input=False):
        self.input_variables = inputs
        self.input_specs = input_specs
        self.single_output = single_output
        self.n_outputs = len(outputs)
        self.shared_inputs = [v for v in runner.fgraph.inputs[len(inputs):]]
        self.update_targets = [var for var, _ in updates]
        self.runner = runner
        self.maker = maker
        self.name = name
        self.allow_input_downcast = allow_input_downcast
        self.profile = profile
        self.trust_input = trust_input
        self._input_names = [spec.name or f"#{k}" for k, spec in enumerate(input_specs)]
        self._name_to_index = {spec.name: k for k, spec in enumerate(input_specs) if spec.name}

    @property
    def graph(self):
        return self.maker.fgraph

    def _label(self, k):
        name = self.input_specs[k].name
        where = f" of function {self.name!r}" if self.name else ""
        return f"{name!r} (input #{k}{where})" if name else f"#{k}{where}"

    def _bind(self, args, kwargs):
        n = len(self.input_specs)
        if len(args) > n:
            raise TypeError(f"function{' ' + repr(self.name) if self.name else ''} takes "
                            f"{n} input(s) ({', '.join(self._input_names)}), got {len(args)}")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._name_to_index:
                raise TypeError(f"unknown input name {key!r}; inputs are {self._input_names}")
            k = self._name_to_index[key]
            if values[k] is not _MISSING:
                raise TypeError(f"input {key!r} given twice")
            values[k] = value
        for k, v in enumerate(values):
            if v is _MISSING:
                default = self.input_specs[k].value
                if default is None:
                    raise TypeError(f"missing input {self._label(k)}: the function takes "
                                    f"{n} input(s) ({', '.join(self._input_names)}), got "
                                    f"{len(args) + len(kwargs)}")
                values[k] = default
        return values

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        values = self._bind(args, kwargs)
        if not self.trust_input:
            checked = []
            for k, (spec, v) in enumerate(zip(self.input_specs, values)):
                allow = spec.allow_downcast if spec.allow_downcast is not None else \
                    self.allow_input_downcast
                checked.append(spec.variable.type.filter(
                    v, allow_downcast=allow, what=f"bad input {self._label(k)}"))
            values = checked
        shared_values = [s.container[0] for s in self.shared_inputs]
        results = self.runner.run(values + shared_values, self.profile)
        outputs = results[:self.n_outputs]
        new_values = results[self.n_outputs:]
        # Commit all updates together, only after every output was computed.
        # Every array handed out (new shared values, outputs) is owned by its
        # receiver alone: it aliases no input, no old or new shared value and
        # no other output.
        claimed = [v for v in values + shared_values if isinstance(v, np.ndarray)]
        new_values = [_own(v, claimed) for v in new_values]
        outputs = [_own(o, claimed) for o in outputs]
        for var, value in zip(self.update_targets, new_values):
            var.container[0] = value
        if self.profile is not None:
            self.profile.calls += 1
            self.profile.call_time += time.perf_counter() - t0
        if self.single_output:
            return outputs[0]
        return outputs

    def copy(self):
        return self

    def report(self, file=None):
        """What compilation did: rewrites, node/kernel counts, backends, kernel
        source (see ``graphc.printing.function_report``)."""
        from ..printing import function_report

        return function_report(self, file=file)

    def __reduce__(self):
        # Pickles the user-level graph and shared state; loading recompiles.
        from ..persist import reduce_function

        return reduce_function(self)

    def __repr__(self):
        return f"<graphc.Function {self.name or ''} inputs={self._input_names}>"


def _own(value, claimed):
    """``value`` as an array its receiver may keep and mutate: copied if it is
    read-only (e.g. a constant's data) or may share memory with an array of
    ``claimed`` (inputs, shared storage, values already handed out); the
    result is then appended to ``claimed``."""
    value = np.asarray(value)
    if not value.flags.writeable or any(
            c is value or (value.size and c.size and np.may_share_memory(value, c))
            for c in claimed):
        value = value.copy()
    claimed.append(value)
    return value


_MISSING = object()


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, accept_inplace=False, name=None, rebuild_strict=True,
             allow_input_downcast=None, profile=None, on_unused_input=None, trust_input=False):
    """Compile a callable from symbolic ``inputs`` to ``outputs``.

    ``updates`` (shared variable, expression) pairs are all computed from the
    values before the call, then written together; a call that fails changes
    no shared variable.  ``givens`` substitutes variables in the graph.
    """
    with gc_paused():
        return _function(inputs, outputs, mode, updates, givens, no_default_updates,
                         accept_inplace, name, rebuild_strict, allow_input_downcast, profile,
                         on_unused_input, trust_input)


def _function(inputs, outputs, mode, updates, givens, no_default_updates, accept_inplace, name,
              rebuild_strict, allow_input_downcast, profile, on_unused_input, trust_input):
    t_start = time.perf_counter()
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("function(): inputs must be a list of symbolic variables, got "
                        f"{type(inputs).__name__}")
    specs = []
    for k, inp in enumerate(inputs):
        spec = inp if isinstance(inp, In) else In(inp) if isinstance(inp, Variable) else None
        if spec is None:
            raise TypeError(f"function(): input #{k} is not a symbolic variable: {inp!r}")
        if isinstance(spec.variable, SharedVariable):
            raise TypeError(f"function(): input #{k} ({spec.variable}) is a shared variable; "
                            "shared variables are implicit inputs: use givens to replace one")
        if isinstance(spec.variable, Constant):
            raise TypeError(f"function(): input #{k} ({spec.variable}) is a constant")
        if spec.variable.owner is not None:
            raise TypeError(f"function(): input #{k} ({spec.variable}) is computed from other "
                            "variables; inputs must be free variables such as T.matrix('x')")
        specs.append(spec)
    input_vars = [s.variable for s in specs]
    if len(set(map(id, input_vars))) != len(input_vars):
        raise ValueError("function(): the same variable is given twice as an input")

    single = outputs is not None and not isinstance(outputs, (list, tuple))
    out_list = [] if outputs is None else [outputs] if single else list(outputs)
    out_list = [o.variable if isinstance(o, Out) else o for o in out_list]
    out_list = [as_tensor_variable(o) for o in out_list]

    update_pairs = _normalize_updates(updates)
    givens_map = _normalize_givens(givens)
    on_unused_input = on_unused_input or config.on_unused_input
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"function(): on_unused_input must be 'raise', 'warn' or 'ignore', "
                         f"got {on_unused_input!r}")

    # Default updates (e.g. random generator states) of shared variables used.
    if not no_default_updates:
        updated = {var for var, _ in update_pairs}
        frontier = out_list + [e for _, e in update_pairs]
        while frontier:
            extra = []
            for v in ancestors(frontier):
                if isinstance(v, SharedVariable) and v.default_update is not None \
                        and v not in updated:
                    updated.add(v)
                    extra.append((v, v.default_update))
            update_pairs.extend(extra)
            frontier = [e for _, e in extra]

    all_outputs = out_list + [expr for _, expr in update_pairs]
    graph_vars = ancestors(all_outputs, stop_at=list(givens_map) + input_vars)
    givens_needed = ancestors(list(givens_map.values()), stop_at=input_vars)
    # Leaves of the graph proper (givens keys are replaced there) and of the
    # replacements (not substituted again: a replacement that reads its own
    # key, like {x: x + 1}, reads the real x).
    leaves = [v for v in graph_vars
              if v.owner is None and v not in givens_map and not isinstance(v, Constant)]
    leaves += [v for v in givens_needed if v.owner is None and not isinstance(v, Constant)]
    input_set = set(input_vars)
    shared_vars = []
    seen = set()
    for v in leaves:
        if v in input_set or v in seen:
            continue
        seen.add(v)
        if isinstance(v, SharedVariable):
            shared_vars.append(v)
        else:
            raise MissingInputError(
                f"function(): the output depends on {v} ({v.type}), which is neither an input "
                f"of the function nor a shared variable. Add it to the inputs or give it a "
                f"value through givens.{_where(v)}"
                + ((v not in givens_map and _where_used(v, all_outputs,
                                                         list(givens_map) + input_vars))
                   or _where_used(v, list(givens_map.values()), input_vars)))
    for var, _ in update_pairs:
        if var not in seen:
            seen.add(var)
            shared_vars.append(var)

    used = {id(v) for v in graph_vars + givens_needed}
    for k, v in enumerate(input_vars):
        if id(v) not in used:
            msg = (f"function(): input #{k} ({v}) is not used to compute any output; "
                   "pass on_unused_input='warn' or 'ignore' to allow this")
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=2)

    mode_obj = get_mode(mode)
    compile_stats = CompileStats()
    with collecting_compile_stats(compile_stats):
        with compile_phase("clone"):
            fgraph = FunctionGraph(input_vars + shared_vars, all_outputs, replace=givens_map)
        fgraph.update_targets = [var for var, _ in update_pairs]
        fgraph.n_user_outputs = len(out_list)
        with compile_phase("rewrite"):
            fgraph.rewrite_report = optimize(fgraph, mode_obj.optimizer)
        with compile_phase("lower"):
            runner = Runner(fgraph, get_backend(mode_obj.backend))
    maker = FunctionMaker(fgraph, mode_obj, specs, out_list)
    maker.compile_stats = compile_stats
    # The user-level graph, kept for inspection (the before-optimization
    # picture and report) and for pickling, which recompiles from it.
    maker.updates = update_pairs
    maker.givens = givens_map
    maker.options = dict(name=name, allow_input_downcast=allow_input_downcast, profile=profile,
                         trust_input=trust_input, single_output=single)
    prof = None
    if profile:
        prof = ProfileStats(name if isinstance(profile, bool) else profile,
                            compile_stats=compile_stats, rewrite_report=fgraph.rewrite_report)
    fn = Function(input_vars, specs, out_list, single, update_pairs, runner, maker, name,
                  allow_input_downcast, prof, trust_input)
    if prof is not None:
        prof.compile_time = time.perf_counter() - t_start
    return fn
