"""Printing graphs: Theano's ``debugprint`` tree, ``pprint`` one-line math
and ``pydotprint`` pictures.

Every walk here is iterative, so graphs of 10^5 nodes print without
touching Python's recursion limit.
"""

import os
import shutil
import subprocess
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

def debugprint(obj, file=None, print_type=False, ids="CHAR", depth=-1, stop_on_name=False,
               done=None):
    """Print an indented tree of the graph(s) of ``obj``: a variable, a list of
    variables, an Apply node or a compiled function (its optimized graph,
    with the shared variable each update output is written to).

    Each line holds the op (or variable name), ``[id X]``, the type when
    ``print_type``, the quoted name and, for a compiled function, the node's
    position in the schedule.  Children are indented under ``" |"``.  A node
    already printed is printed again by id only (its subtree is not
    repeated).  ``ids`` is ``"CHAR"`` (A, B, ...), ``"int"``, ``"id"``
    (Python ids) or ``""`` (none).  ``depth`` limits the levels printed.
    With ``file="str"`` the text is returned; otherwise it is written to
    ``file`` (default stdout) and ``file`` is returned.
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
            lines.append(f"{prefix}{node.op}{out_idx}{ident(node)}{typ}{name}{pos}{suffix}")
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
            level[id(o.owner)] = 0
            frontier.append(o.owner)
    for k in range(max_depth):
        nxt = []
        for node in frontier:
            for inp in node.inputs:
                if inp.owner is not None and id(inp.owner) not in level:
                    level[id(inp.owner)] = k + 1
                    nxt.append(inp.owner)
        frontier = nxt
    cut = {key for key, lv in level.items() if lv >= max_depth}
    order, done = [], set()
    stack = [(o.owner, False) for o in reversed(outputs) if o.owner is not None]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in done:
            continue
        done.add(id(node))
        stack.append((node, True))
        if id(node) not in cut:
            for inp in reversed(node.inputs):
                if inp.owner is not None and id(inp.owner) not in done:
                    stack.append((inp.owner, False))
    return order, cut


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


# ------------------------------------------------------------------ pydotprint

def pydotprint(obj, outfile=None, format=None, print_type=False):
    """Write a picture of the graph of ``obj`` (a variable, list of variables or
    compiled function).  ``outfile`` ending in ``.dot`` (or ``format='dot'``)
    writes Graphviz text, which always works; other formats (``.svg``,
    ``.png``, ``.pdf``) run Graphviz's ``dot``, which must be installed.
    Returns the path written.
    """
    from .compile.function import Function

    if isinstance(obj, Function):
        outputs = list(obj.maker.fgraph.outputs)
        stop = list(obj.maker.fgraph.inputs)
    else:
        outputs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        stop = ()
    outfile = outfile or "graphc_graph.svg"
    fmt = format or os.path.splitext(outfile)[1].lstrip(".") or "svg"
    nodes = toposort(outputs, stop_at=stop)
    names = {}

    def nid(key):
        return names.setdefault(id(key), f"n{len(names)}")

    def quote(s):
        return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph graphc {", "  rankdir=TB;"]
    for v in ancestors(outputs, stop_at=stop):
        if v.owner is None or v in stop:
            label = str(v) + (f"\\n{v.type}" if print_type else "")
            shape = "box" if isinstance(v, Constant) else "ellipse"
            lines.append(f"  {nid(v)} [label={quote(label)}, shape={shape}];")
    for node in nodes:
        lines.append(f"  {nid(node)} [label={quote(node.op)}, shape=box, style=filled, "
                     f"fillcolor=lightgrey];")
        for i, inp in enumerate(node.inputs):
            src = nid(inp.owner) if inp.owner is not None and inp not in stop else nid(inp)
            label = str(inp.type) if print_type else str(i)
            lines.append(f"  {src} -> {nid(node)} [label={quote(label)}];")
    for k, out in enumerate(outputs):
        lines.append(f"  out{k} [label={quote(out.name or f'output {k}')}, shape=plaintext];")
        src = nid(out.owner) if out.owner is not None and out not in stop else nid(out)
        lines.append(f"  {src} -> out{k};")
    lines.append("}")
    dot_text = "\n".join(lines) + "\n"
    if fmt == "dot":
        with open(outfile, "w") as fh:
            fh.write(dot_text)
        return outfile
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(f"pydotprint: writing {fmt!r} needs Graphviz's 'dot' program, which "
                           "was not found; install Graphviz or write a .dot file instead")
    subprocess.run([exe, f"-T{fmt}", "-o", outfile], input=dot_text, text=True, check=True)
    return outfile


__all__ = ["debugprint", "pprint", "pp", "pydotprint", "Variable"]
