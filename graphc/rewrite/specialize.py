"""Specialize matrix products into BLAS-shaped ``Gemm`` nodes (positions 30, 31).

``gemm`` (30): every float32/float64 ``dot`` of 1-d/2-d operands becomes a
Gemm, absorbing operand transposes (``DimShuffle{1,0}``) as BLAS transpose
flags, and the scaled adds around it fold into the same node:

    dot(A, B) * k, k * dot(A, B)      -> Gemm{alpha=k}(A, B)
    -dot(A, B)                        -> Gemm{alpha=-1}(A, B)
    dot(A, B) + C, C + k * dot(A, B)  -> Gemm{alpha, beta=1}(A, B, C)
    C - k * dot(A, B)                 -> Gemm{alpha=-k, beta=1}(A, B, C)
    dot(A, B) - C                     -> Gemm{beta=-1}(A, B, C)
    dot(A, B) + k * C                 -> Gemm{beta=k}(A, B, C)
    k * Gemm{alpha, beta}(A, B, C)    -> Gemm{k*alpha, k*beta}(A, B, C)
    C - Gemm{alpha, beta}(A, B, C)    -> Gemm{-alpha, 1-beta}(A, B, C)

so the SGD update ``W - lr * dot(X.T, g)`` (what ``T.grad`` builds for a dense
layer) is one Gemm reading X untransposed, and ``dot(X, W) + b`` is one Gemm
with the bias broadcast as C.  A product is folded into its consumer only
when that consumer is its sole client (otherwise the product would be
computed twice).  ``k`` must be a finite, non-zero constant (BLAS skips the
product when alpha is 0, which would turn NaN/inf operands into 0); a scale
only known at run time stays an elementwise node.  The last two rules fold
weight decay, ``W - lr * (dot(X.T, g) + c * W)``, into one Gemm updating W in
place (beta = 1 - lr*c): one pass over W instead of three.  Merging the two
C terms is the one rule that is not exact beyond rounding: where C is
infinite the graph gives ``inf - inf = NaN`` and the Gemm gives +-inf (a
diverged weight either way); a resulting beta of 0 is never formed.

``gemm_epilogue`` (31): an activation applied to a Gemm is computed in place
on its output, while the data is still in cache: ``tanh``, ``sigmoid``,
``maximum(x, 0)`` and ``T.nnet.relu``'s ``switch(x > 0, x, 0)``.  For the relu,
the pre-activation's other readers in a training graph are rewired to the
activation output, which is exact for them: ``x > 0`` equals ``relu(x) > 0``,
and ``SumToShapeOf``/``second``/``Shape`` only read the (equal) shape.

Values are those of the unoptimized graph up to the rounding of
``alpha * product + beta * C``, which a large Gemm computes inside one BLAS
call (small ones apply alpha and C with the graph's NumPy operations); the
activation is the graph's own operation, applied in place.
"""

import math

import numpy as np

from ..graph.basic import Constant
from ..ops.blas import BLAS_DTYPES, Dot, Gemm, ProductShape
from ..ops.elemwise import DimShuffle, Elemwise, SumToShapeOf
from ..ops.shape import Shape
from .engine import GraphRewrite, pipeline


# ------------------------------------------------------------------ matchers

def _elemwise_name(node):
    """The scalar op name of an Elemwise node, else None."""
    if node is not None and isinstance(node.op, Elemwise):
        return node.op.scalar_op.name
    return None


def _is_left_pad(op):
    """A DimShuffle that only prepends broadcastable axes (implicit broadcasting)."""
    if not isinstance(op, DimShuffle):
        return False
    lead = len(op.new_order) - op.input_ndim
    return lead > 0 and op.new_order == ("x",) * lead + tuple(range(op.input_ndim))


def _strip_left_pad(var):
    """``var`` without the leading broadcast axes Elemwise added (Gemm
    broadcasts C from the right itself)."""
    while var.owner is not None and _is_left_pad(var.owner.op):
        var = var.owner.inputs[0]
    return var


def _scalar_constant(var):
    """The value of a one-element constant that broadcasts nowhere (all static
    dims 1), looking through broadcast pads; else None."""
    var = _strip_left_pad(var)
    if not isinstance(var, Constant) or any(d != 1 for d in var.type.shape):
        return None
    value = np.asarray(var.data)
    if value.size != 1 or value.dtype.kind != "f":
        return None
    return float(value.reshape(()))


def _is_positive_zero(var):
    value = _scalar_constant(var)
    return value is not None and value == 0.0 and not math.copysign(1.0, value) < 0


def _usable_scale(k):
    """alpha/beta scales that keep BLAS semantics equal to the graph's."""
    return k is not None and math.isfinite(k) and k != 0.0


def _untranspose(var):
    """(matrix, transposed?): a 2-d ``DimShuffle{1,0}`` is absorbed as a flag."""
    owner = var.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and owner.op.new_order == (1, 0):
        return owner.inputs[0], True
    return var, False


class _Sweep:
    """One topological sweep that rewrites nodes as it meets them.

    Replacements are collected in ``mapping`` (old variable -> new one) and
    applied with one ``replace_all`` at the end, so a rewrite later in the
    sweep sees earlier ones through ``current``.  Client counts come from the
    fgraph (which is not rebuilt during the sweep): ``origin`` maps a new
    variable to the old one whose clients it inherits, ``added`` counts the
    readers a rewrite rewired onto a new variable.
    """

    def __init__(self, fgraph):
        self.fgraph = fgraph
        self.mapping = {}
        self.origin = {}
        self.added = {}
        self.changes = 0

    def current(self, var):
        return self.mapping.get(var, var)

    def clients(self, var):
        return list(self.fgraph.clients.get(self.origin.get(var, var), [])) + \
            self.added.get(var, [])

    def sole_client(self, var):
        clients = self.clients(var)
        return len(clients) == 1 and clients[0][0] != "output"

    def replace(self, old, new):
        if new.type != old.type:  # a rule's static-shape reasoning was wrong: keep the graph
            return False
        self.mapping[old] = new
        self.origin[new] = old
        self.changes += 1
        return True

    def rewire(self, node, index, new):
        """Make one reader of a variable read ``new`` instead (same type)."""
        node.inputs[index] = new
        self.added.setdefault(new, []).append((node, index))

    def run(self, visit):
        for node in self.fgraph.toposort():
            # Errors in a new node point at the user line of the product it
            # computes (a rule that absorbs a Gemm sets that Gemm's node here).
            self.trace_source = node
            new = visit(self, node)
            if new is not None:
                new.owner.tag.trace = self.trace_source.tag.trace
                self.replace(node.outputs[0], new)
        if self.mapping:
            self.fgraph.replace_all(list(self.mapping.items()))
        return self.changes


def _is_shape_only(client, index):
    """Does input ``index`` of ``client`` only need the variable's shape?"""
    return (isinstance(client.op, SumToShapeOf) and index == 1) or \
        isinstance(client.op, Shape) or (_elemwise_name(client) == "second" and index == 0)


def _gemm_of(sweep, var):
    """(Gemm op, inputs) when ``var`` is computed by a Gemm, else None (the
    inputs as the sweep has rewritten them so far)."""
    var = sweep.current(var)
    if var.owner is not None and isinstance(var.owner.op, Gemm):
        return var.owner.op, [sweep.current(i) for i in var.owner.inputs]
    return None


class _Product:
    """A C-less Gemm without epilogue whose value only one consumer reads;
    ``shape_readers`` are the (node, index) readers that need only its shape
    (a gradient's ``SumToShapeOf``), rewired when the consumer absorbs it."""

    def __init__(self, var, op, inputs, shape_readers):
        self.var, self.op, self.inputs, self.shape_readers = var, op, inputs, shape_readers


def _foldable_product(sweep, var, dtype, with_c=False):
    """The Gemm computing ``var`` when a consumer may absorb it (``with_c``:
    also one that already has a C operand), else None."""
    found = _gemm_of(sweep, var)
    if found is None:
        return None
    op, inputs = found
    if (op.beta != 0.0 and not with_c) or op.activation is not None or \
            inputs[0].type.dtype != dtype:
        return None
    var = sweep.current(var)
    clients = sweep.clients(var)
    shape_readers = [(c, i) for c, i in clients if c != "output" and _is_shape_only(c, i)]
    if len(clients) - len(shape_readers) != 1 or any(c == "output" for c, _ in clients):
        return None
    return _Product(var, op, inputs, shape_readers)


def _absorb(sweep, product, op, c=None):
    """The Gemm ``op`` applied to the product's operands (and C); readers of
    the product's shape move to the new output when it has the product's
    shape, else to a ``ProductShape`` of the operands."""
    out = op(*product.inputs, *([] if c is None else [c]))
    sweep.trace_source = product.var.owner
    if product.shape_readers:
        stand_in = out
        if c is not None:
            stand_in = ProductShape(op.trans_a, op.trans_b)(*product.inputs)
            stand_in.owner.tag.trace = product.var.owner.tag.trace
        for client, index in product.shape_readers:
            sweep.rewire(client, index, stand_in)
    return out


# ------------------------------------------------------------------ gemm pass

def _dot_to_gemm(node):
    a, b = node.inputs
    dtype = node.outputs[0].type.dtype
    if dtype not in BLAS_DTYPES or a.type.dtype != dtype or b.type.dtype != dtype:
        return None
    if a.ndim + b.ndim < 3:  # vector . vector: a 0-d result, nothing for BLAS to do
        return None
    a, trans_a = _untranspose(a) if a.ndim == 2 else (a, False)
    b, trans_b = _untranspose(b) if b.ndim == 2 else (b, False)
    return Gemm(trans_a=trans_a, trans_b=trans_b)(a, b)


def _in_dtype(value, dtype):
    """A scale as the graph's constant would apply it: rounded to ``dtype``."""
    return float(np.asarray(value, dtype=dtype))


def _scale(sweep, inputs, name, dtype):
    """k * G, G * k, -G for a Gemm G (k scales alpha and beta)."""
    if name == "neg":
        product = _foldable_product(sweep, inputs[0], dtype, with_c=True)
        if product is None:
            return None
        op = product.op
        # (a C-less Gemm keeps beta 0.0, not -0.0)
        return _absorb(sweep, product, op.clone_with(alpha=-op.alpha, beta=-op.beta or 0.0))
    for g, k in ((inputs[0], inputs[1]), (inputs[1], inputs[0])):
        k = _scalar_constant(k)
        if not _usable_scale(k):
            continue
        product = _foldable_product(sweep, g, dtype, with_c=True)
        if product is None:
            continue
        op = product.op
        alpha, beta = _in_dtype(op.alpha * k, dtype), _in_dtype(op.beta * k, dtype)
        if _usable_scale(alpha) and (op.beta == 0.0 or _usable_scale(beta)):
            return _absorb(sweep, product, op.clone_with(alpha=alpha, beta=beta))
    return None


def _scaled_operand(var, dtype):
    """(C, k) for ``k * C`` with k a usable scalar constant, else (var, 1.0)."""
    owner = var.owner
    if _elemwise_name(owner) == "mul" and len(owner.inputs) == 2:
        for k, c in ((owner.inputs[0], owner.inputs[1]), (owner.inputs[1], owner.inputs[0])):
            k = _scalar_constant(k)
            c = _strip_left_pad(c)
            if _usable_scale(k) and c.type.dtype == dtype:
                return c, k
    return var, 1.0


def _add_c(sweep, inputs, name, dtype):
    """G + C, C + G, G - C, C - G (C possibly ``k * C``) for a C-less Gemm G;
    C +- G for a Gemm G whose own C is that C."""
    x, y = inputs
    # (product operand, C operand, sign of the product, sign of C)
    candidates = [(x, y, 1.0, 1.0), (y, x, 1.0, 1.0)] if name == "add" else \
        [(y, x, -1.0, 1.0), (x, y, 1.0, -1.0)]
    for g, c, product_sign, c_sign in candidates:
        c = _strip_left_pad(c)
        if c.type.dtype != dtype:
            continue
        product = _foldable_product(sweep, g, dtype, with_c=True)
        if product is None:
            continue
        op = product.op
        if op.beta == 0.0:  # G +- k*C: C joins the product
            c, k = _scaled_operand(c, dtype)
            beta = _in_dtype(c_sign * k, dtype)
            if _usable_scale(beta):
                return _absorb(sweep, product, op.clone_with(
                    alpha=product_sign * op.alpha, beta=beta), c)
        elif _strip_left_pad(product.inputs[2]) is c:  # C +- Gemm(A, B, C): one C term
            beta = _in_dtype(c_sign + product_sign * op.beta, dtype)
            if _usable_scale(beta):
                return _absorb(sweep, product, op.clone_with(
                    alpha=product_sign * op.alpha, beta=beta))
    return None


def _visit_gemm(sweep, node):
    if isinstance(node.op, Dot):
        return _dot_to_gemm(node)
    name = _elemwise_name(node)
    if name not in ("mul", "neg", "add", "sub"):
        return None
    dtype = node.outputs[0].type.dtype
    if dtype not in BLAS_DTYPES:
        return None
    inputs = [sweep.current(i) for i in node.inputs]
    if name in ("mul", "neg"):
        return _scale(sweep, inputs, name, dtype)
    return _add_c(sweep, inputs, name, dtype)


class GemmSpecialize(GraphRewrite):
    name = "gemm"

    def apply(self, fgraph):
        return _Sweep(fgraph).run(_visit_gemm)


# ------------------------------------------------------------ epilogue pass

#: elementwise scalar op name -> Gemm activation (unary, on the product)
_UNARY_ACTIVATIONS = {"tanh": "tanh", "sigmoid": "sigmoid"}


def _plain_gemm(sweep, var):
    found = _gemm_of(sweep, var)
    if found is None or found[0].activation is not None:
        return None
    return found


def _is_gt_zero(node, z):
    return _elemwise_name(node) == "gt" and node.inputs[0] is z and _scalar_constant(
        node.inputs[1]) == 0.0


def _relu_rewiring(sweep, switch, z):
    """For ``switch(z > 0, z, 0)``: the other readers of ``z`` to rewire onto
    the relu output, or None when some reader needs ``z`` itself."""
    readers = []
    for client, index in sweep.clients(z):
        if client is switch:
            continue
        if client == "output":
            return None
        if not (_is_shape_only(client, index) or (index == 0 and _is_gt_zero(client, z))):
            return None
        readers.append((client, index))
    return readers


def _relu(sweep, node):
    """``switch(z > 0, z, zero)`` with z a Gemm output; zero is +0.0 or
    ``second(z, +0.0)`` (``zeros_like``).  (This pass runs on the graph the
    ``gemm`` pass left, so ``z`` is the Gemm output itself.)"""
    cond, z, zero = node.inputs
    if cond.owner is None or not _is_gt_zero(cond.owner, z):
        return None
    if not (_is_positive_zero(zero) or (
            _elemwise_name(zero.owner) == "second" and zero.owner.inputs[0] is z
            and _is_positive_zero(zero.owner.inputs[1]))):
        return None
    found = _plain_gemm(sweep, z)
    readers = None if found is None else _relu_rewiring(sweep, node, z)
    if readers is None:
        return None
    op, args = found
    sweep.trace_source = z.owner
    out = op.clone_with(activation="relu")(*args)
    if out.type != node.outputs[0].type:
        return None
    for client, index in readers:
        sweep.rewire(client, index, out)
    return out


def _visit_epilogue(sweep, node):
    name = _elemwise_name(node)
    if name is None or node.outputs[0].type.dtype not in BLAS_DTYPES:
        return None
    if name == "switch":
        return _relu(sweep, node)
    if name in _UNARY_ACTIVATIONS or name == "maximum":
        z = node.inputs[0]
        if name == "maximum" and not _is_positive_zero(node.inputs[1]):
            return None
        found = _plain_gemm(sweep, z)
        if found is None or not sweep.sole_client(z) or \
                found[1][0].type.dtype != node.outputs[0].type.dtype:
            return None
        op, args = found
        sweep.trace_source = z.owner
        return op.clone_with(activation=_UNARY_ACTIVATIONS.get(name, "maximum0"))(*args)
    return None


class GemmEpilogue(GraphRewrite):
    name = "gemm_epilogue"

    def apply(self, fgraph):
        return _Sweep(fgraph).run(_visit_epilogue)


gemm = pipeline.register(GemmSpecialize(), 30, "fast_run")
gemm_epilogue = pipeline.register(GemmEpilogue(), 31, "fast_run")
