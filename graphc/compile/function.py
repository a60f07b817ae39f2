"""``graphc.function``: compile inputs -> outputs (+ shared-variable updates).

Flow: validate the user's inputs/outputs/updates/givens, collect shared
variables and their default updates, clone everything into a FunctionGraph,
lower it with the mode's backend, and wrap the Runner in a callable that
checks inputs, runs, and commits all updates together at the end of a call.

Broadcast specialization: by default (``Mode.strict_broadcast``) the graph is
optimized under the strict broadcasting rule -- only dims of static size 1
broadcast -- which lets the shape analysis prove operands equal-shaped, drop
the runtime ``SumToShapeOf`` of gradients and fuse more.  Every broadcasting
node of that graph checks the rule and raises ``RuntimeBroadcastAssumption``
when a dim of unknown size is 1 at run time where the result's is not; the
call then compiles the NumPy-broadcasting graph (once, lazily), reruns with
it and uses it from then on.  The aborted attempt changed nothing: updates
are committed only after a call completes, and memory planning never writes
into inputs or shared storage.
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
from ..graph.shape_feature import RuntimeBroadcastAssumption
from ..graph.traversal import ancestors
from ..ops.elemwise import mark_strict_broadcast
from ..tensor.var import as_tensor_variable
from ..rewrite import optimize
from ..rewrite.memory import fresh_output_ops
from .mode import get_mode
from .profile import (CompileStats, ProfileStats, collecting_compile_stats,
                      compile_phase)
from .runner import MemoryClaims, Runner
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


#: ``Function.broadcasting`` values
STRICT_VARIANT = "strict (dims of unknown size never broadcast; NumPy fallback armed)"
NUMPY_VARIANT = "numpy (any length-1 dim broadcasts)"
FALLEN_BACK_VARIANT = "numpy (fell back: a call broadcast a dim of unknown size)"


class Function:
    """A compiled function: call it with one value per input.

    ``broadcasting`` says which variant of the graph runs (see the module
    docstring); ``generic_factory`` compiles the NumPy-broadcasting variant
    when the strict one runs."""

    def __init__(self, inputs, input_specs, outputs, single_output, updates, runner, maker,
                 name, allow_input_downcast, profile, trust_input=False, generic_factory=None):
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
        self._generic_factory = generic_factory
        self.broadcasting = STRICT_VARIANT if generic_factory is not None else NUMPY_VARIANT
        if profile is not None:
            profile.broadcasting = self.broadcasting
        self._input_names = [spec.name or f"#{k}" for k, spec in enumerate(input_specs)]
        self._name_to_index = {spec.name: k for k, spec in enumerate(input_specs) if spec.name}
        # Precomputed for the call path (see __call__).
        self._n_inputs = len(input_specs)
        self._input_checks = [_fast_input_check(spec.variable.type) for spec in input_specs]
        self._shared_containers = [v.container for v in self.shared_inputs]
        self._update_containers = [var.container for var in self.update_targets]
        self._results_fresh = _results_always_fresh(runner.fgraph.outputs)
        self._call = _generate_call(self)

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
        """Run the function.  The common call -- every input positional, an
        ndarray of the declared dtype and rank -- checks each input with a
        few attribute reads; other values go through ``TensorType.filter``
        (conversion, downcast rules, error messages naming the input).
        ``trust_input=True`` (argument or attribute) skips the checks: the
        caller guarantees such arrays."""
        if kwargs or len(args) != self._n_inputs or self.profile is not None:
            return self._call_general(args, kwargs)
        return self._call(args, self.trust_input, self._run)

    def _call_general(self, args, kwargs):
        """Keyword inputs, defaults, wrong counts (clear errors) and profiling."""
        t0 = time.perf_counter()
        values = self._bind(args, kwargs)
        if not self.trust_input:
            values = self._filter_inputs(values)
        if self.profile is None:
            return self._call(values, True, self._run)
        result = self._call(values, True,
                            lambda values: self.runner.run(values, self.profile))
        self.profile.calls += 1
        self.profile.call_time += time.perf_counter() - t0
        return result

    def _filter_inputs(self, values):
        checked = []
        for k, (spec, v) in enumerate(zip(self.input_specs, values)):
            allow = spec.allow_downcast if spec.allow_downcast is not None else \
                self.allow_input_downcast
            checked.append(spec.variable.type.filter(
                v, allow_downcast=allow, what=f"bad input {self._label(k)}"))
        return checked

    @property
    def _run(self):
        return self.runner._run_fast

    def _fall_back(self, values):
        """The strict variant met a runtime broadcast of a dim of unknown size
        (``RuntimeBroadcastAssumption``): switch to the NumPy-broadcasting
        variant for good and run this call's ``values`` with it."""
        if self._generic_factory is not None:
            fgraph, runner = self._generic_factory()
            self._generic_factory = None
            self.maker.strict_fgraph, self.maker.fgraph = self.maker.fgraph, fgraph
            self.runner = runner
            self.broadcasting = FALLEN_BACK_VARIANT
            self._results_fresh = _results_always_fresh(runner.fgraph.outputs)
            self._call = _generate_call(self)
            if self.profile is not None:
                self.profile.rewrite_report = fgraph.rewrite_report
                self.profile.broadcasting = self.broadcasting
        if self.profile is not None:
            return self.runner.run(values, self.profile)
        return self.runner._run_fast(values)

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


def _generate_call(fn):
    """``call(args, trust, run)``: one call of ``fn`` with its positional
    ``args`` (as many as it has inputs), generated as straight-line Python.

    Unless ``trust``, it checks each input with attribute reads (ndarray,
    the very dtype object, rank, static dims) and sends the inputs through
    ``TensorType.filter`` when one fails.  It appends the shared values,
    ``run``s the schedule, hands out the results (see ``_hand_out``; results
    of ops that always allocate are known to be fresh), then commits all
    updates together, only after every output was computed."""
    n_in, n_out = fn._n_inputs, fn.n_outputs
    env = {"ndarray": np.ndarray, "filter_inputs": fn._filter_inputs, "hand_out": _hand_out,
           "Assumption": RuntimeBroadcastAssumption, "fall_back": fn._fall_back}
    names = [f"a{k}" for k in range(n_in)]
    lines = ["def call(args, trust, run):"]
    if n_in:
        checks = []
        for k, (dtype, ndim, static_shape) in enumerate(fn._input_checks):
            env[f"dt{k}"] = dtype
            checks.append(f"type(a{k}) is ndarray and a{k}.dtype is dt{k} and a{k}.ndim == {ndim}")
            if static_shape is not None:
                env[f"static{k}"] = static_shape
                checks.append(f"static{k}(a{k}.shape)")
        lines += [f"    {', '.join(names)}, = args",
                  f"    if not (trust or ({' and '.join(checks)})):",
                  f"        {', '.join(names)}, = filter_inputs(args)"]
    for k, container in enumerate(fn._shared_containers):
        env[f"shared{k}"] = container
        names.append(f"shared{k}[0]")
    lines.append(f"    values = [{', '.join(names)}]")
    if fn._generic_factory is not None:  # the strict variant: guard the run
        lines += ["    try:",
                  "        results = run(values)",
                  "    except Assumption:",
                  "        results = fall_back(values)"]
    else:
        lines.append("    results = run(values)")
    if not fn._results_fresh:
        lines.append(f"    results = hand_out(results, {n_out}, values)")
    for k, container in enumerate(fn._update_containers):
        env[f"update{k}"] = container
        lines.append(f"    update{k}[0] = results[{n_out + k}]")
    if fn.single_output:
        lines.append("    return results[0]")
    else:
        lines.append(f"    return results[:{n_out}]" if fn._update_containers
                     else "    return results")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<graphc call {fn.name or ''}>", "exec"), env)
    call = env["call"]
    call.source = source
    return call


def _hand_out(results, n_outputs, values):
    """``results`` (outputs, then new shared values) as arrays their
    receivers may keep and mutate: each one is copied if it is read-only
    (e.g. a constant's data) or may share memory with an input, a shared
    value or a result claimed before it (new shared values first)."""
    claims = MemoryClaims(v for v in values if isinstance(v, np.ndarray))
    owned = list(results)
    for k in [*range(n_outputs, len(results)), *range(n_outputs)]:
        value = np.asarray(results[k])
        if not value.flags.writeable or claims.overlaps(value):
            value = value.copy()
        claims.add(value)
        owned[k] = value
    return owned


def _fast_input_check(tensor_type):
    """(dtype, ndim, static-shape test or None) for ``Function.__call__``."""
    static = any(s is not None for s in tensor_type.shape)
    return (np.dtype(tensor_type.dtype), tensor_type.ndim,
            tensor_type.shape_matches if static else None)


def _results_always_fresh(results):
    """True when every result variable is computed by an op whose outputs
    are always newly allocated (``fresh_output_ops``) and none is listed
    twice: then no result can alias an input, a shared value or another
    result, and the call hands them out without checks."""
    fresh = fresh_output_ops()
    seen = set()
    for var in results:
        if var in seen or var.owner is None or not isinstance(var.owner.op, fresh):
            return False
        seen.add(var)
    return True


_MISSING = object()


def _compile_graph(graph_inputs, outputs, givens, update_pairs, n_user_outputs, mode,
                   strict_broadcast):
    """One variant of a function's graph: cloned from the user's variables,
    optimized (under the strict broadcasting rule if ``strict_broadcast``)
    and lowered.  Returns (fgraph, runner)."""
    with compile_phase("clone"):
        fgraph = FunctionGraph(graph_inputs, outputs, replace=givens)
    fgraph.update_targets = [var for var, _ in update_pairs]
    fgraph.n_user_outputs = n_user_outputs
    fgraph.strict_broadcast = strict_broadcast
    with compile_phase("rewrite"):
        fgraph.rewrite_report = optimize(fgraph, mode.optimizer)
    if strict_broadcast:
        mark_strict_broadcast(fgraph)
    with compile_phase("lower"):
        runner = Runner(fgraph, get_backend(mode.backend))
    return fgraph, runner


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
    strict = mode_obj.strict_broadcast and mode_obj.optimizer is not None

    def compile_variant(strict_broadcast):
        with collecting_compile_stats(compile_stats):
            return _compile_graph(input_vars + shared_vars, all_outputs, givens_map,
                                  update_pairs, len(out_list), mode_obj, strict_broadcast)

    fgraph, runner = compile_variant(strict)
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
                  allow_input_downcast, prof, trust_input,
                  generic_factory=(lambda: compile_variant(False)) if strict else None)
    if prof is not None:
        prof.compile_time = time.perf_counter() - t_start
    return fn
