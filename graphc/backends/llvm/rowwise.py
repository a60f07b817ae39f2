"""Compiled row-wise softmax cross-entropy with integer labels
(``CrossentropySoftmax1Hot``) and its gradient (``CrossentropySoftmax1HotDx``).

These ops do not fit the kernel IR (a max reduction feeding an exp-sum
reduction feeding an elementwise epilogue, plus a gather at the labels), and
their NumPy ``perform`` costs ~15 NumPy calls, each a few microseconds on
small matrices (W3's 256x10 logits: ~80 us per op in the step).  Here each
op is one generated function doing one pass per row, with the same
arithmetic in the same order as the NumPy ``perform`` (shift by the row max,
exp, sum, divide; ``-((x[l] - max) - log(sum))``; ``sm * dy - dy`` at the
label), so results differ from the python backend only by the rounding of
the inline exp/log and the order of the row sum.

Calling convention (the kernels' own, so the call trampolines of
``runtime.py`` apply)::

    i32 @<symbol>(i64 begin, i64 end, PyArrayObject* operand, ...)

over rows ``[begin, end)``; the operands' data pointers, shapes and strides
are read from NumPy's array struct.  Status 1: some label lies outside
``[-k, k)``; the thunk then runs the NumPy ``perform``, which raises the
op's own IndexError naming it.  Rows must be of unit column stride (the
thunks copy other operands first; status 2 otherwise).  Calls the compiled path does not cover
(labels broadcast against the rows, an empty class axis, other dtypes) run
``perform`` too.
"""

import ctypes

import numpy as np
from llvmlite import ir

from . import types as lt
from . import vecmath
from .codegen import (ARRAY_DATA_OFFSET, ARRAY_DIMS_OFFSET, ARRAY_STRIDES_OFFSET, _field)
from .loops import counted_loop
from .types import I32, I64, I8, PTR

#: status of a call that met a label outside [-k, k)
BAD_LABEL_STATUS = 1
#: status of a call whose rows are not of unit column stride
STRIDED_STATUS = 2


def plan(node):
    """``RowwisePlan`` for a node of an op this module compiles, else None."""
    from ...ops.nnet import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx

    op = node.op
    if type(op) is CrossentropySoftmax1Hot:
        x, labels = node.inputs
        dtype, builder = x.dtype, _build_forward
    elif type(op) is CrossentropySoftmax1HotDx:
        dy, sm, labels = node.inputs
        if dy.dtype != sm.dtype:
            return None
        dtype, builder = sm.dtype, _build_gradient
    else:
        return None
    if dtype not in vecmath.DTYPES:
        return None
    return RowwisePlan(node, builder, dtype, labels.dtype)


class RowwisePlan:
    """A node compiled by this module: the text identifying its code, how to
    build its LLVM module and how to make its thunk from the entry address."""

    late = ()
    #: rows of a few classes: unrolling costs compile time (CE forward 124 ->
    #: 80 ms), not speed (see ``LLVMBackend._load``)
    unroll = False

    def __init__(self, node, builder, dtype, label_dtype):
        self.node = node
        self.builder = builder
        self.dtype = np.dtype(dtype)
        self.label_dtype = np.dtype(label_dtype)
        self.text = f"rowwise {builder.__name__} {self.dtype.name} labels={self.label_dtype.name}"

    def build(self, symbol):
        return self.builder(symbol, self.dtype.name, self.label_dtype.name)

    def make_thunk(self, address):
        from .runtime import _TRAMPOLINES

        made = _TRAMPOLINES.make(address, 4)
        if made is None:  # no trampolines on this host: ctypes (the GIL is released)
            call = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                                    *([ctypes.py_object] * 4))(address)
            fn = lambda n, *arrays: call(0, n, *arrays)  # noqa: E731
            keep = call
        else:
            fn, keep = made
        make = _forward_thunk if self.builder is _build_forward else _gradient_thunk
        thunk = make(self.node, fn, self.dtype, self.label_dtype)
        thunk.keep = keep  # the method definition / ctypes function the call uses
        return thunk


def _forward_thunk(node, fn, dtype, label_dtype):
    perform = node.op.perform
    ndarray, empty, contiguous = np.ndarray, np.empty, np.ascontiguousarray
    itemsize = np.dtype(dtype).itemsize

    def thunk(inputs):
        x, labels = inputs
        if (type(x) is ndarray and type(labels) is ndarray and x.dtype == dtype
                and labels.dtype == label_dtype and x.ndim == 2 and labels.ndim == 1):
            n, k = x.shape
            if labels.shape[0] == n and k:
                if x.strides[1] != itemsize:
                    x = contiguous(x)
                loss, sm = empty(n, dtype), empty((n, k), dtype)
                if fn(n, x, labels, loss, sm) == 0:
                    return loss, sm
        return perform(node, inputs)

    return thunk


def _gradient_thunk(node, fn, dtype, label_dtype):
    perform = node.op.perform
    ndarray, empty, contiguous = np.ndarray, np.empty, np.ascontiguousarray
    itemsize = np.dtype(dtype).itemsize

    def thunk(inputs):
        dy, sm, labels = inputs
        if (type(dy) is ndarray and type(sm) is ndarray and type(labels) is ndarray
                and dy.dtype == dtype and sm.dtype == dtype and labels.dtype == label_dtype
                and sm.ndim == 2 and dy.ndim == 1 and labels.ndim == 1):
            n, k = sm.shape
            if labels.shape[0] == n and dy.shape[0] in (1, n) and k:
                if sm.strides[1] != itemsize:
                    sm = contiguous(sm)
                dx = empty((n, k), dtype)
                if fn(n, dy, sm, labels, dx) == 0:
                    return (dx,)
        return perform(node, inputs)

    return thunk


# ------------------------------------------------------------------ code

class _Emitter:
    """Loops and array access for one generated function."""

    def __init__(self, symbol, names, dtype, label_dtype):
        self.module = ir.Module(name=symbol)
        self.module.triple = ""
        fn = ir.Function(self.module, ir.FunctionType(I32, [I64, I64] + [PTR] * len(names)),
                         name=symbol)
        self.fn = fn
        self.begin, self.end, *arrays = fn.args
        self.arrays = dict(zip(names, arrays))
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.dtype, self.label_dtype = dtype, label_dtype
        self.t = lt.value_type(dtype)
        self.t_size = lt.itemsize(dtype)

    def data(self, name):
        return _field(self.b, self.arrays[name], ARRAY_DATA_OFFSET, PTR)

    def dim(self, name, axis):
        dims = _field(self.b, self.arrays[name], ARRAY_DIMS_OFFSET, PTR)
        return self.b.load(self.b.gep(dims, [ir.Constant(I64, axis)], source_etype=I64), typ=I64)

    def stride(self, name, axis):
        strides = _field(self.b, self.arrays[name], ARRAY_STRIDES_OFFSET, PTR)
        return self.b.load(self.b.gep(strides, [ir.Constant(I64, axis)], source_etype=I64),
                           typ=I64)

    def at(self, base, offset):
        """Pointer ``offset`` bytes past ``base``."""
        return self.b.gep(base, [offset], source_etype=I8)

    def elem(self, base, index):
        """Pointer to element ``index`` of a contiguous array of ``dtype``."""
        return self.b.gep(base, [index], source_etype=self.t)

    def load(self, ptr):
        return self.b.load(ptr, typ=self.t)

    def loop(self, start, stop, body, carried=()):
        """``for i in range(start, stop)`` (``loops.counted_loop``)."""
        return counted_loop(self.b, start, stop, body, carried)

    def label(self, labels, label_stride, i, k):
        """Row ``i``'s label as an index in ``[0, k)``, returning
        ``BAD_LABEL_STATUS`` from the function when it is out of range."""
        b = self.b
        raw = b.load(self.at(labels, b.mul(i, label_stride)),
                     typ=lt.value_type(self.label_dtype))
        signed = np.dtype(self.label_dtype).kind == "i"
        wide = raw if raw.type == I64 else (b.sext(raw, I64) if signed else b.zext(raw, I64))
        if signed:  # negative labels count from the end, as NumPy indexing does
            wide = b.select(b.icmp_signed("<", wide, ir.Constant(I64, 0)), b.add(wide, k), wide)
        bad = b.icmp_unsigned(">=", wide, k)  # still negative: huge as unsigned
        ok_block = b.append_basic_block("label.ok")
        bad_block = b.append_basic_block("label.bad")
        b.cbranch(bad, bad_block, ok_block)
        b.position_at_end(bad_block)
        b.ret(ir.Constant(I32, BAD_LABEL_STATUS))
        b.position_at_end(ok_block)
        return wide

    def rows(self, col_stride, row):
        """Run ``row(i, column_pointer)`` over rows ``[begin, end)``, where
        ``column_pointer(base, j)`` addresses column j of a row starting at
        ``base``, for rows of unit column stride (``col_stride`` bytes equal
        to the itemsize: the row's loops vectorize); other strides return
        ``STRIDED_STATUS`` (the thunks copy such operands first: a second,
        strided copy of the row code doubled the compile time)."""
        b = self.b
        unit = b.icmp_signed("==", col_stride, ir.Constant(I64, self.t_size))
        with b.if_then(b.not_(unit)):
            b.ret(ir.Constant(I32, STRIDED_STATUS))
        self.loop(self.begin, self.end, lambda i: row(i, self.elem))

    def finish(self):
        self.b.ret(ir.Constant(I32, 0))
        vecmath.finish_module(self.module)
        return self.module


def _build_forward(symbol, dtype, label_dtype):
    """Per row i: ``m = max(x[i])`` (NaN if any is), ``e = exp(x[i] - m)``,
    ``sm[i] = e / sum(e)``, ``loss[i] = -((x[i, l] - m) - log(sum(e)))``."""
    e = _Emitter(symbol, ["x", "labels", "loss", "sm"], dtype, label_dtype)
    b = e.b
    k = e.dim("x", 1)
    x, row_stride, col_stride = e.data("x"), e.stride("x", 0), e.stride("x", 1)
    labels, label_stride = e.data("labels"), e.stride("labels", 0)
    loss, sm = e.data("loss"), e.data("sm")

    def row(i, column):
        label = e.label(labels, label_stride, i, k)
        x_row = e.at(x, b.mul(i, row_stride))
        sm_row = e.elem(sm, b.mul(i, k))

        def x_at(j):
            return e.load(column(x_row, j))

        def running_max(j, m):
            v = x_at(j)
            take = b.or_(b.fcmp_ordered(">", v, m), b.fcmp_unordered("uno", v, v))
            return (b.select(take, v, m),)

        (m,) = e.loop(ir.Constant(I64, 1), k, running_max, [x_at(ir.Constant(I64, 0))])

        def exp_sum(j, total):
            ex = vecmath.emit_unary(b, "exp", b.fsub(x_at(j), m), dtype)
            b.store(ex, e.elem(sm_row, j))
            # reassociated: a vectorized sum (NumPy's is pairwise: rounding differs only)
            return (b.fadd(total, ex, flags=("reassoc",)),)

        (total,) = e.loop(ir.Constant(I64, 0), k, exp_sum, [ir.Constant(e.t, 0.0)])

        def normalize(j):
            ptr = e.elem(sm_row, j)
            b.store(b.fdiv(e.load(ptr), total), ptr)

        e.loop(ir.Constant(I64, 0), k, normalize)
        picked = b.fsub(x_at(label), m)
        b.store(b.fneg(b.fsub(picked, vecmath.emit_unary(b, "log", total, dtype))),
                e.elem(loss, i))

    e.rows(col_stride, row)
    return e.finish()


def _build_gradient(symbol, dtype, label_dtype):
    """Per row i: ``dx[i] = sm[i] * dy[i]``, then ``dx[i, l] -= dy[i]``
    (dy of length 1 applies to every row)."""
    e = _Emitter(symbol, ["dy", "sm", "labels", "dx"], dtype, label_dtype)
    b = e.b
    k = e.dim("sm", 1)
    sm, row_stride, col_stride = e.data("sm"), e.stride("sm", 0), e.stride("sm", 1)
    labels, label_stride = e.data("labels"), e.stride("labels", 0)
    dy = e.data("dy")
    one = b.icmp_signed("==", e.dim("dy", 0), ir.Constant(I64, 1))
    dy_stride = b.select(one, ir.Constant(I64, 0), e.stride("dy", 0))
    dx = e.data("dx")

    def row(i, column):
        label = e.label(labels, label_stride, i, k)
        d = e.load(e.at(dy, b.mul(i, dy_stride)))
        sm_row = e.at(sm, b.mul(i, row_stride))
        dx_row = e.elem(dx, b.mul(i, k))

        def scale(j):
            v = e.load(column(sm_row, j))
            b.store(b.fmul(v, d), e.elem(dx_row, j))

        e.loop(ir.Constant(I64, 0), k, scale)
        ptr = e.elem(dx_row, label)
        b.store(b.fsub(e.load(ptr), d), ptr)

    e.rows(col_stride, row)
    return e.finish()
