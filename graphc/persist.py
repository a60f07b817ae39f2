"""Saving graphs to JSON (+ ``.npz`` arrays) and pickling compiled functions.

A graph document is plain JSON: a table of variables (inputs, constants,
shared variables with their default updates, node outputs: type, name),
a table of nodes in dependency order (op class + its ``__props__``, input
and output ids, the user frames that created it), and the ids of the
outputs, inputs and updates.  Arrays (constant data, shared values, input
defaults) are kept apart, keyed ``a0``, ``a1``... so ``save`` writes them
to a NumPy ``.npz`` beside the JSON and a pickle embeds them; either way
dtypes, shapes and bits round-trip exactly.

Ops are rebuilt as ``cls(**props)`` from a registry of the Op subclasses
of graphc (``register_op`` adds one, or gives the fields of an op whose
state is not its ``__props__``); scalar ops are stored by name, kernels of
the kernel IR by their expression DAG, variables inside op state by id.

A compiled function pickles as its user-level graph (inputs with their
options, outputs, updates, givens, mode) plus its shared variables, which
pickle as objects so that functions pickled together still share them;
unpickling recompiles (through the compile cache).  Every walk is
iterative, so very deep graphs save and load.
"""

import copyreg
import os

import numpy as np

from .graph.basic import Apply, Constant, Variable
from .graph.op import Op
from .graph.provenance import SourceLocation
from .graph.traversal import ancestors
from .ops import scalar as scal

FORMAT = "graphc-graph"
VERSION = 1


class PersistError(ValueError):
    """A graph or document that cannot be saved or loaded (with the reason)."""


# ------------------------------------------------------------------ op registry

_OP_CLASSES = {}  # "module.QualName" -> class
_OP_FIELDS = {}   # class -> names of the constructor arguments that rebuild it


def _class_key(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def register_op(cls, fields=None):
    """Make ``cls`` (an Op subclass) saveable: it is rebuilt as
    ``cls(**{f: value of f})`` for ``fields`` (default: its ``__props__``).
    Returns ``cls``, so it can decorate a class."""
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise TypeError(f"register_op: {cls!r} is not an Op subclass")
    _OP_CLASSES[_class_key(cls)] = cls
    if fields is not None:
        _OP_FIELDS[cls] = tuple(fields)
    return cls


def _discover_ops():
    """Register every Op subclass defined so far (graphc's own op modules
    are imported first, so all of them are known)."""
    from . import gradient  # noqa: F401  (_GradHook)
    from .ops import (blas, elemwise, jacobian, kernel, nnet, random, reduce,  # noqa: F401
                      shape, subtensor)

    register_op(jacobian.JacobianRows, ("seed", "free_inputs", "inner_grad", "wrt"))
    stack = [Op]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if _class_key(sub) not in _OP_CLASSES:
                register_op(sub)
            stack.append(sub)


def _op_fields(op):
    cls = type(op)
    if _class_key(cls) not in _OP_CLASSES:
        _discover_ops()
    if _class_key(cls) not in _OP_CLASSES or _OP_CLASSES[_class_key(cls)] is not cls:
        raise PersistError(f"cannot save op {op}: its class {_class_key(cls)} is not "
                           "importable; define it at module level and register it with "
                           "graphc.persist.register_op")
    fields = _OP_FIELDS.get(cls, cls.__props__)
    if not fields and vars(op):
        raise PersistError(
            f"cannot save op {op} ({_class_key(cls)}): it holds state "
            f"({', '.join(sorted(vars(op)))}) but declares no __props__; register it with "
            "graphc.persist.register_op(cls, fields=[constructor argument names])")
    return fields


def _op_class(key):
    if key not in _OP_CLASSES:
        _discover_ops()
    if key not in _OP_CLASSES:
        module = key.rsplit(".", 1)[0]
        try:  # an op defined outside graphc: importing its module registers it
            __import__(module)
            _discover_ops()
        except ImportError:
            pass
    if key not in _OP_CLASSES:
        raise PersistError(f"unknown op class {key!r} in the document; import the module that "
                           "defines it (and register it with graphc.persist.register_op)")
    return _OP_CLASSES[key]


# ------------------------------------------------------------------ values

def _variables_in(value):
    """Variables inside an op's state (nested tuples/lists/dicts)."""
    found, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Variable):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return found


def _encode_float(x):
    x = float(x)
    if x != x:
        return {"$float": "nan"}
    if x in (float("inf"), float("-inf")):
        return {"$float": "inf" if x > 0 else "-inf"}
    return x


def _decode_float(v):
    return float(v["$float"]) if isinstance(v, dict) else float(v)


class _Encoder:
    """Turns op state and kernels into JSON values; variables become ids
    and arrays go to ``arrays``."""

    def __init__(self, var_ids, arrays):
        self.var_ids = var_ids
        self.arrays = arrays

    def array(self, value):
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value)
        return key

    def value(self, v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float):
            return _encode_float(v)
        if isinstance(v, Variable):
            return {"$var": self.var_ids[v]}
        if isinstance(v, tuple):
            return {"$tuple": [self.value(e) for e in v]}
        if isinstance(v, list):
            return [self.value(e) for e in v]
        if isinstance(v, dict):
            return {"$dict": [[self.value(k), self.value(e)] for k, e in v.items()]}
        if isinstance(v, np.dtype):
            return {"$dtype": v.name}
        if isinstance(v, np.generic):
            return {"$np": v.dtype.name, "v": self.value(v.item())}
        if isinstance(v, np.ndarray):
            return {"$array": self.array(v)}
        if isinstance(v, scal.Cast):
            return {"$cast": v.dtype}
        if isinstance(v, scal.ScalarOp):
            if scal.SCALAR_OPS.get(v.name) is not v:
                raise PersistError(f"scalar op {v.name!r} is not in graphc.ops.scalar.SCALAR_OPS")
            return {"$scalar_op": v.name}
        from .kernel.ir import Kernel

        if isinstance(v, Kernel):
            return {"$kernel": self.kernel(v)}
        if isinstance(v, Op):
            return {"$op": self.op(v)}
        raise PersistError(f"cannot save a value of type {type(v).__name__} ({v!r}) in op state")

    def op(self, op):
        fields = _op_fields(op)
        return {"class": _class_key(type(op)),
                "props": {f: self.value(getattr(op, f)) for f in fields}}

    def kernel(self, k):
        from .kernel.ir import KApply, KConst, KInput, KReduced, KShape

        index = {}
        nodes = []
        for node in k.nodes:
            if isinstance(node, KInput):
                entry = {"in": node.index, "dtype": node.dtype}
            elif isinstance(node, KReduced):
                entry = {"reduced": node.index, "dtype": node.dtype}
            elif isinstance(node, KShape):
                entry = {"dim": [node.index, node.axis]}
            elif isinstance(node, KConst):
                entry = {"const": self.value(node.value.item()), "dtype": node.dtype}
            elif isinstance(node, KApply):
                entry = {"op": self.value(node.op), "args": [index[a] for a in node.args],
                         "dtype": node.dtype}
            else:
                raise PersistError(f"unknown kernel node {node!r}")
            index[node] = len(nodes)
            nodes.append(entry)
        doc = {"inputs": [[i.dtype, i.ndim, list(i.broadcastable)]
                          + ([i.epilogue, True] if i.shape_only else [True] if i.epilogue else [])
                          for i in k.inputs],
               "nodes": nodes, "outputs": [index[o] for o in k.outputs], "ndim": k.ndim,
               "reduce": None if k.reduce is None else [k.reduce.kind, list(k.reduce.axes)]}
        if k.epilogue is not None:  # absent for kernels without one (older documents too)
            doc["epilogue"] = [index[o] for o in k.epilogue]
        if k.strict_broadcast:  # absent for NumPy-rule kernels (older documents too)
            doc["strict_broadcast"] = True
        return doc


class _Decoder:
    def __init__(self, variables, arrays):
        self.variables = variables
        self.arrays = arrays

    def value(self, v):
        if isinstance(v, list):
            return [self.value(e) for e in v]
        if not isinstance(v, dict):
            return v
        if "$float" in v:
            return _decode_float(v)
        if "$var" in v:
            return self.variables[v["$var"]]
        if "$tuple" in v:
            return tuple(self.value(e) for e in v["$tuple"])
        if "$dict" in v:
            return {_hashable(self.value(k)): self.value(e) for k, e in v["$dict"]}
        if "$dtype" in v:
            return np.dtype(v["$dtype"])
        if "$np" in v:
            return np.dtype(v["$np"]).type(self.value(v["v"]))
        if "$array" in v:
            return self.arrays[v["$array"]]
        if "$cast" in v:
            return scal.Cast(v["$cast"])
        if "$scalar_op" in v:
            try:
                return scal.SCALAR_OPS[v["$scalar_op"]]
            except KeyError:
                raise PersistError(f"unknown scalar op {v['$scalar_op']!r}") from None
        if "$kernel" in v:
            return self.kernel(v["$kernel"])
        if "$op" in v:
            return self.op(v["$op"])
        raise PersistError(f"unrecognised value in the document: {v!r}")

    def op(self, entry):
        cls = _op_class(entry["class"])
        props = {f: self.value(p) for f, p in entry["props"].items()}
        try:
            return cls(**props)
        except TypeError as exc:
            raise PersistError(f"cannot rebuild op {entry['class']} from {sorted(props)}: "
                               f"{exc}") from None

    def kernel(self, entry):
        from .kernel.ir import (KApply, KConst, Kernel, KernelInput, KInput, KReduced, KShape,
                                Reduction)

        nodes = []
        for n in entry["nodes"]:
            if "in" in n:
                nodes.append(KInput(n["in"], n["dtype"]))
            elif "reduced" in n:
                nodes.append(KReduced(n["reduced"], n["dtype"]))
            elif "dim" in n:
                nodes.append(KShape(*n["dim"]))
            elif "const" in n:
                nodes.append(KConst(self.value(n["const"]), n["dtype"]))
            else:
                nodes.append(KApply(self.value(n["op"]), [nodes[a] for a in n["args"]],
                                    n["dtype"]))
        red = entry["reduce"]
        epilogue = entry.get("epilogue")
        return Kernel([KernelInput(*spec) for spec in entry["inputs"]],
                      [nodes[o] for o in entry["outputs"]], entry["ndim"],
                      None if red is None else Reduction(red[0], red[1]),
                      None if epilogue is None else [nodes[o] for o in epilogue],
                      entry.get("strict_broadcast", False))


def _hashable(v):
    return tuple(_hashable(e) for e in v) if isinstance(v, list) else v


# ------------------------------------------------------------------ graph -> document

def _type_entry(t):
    from .tensor.type import TensorType

    if type(t) is not TensorType:
        raise PersistError(f"cannot save a variable of type {t} ({type(t).__name__}); only "
                           "tensors are saved")
    return {"dtype": t.dtype, "shape": list(t.shape)}


def _make_type(entry):
    from .tensor.type import TensorType

    return TensorType(entry["dtype"], shape=tuple(entry["shape"]))


def _ordered_nodes(roots):
    """Every Apply node the roots depend on, through inputs, op state (e.g.
    a Jacobian's inner graph) and shared variables' default updates, each
    after everything it needs; plus the leaf variables met, in order."""
    from .compile.sharedvalue import SharedVariable

    order, leaves = [], []
    done, seen_leaf = set(), set()

    def deps(node):
        found = list(node.inputs)
        for f in _op_fields(node.op):
            found.extend(_variables_in(getattr(node.op, f)))
        return found

    stack = [(v, False) for v in reversed(list(roots))]
    while stack:
        item, expanded = stack.pop()
        if isinstance(item, Variable):
            if item.owner is not None:
                if id(item.owner) not in done:
                    stack.append((item.owner, False))
                continue
            if id(item) not in seen_leaf:
                seen_leaf.add(id(item))
                leaves.append(item)
                update = getattr(item, "default_update", None) if isinstance(
                    item, SharedVariable) else None
                if update is not None:
                    stack.append((update, False))
            continue
        node = item
        if expanded:
            if id(node) not in done:
                done.add(id(node))
                order.append(node)
            continue
        if id(node) in done:
            continue
        stack.append((node, True))
        for v in reversed(deps(node)):
            if v.owner is None:
                stack.append((v, False))
            elif id(v.owner) not in done and v.owner is not node:
                stack.append((v.owner, False))
    return order, leaves


def to_document(outputs, inputs=None, updates=None, extra=None, shared_ref=None):
    """``(document, arrays)`` for the graph computing ``outputs``.

    ``inputs`` fixes the order of the free input variables (others found
    in the graph follow); ``updates`` are (shared variable, expression)
    pairs saved with it; ``extra`` are more variables to keep (their ids
    are ``document["extra"]``).  ``shared_ref(var) -> int``, when given,
    stores a shared variable as a reference to an object kept outside the
    document (pickling) instead of its value.
    """
    from .compile.sharedvalue import SharedVariable

    outputs = list(outputs)
    inputs = list(inputs or [])
    updates = [tuple(p) for p in (updates.items() if isinstance(updates, dict) else updates or [])]
    extra = list(extra or [])
    for v in outputs + inputs + [x for p in updates for x in p] + extra:
        if not isinstance(v, Variable):
            raise PersistError(f"to_document: {v!r} is not a symbolic variable")
    roots = outputs + inputs + [x for p in updates for x in p] + extra
    nodes, leaves = _ordered_nodes(roots)

    var_ids = {}
    arrays = {}
    enc = _Encoder(var_ids, arrays)
    variables = []

    def new_id(var):
        var_ids[var] = len(variables)
        entry = {"type": _type_entry(var.type), "name": var.name}
        variables.append(entry)
        return entry

    for var in leaves:
        entry = new_id(var)
        if isinstance(var, SharedVariable):
            entry["kind"] = "shared"
            if shared_ref is not None:
                entry["ref"] = shared_ref(var)
            else:
                entry["value"] = enc.array(var.container[0])
        elif isinstance(var, Constant):
            entry["kind"] = "constant"
            entry["value"] = enc.array(var.data)
            entry["weak"] = bool(var.weak)
        else:
            entry["kind"] = "input"
    for node in nodes:
        for out in node.outputs:
            new_id(out)["kind"] = "output"
    node_entries = []
    for node in nodes:
        trace = getattr(node.tag, "trace", None) or []
        node_entries.append({
            "op": enc.op(node.op),
            "inputs": [var_ids[i] for i in node.inputs],
            "outputs": [var_ids[o] for o in node.outputs],
            "trace": [[loc.filename, loc.lineno, loc.function] for loc in trace
                      if isinstance(loc, SourceLocation)],
        })
    # Links between variables, written once every variable has an id.
    for var in leaves:
        update = getattr(var, "default_update", None)
        if isinstance(var, SharedVariable) and update is not None and shared_ref is None:
            variables[var_ids[var]]["default_update"] = var_ids[update]
    for var, vid in var_ids.items():
        rng = getattr(var, "rng", None)
        if isinstance(rng, Variable) and rng in var_ids:
            variables[vid]["rng"] = var_ids[rng]
    # Free variables the roots read through node inputs (not those only inside
    # op state, such as a Jacobian's seed) are the graph's inputs.
    read = set(map(id, ancestors(roots)))
    free = [v for v in leaves if variables[var_ids[v]]["kind"] == "input" and id(v) in read]
    ordered_inputs = inputs + [v for v in free if v not in set(inputs)]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "variables": variables,
        "nodes": node_entries,
        "inputs": [var_ids[v] for v in ordered_inputs],
        "outputs": [var_ids[v] for v in outputs],
        "updates": [[var_ids[a], var_ids[b]] for a, b in updates],
        "extra": [var_ids[v] for v in extra],
    }
    return doc, arrays


# ------------------------------------------------------------------ document -> graph

class LoadedGraph:
    """A graph read back from a document: fresh variables (``inputs``,
    ``outputs``, ``updates`` pairs, ``shared`` variables with their saved
    values, ``extra``) that compile like the originals."""

    def __init__(self, inputs, outputs, updates, shared, extra, variables):
        self.inputs = inputs
        self.outputs = outputs
        self.updates = updates
        self.shared = shared
        self.extra = extra
        self.variables = variables

    def variable(self, name):
        """The variable saved under ``name`` (inputs and shared variables
        first); KeyError if none."""
        for v in self.inputs + self.shared + self.variables:
            if v.name == name:
                return v
        raise KeyError(f"no variable named {name!r} in the loaded graph")

    def function(self, **kwargs):
        """Compile ``inputs -> outputs`` with the saved updates."""
        from .compile.function import function

        kwargs.setdefault("updates", self.updates)
        return function(self.inputs, self.outputs, **kwargs)


def from_document(doc, arrays, shared=None):
    """Rebuild the graph of ``to_document``; ``shared`` lists the objects a
    ``shared_ref`` pointed to."""
    from .compile.sharedvalue import SharedVariable
    from .tensor.var import TensorConstant

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PersistError("not a graphc graph document (missing format "
                           f"{FORMAT!r})")
    if doc.get("version") != VERSION:
        raise PersistError(f"graph document version {doc.get('version')!r} is not supported "
                           f"(this graphc reads version {VERSION})")
    entries = doc["variables"]
    variables = [None] * len(entries)
    for vid, e in enumerate(entries):
        kind = e["kind"]
        if kind == "output":
            continue
        t = _make_type(e["type"])
        if kind == "input":
            variables[vid] = t.make_variable(e["name"])
        elif kind == "constant":
            variables[vid] = TensorConstant(t, _array(arrays, e["value"]), name=e["name"],
                                            weak=e["weak"])
        elif kind == "shared":
            if "ref" in e:
                if shared is None or e["ref"] >= len(shared):
                    raise PersistError("the document refers to shared variables that were "
                                       "not supplied")
                variables[vid] = shared[e["ref"]]
            else:
                variables[vid] = SharedVariable(e["name"], t, _array(arrays, e["value"]))
        else:
            raise PersistError(f"unknown variable kind {kind!r}")
    dec = _Decoder(variables, arrays)
    for n in doc["nodes"]:
        op = dec.op(n["op"])
        outs = []
        for vid in n["outputs"]:
            out = _make_type(entries[vid]["type"]).make_variable(entries[vid]["name"])
            variables[vid] = out
            outs.append(out)
        trace = [SourceLocation(f, line, fn) for f, line, fn in n["trace"]]
        Apply(op, [variables[i] for i in n["inputs"]], outs, trace=trace)
    for vid, e in enumerate(entries):
        if "default_update" in e and variables[vid].default_update is None:
            variables[vid].default_update = variables[e["default_update"]]
        if "rng" in e:
            variables[vid].rng = variables[e["rng"]]
    leaves_shared = [variables[vid] for vid, e in enumerate(entries) if e["kind"] == "shared"]
    return LoadedGraph([variables[i] for i in doc["inputs"]],
                       [variables[i] for i in doc["outputs"]],
                       [(variables[a], variables[b]) for a, b in doc["updates"]],
                       leaves_shared, [variables[i] for i in doc.get("extra", [])], variables)


def _array(arrays, key):
    try:
        value = arrays[key]
    except KeyError:
        raise PersistError(f"array {key!r} of the document is missing (is the .npz file the "
                           "one saved with this JSON?)") from None
    return np.array(value)  # a private, writeable copy


# ------------------------------------------------------------------ files

def _npz_path(path):
    root, ext = os.path.splitext(os.fspath(path))
    return (root if ext == ".json" else os.fspath(path)) + ".npz"


def save(path, outputs, inputs=None, updates=None):
    """Save the graph of ``outputs`` (a variable or a list), its shared
    variables' values and ``updates`` to ``path`` (JSON) and the arrays to
    the ``.npz`` beside it (``model.json`` -> ``model.npz``).  Returns the
    two paths."""
    import json  # imported here: `import graphc` stays light

    single = isinstance(outputs, Variable)
    doc, arrays = to_document([outputs] if single else list(outputs), inputs, updates)
    doc["single_output"] = single
    npz = _npz_path(path)
    doc["arrays"] = os.path.basename(npz)
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
    np.savez(npz, **arrays)
    return os.fspath(path), npz


def load(path):
    """Read a graph written by ``save``; returns a ``LoadedGraph``."""
    import json

    with open(path) as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise PersistError(f"{path}: not a JSON graph document ({exc})") from None
    npz = os.path.join(os.path.dirname(os.fspath(path)), doc.get("arrays") or "")
    if not doc.get("arrays") or not os.path.exists(npz):
        raise PersistError(f"{path}: its arrays file {npz!r} is missing")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return from_document(doc, arrays)


# ------------------------------------------------------------------ pickling

def _shared_refs():
    shared, index = [], {}

    def ref(var):
        if var not in index:
            index[var] = len(shared)
            shared.append(var)
        return index[var]

    return shared, ref


def reduce_function(fn):
    """``__reduce__`` of a compiled Function: its user-level graph, input
    options, mode and shared variables; ``_restore_function`` recompiles."""
    maker = fn.maker
    opts = getattr(maker, "options", None)
    if opts is None:
        raise PersistError("this function was built without its user-level graph; it cannot "
                           "be pickled")
    input_vars = [spec.variable for spec in maker.inputs]
    givens = list(maker.givens.items())
    shared, ref = _shared_refs()
    doc, arrays = to_document(list(maker.outputs), input_vars, maker.updates,
                              extra=[x for pair in givens for x in pair], shared_ref=ref)
    n_in = len(input_vars)
    inputs = [{"name": spec.name, "borrow": spec.borrow, "allow_downcast": spec.allow_downcast,
               "value": None if spec.value is None else np.asarray(spec.value)}
              for spec in maker.inputs]
    state = {
        "doc": doc, "arrays": arrays, "n_inputs": n_in, "inputs": inputs,
        "mode": (maker.mode.backend, maker.mode.optimizer, maker.mode.strict_broadcast),
        "options": dict(opts), "profile": fn.profile is not None,
    }
    return _restore_function, (state, shared)


def _restore_function(state, shared):
    from .compile.function import In, function
    from .compile.mode import Mode

    graph = from_document(state["doc"], state["arrays"], shared)
    inputs = [In(var, name=o["name"], value=o["value"], borrow=o["borrow"],
                 allow_downcast=o["allow_downcast"])
              for var, o in zip(graph.inputs[:state["n_inputs"]], state["inputs"])]
    extra = graph.extra
    givens = list(zip(extra[0::2], extra[1::2]))
    opts = state["options"]
    outputs = graph.outputs[0] if opts["single_output"] else list(graph.outputs)
    profile = opts["profile"] if state["profile"] else None
    # Every default update was made explicit when the function was first
    # built; the restored shared variables must not add them twice.
    return function(inputs, outputs, mode=Mode(*state["mode"]), updates=graph.updates,
                    givens=givens or None, no_default_updates=True, name=opts["name"],
                    allow_input_downcast=opts["allow_input_downcast"], profile=profile,
                    on_unused_input="ignore", trust_input=opts["trust_input"])


def _reduce_shared(var):
    """Shared variables pickle as objects (so functions pickled together
    keep sharing them) with their value and default update."""
    return (_new_shared, (var.name, var.type.dtype, var.type.shape, var.container[0]),
            {"default_update": _pickled_graph(var.default_update)}, None, None,
            _set_shared_state)


def _pickled_graph(var):
    if var is None:
        return None
    shared, ref = _shared_refs()
    doc, arrays = to_document([var], shared_ref=ref)
    return doc, arrays, shared


def _new_shared(name, dtype, shape, value):
    from .compile.sharedvalue import SharedVariable
    from .tensor.type import TensorType

    return SharedVariable(name, TensorType(dtype, shape=shape), value)


def _set_shared_state(var, state):
    packed = state.get("default_update")
    if packed is not None:
        doc, arrays, shared = packed
        var.default_update = from_document(doc, arrays, shared).outputs[0]


def _register_pickling():
    from .compile.sharedvalue import SharedVariable

    copyreg.pickle(SharedVariable, _reduce_shared)


_register_pickling()

__all__ = ["save", "load", "to_document", "from_document", "LoadedGraph", "register_op",
           "reduce_function", "PersistError", "FORMAT", "VERSION"]
