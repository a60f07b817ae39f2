"""The kernel IR: the seam between the optimizer and the code generators.

A Kernel is a fused elementwise computation over one loop nest:

* ``inputs`` — arrays read at the current loop index, each with its own
  dtype and rank; a rank below the kernel's is aligned to the right (NumPy
  broadcasting), and any length-1 dimension broadcasts at run time.
* ``outputs`` — one scalar expression DAG per output, built from ``KInput``
  (read input *k*), ``KConst`` (a typed scalar literal) and ``KApply`` (a
  scalar op of ``graphc.ops.scalar`` applied to argument nodes).  Every
  ``KApply``'s arguments already have the dtypes its op computes in: the
  builder inserts explicit ``Cast`` nodes, so a code generator never has to
  reproduce NumPy's promotion rules.
* ``reduce`` — optional ``Reduction(kind, axes)``: every output is reduced
  with ``kind`` (sum/prod/max/min) over ``axes`` of the loop nest, so that
  ``sum(x * y)`` never materialises ``x * y``.
* ``epilogue`` — optional, only with ``reduce``: scalar expressions evaluated
  once per element of the *reduced* output space, after the reduction, so
  that ``sum(x) / n`` or ``b - lr * sum(g, axis=0)`` is one kernel.  Its
  leaves are ``KReduced(k)`` (the reduced value of ``outputs[k]``), literals
  and inputs flagged ``KernelInput(..., epilogue=True)``: those are read in
  the output space (aligned to the right against the reduced shape, length-1
  dimensions broadcasting) and never by the loop body.  With an epilogue the
  kernel's visible results (``Kernel.results``) are the epilogue
  expressions; the raw reductions stay internal unless the epilogue lists a
  ``KReduced`` itself.  Without one, ``results`` is ``outputs`` (unchanged).

* ``KShape(k, axis)`` — an int64 leaf: the length of dimension ``axis`` of
  input ``k``'s *whole* array (not of the part of the loop a thread runs),
  the same at every loop position, so that ``sum(x) / x.shape[0]`` or the
  ``1/n`` of ``mean``'s gradient needs no ``Shape``/``Subtensor`` nodes of
  its own.  It may read any input, in the loop body or the epilogue; an
  input flagged ``KernelInput(..., shape_only=True)`` is read by ``KShape``
  leaves only: its elements are never read and it does not shape the loop.

``strict_broadcast`` kernels belong to a graph compiled under the strict
broadcasting rule (``graphc.graph.shape_feature``): an input dim not flagged
``broadcastable`` that is 1 at run time while the loop's is longer raises
``RuntimeBroadcastAssumption`` instead of broadcasting (the flag is part of
the kernel's text, hence of its identity and compile-cache key).

Kernels are immutable values: they hash and compare by their canonical text
(``Kernel.text``), which is also the key of the on-disk compile cache and
what ``debugprint`` shows.  ``evaluate`` runs a Kernel with NumPy: the python
backend uses it, and every code generator is tested against it.
"""

import functools
import hashlib
import weakref

import numpy as np

from ..graph.shape_feature import check_strict_broadcast
from ..ops import scalar as scal


@functools.lru_cache(maxsize=None)
def _dtype_name(dtype):
    """``np.dtype(dtype).name``, memoized: kernels are built by the thousand."""
    return np.dtype(dtype).name


#: structural key -> the canonical node with that structure (while one lives)
_CANONICAL = weakref.WeakValueDictionary()


class KNode:
    """A node of a kernel's scalar expression DAG (immutable, hash-consed by
    structure so that equal subexpressions compare equal in O(1)).

    Each node's ``_key`` names its children by their ``uid`` -- the identity
    of the canonical node of their structure -- not by their own keys, so
    keys stay small however deep and shared the DAG is (nested keys would
    make hashing exponential in the depth of a DAG with sharing).  Every node
    holds its canonical node, so a uid is never reused while a node with it
    lives."""

    __slots__ = ("dtype", "_key", "_hash", "uid", "_canon", "__weakref__")

    def _intern(self, key):
        self._key = key
        canon = _CANONICAL.get(key)
        if canon is None:
            _CANONICAL[key] = canon = self
        self._canon = canon
        self.uid = id(canon)
        self._hash = hash(key)

    def __eq__(self, other):
        return isinstance(other, KNode) and self.uid == other.uid

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"<{type(self).__name__} {self.dtype} {self._key[1:]}>"


class KInput(KNode):
    """The value of kernel input ``index`` at the current loop position."""

    __slots__ = ("index",)

    def __init__(self, index, dtype):
        self.index = int(index)
        self.dtype = _dtype_name(dtype)
        self._intern(("in", self.index, self.dtype))


class KShape(KNode):
    """The length of dimension ``axis`` of kernel input ``index`` (int64;
    dimensions count from the input's first, as for the graph variable)."""

    __slots__ = ("index", "axis")

    def __init__(self, index, axis):
        self.index = int(index)
        self.axis = int(axis)
        self.dtype = "int64"
        self._intern(("shape", self.index, self.axis))


class KReduced(KNode):
    """The reduced value of kernel output ``index`` at the current position of
    the output space (epilogue expressions only)."""

    __slots__ = ("index",)

    def __init__(self, index, dtype):
        self.index = int(index)
        self.dtype = _dtype_name(dtype)
        self._intern(("red", self.index, self.dtype))


class KConst(KNode):
    """A scalar literal of a fixed dtype (NaN/inf allowed)."""

    __slots__ = ("value",)

    def __init__(self, value, dtype):
        self.dtype = _dtype_name(dtype)
        self.value = np.asarray(value, dtype=self.dtype)[()]
        # repr of the value keeps the sign of zero and NaN distinct from numbers
        self._intern(("const", self.dtype, repr(self.value.item())))


class KApply(KNode):
    """``op(*args)`` where ``op`` is a ScalarOp and ``args`` are KNodes."""

    __slots__ = ("op", "args")

    def __init__(self, op, args, dtype):
        self.op = op
        self.args = tuple(args)
        self.dtype = _dtype_name(dtype)
        self._intern(("apply", op.name, self.dtype) + tuple(a.uid for a in self.args))


def apply_scalar(op, *args):
    """Build ``op(*args)`` with NumPy's dtype rule, casting each argument to
    the dtype the op computes in (the only place promotion happens)."""
    in_dtypes, out_dtype = op.output_dtype([np.dtype(a.dtype) for a in args])
    cast_args = [cast(a, d) for a, d in zip(args, in_dtypes)]
    return KApply(op, cast_args, out_dtype)


def cast(node, dtype):
    """``node`` converted to ``dtype`` (no-op when it already is)."""
    dtype = _dtype_name(dtype)
    if node.dtype == dtype:
        return node
    if isinstance(node, KConst):
        with np.errstate(all="ignore"):
            return KConst(np.asarray(node.value).astype(dtype), dtype)
    return KApply(scal.Cast(dtype), [node], dtype)


class KernelInput:
    """Dtype and rank of one input array; ``broadcastable`` marks the
    dimensions known (statically) to be 1, i.e. read with stride 0;
    ``epilogue`` inputs are read in the reduced output space, by the
    epilogue only; ``shape_only`` inputs are read by ``KShape`` leaves only
    (see the module docstring)."""

    __slots__ = ("dtype", "ndim", "broadcastable", "epilogue", "shape_only")

    def __init__(self, dtype, ndim, broadcastable=None, epilogue=False, shape_only=False):
        self.dtype = _dtype_name(dtype)
        self.ndim = int(ndim)
        self.broadcastable = tuple(bool(b) for b in (broadcastable or (False,) * self.ndim))
        self.epilogue = bool(epilogue)
        self.shape_only = bool(shape_only)
        if len(self.broadcastable) != self.ndim:
            raise ValueError("broadcastable must have one flag per dimension")
        if self.epilogue and self.shape_only:
            raise ValueError("a kernel input is read in the epilogue or for its shape, not both")

    @property
    def in_loop(self):
        """Whether the loop body reads this input's elements (and its shape
        takes part in the loop shape)."""
        return not (self.epilogue or self.shape_only)

    def text(self):
        dims = ",".join("1" if b else "n" for b in self.broadcastable)
        return f"{self.dtype}[{dims}]" + ("@out" if self.epilogue else "") \
            + ("@shape" if self.shape_only else "")


class Reduction:
    """Reduce every output with ``kind`` over loop ``axes`` (sorted, unique)."""

    KINDS = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}

    __slots__ = ("kind", "axes")

    def __init__(self, kind, axes):
        if kind not in self.KINDS:
            raise ValueError(f"unsupported kernel reduction {kind!r}")
        self.kind = kind
        self.axes = tuple(sorted(set(int(a) for a in axes)))

    def identity(self, dtype):
        dtype = np.dtype(dtype)
        if self.kind == "sum":
            return np.zeros((), dtype)[()]
        if self.kind == "prod":
            return np.ones((), dtype)[()]
        if dtype.kind == "f":
            return dtype.type(-np.inf if self.kind == "max" else np.inf)
        if dtype.kind == "b":
            return np.bool_(self.kind == "min")
        info = np.iinfo(dtype)
        return dtype.type(info.min if self.kind == "max" else info.max)

    def text(self):
        return f"{self.kind}{list(self.axes)}"


class Kernel:
    """A fused loop nest: see the module docstring."""

    def __init__(self, inputs, outputs, ndim, reduce=None, epilogue=None,
                 strict_broadcast=False):
        self.inputs = tuple(inputs)
        self.strict_broadcast = bool(strict_broadcast)
        self.outputs = tuple(outputs)
        self.ndim = int(ndim)
        self.reduce = reduce
        self.epilogue = None if epilogue is None else tuple(epilogue)
        for k, inp in enumerate(self.inputs):
            limit = self.out_ndim if inp.epilogue else self.ndim
            if not inp.shape_only and inp.ndim > limit:
                space = "output" if inp.epilogue else "loop"
                raise ValueError(f"kernel input {k} has rank {inp.ndim} > {space} rank {limit}")
        if reduce is not None and any(a >= self.ndim for a in reduce.axes):
            raise ValueError(f"reduction axes {reduce.axes} outside a {self.ndim}-d loop")
        if self.epilogue is not None and reduce is None:
            raise ValueError("a kernel epilogue needs a reduction")
        if self.epilogue is None and any(i.epilogue for i in self.inputs):
            raise ValueError("epilogue inputs in a kernel without an epilogue")
        body = _toposort(self.outputs)
        self._check_leaves(body, in_epilogue=False)
        self.nodes = body
        #: ``nodes[:body_size]`` is the loop body, the rest the epilogue's own nodes
        self.body_size = len(body)
        if self.epilogue is not None:
            seen = set(body)
            epilogue_nodes = _toposort(self.epilogue)
            self._check_leaves(epilogue_nodes, in_epilogue=True)
            # nodes the body also computes (literal subexpressions) are reused
            self.nodes = body + [n for n in epilogue_nodes if n not in seen]
        self.text = self._text()
        self._hash = hash(self.text)

    def _check_leaves(self, nodes, in_epilogue):
        """Body nodes read loop-space inputs; epilogue nodes read reduced
        values and output-space inputs (a literal may appear in both)."""
        for node in nodes:
            if isinstance(node, KShape):
                if node.index >= len(self.inputs) or node.axis >= self.inputs[node.index].ndim:
                    raise ValueError(f"{node!r} reads a dimension the kernel's inputs lack")
            elif isinstance(node, KInput):
                if node.index >= len(self.inputs) or node.dtype != self.inputs[node.index].dtype:
                    raise ValueError(f"{node!r} does not match the kernel's inputs")
                if self.inputs[node.index].shape_only:
                    raise ValueError(f"{node!r} reads the elements of a shape-only input")
                if self.inputs[node.index].epilogue != in_epilogue:
                    where = "the epilogue" if in_epilogue else "the loop body"
                    raise ValueError(f"{where} reads input {node.index} of the other space")
            elif isinstance(node, KReduced):
                if not in_epilogue:
                    raise ValueError(f"{node!r} outside the epilogue")
                if node.index >= len(self.outputs) or node.dtype != self.outputs[node.index].dtype:
                    raise ValueError(f"{node!r} does not match the kernel's reductions")

    @property
    def results(self):
        """The expressions of the kernel's visible outputs."""
        return self.outputs if self.epilogue is None else self.epilogue

    @property
    def output_dtypes(self):
        return [o.dtype for o in self.results]

    @property
    def out_ndim(self):
        return self.ndim - (len(self.reduce.axes) if self.reduce else 0)

    def _text(self):
        names = {}
        lines = []
        ins = ", ".join(f"i{k}: {inp.text()}" for k, inp in enumerate(self.inputs))
        strict = ",strict" if self.strict_broadcast else ""
        lines.append(f"kernel[{self.ndim}d{strict}]({ins})"
                     + (f" reduce {self.reduce.text()}" if self.reduce else ""))
        body = self.body_size
        for pos, node in enumerate(self.nodes):
            if pos == body:
                for k, out in enumerate(self.outputs):
                    lines.append(f"  r{k} = {self.reduce.kind}({names[out]}) : {out.dtype}")
                lines.append("  epilogue:")
            if isinstance(node, KInput):
                names[node] = f"i{node.index}"
            elif isinstance(node, KReduced):
                names[node] = f"r{node.index}"
            elif isinstance(node, KConst):
                names[node] = f"{node.value.item()!r}:{node.dtype}"
            elif isinstance(node, KShape):
                names[node] = f"shape(i{node.index})[{node.axis}]"
            else:
                name = f"t{len(lines) - 1}"
                args = ", ".join(names[a] for a in node.args)
                lines.append(f"  {name} = {node.op.name}({args}) : {node.dtype}")
                names[node] = name
        if self.epilogue is not None and body == len(self.nodes):
            # every epilogue node is also a body node (a literal): still mark the section
            for k, out in enumerate(self.outputs):
                lines.append(f"  r{k} = {self.reduce.kind}({names[out]}) : {out.dtype}")
            lines.append("  epilogue:")
        for k, out in enumerate(self.results):
            lines.append(f"  o{k} = {names[out]} : {out.dtype}")
        return "\n".join(lines)

    def split_epilogue(self):
        """This kernel as two: ``(body, tail, loop_inputs, tail_inputs)``.

        ``body`` is the reduction without the epilogue, reading the kernel
        inputs listed in ``loop_inputs``; ``tail`` is an elementwise kernel
        over the output space whose inputs are the body's results followed by
        the kernel inputs listed in ``tail_inputs``.  Running one after the
        other computes ``results`` -- what a backend that cannot fuse the
        epilogue into its reduction loop runs instead."""
        if self.epilogue is None:
            raise ValueError("split_epilogue: the kernel has no epilogue")
        loop = [k for k, inp in enumerate(self.inputs) if inp.in_loop]
        late = [k for k, inp in enumerate(self.inputs) if inp.epilogue]
        body_roots, body_specs, loop = self._rebased(self.outputs, loop, 0, {})
        body = Kernel(body_specs, body_roots, self.ndim, self.reduce,
                      strict_broadcast=self.strict_broadcast)
        nred = len(self.outputs)
        reduced = {KReduced(k, o.dtype): KInput(k, o.dtype) for k, o in enumerate(self.outputs)}
        tail_roots, tail_specs, late = self._rebased(self.epilogue, late, nred, reduced)
        specs = [KernelInput(o.dtype, self.out_ndim, self.reduced_broadcastable)
                 for o in self.outputs]
        tail = Kernel(specs + tail_specs, tail_roots, self.out_ndim,
                      strict_broadcast=self.strict_broadcast)
        return body, tail, loop, late

    def _rebased(self, roots, read, offset, replace):
        """``roots`` as expressions of a kernel whose inputs ``offset``,
        ``offset + 1``, ... are this kernel's inputs ``read`` (read as loop
        inputs) followed by every other input a ``KShape`` leaf of ``roots``
        reads (as shape-only inputs); ``replace`` maps further leaves.
        Returns (roots, input specs, this kernel's index of each input)."""
        nodes = _toposort(roots)
        indices = list(read)
        extra = sorted({n.index for n in nodes if isinstance(n, KShape)} - set(indices))
        indices += extra
        position = {k: offset + j for j, k in enumerate(indices)}
        replace = dict(replace)
        for node in nodes:
            if isinstance(node, KInput):
                replace[node] = KInput(position[node.index], node.dtype)
            elif isinstance(node, KShape):
                replace[node] = KShape(position[node.index], node.axis)
        specs = [KernelInput(self.inputs[k].dtype, self.inputs[k].ndim,
                             self.inputs[k].broadcastable, shape_only=k in extra)
                 for k in indices]
        return map_leaves(roots, replace), specs, indices

    @functools.cached_property
    def reduced_broadcastable(self):
        """Per dim of the reduced output space: whether every loop input is
        statically 1 there (so the reduced value is, too)."""
        if self.reduce is None:
            return ()
        flags = [True] * self.ndim
        for inp in self.inputs:
            if inp.in_loop:
                off = self.ndim - inp.ndim
                for d, b in enumerate(inp.broadcastable):
                    flags[d + off] = flags[d + off] and b
        return tuple(f for d, f in enumerate(flags) if d not in self.reduce.axes)

    def check_strict(self, shapes, loop_shape):
        """For a ``strict_broadcast`` kernel, raise ``RuntimeBroadcastAssumption``
        when a loop input of runtime shape ``shapes[k]`` broadcasts through a
        dim that is not statically 1 (one shape per loop input)."""
        flags = [inp.broadcastable for inp in self.inputs if inp.in_loop]
        check_strict_broadcast("kernel", flags, shapes, loop_shape)

    @functools.cached_property
    def writable_roots(self):
        """Output indices whose expression root is an operation that no other
        expression node (nor another output) reads: such an output can be
        computed straight into a destination buffer (memory planning's
        in-place outputs; ``evaluate``'s ``out=``).  Compiled code computes
        any root in place; ``evaluate`` writes a plain ufunc root with
        ``out=`` and copies any other root's value into the destination
        (``_ufunc_root``)."""
        readers = {}
        for node in self.nodes:
            if isinstance(node, KApply):
                for a in node.args:
                    readers[a] = readers.get(a, 0) + 1
        for root in self.outputs:
            readers[root] = readers.get(root, 0) + 1
        return tuple(k for k, root in enumerate(self.outputs)
                     if isinstance(root, KApply) and readers[root] == 1)

    def key(self):
        """A stable hex digest of the kernel (the compile-cache key part)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def expression(self, k=0, input_names=None):
        """Visible output ``k`` as one infix string, for printing; in an
        epilogue ``rK`` reads as the reduction ``kind(body K)``."""
        names = input_names or [f"i{j}" for j in range(len(self.inputs))]
        if self.epilogue is None:
            return _infix(self.outputs[k], names)
        reduced = [f"{self.reduce.kind}{list(self.reduce.axes)}({_infix(o, names)})"
                   for o in self.outputs]
        return _infix(self.epilogue[k], names, reduced)

    def __eq__(self, other):
        return isinstance(other, Kernel) and self.text == other.text

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"<Kernel {len(self.inputs)} in, {len(self.results)} out, {len(self.nodes)} nodes>"

    def __str__(self):
        return self.text


def map_leaves(roots, replace):
    """``roots`` rebuilt with each leaf found in the dict ``replace``
    (a node -> its replacement) substituted."""
    done = {}
    for node in _toposort(roots):
        if node in replace:
            done[node] = replace[node]
        elif isinstance(node, KApply):
            done[node] = KApply(node.op, [done[a] for a in node.args], node.dtype)
        else:
            done[node] = node
    return [done[r] for r in roots]


def _toposort(outputs):
    """Expression nodes reachable from ``outputs``, arguments first (iterative)."""
    order, seen = [], set()
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in seen and not expanded:
                continue
            if expanded or not isinstance(node, KApply):
                if node not in seen:
                    seen.add(node)
                    order.append(node)
                continue
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args) if a not in seen)
    return order


#: longest infix text kept per subexpression: a DAG with sharing would
#: otherwise print exponentially long (the canonical ``text`` names nodes)
_INFIX_MAX = 200


def _infix(root, names, reduced=()):
    text = {}
    for node in _toposort([root]):
        _infix_node(node, text, names, reduced)
        if len(text[node]) > _INFIX_MAX:
            text[node] = text[node][:_INFIX_MAX - 3] + "..."
    out = text[root]
    return out[1:-1] if out.startswith("(") and out.endswith(")") and _balanced(out[1:-1]) else out


def _infix_node(node, text, names, reduced):
    """Store the infix text of ``node`` (its arguments' texts are in ``text``)."""
    if isinstance(node, KInput):
        text[node] = names[node.index]
    elif isinstance(node, KShape):
        text[node] = f"shape({names[node.index]})[{node.axis}]"
    elif isinstance(node, KReduced):
        text[node] = reduced[node.index]
    elif isinstance(node, KConst):
        text[node] = repr(node.value.item())
    elif isinstance(node.op, scal.Cast):
        text[node] = f"{node.dtype}({text[node.args[0]]})"
    elif node.op.symbol and len(node.args) == 2:
        a, b = (text[x] for x in node.args)
        text[node] = f"({a} {node.op.symbol} {b})"
    elif node.op.name == "neg":
        text[node] = f"-{text[node.args[0]]}"
    else:
        text[node] = f"{node.op.name}({', '.join(text[a] for a in node.args)})"


def _balanced(s):
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def broadcast_shape(kernel, shapes):
    """The loop-nest shape for input arrays of ``shapes`` (NumPy rules).
    ``shapes`` holds one entry per kernel input (epilogue inputs, read in the
    output space, and shape-only inputs do not shape the loop) or only the
    loop inputs' shapes."""
    if len(shapes) == len(kernel.inputs):
        shapes = [s for s, inp in zip(shapes, kernel.inputs) if inp.in_loop]
    return _broadcast(kernel.ndim, shapes)


def output_shape(kernel, reduced_shape, shapes):
    """The shape of an epilogue kernel's results: the reduced shape broadcast
    with the epilogue inputs' ``shapes`` (one entry per kernel input)."""
    epilogue = [s for s, inp in zip(shapes, kernel.inputs) if inp.epilogue]
    return _broadcast(kernel.out_ndim, [tuple(reduced_shape)] + epilogue)


def _broadcast(ndim, shapes):
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    try:
        return np.broadcast_shapes(*padded) if padded else (1,) * ndim
    except ValueError:
        raise ValueError("kernel operands cannot be broadcast together with shapes "
                         + " ".join(str(tuple(s)) for s in shapes)) from None


def evaluate(kernel, arrays, out=None):
    """Run ``kernel`` with NumPy on ``arrays``; returns a list of outputs.

    This is the reference every code generator is checked against: each
    expression node is one NumPy ufunc call, in the node's dtype.  Every
    returned array is newly allocated and writeable, distinct from the other
    outputs.

    ``out`` (optional, one entry per output, None for "allocate") gives
    destination arrays of the output's dtype and full loop shape, possibly
    input buffers the caller no longer needs (in-place kernels): an output
    whose root is a ufunc call read by nothing else is computed straight into
    its destination, after every other value has been computed, so the
    values are those of the out-of-place evaluation.  Destinations are
    ignored for a reduction.  An epilogue runs on the reduced values (see
    the module docstring); its results are fresh arrays of ``output_shape``.
    """
    if len(arrays) != len(kernel.inputs):
        raise TypeError(f"kernel takes {len(kernel.inputs)} inputs, got {len(arrays)}")
    # a shape-only input's elements are never read: no conversion
    arrays = [np.asarray(a) if inp.shape_only else np.asarray(a, dtype=inp.dtype)
              for a, inp in zip(arrays, kernel.inputs)]
    shape = broadcast_shape(kernel, [a.shape for a in arrays])
    if kernel.strict_broadcast:
        kernel.check_strict([a.shape for a, inp in zip(arrays, kernel.inputs) if inp.in_loop],
                            shape)
    direct = {} if out is None or kernel.reduce is not None else _direct_outputs(kernel, out, shape)
    deferred = {kernel.outputs[k] for k in direct}
    values = {}
    with np.errstate(all="ignore"):
        for node in kernel.nodes[:kernel.body_size]:
            if isinstance(node, KInput):
                values[node] = arrays[node.index]
            elif isinstance(node, KShape):
                values[node] = shape_value(node, arrays, kernel)
            elif isinstance(node, KConst):
                values[node] = node.value
            elif node not in deferred:
                result = node.op.impl(*(values[a] for a in node.args))
                values[node] = np.asarray(result).astype(node.dtype, copy=False)
        results = [None] * len(kernel.outputs)
        returned = set()
        for k, root in enumerate(kernel.outputs):
            if k in direct:
                continue
            value = values[root]
            if kernel.reduce is not None:
                ufunc = Reduction.KINDS[kernel.reduce.kind]
                red = ufunc.reduce(np.broadcast_to(value, shape), axis=kernel.reduce.axes,
                                   dtype=root.dtype, initial=kernel.reduce.identity(root.dtype))
                results[k] = np.asarray(red, dtype=root.dtype)
            elif (isinstance(root, KApply) and isinstance(value, np.ndarray)
                  and value.shape == shape and value.flags.owndata and value.flags.writeable
                  and id(value) not in returned and not any(value is a for a in arrays)):
                results[k] = value  # computed by this kernel: already a fresh array
            else:
                results[k] = np.array(np.broadcast_to(value, shape), dtype=root.dtype)
            returned.add(id(results[k]))
        if kernel.epilogue is not None:
            return _evaluate_epilogue(kernel, arrays, results, values)
        # Destinations may be input buffers: they are written only now that
        # every other value exists, and a root that reads another root's
        # destination is computed out of place first.
        for k in list(direct):
            root = kernel.outputs[k]
            args = [values[a] for a in root.args]
            if any(np.may_share_memory(a, d) for a in args for j, d in direct.items() if j != k):
                del direct[k]
                result = np.asarray(root.op.impl(*args))
                results[k] = np.array(np.broadcast_to(result, shape), dtype=root.dtype)
        for k, dest in direct.items():
            root = kernel.outputs[k]
            args = [values[a] for a in root.args]
            if _ufunc_root(root):
                root.op.nfunc(*args, out=dest)
            else:
                np.copyto(dest, np.asarray(root.op.impl(*args)).astype(root.dtype, copy=False))
            results[k] = dest
    return results


def _evaluate_epilogue(kernel, arrays, reduced, values):
    """The epilogue's results given the ``reduced`` outputs (``values``
    already holds the loop body's nodes, literals included)."""
    shape = output_shape(kernel, np.shape(reduced[0]), [a.shape for a in arrays])
    if kernel.strict_broadcast:
        late = [k for k, inp in enumerate(kernel.inputs) if inp.epilogue]
        check_strict_broadcast(
            "kernel epilogue", [kernel.reduced_broadcastable]
            + [kernel.inputs[k].broadcastable for k in late],
            [np.shape(reduced[0])] + [arrays[k].shape for k in late], shape)
    for node in kernel.nodes[kernel.body_size:]:
        if isinstance(node, KInput):
            values[node] = arrays[node.index]
        elif isinstance(node, KReduced):
            values[node] = reduced[node.index]
        elif isinstance(node, KShape):
            values[node] = shape_value(node, arrays, kernel)
        elif isinstance(node, KConst):
            values[node] = node.value
        else:
            result = node.op.impl(*(values[a] for a in node.args))
            values[node] = np.asarray(result).astype(node.dtype, copy=False)
    return [np.array(np.broadcast_to(values[root], shape), dtype=root.dtype)
            for root in kernel.epilogue]


def shape_value(node, arrays, kernel):
    """The value of ``KShape`` ``node``: counted from the input's last
    dimension, as arrays may carry extra leading length-1 axes."""
    a = arrays[node.index]
    return np.int64(a.shape[a.ndim - kernel.inputs[node.index].ndim + node.axis])


def _ufunc_root(root):
    """Whether ``root`` is a plain ufunc call (its ``impl`` is the ufunc
    itself), which ``evaluate`` can run with ``out=``."""
    from ..ops.scalar import ScalarOp

    return (isinstance(getattr(root.op, "nfunc", None), np.ufunc)
            and type(root.op).impl is ScalarOp.impl)


def _direct_outputs(kernel, out, shape):
    """{output index: destination} for outputs ``evaluate`` can compute
    straight into ``out[k]``: a ``Kernel.writable_roots`` output whose
    destination is a writeable array of the output's dtype and the loop
    shape, not shared with another output."""
    direct, written = {}, []
    for k in kernel.writable_roots:
        root, dest = kernel.outputs[k], out[k]
        if not isinstance(dest, np.ndarray) or dest.dtype != np.dtype(root.dtype) \
                or dest.shape != tuple(shape) or not dest.flags.writeable:
            continue
        if any(dest is d for d in written):
            continue
        direct[k] = dest
        written.append(dest)
    return direct
