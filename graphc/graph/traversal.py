"""Iterative graph walks: no recursion anywhere, so a 10^5-node unrolled
graph never hits Python's recursion limit."""


def toposort(outputs, stop_at=(), cut=()):
    """Apply nodes needed to compute ``outputs``, inputs before users.

    Walking stops at Variables in ``stop_at`` (their owners are not included)
    and at the Apply nodes in ``cut`` (included, their inputs not walked:
    how a depth-limited printout shows its boundary).
    """
    stop = set(map(id, stop_at))
    cut = set(map(id, cut))
    order = []
    visited = set()
    stack = []
    for out in reversed(list(outputs)):
        if out.owner is not None and id(out) not in stop:
            stack.append((out.owner, False))
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if id(node) in cut:
            continue
        for inp in reversed(node.inputs):
            owner = inp.owner
            if owner is not None and id(inp) not in stop and id(owner) not in visited:
                stack.append((owner, False))
    return order


def ancestors(outputs, stop_at=()):
    """Every Variable that ``outputs`` depend on (outputs included), stopping at ``stop_at``."""
    stop = set(map(id, stop_at))
    seen = {}
    stack = list(outputs)
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen[id(var)] = var
        if var.owner is not None and id(var) not in stop:
            stack.extend(var.owner.inputs)
    return list(seen.values())


def graph_inputs(outputs, stop_at=()):
    """Variables without owners (or in ``stop_at``) that ``outputs`` depend on, in order found."""
    stop = set(map(id, stop_at))
    return [v for v in ancestors(outputs, stop_at) if v.owner is None or id(v) in stop]


def clone_graph(outputs, replace=None, stop_at=()):
    """Copy the graph leading to ``outputs``.

    ``replace`` maps Variables to replacements; Variables without owners (and
    those in ``stop_at``) are kept as they are unless replaced.  Returns the
    memo dict mapping every old Variable to its copy.
    """
    memo = dict(replace or {})
    for node in toposort(outputs, stop_at=list(stop_at) + list(memo)):
        new_node = node.clone_with_new_inputs([memo.get(i, i) for i in node.inputs])
        for old, new in zip(node.outputs, new_node.outputs):
            memo.setdefault(old, new)
    for out in outputs:
        memo.setdefault(out, out)
    return memo
