"""Iterative graph walks: no recursion anywhere, so a 10^5-node unrolled
graph never hits Python's recursion limit."""


def toposort(outputs, stop_at=(), cut=()):
    """Apply nodes needed to compute ``outputs``, inputs before users.

    Walking stops at Variables in ``stop_at`` (their owners are not included)
    and at the Apply nodes in ``cut`` (included, their inputs not walked:
    how a depth-limited printout shows its boundary).
    """
    return walk(outputs, stop_at, cut)[0]


def walk(outputs, stop_at=(), cut=(), clients=None):
    """``(order, placed)``: ``toposort``'s order (a depth-first postorder,
    inputs left to right) and the set of the nodes in it.  With a dict as
    ``clients``, each node's (node, input index) pairs are appended to
    ``clients[input]`` as the node is placed, so a FunctionGraph gets its
    order and its clients map from one walk.

    Each node is pushed once per edge that reaches it before it is
    expanded and placed once: linear in nodes + edges.  Graph objects hash
    by identity, so they key the sets directly.
    """
    stop = set(stop_at)
    cut = set(cut)
    order = []
    placed = set()
    expanded = set()
    stack = [out.owner for out in reversed(list(outputs))
             if out.owner is not None and out not in stop]
    push, pop, place = stack.append, stack.pop, order.append
    while stack:
        node = pop()
        if node in placed:
            continue
        if node in expanded:
            # Its inputs are placed: everything pushed after its expansion
            # is popped before it (a DAG never reaches a node from itself).
            placed.add(node)
            place(node)
            if clients is not None:
                for i, inp in enumerate(node.inputs):
                    readers = clients.get(inp)
                    if readers is None:
                        clients[inp] = [(node, i)]
                    else:
                        readers.append((node, i))
            continue
        expanded.add(node)
        push(node)
        if node in cut:
            continue
        for inp in reversed(node.inputs):
            owner = inp.owner
            if owner is not None and owner not in expanded and inp not in stop:
                push(owner)
    return order, placed


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
