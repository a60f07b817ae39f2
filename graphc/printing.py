"""Printing graphs: Theano's ``debugprint`` tree, ``pprint`` one-line math
and ``pydotprint`` pictures.

Every walk here is iterative, so graphs of 10^5 nodes print without
touching Python's recursion limit.
"""

import os
import sys

from .graph.basic import Constant, Variable
from .graph.traversal import ancestors, toposort


def _id_generator():
    """A, B, ..., Z, BA, BB, ... as Theano numbers nodes."""
    n = 0
    while True:
        k, s = n, ""
        while True:
            s = chr(ord("A") + k % 26) + s
            k //= 26
            if k == 0:
                break
        yield s
        n += 1


# ------------------------------------------------------------------ debugprint

def op_label(op):
    """How printers name an op: its ``debug_label()`` when it defines one
    (e.g. a GEMM showing alpha/beta, a fused kernel its expression), else
    ``str(op)``."""
    label = getattr(op, "debug_label", None)
    return str(label()) if callable(label) else str(op)


def _map_text(mapping):
    """``{0: [1]}`` text of a destroy_map/view_map (empty when there is none)."""
    mapping = mapping or {}
    if not mapping:
        return ""
    return "{" + ", ".join(f"{o}: {list(v)}" for o, v in sorted(dict(mapping).items())) + "}"


def debugprint(obj, file=None, print_type=False, ids="CHAR", depth=-1, stop_on_name=False,
               done=None, print_view_map=False):
    """Print an indented tree of the graph(s) of ``obj``: a variable, a list of
    variables, an Apply node or a compiled function (its optimized graph,
    with the shared variable each update output is written to).

    Each line holds the op (``op_label``) or variable name, ``[id X]``, the
    type when ``print_type``, the quoted name, ``d={out: [in]}`` for an op
    that overwrites an input (its ``destroy_map``: in place), ``v={...}``
    for its ``view_map`` with ``print_view_map`` and, for a compiled
    function, the node's position in the schedule.  Children are indented
    under ``" |"``.  A node already printed is printed again by id only (its
    subtree is not repeated).  ``ids`` is ``"CHAR"`` (A, B, ...), ``"int"``,
    ``"id"`` (Python ids) or ``""`` (none).  ``depth`` limits the levels
    printed.  With ``file="str"`` the text is returned; otherwise it is
    written to ``file`` (default stdout) and ``file`` is returned.
    """
    from .compile.function import Function
    from .graph.basic import Apply

    order = None
    if isinstance(obj, Function):
        fg = obj.maker.fgraph
        outputs = list(fg.outputs)
        order = {node: i for i, node in enumerate(fg.toposort())}
        n_user = getattr(fg, "n_user_outputs", len(outputs))
        targets = [None] * n_user + list(getattr(fg, "update_targets", []))
        targets += [None] * (len(outputs) - len(targets))
    elif isinstance(obj, Apply):
        outputs = list(obj.outputs)
        targets = [None] * len(outputs)
    elif isinstance(obj, (list, tuple)):
        outputs = list(obj)
        targets = [None] * len(outputs)
    elif isinstance(obj, Variable):
        outputs = [obj]
        targets = [None]
    elif hasattr(obj, "outputs") and hasattr(obj, "toposort"):  # a FunctionGraph
        outputs = list(obj.outputs)
        order = {node: i for i, node in enumerate(obj.toposort())}
        targets = [None] * len(outputs)
    else:
        raise TypeError(f"debugprint: cannot print a {type(obj).__name__}; give a variable, "
                        "a list of variables or a compiled function")
    for o in outputs:
        if not isinstance(o, Variable):
            raise TypeError(f"debugprint: {o!r} is not a symbolic variable")

    ids_of = {} if done is None else done
    gen = _id_generator()
    if ids not in ("CHAR", "int", "id", ""):
        raise ValueError(f"debugprint: ids must be 'CHAR', 'int', 'id' or '', got {ids!r}")

    def ident(key):
        if key not in ids_of:
            if ids == "CHAR":
                ids_of[key] = next(gen)
            elif ids == "id":
                ids_of[key] = str(id(key))
            else:
                ids_of[key] = str(len(ids_of))
        return f" [id {ids_of[key]}]" if ids else ""

    lines = []
    for out, target in zip(outputs, targets):
        stack = [(out, "", 0)]
        while stack:
            var, prefix, level = stack.pop()
            node = var.owner
            typ = f" <{var.type}>" if print_type else ""
            suffix = f" -> update of {target}" if level == 0 and target is not None else ""
            if node is None:
                lines.append(f"{prefix}{var}{ident(var)}{typ}{suffix}")
                continue
            first = node not in ids_of
            out_idx = f".{var.index}" if len(node.outputs) > 1 else ""
            name = f" '{var.name}'" if var.name else " ''"
            pos = f"   {order[node]}" if order is not None and node in order else ""
            marks = ""
            destroyed = _map_text(getattr(node.op, "destroy_map", None))
            if destroyed:
                marks += f" d={destroyed}"
            viewed = _map_text(getattr(node.op, "view_map", None)) if print_view_map else ""
            if viewed:
                marks += f" v={viewed}"
            lines.append(f"{prefix}{op_label(node.op)}{out_idx}{ident(node)}{typ}{name}{marks}"
                         f"{pos}{suffix}")
            if not first or (stop_on_name and var.name and level > 0) or \
                    (depth >= 0 and level + 1 >= depth):
                continue
            for inp in reversed(node.inputs):
                stack.append((inp, prefix + " |", level + 1))
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return file


# ------------------------------------------------------------------ pprint

# Python's operator precedences (higher binds tighter) and associativity.
_BINARY = {
    "eq": ("==", 1), "neq": ("!=", 1), "lt": ("<", 1), "le": ("<=", 1), "gt": (">", 1),
    "ge": (">=", 1),
    "or": ("|", 2), "xor": ("^", 3), "and": ("&", 4),
    "add": ("+", 6), "sub": ("-", 6),
    "mul": ("*", 7), "true_div": ("/", 7), "int_div": ("//", 7), "mod": ("%", 7),
    "pow": ("**", 9),
}
_UNARY = {"neg": ("-", 8), "invert": ("~", 8)}
_ASSOCIATIVE = {"add", "mul", "and", "or", "xor"}
_COMPARISON = 1
_ATOM = 100


def pprint(var, max_depth=None):
    """One-line math for an expression (or a list of them), with Python's
    operator syntax and only the parentheses Python needs: ``(a - b + c) * d / e``,
    ``a - (b - c)``, ``-a ** 2``, ``exp(x + y)``, ``x[1:3, i]``, ``x.T``.

    Named intermediate variables print as their name.  ``max_depth`` limits
    how many levels of operations are expanded (deeper subexpressions print
    as their name or ``...``).
    """
    outputs = list(var) if isinstance(var, (list, tuple)) else [var]
    out_set = set(map(id, outputs))
    if max_depth is None:
        nodes = toposort(outputs)
        cut = set()
    else:
        nodes, cut = _limited_nodes(outputs, max_depth)
    text = {}
    prec = {}
    for node in nodes:
        if id(node) in cut:
            for o in node.outputs:
                text[id(o)] = o.name if o.name is not None else "..."
                prec[id(o)] = _ATOM
            continue
        s, p = _format_node(node, text, prec)
        for o in node.outputs:
            shown = s if len(node.outputs) == 1 else f"{s}[{o.index}]"
            if o.name is not None and id(o) not in out_set:
                text[id(o)], prec[id(o)] = o.name, _ATOM
            else:
                text[id(o)], prec[id(o)] = shown, (p if len(node.outputs) == 1 else _ATOM)
    results = [_leaf_text(o, text) for o in outputs]
    return results if isinstance(var, (list, tuple)) else results[0]


def _limited_nodes(outputs, max_depth):
    """Nodes within ``max_depth`` levels of the outputs, inputs first, and the
    ids of those at the boundary, which are shown but not expanded."""
    level = {}
    frontier = []
    for o in outputs:
        if o.owner is not None and id(o.owner) not in level:
            level[id(o.owner)] = (o.owner, 0)
            frontier.append(o.owner)
    for k in range(max_depth):
        nxt = []
        for node in frontier:
            for inp in node.inputs:
                if inp.owner is not None and id(inp.owner) not in level:
                    level[id(inp.owner)] = (inp.owner, k + 1)
                    nxt.append(inp.owner)
        frontier = nxt
    cut = [node for node, lv in level.values() if lv >= max_depth]
    return toposort(outputs, cut=cut), set(map(id, cut))


def _leaf_text(var, text):
    if id(var) in text:
        return text[id(var)]
    if isinstance(var, Constant):
        return str(var)
    return var.name if var.name is not None else f"<{var.type}>"


def _arg(var, text, prec):
    return _leaf_text(var, text), prec.get(id(var), _ATOM)


def _paren(s, needed):
    return f"({s})" if needed else s


def _format_node(node, text, prec):
    """(text, precedence) of one node given its inputs' texts."""
    from .ops.elemwise import DimShuffle, Elemwise

    op = node.op
    args = [_arg(i, text, prec) for i in node.inputs]
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name in _BINARY and len(args) == 2:
            sym, p = _BINARY[name]
            (ls, lp), (rs, rp) = args
            if name == "pow":  # right-associative; -a ** b is -(a ** b)
                left_paren = lp <= p
                right_paren = rp < _UNARY["neg"][1]
            elif p == _COMPARISON:  # comparisons chain in Python: always group
                left_paren, right_paren = lp <= p, rp <= p
            else:
                left_paren = lp < p
                right_op = getattr(node.inputs[1].owner, "op", None)
                same_op = name in _ASSOCIATIVE and isinstance(right_op, Elemwise) and \
                    right_op.scalar_op.name == name
                right_paren = rp < p or (rp == p and not same_op)
            return f"{_paren(ls, left_paren)} {sym} {_paren(rs, right_paren)}", p
        if name in _UNARY and len(args) == 1:
            sym, p = _UNARY[name]
            (s, sp), = args
            return f"{sym}{_paren(s, sp <= p)}", p
        if name == "identity" and len(args) == 1:
            return args[0]
        return f"{name}({', '.join(s for s, _ in args)})", _ATOM
    if isinstance(op, DimShuffle):
        (s, sp), = args
        order = list(op.new_order)
        lead = len(order) - op.input_ndim
        if lead >= 0 and order[:lead] == ["x"] * lead and order[lead:] == list(
                range(op.input_ndim)):
            return s, sp  # only adds leading broadcastable dimensions: implicit
        if "x" not in order and order == list(reversed(range(op.input_ndim))):
            return f"{_paren(s, sp < _ATOM)}.T", _ATOM
        pattern = ", ".join(repr(o) if o == "x" else str(o) for o in order)
        return f"{_paren(s, sp < _ATOM)}.dimshuffle({pattern})", _ATOM
    spec = getattr(op, "idx_spec", None)
    if spec is not None and type(op).__name__ in ("Subtensor", "AdvancedSubtensor"):
        (xs, xp), *idx = args
        return f"{_paren(xs, xp < _ATOM)}[{_index_text(spec, [s for s, _ in idx])}]", _ATOM
    if type(op).__name__ == "Shape" and len(args) == 1:
        return f"{_paren(args[0][0], args[0][1] < _ATOM)}.shape", _ATOM
    return f"{op}({', '.join(s for s, _ in args)})", _ATOM


def _index_text(spec, idx_texts):
    it = iter(idx_texts)
    parts = []
    for e in spec:
        kind = e[0]
        if kind == "newaxis":
            parts.append("None")
        elif kind in ("int", "adv"):
            parts.append(next(it))
        else:
            bounds = [next(it) if present else "" for present in e[1:]]
            s = f"{bounds[0]}:{bounds[1]}"
            if bounds[2]:
                s += f":{bounds[2]}"
            parts.append(s)
    return ", ".join(parts)


pp = pprint


# ------------------------------------------------------------------ graphs of functions

def original_graph(fn):
    """The FunctionGraph ``fn`` was compiled from, before any rewrite: its
    outputs, then its update expressions, with givens substituted."""
    from .graph.fg import FunctionGraph

    maker = fn.maker
    outputs = list(maker.outputs) + [expr for _, expr in getattr(maker, "updates", [])]
    fg = FunctionGraph(list(maker.fgraph.inputs), outputs, replace=getattr(maker, "givens", None))
    fg.update_targets = list(getattr(maker.fgraph, "update_targets", []))
    fg.n_user_outputs = len(maker.outputs)
    return fg


def _output_labels(fgraph):
    """A label per output of a function graph: its name or ``output k``, or
    ``update of W`` for an update."""
    n_user = getattr(fgraph, "n_user_outputs", len(fgraph.outputs))
    targets = list(getattr(fgraph, "update_targets", []))
    labels = []
    for k, out in enumerate(fgraph.outputs):
        if k >= n_user and k - n_user < len(targets):
            labels.append(f"update of {targets[k - n_user]}")
        else:
            labels.append(out.name or f"output {k}")
    return labels


def _is_fused_kernel(op):
    from .ops.kernel import KernelOp

    return isinstance(op, KernelOp)


# ------------------------------------------------------------------ pydotprint

#: node kind -> (Graphviz shape, fill colour)
NODE_STYLE = {
    "input": ("ellipse", "palegreen"),
    "shared": ("ellipse", "lightskyblue"),
    "constant": ("box", "gainsboro"),
    "op": ("box", "white"),
    "kernel": ("box", "gold"),
    "output": ("ellipse", "lightsalmon"),
}


def _leaf_kind(var):
    from .compile.sharedvalue import SharedVariable

    if isinstance(var, Constant):
        return "constant"
    if isinstance(var, SharedVariable):
        return "shared"
    return "input"


def _add_to_networkx(graph, outputs, labels, stop, prefix, cluster, print_type):
    """Add one graph (inputs, op nodes, output markers) to the networkx
    ``graph``; node keys get ``prefix`` so two graphs can share a picture."""
    names = {}

    def key(obj):
        return names.setdefault(id(obj), f"{prefix}n{len(names)}")

    stop_ids = set(map(id, stop))
    for v in ancestors(outputs, stop_at=stop):
        if v.owner is None or id(v) in stop_ids:
            label = str(v) + (f"\n{v.type}" if print_type else "")
            graph.add_node(key(v), label=label, kind=_leaf_kind(v), cluster=cluster)
    for node in toposort(outputs, stop_at=stop):
        kind = "kernel" if _is_fused_kernel(node.op) else "op"
        graph.add_node(key(node), label=op_label(node.op), kind=kind, cluster=cluster)
        for i, inp in enumerate(node.inputs):
            from_node = inp.owner is not None and id(inp) not in stop_ids
            src = key(inp.owner) if from_node else key(inp)
            label = str(inp.type) if print_type else str(i)
            if from_node and len(inp.owner.outputs) > 1:
                label = f"{inp.index} -> {label}"
            graph.add_edge(src, key(node), label=label)
    for k, (out, label) in enumerate(zip(outputs, labels)):
        out_key = f"{prefix}out{k}"
        graph.add_node(out_key, label=label, kind="output", cluster=cluster)
        src = key(out.owner) if out.owner is not None and id(out) not in stop_ids else key(out)
        graph.add_edge(src, out_key, label="")


def to_networkx(obj, graph="optimized", print_type=False):
    """The graph of ``obj`` as a ``networkx.MultiDiGraph``: each node has a
    ``label`` and a ``kind`` (input, shared, constant, op, kernel, output)
    and each edge a ``label`` (the input position).  For a compiled function
    ``graph`` picks ``"optimized"`` (what runs), ``"original"`` (before the
    rewrites) or ``"both"`` (each in its own ``cluster``)."""
    import networkx as nx

    from .compile.function import Function

    g = nx.MultiDiGraph()
    if isinstance(obj, Function):
        if graph not in ("optimized", "original", "both"):
            raise ValueError(f"graph must be 'optimized', 'original' or 'both', got {graph!r}")
        parts = []
        if graph in ("original", "both"):
            parts.append(("before", "before optimization", original_graph(obj)))
        if graph in ("optimized", "both"):
            parts.append(("after", "after optimization", obj.maker.fgraph))
        for prefix, title, fg in parts:
            _add_to_networkx(g, list(fg.outputs), _output_labels(fg), list(fg.inputs),
                             f"{prefix}_" if graph == "both" else "",
                             title if graph == "both" else None, print_type)
        return g
    outputs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    for o in outputs:
        if not isinstance(o, Variable):
            raise TypeError(f"pydotprint: cannot draw {o!r}; give a variable, a list of "
                            "variables or a compiled function")
    labels = [o.name or f"output {k}" for k, o in enumerate(outputs)]
    _add_to_networkx(g, outputs, labels, (), "", None, print_type)
    return g


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n") + '"'


def networkx_to_dot(graph):
    """Graphviz text for a graph made by ``to_networkx`` (nodes styled by
    kind; nodes with a ``cluster`` attribute are boxed by cluster)."""
    lines = ["digraph graphc {", "  rankdir=TB;", '  node [fontname="Helvetica"];']

    def node_line(key, data, indent):
        shape, color = NODE_STYLE[data["kind"]]
        return (f"{indent}{key} [label={_quote(data['label'])}, shape={shape}, style=filled, "
                f"fillcolor={color}, kind={data['kind']}];")

    clusters = {}
    for key, data in graph.nodes(data=True):
        clusters.setdefault(data.get("cluster"), []).append((key, data))
    for k, (title, members) in enumerate(clusters.items()):
        if title is None:
            lines.extend(node_line(key, data, "  ") for key, data in members)
            continue
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f"    label={_quote(title)};")
        lines.extend(node_line(key, data, "    ") for key, data in members)
        lines.append("  }")
    for src, dst, data in graph.edges(data=True):
        label = data.get("label", "")
        lines.append(f"  {src} -> {dst}" + (f" [label={_quote(label)}];" if label else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizNotFoundError(RuntimeError):
    """Rendering an image needs Graphviz's ``dot`` program."""


def pydotprint(obj, outfile=None, format=None, print_type=False, graph="optimized"):
    """Write a picture of the graph of ``obj`` (a variable, list of variables or
    compiled function) and return the path written.

    ``outfile`` ending in ``.dot`` (or ``format='dot'``) writes Graphviz
    text, which always works; other formats (``.svg``, ``.png``, ``.pdf``)
    run Graphviz's ``dot``, which must be installed.  Nodes are coloured by
    kind (``NODE_STYLE``: input, shared, constant, op, fused kernel,
    output).  For a compiled function ``graph='both'`` draws the graph
    before and after optimization side by side (``'original'`` or
    ``'optimized'``, the default, draw one of them).
    """
    outfile = outfile or "graphc_graph.svg"
    fmt = format or os.path.splitext(outfile)[1].lstrip(".") or "svg"
    dot_text = networkx_to_dot(to_networkx(obj, graph=graph, print_type=print_type))
    if fmt == "dot":
        with open(outfile, "w") as fh:
            fh.write(dot_text)
        return outfile
    import shutil  # imported here: `import graphc` stays light
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            f"pydotprint: writing a {fmt!r} image needs Graphviz's 'dot' program, which was not "
            "found on PATH. Install the Graphviz package (Debian/Ubuntu: apt-get install "
            "graphviz; conda: conda install graphviz; macOS: brew install graphviz), or write "
            "a .dot file instead (outfile='graph.dot').")
    done = subprocess.run([exe, f"-T{fmt}", "-o", outfile], input=dot_text, text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"pydotprint: Graphviz 'dot -T{fmt}' failed: {done.stderr.strip()}")
    return outfile


# ------------------------------------------------------------------ function report

class NodeInfo:
    """One scheduled node of a compiled function, as the report shows it."""

    def __init__(self, position, node, backend, fallback, source, language):
        self.position = position
        self.node = node
        self.backend = backend
        self.fallback = fallback
        self.source = source
        self.language = language


_SOURCE_LANGUAGE = {"llvm": "LLVM IR", "cuda": "CUDA C"}


def _count_kinds(nodes):
    from .ops.elemwise import Elemwise

    return {"nodes": len(nodes),
            "elementwise": sum(isinstance(n.op, Elemwise) for n in nodes),
            "fused kernels": sum(_is_fused_kernel(n.op) for n in nodes)}


class FunctionReport:
    """What compiling a function did: the rewrites that fired (with counts
    and times), node/kernel counts before and after, which backend runs
    each node (and which fell back to NumPy ``perform``), and the generated
    source a backend attached to a thunk as ``thunk.source``.  ``str()``
    gives the printed report."""

    def __init__(self, fn):
        maker = fn.maker
        self.name = fn.name
        self.backend = maker.mode.backend
        self.optimizer = maker.mode.optimizer
        self.broadcasting = fn.broadcasting  # which variant of the graph runs
        report = getattr(maker.fgraph, "rewrite_report", None)
        self.rewrites = list(report.passes) if report is not None else []
        self.before = _count_kinds(original_graph(fn).toposort())
        self.after = _count_kinds(maker.fgraph.toposort())
        default_lang = _SOURCE_LANGUAGE.get(self.backend)
        self.nodes = []
        for position, entry in enumerate(fn.runner.schedule):
            node, thunk = entry[0], entry[1]
            library = getattr(node.op, "library", None)
            fallback = bool(getattr(thunk, "fallback", False)) and self.backend != "python" \
                and not library
            source = getattr(thunk, "source", None)
            language = getattr(thunk, "source_language", None) or default_lang
            where = ("numpy (fallback)" if fallback else
                     library if library and self.backend != "python" else self.backend)
            self.nodes.append(NodeInfo(position, node, where, fallback, source, language))

    @property
    def fired(self):
        """{rewrite name: times fired} for the rewrites that changed the graph."""
        return {name: n for name, n, _ in self.rewrites if n}

    @property
    def fallbacks(self):
        return [info for info in self.nodes if info.fallback]

    @property
    def sources(self):
        return [info for info in self.nodes if info.source]

    def __str__(self):
        lines = [f"Function {self.name or '<unnamed>'}: backend {self.backend}, "
                 f"optimizer {self.optimizer}", f"Broadcasting: {self.broadcasting}"]
        lines.append("Rewrites (fired / time):")
        for name, n, t in self.rewrites:
            lines.append(f"  {name:<28} {n:>6}  {t * 1e3:9.3f} ms")
        if not self.rewrites:
            lines.append("  (none run)")
        lines.append("Counts:            before   after")
        for what in self.before:
            lines.append(f"  {what:<15} {self.before[what]:>8} {self.after[what]:>7}")
        lines.append(f"Nodes ({len(self.fallbacks)} fell back to NumPy):")
        for info in self.nodes:
            lines.append(f"  {info.position:>4}  {info.backend:<18} {op_label(info.node.op)}")
        if self.sources:
            lines.append("Generated source:")
            for info in self.sources:
                lines.append(f"--- node {info.position}: {op_label(info.node.op)} "
                             f"({info.language or 'source'})")
                lines.append(str(info.source).rstrip("\n"))
        else:
            lines.append("Generated source: none (no thunk of this backend attached "
                         "thunk.source)")
        return "\n".join(lines)

    __repr__ = __str__


def function_report(fn, file=None):
    """The ``FunctionReport`` of compiled function ``fn``; also printed to
    ``file`` when one is given (``sys.stdout`` to print)."""
    from .compile.function import Function

    if not isinstance(fn, Function):
        raise TypeError(f"function_report: expected a compiled function, got "
                        f"{type(fn).__name__}")
    report = FunctionReport(fn)
    if file is not None:
        print(report, file=file)
    return report


__all__ = ["debugprint", "pprint", "pp", "pydotprint", "to_networkx", "networkx_to_dot",
           "function_report", "FunctionReport", "original_graph", "op_label", "NODE_STYLE",
           "GraphvizNotFoundError"]
