"""Printing graphs: Theano's ``debugprint`` tree and ``pprint`` one-line math."""

import sys

from .graph.basic import Constant, Variable
from .graph.traversal import toposort


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


def debugprint(obj, file=None, print_type=False, ids="CHAR", depth=-1, stop_on_name=False,
               done=None):
    """Print an indented tree of the graph(s) of ``obj``: a variable, a list of
    variables or a compiled function (its optimized graph, with update targets).

    Each line holds the op (or variable name), ``[id X]``, the quoted name and,
    for compiled functions, the node's position in the schedule.  A node seen
    before is printed once more by id only.  Returns the text when ``file='str'``.
    """
    from .compile.function import Function

    lines = []
    order = None
    if isinstance(obj, Function):
        fg = obj.maker.fgraph
        outputs = fg.outputs
        order = {node: i for i, node in enumerate(fg.toposort())}
        targets = [None] * fg.n_user_outputs + list(fg.update_targets)
    else:
        outputs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        targets = [None] * len(outputs)
    ids_of = {}
    gen = _id_generator()

    def ident(key):
        if key not in ids_of:
            ids_of[key] = next(gen) if ids == "CHAR" else str(len(ids_of))
        return ids_of[key]

    for out, target in zip(outputs, targets):
        stack = [(out, "", 0)]
        while stack:
            var, prefix, level = stack.pop()
            node = var.owner
            typ = f" {var.type}" if print_type else ""
            name = f" '{var.name}'" if var.name and node is not None else (" ''" if node else "")
            if node is None:
                label = str(var)
                key = var
                first = key not in ids_of
                lines.append(f"{prefix}{label} [id {ident(key)}]{typ}")
                continue
            key = node
            first = key not in ids_of
            out_idx = f".{var.index}" if len(node.outputs) > 1 else ""
            pos = f"   {order[node]}" if order is not None and node in order else ""
            lines.append(f"{prefix}{node.op}{out_idx} [id {ident(key)}]{name}{typ}{pos}")
            if level == 0 and target is not None:
                lines[-1] += f" -> update of {target}"
            if not first or (stop_on_name and var.name and level > 0) or depth == level + 1:
                continue
            child_prefix = prefix.replace("|", " ") if False else prefix
            for inp in reversed(node.inputs):
                stack.append((inp, child_prefix + " |", level + 1))
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return file


def pprint(var):
    """One-line math for an expression, with minimal parentheses."""
    from .ops.elemwise import DimShuffle, Elemwise

    outputs = var if isinstance(var, (list, tuple)) else [var]
    text = {}
    prec = {}
    for node in toposort(outputs):
        op = node.op
        args = [_leaf(i, text) for i in node.inputs]
        precs = [prec.get(i, 100) for i in node.inputs]
        out = node.outputs[0]
        if isinstance(op, Elemwise) and op.scalar_op.symbol and len(node.inputs) == 2:
            p = op.scalar_op.precedence
            left = args[0] if precs[0] >= p else f"({args[0]})"
            right_needs = precs[1] < p or (precs[1] == p and not op.scalar_op.commutative)
            if op.scalar_op.name == "pow":
                left = args[0] if precs[0] > p else f"({args[0]})"
                right_needs = precs[1] < p
            right = f"({args[1]})" if right_needs else args[1]
            s = f"{left} {op.scalar_op.symbol} {right}"
        elif isinstance(op, Elemwise) and op.scalar_op.symbol and len(node.inputs) == 1:
            p = op.scalar_op.precedence
            s = op.scalar_op.symbol + (args[0] if precs[0] >= p else f"({args[0]})")
        elif isinstance(op, Elemwise):
            p = 100
            s = f"{op.scalar_op.name}({', '.join(args)})"
        elif isinstance(op, DimShuffle):
            p = 100
            s = f"{args[0]}.dimshuffle({', '.join(map(str, op.new_order))})"
        else:
            p = 100
            s = f"{op}({', '.join(args)})"
        for o in node.outputs:
            text[o] = s if o.name is None or o in outputs else o.name
            prec[o] = p if o.name is None or o in outputs else 100
    results = [_leaf(o, text) for o in outputs]
    return results[0] if not isinstance(var, (list, tuple)) else results


def _leaf(var, text):
    if var in text:
        return text[var]
    if isinstance(var, Constant):
        return str(var)
    return var.name if var.name is not None else "?"


pp = pprint


__all__ = ["debugprint", "pprint", "pp", "Variable"]
