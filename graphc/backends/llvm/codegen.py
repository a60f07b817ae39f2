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

Structure, chosen for compile time as much as for speed (LLVM's cost grows
with the code it is given, so the kernel's arithmetic appears once):

* the *row* -- one loop over ``n`` elements with unit-stride typed accesses
  (operands statically of stride 0 are loaded once), every pointer
  ``noalias`` so LLVM vectorizes it without runtime alias checks.  A
  reduction along the innermost axis accumulates in a register (float
  sums/products with ``reassoc``: vectorized, result differs from NumPy's
  pairwise order by rounding only);
* the *flat path* -- every operand contiguous with the loop's shape or
  statically a scalar (checked at run time): one row over the flat range.
  Not emitted when an input is statically broadcast along some axis (it
  could never be contiguous);
* the *nd path* -- a walk over rows (``graphc.nd.<rank>.<nops>``, shared by
  all kernels of that rank and operand count), calling the row when every
  innermost stride is the element size, else the *buffered strided row*:
  strided operands are gathered into stack buffers a chunk at a time, the
  row runs on the buffers and the outputs are scattered back.  Not emitted
  when every operand is statically of stride 0 along the innermost axis;
* the entry itself runs once per call and is compiled without optimization.

In-place pairs (``inplace_pairs``: output o overwrites input k) are one
buffer: the caller passes output o holding input k's values (the input
itself, or a copy when it cannot be overwritten; ``runtime.py``), and the
code reads input k *through output o's pointer* at the same index it stores
to.  Loads and stores of one address in one iteration (dependence distance
0) vectorize without a runtime overlap check, and no two pointers of a row
ever point at the same memory, so ``noalias`` stays true.  (Two distinct
pointers to one buffer, without ``noalias``, made LLVM guard the vector loop
with an overlap check that in-place calls always failed: the scalar loop
ran, 4x slower.)  Input k's own pointer is never dereferenced, so the
operand reads through the output's strides: the output always has the loop's
full shape, even where input k is statically broadcast.

``KShape`` leaves (array dimensions) are read by the entry from the array
structs -- the whole array's dimension, whatever part ``[begin, end)`` a
thread computes -- into one stack slot each, which the rows get as extra
operands of stride 0 after the outputs (so the row and nd-walker signatures
stay those of plain operands).  A shape-only input is never dereferenced:
its operand is a null pointer of stride 0.  In each row, the expression
nodes that read no per-element value (literals, dimensions, stride-0
operands: ``1 / float64(n)``) are computed once, before the loop.
"""

from llvmlite import ir

# the fields of NumPy's array struct the kernels read (checked by
# ``array_struct.layout_matches``)
from ..array_struct import (ARRAY_DATA_OFFSET, ARRAY_DIMS_OFFSET,  # noqa: F401
                            ARRAY_NDIM_OFFSET, ARRAY_STRIDES_OFFSET)

from ...kernel.ir import KApply, KConst, KInput, KShape
from . import types as lt
from . import vecmath
from .loops import counted_loop
from .scalar import NotLowerable, ScalarLowering, combine
from .types import I1, I8, I32, I64, PTR



class Operand:
    """Static facts about one array of a kernel call."""

    def __init__(self, dtype, ndim, broadcastable, is_output, reduce_axes=None,
                 shape_only=False, dimension=None):
        self.dtype = dtype
        self.ndim = ndim
        self.broadcastable = broadcastable
        self.is_output = is_output
        self.reduce_axes = reduce_axes  # outputs of a reduction: loop axes reduced
        self.shape_only = shape_only    # an input whose elements are never read
        self.dimension = dimension      # the KShape a stack slot holds (rows only)
        self.itemsize = lt.itemsize(dtype)

    @property
    def unmoving(self):
        """Never advanced by the loop: a dimension's slot or a shape-only input."""
        return self.shape_only or self.dimension is not None


def operands(kernel):
    """The rows' operands: the inputs, the outputs, then one stack slot per
    distinct ``KShape`` leaf (see the module docstring)."""
    ops = [Operand(i.dtype, i.ndim, i.broadcastable, False, shape_only=i.shape_only)
           for i in kernel.inputs]
    axes = kernel.reduce.axes if kernel.reduce is not None else None
    ops += [Operand(d, kernel.out_ndim, (False,) * kernel.out_ndim, True, axes)
            for d in kernel.output_dtypes]
    ops += [Operand("int64", 0, (), False, dimension=node) for node in kernel.nodes
            if isinstance(node, KShape)]
    return ops


def _is_scalar_everywhere(kernel, op):
    """Reads (or, for an output, accumulates into) one element for the whole loop."""
    if op.is_output:
        return op.reduce_axes is not None and len(op.reduce_axes) == kernel.ndim
    return op.unmoving or all(op.broadcastable)


def _is_scalar_inner(kernel, op):
    """Stride 0 along the innermost loop axis, statically."""
    if op.is_output:
        return op.reduce_axes is not None and (kernel.ndim == 0 or
                                               (kernel.ndim - 1) in op.reduce_axes)
    return op.unmoving or op.ndim == 0 or op.broadcastable[-1]


def _flat_capable(kernel, op):
    """Whether the flat path can ever apply to input ``op``: a statically
    broadcast axis (or a missing leading one) has stride 0, which a contiguous
    array of the loop's shape never has, so such kernels skip the flat path."""
    if op.is_output or op.unmoving:
        return True
    return all(op.broadcastable) or (op.ndim == kernel.ndim and not any(op.broadcastable))


def inplace_pairs(kernel, inplace):
    """The (output, input) pairs of ``inplace`` that can run in place, sorted:
    same dtype, each output and input in one pair at most, and no reduction
    (a reduction's output space is not its loop space).  An input whose
    dimensions a ``KShape`` reads never runs in place: the thunk passes the
    output's array in its stead, whose shape is the loop's.  Code generation
    and the thunk must agree on these (see the module docstring)."""
    if kernel.reduce is not None:
        return ()
    measured = {node.index for node in kernel.nodes if isinstance(node, KShape)}
    pairs, taken = [], set()
    for o, k in sorted(dict(inplace).items()):
        if not (0 <= o < len(kernel.outputs) and 0 <= k < len(kernel.inputs)):
            raise ValueError(f"in-place pair (output {o}, input {k}) out of range for a kernel "
                             f"of {len(kernel.inputs)} inputs and {len(kernel.outputs)} outputs")
        if k in taken or k in measured or kernel.inputs[k].dtype != kernel.output_dtypes[o]:
            continue
        taken.add(k)
        pairs.append((o, k))
    return tuple(pairs)


def build_module(kernel, symbol, inplace=()):
    """An LLVM module defining ``symbol`` (see the module docstring);
    ``inplace``: (output, input) pairs computed in one buffer
    (``inplace_pairs``)."""
    if kernel.epilogue is not None:
        # The runtime splits a reduction across threads and combines the
        # partial results after the calls return, so an epilogue computed
        # inside the entry would see partial sums: such kernels run their
        # NumPy reference until the runtime applies epilogues after combining.
        raise NotLowerable("kernel epilogues are not lowered yet")
    module = ir.Module(name=symbol)
    module.triple = ""
    ops = operands(kernel)
    nin = len(kernel.inputs)
    # in-place input -> the output operand it is read through; its own
    # pointer never moves (flagged like a scalar), nor is it read
    through = {k: nin + o for o, k in inplace_pairs(kernel, inplace)}
    inner_flags = tuple(k in through or _is_scalar_inner(kernel, o) for k, o in enumerate(ops))
    flat_flags = tuple(k in through or _is_scalar_everywhere(kernel, o)
                       for k, o in enumerate(ops))
    partial_reduce = kernel.reduce is not None and len(kernel.reduce.axes) < kernel.ndim
    rows = {}

    def row(flags):
        if flags not in rows:
            rows[flags] = _emit_row(module, f"{symbol}.row{len(rows)}", kernel, ops, flags,
                                    through)
        return rows[flags]

    flat = not partial_reduce and all(_flat_capable(kernel, o) for k, o in enumerate(ops)
                                      if k not in through)
    fast_row = row(inner_flags)
    # a 0-d loop (one element), or every operand statically of stride 0 along
    # the inner axis: rows never stride
    strided = kernel.ndim > 0 and not all(inner_flags)
    _emit_entry(module, symbol, kernel, ops,
                flat_row=row(flat_flags) if flat else None, fast_row=fast_row,
                strided_row=(_emit_buffered_row(module, f"{symbol}.strided", ops, inner_flags,
                                                fast_row, set(through.values()))
                             if strided else None),
                inner_flags=inner_flags, flat_flags=flat_flags, through=through)
    vecmath.finish_module(module)
    return module


# ------------------------------------------------------------------ rows

def _row_function(module, name, nops):
    """``void name(i64 n, i32* status, (ptr p_k, i64 s_k) * nops)``."""
    params = [I64, PTR]
    for _ in range(nops):
        params += [PTR, I64]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    return fn


def _emit_row(module, name, kernel, ops, scalar_flags, through):
    """The unit-stride row: ``void row(i64 n, i32* status, (ptr p_k, i64 s_k)*)``
    computes n elements, operand k at ``p_k + j*itemsize`` (or at ``p_k`` for
    operands flagged scalar; s_k is not read); an in-place input k is read
    at ``p_through[k] + j*itemsize`` and ``p_k`` is not read.  Kept out of
    line: the flat path, the nd path and the buffered strided row all call
    this one vectorized loop, which LLVM then optimizes once."""
    fn = _row_function(module, name, len(ops))
    fn.attributes.add("noinline")
    n, status = fn.args[0], fn.args[1]
    ptrs = fn.args[2::2]
    for p in ptrs:  # true of every call: in-place pairs use one pointer
        p.add_attribute("noalias")
    nin = len(kernel.inputs)
    entry = fn.append_basic_block("entry")
    preheader = fn.append_basic_block("invariants")
    loop = fn.append_basic_block("loop")
    exit_ = fn.append_basic_block("exit")
    b = ir.IRBuilder(entry)
    ctx = ScalarLowering(module, b, status)

    def address(k, j):
        return b.gep(ptrs[k], [j], inbounds=True, source_etype=lt.memory_type(ops[k].dtype))

    # loop invariants: scalar inputs, dimensions, and the accumulators of
    # inner reductions (shape-only inputs are never read)
    outputs = list(range(nin, nin + len(kernel.outputs)))
    slots = range(nin + len(kernel.outputs), len(ops))
    hoisted = {k: lt.load(b, ptrs[k], ops[k].dtype) for k in [*range(nin), *slots]
               if scalar_flags[k] and k not in through and not ops[k].shape_only}
    dimensions = {ops[k].dimension: hoisted[k] for k in slots}
    # float16 accumulates in float32 (NumPy's half reduction loops do too)
    acc_dtype = {o: "float32" if ops[o].dtype == "float16" else ops[o].dtype for o in outputs}
    acc_init = {o: ctx.cast(lt.load(b, ptrs[o], ops[o].dtype), ops[o].dtype, acc_dtype[o])
                for o in outputs if scalar_flags[o]}
    b.cbranch(b.icmp_signed(">", n, ir.Constant(I64, 0)), preheader, exit_)

    # computed once per row, only when it has elements (as the loop would)
    b.position_at_end(preheader)
    invariant = _invariant_values(ctx, kernel, hoisted, dimensions)
    preheader_end = b.block
    b.branch(loop)

    b.position_at_end(loop)
    j = b.phi(I64, name="j")
    acc = {o: b.phi(lt.value_type(acc_dtype[o])) for o in acc_init}
    values = dict(hoisted)
    for k in range(nin):
        if k not in values and not ops[k].shape_only:
            values[k] = lt.load(b, address(through.get(k, k), j), ops[k].dtype)
    results = _emit_expressions(ctx, kernel, values, dimensions, invariant)
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
    j.add_incoming(ir.Constant(I64, 0), preheader_end)
    j.add_incoming(j_next, latch)
    for o, phi in acc.items():
        phi.add_incoming(acc_init[o], preheader_end)
        phi.add_incoming(acc_next[o], latch)

    b.position_at_end(exit_)
    for o in acc:
        final = b.phi(acc[o].type)
        final.add_incoming(acc_init[o], entry)
        final.add_incoming(acc_next[o], latch)
        lt.store(b, ctx.cast(final, acc_dtype[o], ops[o].dtype), ptrs[o], ops[o].dtype)
    b.ret_void()
    return fn


#: bytes of stack scratch the buffered strided row uses per chunk (L1-sized)
BUFFER_BYTES = 16384
#: elements per chunk, at most (a power of two)
MAX_CHUNK = 1024


def chunk_elements(ops, scalar_flags):
    """Elements per chunk of the buffered row: as many as fit ``BUFFER_BYTES``
    across the buffered operands, a power of two in [16, MAX_CHUNK]."""
    per_element = sum(op.itemsize for op, scalar in zip(ops, scalar_flags) if not scalar)
    chunk = MAX_CHUNK
    while chunk > 16 and chunk * per_element > BUFFER_BYTES:
        chunk //= 2
    return chunk


def _emit_buffered_row(module, name, ops, scalar_flags, fast_row, preloaded):
    """The byte-strided row, with the signature of ``_emit_row``: in chunks,
    gathers each strided operand into an aligned stack buffer, runs the
    unit-stride ``fast_row`` on the buffers, and scatters the outputs back
    (NumPy's buffered iteration).  It holds no copy of the kernel's
    arithmetic, so it costs little to compile and strided data still goes
    through the vectorized loop.  Outputs the row reads are gathered too:
    reduction outputs not scalar along the row (the row accumulates into
    them) and the ``preloaded`` outputs of in-place pairs (they hold their
    input's values; the row computes in place in their buffer)."""
    fn = _row_function(module, name, len(ops))
    fn.attributes.add("noinline")
    n, status = fn.args[0], fn.args[1]
    ptrs, strides = fn.args[2::2], fn.args[3::2]
    chunk = chunk_elements(ops, scalar_flags)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    buffers = {}
    for k, op in enumerate(ops):
        if not scalar_flags[k]:
            buf = b.alloca(ir.ArrayType(I8, chunk * op.itemsize), name=f"buf{k}")
            buf.align = 64
            buffers[k] = buf

    def one_chunk(start):
        left = b.sub(n, start)
        size = b.select(b.icmp_signed("<", left, ir.Constant(I64, chunk)), left,
                        ir.Constant(I64, chunk))
        bases = {k: b.gep(ptrs[k], [b.mul(start, strides[k])], inbounds=True, source_etype=I8)
                 for k in buffers}
        for k, buf in buffers.items():
            if not ops[k].is_output or ops[k].reduce_axes is not None or k in preloaded:
                b.call(_copy_function(module, ops[k].itemsize, gather=True),
                       [size, bases[k], strides[k], buf])
        args = [size, status]
        for k, op in enumerate(ops):
            if k in buffers:
                args += [buffers[k], ir.Constant(I64, op.itemsize)]
            else:
                args += [ptrs[k], strides[k]]
        b.call(fast_row, args)
        for k, buf in buffers.items():
            if ops[k].is_output:
                b.call(_copy_function(module, ops[k].itemsize, gather=False),
                       [size, buf, bases[k], strides[k]])

    counted_loop(b, ir.Constant(I64, 0), n, one_chunk, step=chunk)
    b.ret_void()
    return fn


def _copy_function(module, itemsize, gather):
    """``graphc.gather.<itemsize>(i64 n, ptr src, i64 stride, ptr dst)``
    (dst unit-stride) or ``graphc.scatter.<itemsize>(i64 n, ptr src, ptr
    dst, i64 stride)`` (src unit-stride).  ``linkonce_odr``: kernels built
    in separate modules and linked into one keep a single copy (the
    toolchain makes them internal after linking)."""
    name = f"graphc.{'gather' if gather else 'scatter'}.{itemsize}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    params = [I64, PTR, I64, PTR] if gather else [I64, PTR, PTR, I64]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    fn.linkage = "linkonce_odr"
    # a plain scalar loop, compiled once per module: out of line and at
    # minimum size (inlined, LLVM would turn each call site into vector
    # gathers and scatters, doubling the kernel's compile time)
    for attribute in ("nounwind", "noinline", "minsize", "optsize"):
        fn.attributes.add(attribute)
    if gather:
        n, src, stride, dst = fn.args
    else:
        n, src, dst, stride = fn.args
    elem = ir.IntType(8 * itemsize)
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def one_element(j):
        strided = b.gep(src if gather else dst, [b.mul(j, stride)], source_etype=I8)
        dense = b.gep(dst if gather else src, [j], inbounds=True, source_etype=elem)
        if gather:
            b.store(b.load(strided, typ=elem), dense)
        else:
            b.store(b.load(dense, typ=elem), strided)

    counted_loop(b, ir.Constant(I64, 0), n, one_element)
    b.ret_void()
    return fn


def _emit_expressions(ctx, kernel, input_values, dimensions, known=None):
    """Register values of the kernel's outputs, given its inputs' values,
    the values of its ``KShape`` leaves and of nodes already ``known``."""
    vals = dict(known or {})
    for node in kernel.nodes:
        if node in vals:
            continue
        if isinstance(node, KInput):
            vals[node] = input_values[node.index]
        elif isinstance(node, KShape):
            vals[node] = dimensions[node]
        elif isinstance(node, KConst):
            vals[node] = lt.constant(node.value, node.dtype)
        else:
            assert isinstance(node, KApply)
            vals[node] = ctx.lower(node.op, [vals[a] for a in node.args],
                                   [a.dtype for a in node.args], node.dtype)
    return [vals[o] for o in kernel.outputs]


def _invariant_values(ctx, kernel, hoisted, dimensions):
    """Register values of the operations that read no per-element value
    (their leaves are literals, dimensions and the ``hoisted`` stride-0
    inputs), emitted where the builder stands; literals alone are left to
    LLVM's constant folding."""
    vals, varies = {}, set()
    for node in kernel.nodes[:kernel.body_size]:
        if isinstance(node, KInput):
            if node.index in hoisted:
                vals[node] = hoisted[node.index]
            else:
                varies.add(node)
        elif isinstance(node, KShape):
            vals[node] = dimensions[node]
        elif isinstance(node, KConst):
            vals[node] = lt.constant(node.value, node.dtype)
        elif any(a in varies for a in node.args):
            varies.add(node)
        else:
            vals[node] = ctx.lower(node.op, [vals[a] for a in node.args],
                                   [a.dtype for a in node.args], node.dtype)
    return vals


# ------------------------------------------------------------------ entry

def _field(b, arr, offset, typ):
    addr = b.gep(arr, [ir.Constant(I64, offset)], source_etype=I8)
    return b.load(addr, typ=typ)


def _emit_entry(module, symbol, kernel, ops, flat_row, fast_row, strided_row, inner_flags,
                flat_flags, through):
    """The entry point: reads the arrays' structs, takes the flat path when
    every operand is contiguous, else walks the rows (``_nd_walker``).  It
    runs once per call and holds no loop over elements, so it is compiled
    without optimization (``optnone``: fast instruction selection, no IR
    passes), which halves a kernel's compile time at a cost of nanoseconds
    per call.  In-place inputs (``through``) are not read: the rows get
    their output's data pointer, unmoving."""
    nin = len(kernel.inputs)
    nargs = nin + len(kernel.outputs)
    fn = ir.Function(module, ir.FunctionType(I32, [I64, I64] + [PTR] * nargs), name=symbol)
    for attribute in ("nounwind", "noinline", "optnone"):
        fn.attributes.add(attribute)
    begin, end = fn.args[0], fn.args[1]
    arrays = fn.args[2:]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    status = b.alloca(I32, name="status")
    b.store(ir.Constant(I32, 0), status)
    rank = max(kernel.ndim, 1)

    # Per operand: data pointer, and its dims/strides in loop coordinates.
    data, dims, strides = [], [], []
    for k, (op, arr) in enumerate(zip(ops, arrays)):
        if k in through or op.shape_only:
            # read through its output's pointer (filled in below), or never
            data.append(None if k in through else ir.Constant(PTR, None))
            dims.append([one] * rank)
            strides.append([zero] * rank)
            continue
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
    for k, o in through.items():
        data[k] = data[o]
    for op in ops[nargs:]:  # dimensions: the whole array's, in a stack slot
        leaf = op.dimension
        arr = arrays[leaf.index]
        nd = b.sext(_field(b, arr, ARRAY_NDIM_OFFSET, I32), I64)
        pos = b.add(b.sub(nd, ir.Constant(I64, kernel.inputs[leaf.index].ndim)),
                    ir.Constant(I64, leaf.axis))
        dims_ptr = _field(b, arr, ARRAY_DIMS_OFFSET, PTR)
        slot = b.alloca(I64, name=f"dim{leaf.index}_{leaf.axis}")
        b.store(b.load(b.gep(dims_ptr, [pos], source_etype=I64), typ=I64), slot)
        data.append(slot)
        dims.append([one] * rank)
        strides.append([zero] * rank)

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

    # ---- nd path: rows are unit-stride when every operand that moves along
    # the inner axis has stride == itemsize (checked at run time: views can
    # be strided)
    b.position_at_end(nd_block)
    last = rank - 1
    inner_fast = ir.Constant(I1, 1)
    for k, op in enumerate(ops):
        if not inner_flags[k]:
            ok = b.or_(b.icmp_signed("==", shape[last], one),
                       b.icmp_signed("==", strides[k][last], ir.Constant(I64, op.itemsize)))
            inner_fast = b.and_(inner_fast, ok)
    nops = len(ops)
    shape_arr = b.alloca(I64, size=rank, name="shape")
    strides_arr = b.alloca(I64, size=rank * nops, name="strides")
    data_arr = b.alloca(PTR, size=nops, name="data")
    for d in range(rank):
        b.store(shape[d], b.gep(shape_arr, [ir.Constant(I64, d)], source_etype=I64))
    for k in range(nops):
        b.store(data[k], b.gep(data_arr, [ir.Constant(I64, k)], source_etype=PTR))
        for d in range(rank):
            b.store(strides[k][d], b.gep(strides_arr, [ir.Constant(I64, k * rank + d)],
                                         source_etype=I64))
    walker = _nd_walker(module, rank, nops, fast_row.function_type)
    b.call(walker, [begin, end, status, b.bitcast(shape_arr, PTR), b.bitcast(strides_arr, PTR),
                    b.bitcast(data_arr, PTR), inner_fast, fast_row,
                    fast_row if strided_row is None else strided_row])
    b.branch(exit_block)

    b.position_at_end(exit_block)
    b.ret(b.load(status))
    return fn


def _nd_walker(module, rank, nops, row_type):
    """``graphc.nd.<rank>.<nops>(i64 begin, i64 end, i32* status, i64*
    shape, i64* strides, ptr* data, i1 unit_stride, row fast, row strided)``:
    the elements ``[begin, end)`` of a rank-``rank`` loop nest as rows (the
    multi-index decomposed once from ``begin``, then carried), each handed
    to ``fast`` (``unit_stride``) or ``strided``.  It depends on the rank and
    operand count only, so kernels alike share one optimized copy
    (``linkonce_odr``, made internal after linking)."""
    name = f"graphc.nd.{rank}.{nops}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    row_ptr = ir.PointerType(row_type)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, PTR, PTR, PTR, PTR, I1,
                                                              row_ptr, row_ptr]), name=name)
    fn.linkage = "linkonce_odr"
    fn.attributes.add("nounwind")
    begin, end, status, shape_ptr, strides_ptr, data_ptr, unit_stride, fast, strided = fn.args
    for arg in (shape_ptr, strides_ptr, data_ptr):
        arg.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)

    def element(ptr, index, typ):
        return b.load(b.gep(ptr, [ir.Constant(I64, index)], source_etype=typ), typ=typ)

    shape = [element(shape_ptr, d, I64) for d in range(rank)]
    strides = [[element(strides_ptr, k * rank + d, I64) for d in range(rank)]
               for k in range(nops)]
    data = [element(data_ptr, k, PTR) for k in range(nops)]
    exit_block = fn.append_basic_block("done")
    last = rank - 1
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
    for k in range(nops):
        off = zero
        for d in range(rank):
            off = b.add(off, b.mul(cur[d], strides[k][d]))
        offsets.append(off)
    n = b.sub(shape[last], cur[last])
    left = b.sub(end, p)
    n = b.select(b.icmp_signed("<", left, n), left, n)
    args = [n, status]
    for k in range(nops):
        args += [b.gep(data[k], [offsets[k]], source_etype=I8), strides[k][last]]
    advance = fn.append_basic_block("advance")
    with b.if_else(unit_stride, likely=True) as (fast_rows, strided_rows):
        with fast_rows:
            b.call(fast, args)
        with strided_rows:
            b.call(strided, args)
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
    b.ret_void()
    return fn
