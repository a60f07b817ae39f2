"""Kernel IR -> LLVM IR: one entry point per Kernel.

Calling convention (what ``runtime.py`` calls through ctypes)::

    i32 @<symbol>(i64 begin, i64 end, PyArrayObject* in_0, ..., PyArrayObject* out_0, ...)

It computes the elements ``[begin, end)`` of the loop nest in C order (so two
threads can split one call), reading each array's data pointer, shape and
strides straight from NumPy's array struct: the Python side does no per-array
pointer or stride marshalling.  Inputs of lower rank than the loop (and
arrays padded with leading length-1 axes) are aligned to the right; a length-1
dimension reads with stride 0 (NumPy broadcasting).  Reduction outputs have
stride 0 along the reduced axes and must be pre-filled with the identity.
The result is 0 or a status code of ``scalar.STATUS_MESSAGES``.

Loop structure:

* *flat path* -- every input contiguous with the loop's shape or statically a
  scalar, outputs contiguous (or fully reduced): one 1-d loop over the flat
  range with unit-stride typed accesses, which LLVM vectorizes;
* *nd path* -- an outer walk over rows (multi-index decomposed once from
  ``begin``, then carried), and per row an inner loop: the unit-stride
  version when every innermost stride is the element size (or statically 0),
  else a byte-strided version.

Row loops live in internal ``alwaysinline`` functions whose pointer arguments
are ``noalias`` (except an in-place output and the input it overwrites), so
the vectorizer needs no runtime alias checks.  A reduction along the innermost axis accumulates in a
register (float sums/products with ``reassoc``: vectorized, result differs
from NumPy's pairwise order by rounding only).
"""

from llvmlite import ir

from ...kernel.ir import KApply, KConst, KInput
from . import types as lt
from .scalar import ScalarLowering, combine
from .types import I1, I8, I32, I64, PTR

#: byte offsets of the fields of NumPy's ``PyArrayObject_fields`` the kernels
#: read (checked against a live array by ``runtime.check_array_layout``)
ARRAY_DATA_OFFSET = 16
ARRAY_NDIM_OFFSET = 24
ARRAY_DIMS_OFFSET = 32
ARRAY_STRIDES_OFFSET = 40


class Operand:
    """Static facts about one array of a kernel call."""

    def __init__(self, dtype, ndim, broadcastable, is_output, reduce_axes=None):
        self.dtype = dtype
        self.ndim = ndim
        self.broadcastable = broadcastable
        self.is_output = is_output
        self.reduce_axes = reduce_axes  # outputs of a reduction: loop axes reduced
        self.itemsize = lt.itemsize(dtype)


def operands(kernel):
    ops = [Operand(i.dtype, i.ndim, i.broadcastable, False) for i in kernel.inputs]
    axes = kernel.reduce.axes if kernel.reduce is not None else None
    ops += [Operand(d, kernel.out_ndim, (False,) * kernel.out_ndim, True, axes)
            for d in kernel.output_dtypes]
    return ops


def _is_scalar_everywhere(kernel, op):
    """Reads (or, for an output, accumulates into) one element for the whole loop."""
    if op.is_output:
        return op.reduce_axes is not None and len(op.reduce_axes) == kernel.ndim
    return all(op.broadcastable)


def _is_scalar_inner(kernel, op):
    """Stride 0 along the innermost loop axis, statically."""
    if op.is_output:
        return op.reduce_axes is not None and (kernel.ndim == 0 or
                                               (kernel.ndim - 1) in op.reduce_axes)
    return op.ndim == 0 or op.broadcastable[-1]


def build_module(kernel, symbol, aliased=()):
    """An LLVM module defining ``symbol`` (see the module docstring);
    operands listed in ``aliased`` may share memory (in-place outputs)."""
    module = ir.Module(name=symbol)
    module.triple = ""
    ops = operands(kernel)
    inner_flags = tuple(_is_scalar_inner(kernel, o) for o in ops)
    flat_flags = tuple(_is_scalar_everywhere(kernel, o) for o in ops)
    partial_reduce = kernel.reduce is not None and len(kernel.reduce.axes) < kernel.ndim
    rows = {}

    def row(flags, fast):
        key = (flags, fast)
        if key not in rows:
            rows[key] = _emit_row(module, f"{symbol}.row{len(rows)}", kernel, ops, flags, fast,
                                  aliased)
        return rows[key]

    _emit_entry(module, symbol, kernel, ops,
                flat_row=None if partial_reduce else row(flat_flags, True),
                fast_row=row(inner_flags, True), strided_row=row(inner_flags, False),
                inner_flags=inner_flags, flat_flags=flat_flags)
    return module


# ------------------------------------------------------------------ rows

def _emit_row(module, name, kernel, ops, scalar_flags, fast, aliased):
    """``void row(i64 n, i32* status, (ptr p_k, i64 s_k)*)``: n elements;
    operand k at ``p_k + j*s_k`` (``fast``: s_k is the element size, or 0 for
    operands flagged scalar)."""
    params = [I64, PTR]
    for _ in ops:
        params += [PTR, I64]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    fn.linkage = "internal"
    if fast:
        fn.attributes.add("alwaysinline")
    else:
        # the general-stride fallback: kept out of line and unvectorized,
        # which cuts compile time by ~25% (the gathers LLVM would vectorize
        # it into gain little on strided data)
        fn.attributes.add("noinline")
        fn.attributes.add("minsize")
        fn.attributes.add("optsize")
    fn.attributes.add("nounwind")
    n, status = fn.args[0], fn.args[1]
    ptrs = fn.args[2::2]
    strides = fn.args[3::2]
    for k, p in enumerate(ptrs):
        if k not in aliased:
            p.add_attribute("noalias")
    nin = len(kernel.inputs)
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    exit_ = fn.append_basic_block("exit")
    b = ir.IRBuilder(entry)
    ctx = ScalarLowering(module, b, status)

    def address(k, j):
        op = ops[k]
        if fast:
            return b.gep(ptrs[k], [j], inbounds=True, source_etype=lt.memory_type(op.dtype))
        return b.gep(ptrs[k], [b.mul(j, strides[k])], inbounds=True, source_etype=I8)

    # loop invariants: scalar inputs, and the accumulators of inner reductions
    hoisted = {k: lt.load(b, ptrs[k], ops[k].dtype) for k in range(nin) if scalar_flags[k]}
    outputs = list(range(nin, len(ops)))
    # float16 accumulates in float32 (NumPy's half reduction loops do too)
    acc_dtype = {o: "float32" if ops[o].dtype == "float16" else ops[o].dtype for o in outputs}
    acc_init = {o: ctx.cast(lt.load(b, ptrs[o], ops[o].dtype), ops[o].dtype, acc_dtype[o])
                for o in outputs if scalar_flags[o]}
    b.cbranch(b.icmp_signed(">", n, ir.Constant(I64, 0)), loop, exit_)

    b.position_at_end(loop)
    j = b.phi(I64, name="j")
    acc = {o: b.phi(lt.value_type(acc_dtype[o])) for o in acc_init}
    values = dict(hoisted)
    for k in range(nin):
        if k not in values:
            values[k] = lt.load(b, address(k, j), ops[k].dtype)
    results = _emit_expressions(ctx, kernel, values)
    acc_next = {}
    red = kernel.reduce
    for o, value in zip(outputs, results):
        dtype = ops[o].dtype
        if o in acc:
            acc_next[o] = combine(ctx, red.kind, acc[o], ctx.cast(value, dtype, acc_dtype[o]),
                                  acc_dtype[o], reassoc=True)
        elif red is not None:
            addr = address(o, j)
            lt.store(b, combine(ctx, red.kind, lt.load(b, addr, dtype), value, dtype, False),
                     addr, dtype)
        else:
            lt.store(b, value, address(o, j), dtype)
    j_next = b.add(j, ir.Constant(I64, 1))
    latch = b.block
    b.cbranch(b.icmp_signed("<", j_next, n), loop, exit_)
    j.add_incoming(ir.Constant(I64, 0), entry)
    j.add_incoming(j_next, latch)
    for o, phi in acc.items():
        phi.add_incoming(acc_init[o], entry)
        phi.add_incoming(acc_next[o], latch)

    b.position_at_end(exit_)
    for o in acc:
        final = b.phi(acc[o].type)
        final.add_incoming(acc_init[o], entry)
        final.add_incoming(acc_next[o], latch)
        lt.store(b, ctx.cast(final, acc_dtype[o], ops[o].dtype), ptrs[o], ops[o].dtype)
    b.ret_void()
    return fn


def _emit_expressions(ctx, kernel, input_values):
    """Register values of the kernel's outputs, given its inputs' values."""
    vals = {}
    for node in kernel.nodes:
        if isinstance(node, KInput):
            vals[node] = input_values[node.index]
        elif isinstance(node, KConst):
            vals[node] = lt.constant(node.value, node.dtype)
        else:
            assert isinstance(node, KApply)
            vals[node] = ctx.lower(node.op, [vals[a] for a in node.args],
                                   [a.dtype for a in node.args], node.dtype)
    return [vals[o] for o in kernel.outputs]


# ------------------------------------------------------------------ entry

def _field(b, arr, offset, typ):
    addr = b.gep(arr, [ir.Constant(I64, offset)], source_etype=I8)
    return b.load(addr, typ=typ)


def _emit_entry(module, symbol, kernel, ops, flat_row, fast_row, strided_row, inner_flags,
                flat_flags):
    fn = ir.Function(module, ir.FunctionType(I32, [I64, I64] + [PTR] * len(ops)), name=symbol)
    fn.attributes.add("nounwind")
    begin, end = fn.args[0], fn.args[1]
    arrays = fn.args[2:]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    status = b.alloca(I32, name="status")
    b.store(ir.Constant(I32, 0), status)
    rank = max(kernel.ndim, 1)
    nin = len(kernel.inputs)

    # Per operand: data pointer, and its dims/strides in loop coordinates.
    data, dims, strides = [], [], []
    for k, (op, arr) in enumerate(zip(ops, arrays)):
        data.append(_field(b, arr, ARRAY_DATA_OFFSET, PTR))
        dims_ptr = _field(b, arr, ARRAY_DIMS_OFFSET, PTR)
        strides_ptr = _field(b, arr, ARRAY_STRIDES_OFFSET, PTR)
        # arrays may carry extra leading length-1 axes: read the trailing ones
        nd = b.sext(_field(b, arr, ARRAY_NDIM_OFFSET, I32), I64)
        first = b.sub(nd, ir.Constant(I64, op.ndim))
        if op.is_output and op.reduce_axes is not None:
            kept = [d for d in range(kernel.ndim) if d not in op.reduce_axes]
            axis_of = {d: e for e, d in enumerate(kept)}
        else:
            axis_of = {kernel.ndim - op.ndim + e: e for e in range(op.ndim)}
        op_dims, op_strides = [], []
        for d in range(rank):
            e = axis_of.get(d)
            if e is None or (not op.is_output and op.broadcastable[e]):
                op_dims.append(one)
                op_strides.append(zero)
                continue
            pos = b.add(first, ir.Constant(I64, e))
            dim = b.load(b.gep(dims_ptr, [pos], source_etype=I64), typ=I64)
            st = b.load(b.gep(strides_ptr, [pos], source_etype=I64), typ=I64)
            op_dims.append(dim)
            op_strides.append(b.select(b.icmp_signed("==", dim, one), zero, st))
        dims.append(op_dims)
        strides.append(op_strides)

    # Loop shape: the outputs' shape, or (reductions) the inputs' broadcast shape.
    shape = []
    for d in range(rank):
        if kernel.reduce is None and kernel.ndim > 0:
            shape.append(dims[nin][d])
            continue
        ext = one
        for k in range(nin):
            ext = b.select(b.icmp_signed(">", dims[k][d], ext), dims[k][d], ext)
        shape.append(ext)

    def row_args(n, offsets):
        args = [n, status]
        for k in range(len(ops)):
            args += [b.gep(data[k], [offsets[k]], source_etype=I8), strides[k][rank - 1]]
        return args

    exit_block = fn.append_basic_block("done")
    nd_block = fn.append_basic_block("nd")
    if flat_row is not None:
        # contiguity of every operand that is not a scalar everywhere
        count = one
        contiguous = ir.Constant(I1, 1)
        elems = [None] * rank
        for d in reversed(range(rank)):
            elems[d] = count
            count = b.mul(count, shape[d])
        for k, op in enumerate(ops):
            if flat_flags[k]:
                continue
            for d in range(rank):
                want = b.mul(elems[d], ir.Constant(I64, op.itemsize))
                ok = b.or_(b.icmp_signed("==", shape[d], one),
                           b.icmp_signed("==", strides[k][d], want))
                contiguous = b.and_(contiguous, ok)
        flat_block = fn.append_basic_block("flat")
        b.cbranch(contiguous, flat_block, nd_block)
        b.position_at_end(flat_block)
        args = [b.sub(end, begin), status]
        for k, op in enumerate(ops):
            step = zero if flat_flags[k] else ir.Constant(I64, op.itemsize)
            args += [b.gep(data[k], [b.mul(begin, step)], source_etype=I8), step]
        b.call(flat_row, args)
        b.branch(exit_block)
    else:
        b.branch(nd_block)

    # ---- nd path
    b.position_at_end(nd_block)
    inner_fast = ir.Constant(I1, 1)
    last = rank - 1
    for k, op in enumerate(ops):
        if inner_flags[k]:
            continue
        ok = b.or_(b.icmp_signed("==", shape[last], one),
                   b.icmp_signed("==", strides[k][last], ir.Constant(I64, op.itemsize)))
        inner_fast = b.and_(inner_fast, ok)
    idx = [b.alloca(I64, name=f"i{d}") for d in range(rank)]
    rem = begin
    for d in reversed(range(rank)):
        b.store(b.urem(rem, shape[d]), idx[d])
        rem = b.udiv(rem, shape[d])
    pos = b.alloca(I64, name="pos")
    b.store(begin, pos)
    header = fn.append_basic_block("rows")
    body = fn.append_basic_block("row")
    b.branch(header)

    b.position_at_end(header)
    p = b.load(pos)
    b.cbranch(b.icmp_signed("<", p, end), body, exit_block)

    b.position_at_end(body)
    cur = [b.load(i) for i in idx]
    offsets = []
    for k in range(len(ops)):
        off = zero
        for d in range(rank):
            off = b.add(off, b.mul(cur[d], strides[k][d]))
        offsets.append(off)
    n = b.sub(shape[last], cur[last])
    left = b.sub(end, p)
    n = b.select(b.icmp_signed("<", left, n), left, n)
    args = row_args(n, offsets)
    fast_block = fn.append_basic_block("row_fast")
    slow_block = fn.append_basic_block("row_strided")
    advance = fn.append_basic_block("advance")
    b.cbranch(inner_fast, fast_block, slow_block)
    b.position_at_end(fast_block)
    b.call(fast_row, args)
    b.branch(advance)
    b.position_at_end(slow_block)
    b.call(strided_row, args)
    b.branch(advance)

    b.position_at_end(advance)
    b.store(b.add(p, n), pos)
    b.store(zero, idx[last])
    for d in reversed(range(last)):
        v = b.add(b.load(idx[d]), one)
        carry = fn.append_basic_block(f"carry{d}")
        keep = fn.append_basic_block(f"keep{d}")
        b.cbranch(b.icmp_signed("<", v, shape[d]), keep, carry)
        b.position_at_end(keep)
        b.store(v, idx[d])
        b.branch(header)
        b.position_at_end(carry)
        b.store(zero, idx[d])
    b.branch(header)

    b.position_at_end(exit_block)
    b.ret(b.load(status))
    return fn
