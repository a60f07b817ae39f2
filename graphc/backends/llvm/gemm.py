"""Gemm nodes (``activation(alpha * op(A) @ op(B) + beta * C)``) as one
compiled function per signature that calls CBLAS directly.

Why: at batch-1 sizes a Gemm's BLAS call takes 0.1-5 us, and the NumPy
``perform`` around it (``np.dot`` dispatch, alpha and C passes, a second call
for the activation) cost 2-4 us more.  Here the Python thunk checks types and
shapes with attribute reads, allocates the result and makes one call; the
generated code reads data pointers, dims and strides from NumPy's array
struct, checks the layout BLAS needs, calls ``?gemv`` (a vector operand or a
1-row/1-column product: OpenBLAS's ``?gemm`` at M=1 is slower) or ``?gemm``,
with C already in the result (any broadcast: stride 0 along its length-1
dims) and beta, then applies the activation in one vectorized pass.

Calling convention (the kernels', so ``runtime._Trampolines`` apply)::

    i32 @<symbol>(i64 begin, i64 end, A*, B*, [C*,] scalars*, out*)

(``begin``/``end`` unused; ``scalars``: ``[alpha, beta]`` of the dtype).
Status ``FALLBACK``: a layout BLAS cannot take without a copy (negative,
zero or unaligned strides, a non-row-major in-place result), an empty inner
dimension, or integers wider than the library's; C has not been written.
The thunk then calls again with contiguous copies of the operands, and runs
``Gemm.perform`` when that cannot help.  When ``out`` is C itself (an in-place
Gemm whose C can be overwritten, decided by the thunk as ``perform`` does),
BLAS accumulates into it; otherwise C is first copied (broadcast) into the
new result: the same BLAS call either way, so an in-place update and an
out-of-place one round alike, as ``Gemm._perform_cblas``'s do.

The compiled activations (``COMPILED_ACTIVATIONS``) compute what
``GEMM_ACTIVATIONS`` does, through the scalar ops the rewrite removed
(``relu`` is ``switch(x > 0, x, 0)``: NaN and -0.0 give +0.0; ``maximum0``
is NumPy's ``maximum(x, 0)``: NaN propagates).

The CBLAS routines are external symbols named ``graphc_cblas_<s|d><gemm|gemv>_i<bits>``
(``register_symbols``), so object code stays valid for any library of that
integer width.  Gemm functions are compiled in modules of their own
(``MODULE_GROUP``): only a process that made a ``GemmPlan`` -- and so
registered the symbols -- ever loads object code referencing them.
"""

import ctypes
import functools
import threading

import numpy as np
from llvmlite import ir

from .. import blas
from .codegen import ARRAY_DATA_OFFSET, ARRAY_DIMS_OFFSET, ARRAY_STRIDES_OFFSET, _field
from .loops import counted_loop
from .scalar import ScalarLowering
from .types import I1, I32, I64, PTR, value_type

#: status of a call whose operands BLAS cannot take as they are
FALLBACK = 1

#: multiply-adds (m * n * k) from which the call goes through ctypes, which
#: releases the GIL (~0.7 us more than a trampoline): from ~40 us of BLAS
#: work on; below, other Python threads would gain less than the call costs.
GIL_RELEASE_MIN_WORK = 1 << 20

#: activations applied in the compiled pass, exactly (``switch(x > 0, x, 0)``,
#: ``maximum(x, 0)``).  sigmoid and tanh run NumPy's in-place functions of
#: ``GEMM_ACTIVATIONS`` on the result instead: the sign of the NaN NumPy's
#: loops return differs by function and dtype (float32 sigmoid(-NaN) is +NaN,
#: float64's -NaN), and results must equal the python backend's bit for bit.
COMPILED_ACTIVATIONS = ("relu", "maximum0")

#: ``make_thunks`` loads plans of this group in their own modules (see above)
MODULE_GROUP = "cblas"

_ROW_MAJOR, _NO_TRANS, _TRANS = blas.ROW_MAJOR, blas.NO_TRANS, blas.TRANS
_LETTERS = {"float32": "s", "float64": "d"}
_registered = {}  # symbol -> address given to LLVM
_register_lock = threading.Lock()


def cblas_symbol(routine, dtype, int_bits):
    """The name generated code calls CBLAS ``routine`` of ``dtype`` by (``register_symbols``)."""
    return f"graphc_cblas_{_LETTERS[dtype]}{routine}_i{int_bits}"


def register_symbols(found):
    """Give LLVM the addresses of ``found``'s ``?gemm``/``?gemv`` under the
    names the generated code calls; False if the library lacks one."""
    import llvmlite.binding as llvm

    entries = {}
    for dtype in _LETTERS:
        for routine in ("gemm", "gemv"):
            entry = found.routine(routine, dtype)
            if entry is None:
                return False
            entries[cblas_symbol(routine, dtype, found.int_bits)] = entry[1]
    with _register_lock:
        for name, address in entries.items():
            if _registered.get(name) != address:
                llvm.add_symbol(name, address)
                _registered[name] = address
    return True


class GemmPlan:
    """A Gemm node compiled by this module: its signature text (the cache
    key), how to build its LLVM module and its thunk."""

    late = ()
    module_group = MODULE_GROUP
    #: one streaming pass after BLAS: not worth unrolling (``LLVMBackend._load``)
    unroll = False

    @classmethod
    def of(cls, node):
        """The plan for ``node``, or None (not a Gemm, or no usable CBLAS:
        the node runs ``Gemm.perform``)."""
        from ...ops.blas import Gemm

        if type(node.op) is not Gemm:
            return None
        dtype = node.outputs[0].type.dtype
        if dtype not in _LETTERS:
            return None
        found = blas.cblas()
        if found is None or not register_symbols(found):
            return None
        return cls(node, found.int_bits)

    def __init__(self, node, int_bits):
        op = node.op
        self.node = node
        self.dtype = node.outputs[0].type.dtype
        self.ranks = tuple(v.type.ndim for v in node.inputs)
        self.int_bits = int_bits
        #: the activation the compiled code applies (the others: ``make_thunk``)
        self.activation = op.activation if op.activation in COMPILED_ACTIVATIONS else None
        self.text = (f"cblas gemm {self.dtype} ranks={self.ranks} trans={op.trans_a:d}"
                     f"{op.trans_b:d} activation={self.activation} int{int_bits}")

    def build(self, symbol):
        op = self.node.op
        return build_module(symbol, self.dtype, self.ranks, op.trans_a, op.trans_b,
                            self.activation, self.int_bits)

    def make_thunk(self, address):
        return make_thunk(self.node, address, self.dtype, self.ranks)


# ------------------------------------------------------------------ thunk

def make_thunk(node, address, dtype, ranks):
    """The thunk of a compiled Gemm: checks, shape, output, one call; any
    other case (other types, C larger than the product, status FALLBACK)
    runs ``Gemm.perform``, which also raises the op's errors."""
    from ...ops.blas import GEMM_ACTIVATIONS, _writable_into
    from ...ops.elemwise import is_strict_node
    from .runtime import _TRAMPOLINES

    op = node.op
    nops = len(ranks) + 2
    cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                             *([ctypes.py_object] * nops))(address)
    fast, fast_def = _TRAMPOLINES.make(address, nops) or (None, None)
    scalars = np.array([op.alpha, op.beta], dtype=dtype)
    scalars.flags.writeable = False
    env = {"ndarray": np.ndarray, "empty": np.empty, "dt": np.dtype(dtype), "node": node,
           "perform": op.perform, "check": op.check_inputs, "writable_into": _writable_into,
           "cfunc": cfunc, "fast": fast, "scalars": scalars,
           "GIL_RELEASE_MIN_WORK": GIL_RELEASE_MIN_WORK,
           "activate": GEMM_ACTIVATIONS.get(op.activation), "retry": _retry_with_copies}
    numpy_activation = op.activation is not None and op.activation not in COMPILED_ACTIVATIONS
    source = _thunk_source(ranks, op.trans_a, op.trans_b, op.inplace, is_strict_node(node),
                           fast is not None, numpy_activation)
    exec(_compiled(source), env)
    thunk = env["thunk"]
    thunk.source_python = source
    thunk.keep = (cfunc, fast, fast_def)  # what the calls point to
    return thunk


def _retry_with_copies(call, operands, out):
    """The status of the call again with aligned C-contiguous copies of the
    operands BLAS could not take (strided, negative or zero strides,
    unaligned), so that those products round as every other one does.  An
    in-place result (``out`` is C) is computed in a contiguous copy of C and
    copied back."""
    copies = [x if x.flags.c_contiguous and x.flags.aligned else np.array(x, order="C")
              for x in operands]
    if all(x is y for x, y in zip(copies, operands)):
        return FALLBACK  # nothing a copy would change (an empty sum, a huge dim)
    target = out
    for x, y in zip(operands, copies):
        if x is out:
            target = y
    status = call(0, 0, *copies, target)
    if not status and target is not out:
        np.copyto(out, target)
    return status


@functools.lru_cache(maxsize=256)
def _compiled(source):
    """Gemms of one signature share their thunk's code object."""
    return compile(source, "<graphc llvm gemm thunk>", "exec")


def _thunk_source(ranks, trans_a, trans_b, inplace, strict, trampoline, numpy_activation):
    """Python source of ``thunk(values)`` for one signature
    (``numpy_activation``: apply ``activate`` in place to the result)."""
    ra, rb = ranks[0], ranks[1]
    rc = ranks[2] if len(ranks) > 2 else None
    # op(A)'s dims and op(B)'s, as expressions on the shapes sa, sb
    dims_a = [f"sa[{d}]" for d in range(ra)][::-1 if trans_a else 1]
    dims_b = [f"sb[{d}]" for d in range(rb)][::-1 if trans_b else 1]
    out_dims = dims_a[:-1] + dims_b[1:]
    shape = "(" + "".join(f"{d}, " for d in out_dims) + ")"
    work = " * ".join(out_dims + [dims_a[-1]])
    names = ["a", "b"] + (["c"] if rc is not None else [])
    # ``==`` after ``is``: arrays from pickle or np.load carry equal but
    # distinct dtype objects, and must take the same BLAS call (not perform)
    checks = " and ".join(f"type({x}) is ndarray and ({x}.dtype is dt or {x}.dtype == dt) "
                          f"and {x}.ndim == {r}" for x, r in zip(names, ranks))
    mismatch = [f"{dims_a[-1]} != {dims_b[0]}"]
    if rc is not None:
        if strict or rc > len(out_dims):
            # anything but C equal to the product's trailing dims: the full check
            mismatch.append(f"sc != shape[{len(out_dims) - rc}:]" if rc <= len(out_dims)
                            else "True")
        else:  # C broadcasts along its length-1 dims (right-aligned)
            for d in range(rc):
                o = len(out_dims) - rc + d
                mismatch.append(f"(sc[{d}] != {out_dims[o]} and sc[{d}] != 1)")
    lines = ["def thunk(values):",
             "    a = values[0]",
             "    b = values[1]"]
    if rc is not None:
        lines.append("    c = values[2]")
    lines += [f"    if {checks}:",
              "        sa = a.shape",
              "        sb = b.shape",
              f"        shape = {shape}"]
    if rc is not None:
        lines.append("        sc = c.shape")
    lines += [f"        if {' or '.join(mismatch)}:",
              "            if check(node, values) != shape:  # raises the op's errors",
              "                return perform(node, values)"]
    if inplace:
        lines += ["        out = c if writable_into(c, shape, a, b) else empty(shape, dt)"]
    else:
        lines += ["        out = empty(shape, dt)"]
    operands = ", ".join(names + ["scalars", "out"])
    if trampoline:
        lines += [f"        if {work} < GIL_RELEASE_MIN_WORK:",
                  f"            status = fast(0, {operands})",
                  "        else:",
                  f"            status = cfunc(0, 0, {operands})"]
    else:
        lines.append(f"        status = cfunc(0, 0, {operands})")
    lines += ["        if status:",
              f"            status = retry(cfunc, ({operands[:-len(', out')]},), out)",
              "        if not status:"]
    if numpy_activation:
        lines.append("            activate(out)")
    lines += ["            return (out,)",
              "    return perform(node, values)"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ code

class _Matrix:
    """A 2-d view (rows, cols, row stride, col stride; strides in elements)
    of an operand, as i64 values; a missing dim has length 1, stride 0."""

    __slots__ = ("data", "rows", "cols", "rs", "cs")

    def __init__(self, data, rows, cols, rs, cs):
        self.data, self.rows, self.cols, self.rs, self.cs = data, rows, cols, rs, cs

    def transposed(self):
        return _Matrix(self.data, self.cols, self.rows, self.cs, self.rs)


class _Emitter:
    """The generated function: operand reads, checks (a failing one returns
    ``FALLBACK``), BLAS calls and the C/activation pass."""

    def __init__(self, symbol, dtype, ranks, int_bits):
        self.module = ir.Module(name=symbol)
        self.module.triple = ""
        self.dtype = dtype
        self.ftype = value_type(dtype)
        self.itemsize = np.dtype(dtype).itemsize
        self.int_type = ir.IntType(int_bits)
        self.int_bits = int_bits
        nops = len(ranks) + 2
        fn = ir.Function(self.module, ir.FunctionType(I32, [I64, I64] + [PTR] * nops),
                         name=symbol)
        self.fn = fn
        self.args = fn.args[2:]
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.fallback_block = fn.append_basic_block("fallback")
        ir.IRBuilder(self.fallback_block).ret(ir.Constant(I32, FALLBACK))
        self.ok = ir.Constant(I1, 1)  # checks accumulated since the last require()

    def helper(self, name, ftype, define):
        """The module's function ``name`` (``linkonce_odr``, ``noinline``: the
        Gemm signatures linked into one module share one copy, compiled
        once), defined on first use by ``define(fn)`` with this emitter
        building ``fn``'s body (for an i32 function, ``require`` returns
        ``FALLBACK`` from it)."""
        fn = self.module.globals.get(name)
        if fn is not None:
            return fn
        fn = ir.Function(self.module, ftype, name=name)
        fn.linkage = "linkonce_odr"
        fn.attributes.add("noinline")
        caller = self.b, self.fn, self.fallback_block, self.ok
        self.fn = fn
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.fallback_block = None
        if ftype.return_type == I32:
            self.fallback_block = fn.append_basic_block("fallback")
            ir.IRBuilder(self.fallback_block).ret(ir.Constant(I32, FALLBACK))
        self.ok = ir.Constant(I1, 1)
        try:
            define(fn)
        finally:
            self.b, self.fn, self.fallback_block, self.ok = caller
        return fn

    def i64(self, v):
        return ir.Constant(I64, v)

    def check(self, cond):
        """Add ``cond`` to the pending checks (one branch for several)."""
        self.ok = self.b.and_(self.ok, cond)

    def require(self, cond=None):
        """Fall back unless ``cond`` and the pending checks hold."""
        if cond is not None:
            self.check(cond)
        good = self.fn.append_basic_block("ok")
        self.b.cbranch(self.ok, good, self.fallback_block)
        self.b.position_at_end(good)
        self.ok = ir.Constant(I1, 1)

    def array(self, arr, ndim):
        """(data pointer, dims, strides in elements) of an ndarray operand;
        checks alignment and that byte strides are whole elements."""
        b = self.b
        data = _field(b, arr, ARRAY_DATA_OFFSET, PTR)
        dims_ptr = _field(b, arr, ARRAY_DIMS_OFFSET, PTR)
        strides_ptr = _field(b, arr, ARRAY_STRIDES_OFFSET, PTR)
        misaligned = b.and_(b.ptrtoint(data, I64), self.i64(self.itemsize - 1))
        dims, strides = [], []
        for d in range(ndim):
            dims.append(b.load(b.gep(dims_ptr, [self.i64(d)], source_etype=I64), typ=I64))
            stride = b.load(b.gep(strides_ptr, [self.i64(d)], source_etype=I64), typ=I64)
            misaligned = b.or_(misaligned, b.and_(stride, self.i64(self.itemsize - 1)))
            strides.append(b.sdiv(stride, self.i64(self.itemsize)))
        self.check(b.icmp_signed("==", misaligned, self.i64(0)))
        return data, dims, strides

    def operand(self, arr, ndim, vector_is_row):
        """The 2-d view of a 1-d/2-d operand (a vector as a 1-row matrix
        when ``vector_is_row``, else a 1-column one)."""
        data, dims, strides = self.array(arr, ndim)
        one, zero = self.i64(1), self.i64(0)
        if ndim == 2:
            return _Matrix(data, dims[0], dims[1], strides[0], strides[1])
        if vector_is_row:
            return _Matrix(data, one, dims[0], zero, strides[0])
        return _Matrix(data, dims[0], one, strides[0], zero)

    def select(self, cond, a, b_):
        return self.b.select(cond, a, b_)

    def eq(self, a, v):
        return self.b.icmp_signed("==", a, v if isinstance(v, ir.Value) else self.i64(v))

    def layout(self, m):
        """``(transposed, ld)`` describing matrix ``m`` to row-major BLAS
        (``blas.matrix_layout``'s rule: dims of length 1 take any stride);
        requires one of the two to fit."""
        b = self.b
        one = self.i64(1)
        wide = self.select(b.icmp_signed(">", m.cols, one), m.cols, one)
        tall = self.select(b.icmp_signed(">", m.rows, one), m.rows, one)
        ld_rows = self.select(self.eq(m.rows, 1), wide, m.rs)
        ld_cols = self.select(self.eq(m.cols, 1), tall, m.cs)
        row_major = b.and_(b.or_(self.eq(m.cs, 1), self.eq(m.cols, 1)),
                           b.icmp_signed(">=", ld_rows, wide))
        col_major = b.and_(b.or_(self.eq(m.rs, 1), self.eq(m.rows, 1)),
                           b.icmp_signed(">=", ld_cols, tall))
        self.check(b.or_(row_major, col_major))
        transposed = b.not_(row_major)
        return transposed, self.select(row_major, ld_rows, ld_cols)

    def increment(self, length, stride):
        """A vector's BLAS increment: its stride, which must be positive
        (any, for a single element)."""
        inc = self.select(self.eq(length, 1), self.i64(1), stride)
        self.check(self.b.icmp_signed(">", inc, self.i64(0)))
        return inc

    def blas_int(self, v):
        """``v`` as the library's integer; checks it fits."""
        if self.int_bits == 64:
            return v
        self.check(self.b.icmp_signed("<=", v, self.i64(2**31 - 1)))
        return self.b.trunc(v, self.int_type)

    def trans_flag(self, transposed, flip=False):
        return self.select(transposed, ir.Constant(I32, _NO_TRANS if flip else _TRANS),
                           ir.Constant(I32, _TRANS if flip else _NO_TRANS))

    def declare(self, routine):
        t, n = self.ftype, self.int_type
        if routine == "gemm":
            args = [I32, I32, I32, n, n, n, t, PTR, n, PTR, n, t, PTR, n]
        else:
            args = [I32, I32, n, n, t, PTR, n, PTR, n, t, PTR, n]
        name = cblas_symbol(routine, self.dtype, self.int_bits)
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), args), name=name)
        return fn


def build_module(symbol, dtype, ranks, trans_a, trans_b, activation, int_bits):
    """The LLVM module of one Gemm signature (see the module docstring)."""
    e = _Emitter(symbol, dtype, ranks, int_bits)
    b = e.b
    has_c = len(ranks) > 2
    arg_a, arg_b = e.args[0], e.args[1]
    arg_c = e.args[2] if has_c else None
    arg_scalars, arg_out = e.args[-2], e.args[-1]
    op_a = e.operand(arg_a, ranks[0], vector_is_row=True)
    op_b = e.operand(arg_b, ranks[1], vector_is_row=False)
    if trans_a:
        op_a = op_a.transposed()
    if trans_b:
        op_b = op_b.transposed()
    out_rank = (ranks[0] - 1) + (ranks[1] - 1)
    out = e.operand(arg_out, out_rank, vector_is_row=ranks[0] == 1)
    m, k, n = op_a.rows, op_a.cols, op_b.cols
    ft = e.ftype
    scalars = _field(b, arg_scalars, ARRAY_DATA_OFFSET, PTR)
    alpha = b.load(scalars, typ=ft)
    beta = b.load(b.gep(scalars, [e.i64(1)], source_etype=ft), typ=ft)

    c_view = None
    if has_c:
        c_view = _broadcast_c(e, arg_c, ranks[2], out_rank, ranks[0] == 1, out)
        in_place = b.icmp_unsigned("==", b.ptrtoint(arg_c, I64), b.ptrtoint(arg_out, I64))
    else:
        in_place = ir.Constant(I1, 0)
    pass_out, pass_c, passes_ok = _pass_views(e, out, n, c_view)
    if has_c or activation is not None:
        e.check(passes_ok)
    e.require()  # alignment and whole-element strides of every operand

    done = e.fn.append_basic_block("done")
    empty = b.or_(e.eq(m, 0), e.eq(n, 0))
    nonempty = e.fn.append_basic_block("nonempty")
    b.cbranch(empty, done, nonempty)
    b.position_at_end(nonempty)
    # an empty sum: perform fills zeros (BLAS may reject the empty leading dims)
    e.require(b.icmp_signed(">", k, e.i64(0)))
    if has_c:  # C into the new result (broadcast); BLAS accumulates with beta
        copy, copied = e.fn.append_basic_block("copy_c"), e.fn.append_basic_block("c_ready")
        b.cbranch(in_place, copied, copy)
        b.position_at_end(copy)
        _call_pass(e, pass_out, m, n, pass_c, None)
        b.branch(copied)
        b.position_at_end(copied)
    blas_beta = beta if has_c else ir.Constant(ft, 0.0)
    _call_blas(e, op_a, op_b, out, alpha, blas_beta)
    if activation is not None:
        _call_pass(e, pass_out, m, n, None, activation)
    b.branch(done)
    b.position_at_end(done)
    b.ret(ir.Constant(I32, 0))
    return e.module


def _broadcast_c(e, arg_c, rank, out_rank, vector_is_row, out):
    """C's 2-d view over the result's: right-aligned, stride 0 along its
    length-1 and missing dims (the thunk has checked it broadcasts)."""
    b = e.b
    data, dims, strides = e.array(arg_c, rank)
    zero = e.i64(0)
    # strides along the result's dims (C right-aligned to them)
    along = [zero] * (out_rank - rank) + [b.select(e.eq(d, 1), zero, s)
                                           for d, s in zip(dims, strides)]
    if out_rank == 2:
        rs, cs = along
    elif vector_is_row:  # 1-d result: a row
        rs, cs = zero, along[0]
    else:
        rs, cs = along[0], zero
    return _Matrix(data, out.rows, out.cols, rs, cs)


def _call_blas(e, op_a, op_b, out, alpha, beta):
    """``out = alpha * A @ B + beta * out`` through the module's BLAS helper
    (``_Emitter.helper``, one per dtype) taking the three 2-d views: its
    layout checks and GEMV/GEMM dispatch (``_emit_blas``) are compiled once
    per module; a ``FALLBACK`` status it returns is the caller's."""
    def define(fn):
        args = fn.args
        _emit_blas(e, _Matrix(*args[0:5]), _Matrix(*args[5:10]), _Matrix(*args[10:15]),
                   args[15], args[16])
        e.b.ret(ir.Constant(I32, 0))

    view = [PTR] + [I64] * 4
    fn = e.helper(f"graphc.gemm.blas.{np.dtype(e.dtype).char}",
                  ir.FunctionType(I32, view * 3 + [e.ftype, e.ftype]), define)
    views = [getattr(x, f) for x in (op_a, op_b, out) for f in _Matrix.__slots__]
    status = e.b.call(fn, views + [alpha, beta])
    e.require(e.b.icmp_signed("==", status, ir.Constant(I32, 0)))


def _emit_blas(e, op_a, op_b, out, alpha, beta):
    """The BLAS call for ``out = alpha * op_a @ op_b + beta * out``: GEMV for
    one row (m == 1) or one column (n == 1), GEMM otherwise; ends after it."""
    b = e.b
    m, n = op_a.rows, op_b.cols
    row_block, not_row = e.fn.append_basic_block("gemv_row"), e.fn.append_basic_block("not_row")
    col_block, gemm_block = e.fn.append_basic_block("gemv_col"), e.fn.append_basic_block("gemm")
    after = e.fn.append_basic_block("after_blas")
    b.cbranch(e.eq(m, 1), row_block, not_row)
    b.position_at_end(not_row)
    b.cbranch(e.eq(n, 1), col_block, gemm_block)

    # out row = op(A) row . op(B): y = op(B)^T x
    b.position_at_end(row_block)
    _emit_gemv(e, op_b, True, op_a.data, op_a.cs, out.data, out.cs, alpha, beta)
    b.branch(after)
    # out column = op(A) . op(B) column: y = op(A) x
    b.position_at_end(col_block)
    _emit_gemv(e, op_a, False, op_b.data, op_b.rs, out.data, out.rs, alpha, beta)
    b.branch(after)
    # GEMM into a row-major result
    b.position_at_end(gemm_block)
    trans_ab = [e.layout(x) for x in (op_a, op_b)]
    e.check(b.and_(e.eq(out.cs, 1), b.icmp_signed(">=", out.rs, n)))
    ints = [e.blas_int(v) for v in (m, n, op_a.cols, trans_ab[0][1], trans_ab[1][1], out.rs)]
    e.require()
    b.call(e.declare("gemm"), [ir.Constant(I32, _ROW_MAJOR), e.trans_flag(trans_ab[0][0]),
                               e.trans_flag(trans_ab[1][0]), ints[0], ints[1], ints[2], alpha,
                               op_a.data, ints[3], op_b.data, ints[4], beta, out.data,
                               ints[5]])
    b.branch(after)
    b.position_at_end(after)


def _emit_gemv(e, matrix, flip, x, x_stride, y, y_stride, alpha, beta):
    """``y = alpha * M @ x + beta * y`` for the ``_Matrix`` M (``flip``:
    ``M.T @ x``) as one CBLAS ``?gemv`` call, after the layout checks."""
    b = e.b
    x_length, y_length = (matrix.rows, matrix.cols) if flip else (matrix.cols, matrix.rows)
    transposed, ld = e.layout(matrix)
    incx, incy = e.increment(x_length, x_stride), e.increment(y_length, y_stride)
    rows = b.select(transposed, matrix.cols, matrix.rows)
    cols = b.select(transposed, matrix.rows, matrix.cols)
    rows, cols, ld, incx, incy = [e.blas_int(v) for v in (rows, cols, ld, incx, incy)]
    e.require()
    b.call(e.declare("gemv"), [ir.Constant(I32, _ROW_MAJOR), e.trans_flag(transposed, flip=flip),
                               rows, cols, alpha, matrix.data, ld, x, incx, beta, y, incy])


def _call_pass(e, out, m, n, c_view, activation):
    """A call of the module's pass helper (``_Emitter.helper``, one per dtype
    and kind: its vectorized loops compile once per build, not once per
    Gemm: ~85 ms per W3 Gemm signature with a bias and a relu) for C's copy
    or the activation, on the views ``_pass_views`` gave."""
    def define(fn):
        for arg in (fn.args[0], fn.args[5]):  # the copy never runs in place
            arg.add_attribute("noalias")
        p_out, p_m, p_n, p_ors, p_ocs, p_c, p_crs, p_ccs = fn.args
        _emit_pass(e, _Matrix(p_out, p_m, p_n, p_ors, p_ocs), p_m, p_n,
                   _Matrix(p_c, p_m, p_n, p_crs, p_ccs) if c_view is not None else None,
                   activation)
        e.b.ret_void()

    kind = "copy" if c_view is not None else activation
    fn = e.helper(f"graphc.gemm.pass.{kind}.{np.dtype(e.dtype).char}",
                  ir.FunctionType(ir.VoidType(), [PTR] + [I64] * 4 + [PTR] + [I64] * 2), define)
    zero = e.i64(0)
    c_args = [c_view.data, c_view.rs, c_view.cs] if c_view is not None else \
        [ir.Constant(PTR, None), zero, zero]
    e.b.call(fn, [out.data, m, n, out.rs, out.cs] + c_args)


def _pass_views(e, out, n, c_view):
    """The result's and C's views as the passes take them, and whether the
    passes can: unit column strides (C's may be 0: broadcast along rows),
    where a single column (a vector result) counts as unit stride.  Checked
    before anything is written; otherwise the call falls back (the thunk
    retries with contiguous copies)."""
    b = e.b
    single = e.eq(n, 1)
    out = _Matrix(out.data, out.rows, out.cols, out.rs, b.select(single, e.i64(1), out.cs))
    ok = e.eq(out.cs, 1)
    if c_view is not None:
        c_view = _Matrix(c_view.data, c_view.rows, c_view.cols, c_view.rs,
                         b.select(single, e.i64(1), c_view.cs))
        ok = b.and_(ok, b.or_(e.eq(c_view.cs, 1), e.eq(c_view.cs, 0)))
    return out, c_view, ok


def _emit_pass(e, out, m, n, c_view, activation):
    """One pass over the result: ``out = C`` (broadcast) when ``c_view`` is
    given, else ``out = activation(out)``, for the strides
    ``_pass_views`` admits: the inner loop is emitted with constant
    strides (C contiguous, or broadcast along the row), which LLVM
    vectorizes."""
    b = e.b
    fn = e.fn
    one, zero = e.i64(1), e.i64(0)
    if c_view is None:
        _emit_loops(e, out, m, n, None, activation, one, None)
        return
    contiguous, broadcast = fn.append_basic_block("c_row"), fn.append_basic_block("c_bcast")
    end = fn.append_basic_block("pass_end")
    b.cbranch(e.eq(c_view.cs, 1), contiguous, broadcast)
    for block, ccs in ((contiguous, one), (broadcast, zero)):
        b.position_at_end(block)
        _emit_loops(e, out, m, n, c_view, None, one, ccs)
        b.branch(end)
    b.position_at_end(end)


def _emit_loops(e, out, m, n, c_view, activation, ocs, ccs):
    """The pass's row and column loops, with column strides ``ocs``/``ccs``."""
    b = e.b
    ft = e.ftype

    def row(i):
        o_row = b.gep(out.data, [b.mul(i, out.rs)], source_etype=ft)
        c_row = b.gep(c_view.data, [b.mul(i, c_view.rs)], source_etype=ft) \
            if c_view is not None else None

        def column(j):
            o_ptr = b.gep(o_row, [b.mul(j, ocs)], source_etype=ft)
            if c_view is not None:
                v = b.load(b.gep(c_row, [b.mul(j, ccs)], source_etype=ft), typ=ft)
            else:
                v = b.load(o_ptr, typ=ft)
            if activation is not None:
                v = _activate(e, v, activation)
            b.store(v, o_ptr)

        counted_loop(b, e.i64(0), n, column)

    counted_loop(b, e.i64(0), m, row)


def _activate(e, v, activation):
    """``activation(v)`` (one of ``COMPILED_ACTIVATIONS``) with the scalar
    ops of the graph it replaced (an elementwise kernel's lowering)."""
    from ...ops import scalar as scal

    lower = ScalarLowering(e.module, e.b)
    dt = e.dtype
    zero = ir.Constant(e.ftype, 0.0)
    if activation == "relu":
        positive = lower.lower(scal.gt, [v, zero], [dt, dt], "bool")
        return lower.lower(scal.switch, [positive, v, zero], ["bool", dt, dt], dt)
    if activation == "maximum0":
        return lower.lower(scal.maximum, [v, zero], [dt, dt], dt)
    raise ValueError(f"no compiled Gemm activation {activation!r}")
