"""Matrix products: Dot (Theano's 1-d/2-d ``dot``), MatMul (batched) and
Gemm (the BLAS-shaped ``activation(alpha * op(A) @ op(B) + beta * C)`` that the
``gemm`` specialization rewrite builds out of dots and scaled adds).

Every product runs in the OpenBLAS NumPy links against: through NumPy, or
(Gemm) through that library's CBLAS ``?gemm`` (``graphc.backends.blas``).
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable
from ..backends.blas import as_matrix, cblas, gemm_into, matrix_layout
from .elemwise import _describe, is_strict_node


def _check_inner(name, a, b, ka, kb):
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"{name}: inner dimensions do not match: {_describe(a)} and "
                         f"{_describe(b)} ({ka} != {kb})")


def _product_dtype(a, b):
    return np.result_type(a.type.numpy_dtype, b.type.numpy_dtype)


class Dot(Op):
    """``dot(a, b)`` for 1-d and 2-d operands (vector·vector is a 0-d result)."""

    #: runs in a tuned library by design, not as a fallback (see the report)
    library = "BLAS"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise TypeError(f"Dot takes 1-d or 2-d operands, got {_describe(a)} and {_describe(b)}")
        sa, sb = a.type.shape, b.type.shape
        _check_inner("dot", a, b, sa[-1], sb[0])
        shape = sa[:-1] + sb[1:]
        dtype = _product_dtype(a, b)
        if dtype == np.bool_:
            dtype = np.dtype(bool)
        return Apply(self, [a, b], [TensorType(dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """Outer dims of the operands; the inner ones must be equal."""
        from ..graph.shape_feature import InferredShapes

        sa, sb = input_shapes
        return InferredShapes([sa[:-1] + sb[1:]], equal=[(sa[-1], sb[0])])

    def perform(self, node, inputs):
        a, b = inputs
        return (np.asarray(np.dot(a, b), dtype=node.outputs[0].type.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import math as tm

        a, b = inputs
        (gz,) = output_grads
        if a.ndim == 2 and b.ndim == 2:
            ga, gb = tm.dot(gz, b.T), tm.dot(a.T, gz)
        elif a.ndim == 1 and b.ndim == 2:
            ga, gb = tm.dot(b, gz), tm.outer(a, gz)
        elif a.ndim == 2 and b.ndim == 1:
            ga, gb = tm.outer(gz, b), tm.dot(gz, a)
        else:
            ga, gb = gz * b, gz * a
        return [tm.cast(ga, a.dtype) if a.dtype.startswith("float") else None,
                tm.cast(gb, b.dtype) if b.dtype.startswith("float") else None]

    def __str__(self):
        return "dot"


class MatMul(Op):
    """NumPy ``matmul``: batched over leading axes with broadcasting."""

    #: runs in a tuned library by design, not as a fallback (see the report)
    library = "BLAS"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must not be 0-d: {_describe(a)}, {_describe(b)}")
        sa = a.type.shape if a.ndim > 1 else (1,) + a.type.shape
        sb = b.type.shape if b.ndim > 1 else b.type.shape + (1,)
        _check_inner("matmul", a, b, sa[-1], sb[-2])
        from .elemwise import broadcast_static_shapes

        batch_a, batch_b = sa[:-2], sb[:-2]
        n = max(len(batch_a), len(batch_b))
        pa = (1,) * (n - len(batch_a)) + batch_a
        pb = (1,) * (n - len(batch_b)) + batch_b
        batch = broadcast_static_shapes(
            "matmul", [TensorType("float64", shape=pa)(), TensorType("float64", shape=pb)()])
        shape = batch + ((sa[-2],) if a.ndim > 1 else ()) + ((sb[-1],) if b.ndim > 1 else ())
        return Apply(self, [a, b], [TensorType(_product_dtype(a, b), shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """Broadcast batch dims, then rows of A and columns of B; inner equal."""
        from ..graph.shape_feature import InferredShapes, broadcast_dims

        a, b = node.inputs
        sa = input_shapes[0] if a.ndim > 1 else (1,) + input_shapes[0]
        sb = input_shapes[1] if b.ndim > 1 else input_shapes[1] + (1,)
        n = max(len(sa), len(sb)) - 2
        pa = (1,) * (n - (len(sa) - 2)) + sa[:-2]
        pb = (1,) * (n - (len(sb) - 2)) + sb[:-2]
        batch = tuple(broadcast_dims(x, y) for x, y in zip(pa, pb))
        shape = batch + ((sa[-2],) if a.ndim > 1 else ()) + ((sb[-1],) if b.ndim > 1 else ())
        return InferredShapes([shape], equal=[(sa[-1], sb[-2])])

    def perform(self, node, inputs):
        a, b = inputs
        return (np.asarray(np.matmul(a, b), dtype=node.outputs[0].type.dtype),)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor import basic as tb
        from ..tensor import math as tm

        a, b = inputs
        (gz,) = output_grads
        a2 = a if a.ndim > 1 else tb.shape_padleft(a)
        b2 = b if b.ndim > 1 else tb.shape_padright(b)
        g2 = gz
        if a.ndim == 1:
            g2 = tb.expand_dims(g2, g2.ndim - (0 if b.ndim == 1 else 1))
        if b.ndim == 1:
            g2 = tb.expand_dims(g2, g2.ndim)
        ga = tm.matmul(g2, tb.swapaxes(b2, -1, -2))
        gb = tm.matmul(tb.swapaxes(a2, -1, -2), g2)
        ga = _unbatch(ga, a2, a)
        gb = _unbatch(gb, b2, b)
        return [tm.cast(ga, a.dtype) if a.dtype.startswith("float") else None,
                tm.cast(gb, b.dtype) if b.dtype.startswith("float") else None]

    def __str__(self):
        return "matmul"


def _unbatch(g, x2, x):
    """Sum a batched gradient over broadcast batch axes and restore x's rank."""
    from ..tensor import basic as tb
    from ..tensor import math as tm
    from .elemwise import SumToShapeOf

    extra = g.ndim - x2.ndim
    if extra > 0:
        g = tm.sum(g, axis=tuple(range(extra)))
    if any(s != 1 for s in x2.type.shape[:-2]) or x2.ndim > 2:
        g = SumToShapeOf()(g, x2)
    return tb.reshape(g, tb.shape(x)) if x.ndim == 1 else g


# -------------------------------------------------------------------- Gemm

#: dtypes BLAS has GEMM/GEMV for (and that Gemm accepts).
BLAS_DTYPES = ("float32", "float64")


#: Result elements from which ``Gemm`` calls CBLAS with alpha and beta (one
#: pass over memory) rather than ``np.dot`` plus in-place NumPy passes for
#: alpha and C: the call through ctypes and its layout checks cost ~7 us
#: more than ``np.dot``; the passes it saves cost as much from ~16k float32
#: elements (measured on the 2-core reference VM: 4096 elements 11.6 vs 8.2
#: us, 16384 64 vs 65, 131072 1745 vs 2027 for an SGD update).
CBLAS_MIN_OUTPUT = 16384

#: +0.0 of each BLAS dtype, made once (a NumPy scalar per call costs more
#: than the epilogue itself at batch-1 sizes)
_ZERO = {np.dtype(d): np.dtype(d).type(0) for d in ("float32", "float64")}


def _relu_inplace(out):
    # T.nnet.relu is switch(x > 0, x, 0): NaN and -0.0 give +0.0.  fmax(x, +0.0)
    # returns its second operand for NaN and for equal operands, so it matches.
    return np.fmax(out, _ZERO[out.dtype], out=out)


def _maximum0_inplace(out):
    # T.maximum(x, 0): NaN propagates, exactly as np.maximum with that order.
    return np.maximum(out, _ZERO[out.dtype], out=out)


def _sigmoid_inplace(out):
    # The same operations, in the same order, as the sigmoid scalar op
    # (exp(-logaddexp(0, -x))), so the epilogue is bit-identical to it.
    np.negative(out, out=out)
    np.logaddexp(out.dtype.type(0), out, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


def _tanh_inplace(out):
    return np.tanh(out, out=out)


#: epilogue name -> in-place NumPy implementation (same values as the
#: elementwise graph the rewrite replaced, NaN and signed zeros included).
GEMM_ACTIVATIONS = {
    "relu": _relu_inplace,          # switch(x > 0, x, 0)
    "maximum0": _maximum0_inplace,  # maximum(x, 0)
    "sigmoid": _sigmoid_inplace,
    "tanh": _tanh_inplace,
}


class Gemm(Op):
    """``activation(alpha * op(A) @ op(B) + beta * C)`` in one node.

    ``op(X)`` is ``X.T`` when ``trans_a``/``trans_b`` is set (a transpose the
    rewrite absorbed).  A and B are 1-d or 2-d (not both 1-d): matrix-matrix
    is GEMM, matrix-vector and vector-matrix are GEMV.  ``C`` is present
    exactly when ``beta != 0`` and broadcasts against the product (a bias
    row/column/scalar or a full matrix).  ``alpha``/``beta`` are Python floats
    (props, so equal Gemms merge and printing shows them); scales that are
    only known at run time stay separate elementwise nodes.

    ``perform``: results of at least ``CBLAS_MIN_OUTPUT`` elements are one
    CBLAS ``?gemm`` call with alpha and beta (C broadcast into the new result
    first), so ``W - lr * dot(X.T, g)`` makes one pass over memory instead of
    three; smaller ones (and every product when no CBLAS binding was found)
    use ``np.dot`` and apply alpha and C with NumPy in place.  The two agree
    up to the rounding of alpha*product+C (BLAS may fuse it).  The activation
    is applied in place on the result.  Without ``inplace`` no input is
    written, so C may be a shared variable's storage; ``inplace`` (set by the
    memory plan for SGD updates, see graphc/rewrite/memory.py) accumulates
    into C's own buffer when it is a writable, aligned array of the result's
    shape that overlaps neither A nor B, and computes a new array otherwise.
    Appears only after ``grad``, so no gradient.
    """

    #: runs in a tuned library by design, not as a fallback (see the report)
    library = "BLAS"

    __props__ = ("alpha", "beta", "trans_a", "trans_b", "activation", "inplace")

    def __init__(self, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, activation=None,
                 inplace=False):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.trans_a = bool(trans_a)
        self.trans_b = bool(trans_b)
        if activation is not None and activation not in GEMM_ACTIVATIONS:
            raise ValueError(f"Gemm: unknown activation {activation!r}; known: "
                             f"{sorted(GEMM_ACTIVATIONS)}")
        self.activation = activation
        if inplace and self.beta == 0.0:
            raise ValueError("Gemm: inplace needs a C operand (beta != 0)")
        self.inplace = bool(inplace)

    @property
    def destroy_map(self):
        """In place, the result is written into C's buffer (when its shape,
        dtype and layout allow; see ``perform``)."""
        return {0: [2]} if self.inplace else {}

    def clone_with(self, **changes):
        """This Gemm with some props changed (the rewrite composes Gemms)."""
        props = dict(zip(self.__props__, self._props()))
        props.update(changes)
        return Gemm(**props)

    def __str__(self):
        # The math it computes, e.g. Gemm{-0.1*dot(A.T, B) + C}, Gemm{relu(dot(A, B) + C)}
        product = f"dot({'A.T' if self.trans_a else 'A'}, {'B.T' if self.trans_b else 'B'})"
        text = product if self.alpha == 1.0 else f"-{product}" if self.alpha == -1.0 else \
            f"{self.alpha:g}*{product}"
        if self.beta:
            text += " + C" if self.beta == 1.0 else " - C" if self.beta == -1.0 else \
                f" + {self.beta:g}*C"
        if self.activation:
            text = f"{self.activation}({text})"
        return "Gemm{" + text + "}"

    def make_node(self, a, b, c=None):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        c = None if c is None else as_tensor_variable(c)
        operands = [a, b] + ([] if c is None else [c])
        for name, var in zip("ABC", operands):
            if var.type.dtype not in BLAS_DTYPES:
                raise TypeError(f"Gemm: operand {name} must be float32 or float64, got "
                                f"{_describe(var)}")
        if len({v.type.dtype for v in operands}) != 1:
            raise TypeError("Gemm: operands must share one dtype, got "
                            + ", ".join(_describe(v) for v in operands))
        if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.ndim + b.ndim == 2:
            raise TypeError(f"Gemm: A and B must be 1-d or 2-d and not both 1-d, got "
                            f"{_describe(a)} and {_describe(b)}")
        for flag, var in (("trans_a", a), ("trans_b", b)):
            if getattr(self, flag) and var.ndim != 2:
                raise TypeError(f"Gemm: {flag} needs a 2-d operand, got {_describe(var)}")
        if (c is None) != (self.beta == 0.0):
            raise TypeError("Gemm: C must be given exactly when beta != 0 "
                            f"(beta={self.beta:g}, C {'missing' if c is None else 'given'})")
        sa = a.type.shape[::-1] if self.trans_a else a.type.shape
        sb = b.type.shape[::-1] if self.trans_b else b.type.shape
        _check_inner("gemm", a, b, sa[-1], sb[0])
        shape = sa[:-1] + sb[1:]
        if c is not None:
            if c.ndim > len(shape):
                raise TypeError(f"Gemm: C {_describe(c)} has more dimensions than the "
                                f"{len(shape)}-d product")
            from .elemwise import broadcast_static_shapes

            padded = (1,) * (len(shape) - c.ndim) + c.type.shape
            shape = broadcast_static_shapes("gemm", [
                TensorType(a.type.dtype, shape=shape)(), TensorType(c.type.dtype, shape=padded)()])
        return Apply(self, operands, [TensorType(a.type.dtype, shape=shape).make_variable()])

    def infer_shape(self, node, input_shapes):
        """op(A) @ op(B)'s dims (inner ones equal), broadcast against C."""
        from ..graph.shape_feature import InferredShapes, broadcast_dims

        shapes = product_shape(self, input_shapes[0], input_shapes[1])
        if len(input_shapes) > 2:
            (shape,), c = shapes, input_shapes[2]
            c = (1,) * (len(shape) - len(c)) + c
            shapes = InferredShapes([tuple(map(broadcast_dims, shape, c))], shapes.equal)
        return shapes

    def check_inputs(self, node, inputs):
        """The result's shape, after every check ``perform`` makes: inner
        dims, C's broadcast against the product (and the strict broadcasting
        rule).  Raises before anything is computed, so the runner can check
        all in-place Gemms of a call before the first one writes."""
        a, b = inputs[0], inputs[1]
        sa = a.shape[::-1] if self.trans_a else a.shape
        sb = b.shape[::-1] if self.trans_b else b.shape
        if sa[-1] != sb[0]:
            raise ValueError(f"{self}: inner dimensions do not match: op(A) has shape {sa}, "
                             f"op(B) has shape {sb} ({sa[-1]} != {sb[0]})")
        shape = sa[:-1] + sb[1:]
        if self.beta != 0.0:
            c_shape = inputs[2].shape
            # C equal to the product's trailing dims (a bias row) broadcasts
            # only through leading padding: nothing to check (the fast path)
            if c_shape != shape and c_shape != shape[len(shape) - len(c_shape):]:
                if is_strict_node(node):
                    _check_strict_c(self, node, shape, c_shape)
                if not _broadcasts_into(c_shape, shape):
                    try:  # C larger than the product (dims unknown until run time)
                        shape = np.broadcast_shapes(shape, c_shape)
                    except ValueError:
                        raise ValueError(f"{self}: C of shape {c_shape} does not broadcast "
                                         f"against the product's shape {shape}") from None
        return shape

    def perform(self, node, inputs):
        shape = self.check_inputs(node, inputs)
        out = None
        if _size(shape) >= CBLAS_MIN_OUTPUT:
            blas = cblas()
            if blas is not None:
                out = self._perform_cblas(blas, inputs, shape)
        if out is None:
            out = self._perform_numpy(inputs, shape)
        if self.activation is not None:
            GEMM_ACTIVATIONS[self.activation](out)
        return (out,)

    def _perform_cblas(self, blas, inputs, shape):
        """One ``?gemm`` call with alpha and beta into the result, which holds
        C beforehand (C's own buffer when in place, else C broadcast into a
        new array); None when C is larger than the product (NumPy adds it)."""
        a, b = inputs[0], inputs[1]
        product_shape = (a.shape[1] if self.trans_a else a.shape[0],) if a.ndim == 2 else ()
        product_shape += (b.shape[0] if self.trans_b else b.shape[1],) if b.ndim == 2 else ()
        if shape != product_shape:
            return None
        beta = self.beta
        out = None
        if self.inplace:
            c = inputs[2]
            if _writable_into(c, shape, a, b) and \
                    matrix_layout(as_matrix(c, column=b.ndim == 1)) is not None:
                out = c
        if out is None:
            out = np.empty(shape, dtype=a.dtype)
            if beta == 1.0:
                np.copyto(out, inputs[2])
            elif beta != 0.0:
                np.multiply(inputs[2], out.dtype.type(beta), out=out)
                beta = 1.0
        # a vector operand is a 1-row (A) or 1-column (B) matrix; the result
        # of matrix @ vector a column
        gemm_into(blas, as_matrix(out, column=b.ndim == 1), as_matrix(a, column=False),
                  as_matrix(b, column=True), self.trans_a, self.trans_b, self.alpha, beta)
        return out

    def _perform_numpy(self, inputs, shape):
        """``np.dot`` into a fresh array, then alpha and C applied in place
        (in place into C too when it is a writable array of the result's
        shape: the values of the same operations)."""
        a, b = inputs[0], inputs[1]
        if self.trans_a:
            a = a.T
        if self.trans_b:
            b = b.T
        # np.dot on 1-d/2-d operands is BLAS gemm/gemv and returns a fresh array.
        out = np.dot(a, b)
        scalar = out.dtype.type
        if self.alpha != 1.0:
            np.multiply(out, scalar(self.alpha), out=out)
        if self.beta != 0.0:
            c = inputs[2]
            if self.inplace and _writable_into(c, shape, inputs[0], inputs[1]):
                if self.beta != 1.0:
                    np.multiply(c, scalar(self.beta), out=c)
                return np.add(c, out, out=c)
            if self.beta != 1.0 and self.beta != -1.0:
                c = np.multiply(c, scalar(self.beta))
            combine = np.subtract if self.beta == -1.0 else np.add
            if out.shape == shape:
                combine(out, c, out=out)
            else:  # C is larger than the product (dims unknown until run time)
                out = combine(out, c)
        return out


def _check_strict_c(op, node, product_shape, c_shape):
    """Under the strict broadcasting rule (``is_strict_node``), neither the
    product nor C may broadcast through a dim of unknown static size."""
    from ..graph.shape_feature import (RuntimeBroadcastAssumption, check_strict_broadcast,
                                       static_ones)

    a, b, c = node.inputs
    sa = a.type.shape[::-1] if op.trans_a else a.type.shape
    sb = b.type.shape[::-1] if op.trans_b else b.type.shape
    product_static = tuple(s == 1 for s in sa[:-1] + sb[1:])
    try:
        check_strict_broadcast(str(op), [product_static, static_ones(c)], [product_shape, c_shape],
                               np.broadcast_shapes(product_shape, c_shape))
    except RuntimeBroadcastAssumption as exc:
        exc.node = node
        raise
    except ValueError:
        pass  # a genuine mismatch: check_inputs reports it


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size


def _writable_into(c, shape, a, b):
    """Whether an in-place Gemm may write its result into C's buffer: an
    aligned, writable ndarray of exactly the result's shape that shares no
    memory with A or B (otherwise it computes a new array)."""
    return (type(c) is np.ndarray and c.shape == shape and c.flags.writeable
            and c.flags.aligned and not np.may_share_memory(c, a)
            and not np.may_share_memory(c, b))


def _broadcasts_into(small, big):
    """Whether shape ``small`` broadcasts to exactly ``big`` (so the result
    can be accumulated in place); ``np.broadcast_shapes`` costs microseconds
    per call, this a few tuple reads."""
    offset = len(big) - len(small)
    if offset < 0:
        return False
    return small == big[offset:] or all(s == 1 or s == big[offset + d]
                                        for d, s in enumerate(small))


def product_shape(op, sa, sb):
    """The symbolic shape of ``op(A) @ op(B)`` (Gemm flags), inner dims equal."""
    from ..graph.shape_feature import InferredShapes

    sa = sa[::-1] if op.trans_a else sa
    sb = sb[::-1] if op.trans_b else sb
    return InferredShapes([sa[:-1] + sb[1:]], equal=[(sa[-1], sb[0])])


class ProductShape(Op):
    """An uninitialised array with the shape and dtype of ``op(A) @ op(B)``,
    computing nothing (``np.empty``: untouched pages cost nothing).

    When the gemm rewrite folds a product into a Gemm with C, readers that
    need only the product's *shape* (``SumToShapeOf`` in gradients, ``Shape``,
    ``second``'s first operand) read this instead, so the product itself is
    not computed a second time.  Its values must never be read.
    """

    __props__ = ("trans_a", "trans_b")

    def __init__(self, trans_a=False, trans_b=False):
        self.trans_a = bool(trans_a)
        self.trans_b = bool(trans_b)

    def make_node(self, a, b):
        # The product's type is exactly the C-less Gemm's (same checks, too).
        product = Gemm(trans_a=self.trans_a, trans_b=self.trans_b).make_node(a, b)
        return Apply(self, product.inputs, [product.outputs[0].type.make_variable()])

    def infer_shape(self, node, input_shapes):
        return product_shape(self, input_shapes[0], input_shapes[1])

    def perform(self, node, inputs):
        sa = inputs[0].shape[::-1] if self.trans_a else inputs[0].shape
        sb = inputs[1].shape[::-1] if self.trans_b else inputs[1].shape
        return (np.empty(sa[:-1] + sb[1:], dtype=node.outputs[0].type.dtype),)

    def do_constant_folding(self, node):
        return False

    def __str__(self):
        flags = [f for f in ("trans_a", "trans_b") if getattr(self, f)]
        return "ProductShape" + ("{" + ",".join(flags) + "}" if flags else "")
