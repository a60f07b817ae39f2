"""The call path of a compiled kernel: as little Python as possible per call.

Each kernel's thunk is straight-line Python generated for its signature
(input positions, dtypes, ranks, reduction, in-place pairs; one code object
per signature).  Per call it checks each input's type/dtype/rank (attribute
reads), finds the loop shape (a tuple comparison in the common same-shape
case), allocates the outputs and makes one call passing the array objects
themselves: the generated code reads data pointers, shapes and strides from
NumPy's array struct.  Anything unusual (lists, other dtypes, broadcasting)
takes the general helpers.

Small kernels are called through a trampoline builtin (``_Trampolines``,
~0.05 us, holding the GIL); larger ones through ctypes (~0.7 us), which
releases the GIL during the call, so large kernels split their index range
over a persistent thread pool.

The split threshold is in "work units" (elements x per-element cost,
``kernel_cost``): below it the hand-off to a worker thread costs more than it
saves; see ``PARALLEL_MIN_WORK``.
"""

import ctypes
import functools
import os
import sys
import threading
import warnings

import numpy as np

from ...compile.runner import may_share_any
from ...kernel.ir import KApply, Reduction, broadcast_shape
from . import codegen
from .scalar import MATH_FUNCTIONS, STATUS_MESSAGES, NotLowerable

#: Work (elements x cost) from which a call is split across threads.
#: Measured on the reference 2-core VM (idle; ThreadPoolExecutor hand-off
#: ~65 us): a float32 W1-like kernel (cost 72, 3 vectorized transcendentals)
#: breaks even at ~128k elements (9.2M units; 250k: 413 -> 281 us); W1b-like
#: arithmetic (cost 12, memory bound) at ~1M elements (12M units; 4M: 748 ->
#: 468 us); below, two threads are slower (W1b 250k: 37 -> 81 us).
PARALLEL_MIN_WORK = 10_000_000


def available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


#: threads a kernel call may use (tests and users may lower it)
max_threads = available_cpus()

_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import concurrent.futures  # ~3 ms: only functions with large kernels need it

            _POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(available_cpus() - 1, 1), thread_name_prefix="graphc-kernel")
        return _POOL


def kernel_cost(kernel):
    """Rough per-element cost: one unit per array access and arithmetic op,
    more for divisions and calls to math functions."""
    cost = len(kernel.inputs) + len(kernel.outputs)
    for node in kernel.nodes:
        if not isinstance(node, KApply):
            continue
        name = node.op.name
        if name in MATH_FUNCTIONS or name in ("pow", "arctan2", "psi"):
            cost += 20
        elif name in ("true_div", "int_div", "mod", "reciprocal", "sqrt"):
            cost += 4
        else:
            cost += 1
    return cost


#: Work below which a kernel is called through its trampoline (holding the
#: GIL, ~0.05 us per call) rather than through ctypes (~0.7 us, GIL released
#: so other Python threads run meanwhile): at most a few tens of microseconds.
GIL_HOLD_MAX_WORK = 200_000


class _Trampolines:
    """Call kernels as builtin functions instead of through ctypes.

    A ctypes call converts every argument and releases/reacquires the GIL:
    ~0.7 us, more than a small kernel's work.  A trampoline is a tiny
    machine-code function with CPython's ``METH_FASTCALL`` signature,
    ``PyObject *(PyObject *self, PyObject *const *args, Py_ssize_t nargs)``,
    wrapped by ``PyCFunction_NewEx`` into a builtin: its ``self`` is an int64
    array holding the kernel's address (read through the array struct's
    data pointer, the layout ``array_struct.layout_matches`` verifies), ``args`` are
    the element count (a Python int) and the array operands, and it returns
    the kernel's status as a Python int.  One trampoline per operand count,
    loaded on first use through the toolchain's cache of support objects
    (``Toolchain.load_support``: compiled once per machine, not per process).
    Where any of this is unavailable, ``make`` returns None and thunks use
    ctypes only.
    """

    METH_FASTCALL = 0x0080

    class MethodDef(ctypes.Structure):
        _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                    ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]

    def __init__(self):
        self._lock = threading.Lock()
        self._new_function = None  # PyCFunction_NewEx, bound on first use
        self._broken = False
        self._addresses = {}  # operand count -> trampoline address

    def make(self, address, nops):
        """``(fn, method_def)``: a builtin ``fn(size, *operands) -> status``
        calling the kernel at ``address`` with ``nops`` array operands, and
        the method definition it points to (keep both alive), or None."""
        entry = self._entry(nops)
        if entry is None:
            return None
        holder = np.array([address], dtype=np.int64)
        holder.flags.writeable = False
        method = self.MethodDef(b"graphc_kernel", entry, self.METH_FASTCALL, None)
        fn = self._new_function(ctypes.byref(method), holder, None)
        return fn, method

    def _entry(self, nops):
        with self._lock:
            if self._broken:
                return None
            entry = self._addresses.get(nops)
            if entry is None:
                try:
                    entry = self._addresses[nops] = self._compile(nops)
                except Exception as exc:  # noqa: BLE001 - ctypes still works
                    self._broken = True
                    warnings.warn(f"graphc: kernel trampolines unavailable ({exc}); "
                                  "calling kernels through ctypes", RuntimeWarning)
                    return None
            return entry

    def _compile(self, nops):
        import llvmlite.binding as llvm

        from .jit import toolchain

        if self._new_function is None:
            api = ctypes.pythonapi
            # the C API the trampolines call, visible to the objects loaded
            for name in ("PyLong_AsSsize_t", "PyLong_FromLong"):
                llvm.add_symbol(name, ctypes.cast(getattr(api, name), ctypes.c_void_p).value)
            new_function = api.PyCFunction_NewEx
            new_function.restype = ctypes.py_object
            new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
            self._new_function = new_function
        return toolchain().load_support(_trampoline_ir(nops), f"graphc_trampoline_{nops}")


def _trampoline_ir(nops):
    """LLVM IR of the ``METH_FASTCALL`` trampoline for ``nops`` operands;
    a call with another argument count returns status -1."""
    loads = "".join(f"  %p{k} = getelementptr ptr, ptr %args, i64 {k + 1}\n"
                    f"  %a{k} = load ptr, ptr %p{k}\n" for k in range(nops))
    params = ", ".join(["i64", "i64"] + ["ptr"] * nops)
    call_args = ", ".join(["i64 0", "i64 %size"] + [f"ptr %a{k}" for k in range(nops)])
    return f"""
declare i64 @PyLong_AsSsize_t(ptr)
declare ptr @PyLong_FromLong(i64)

define ptr @graphc_trampoline_{nops}(ptr %self, ptr %args, i64 %nargs) {{
entry:
  %ok = icmp eq i64 %nargs, {nops + 1}
  br i1 %ok, label %count, label %bad
bad:
  %fail = call ptr @PyLong_FromLong(i64 -1)
  ret ptr %fail
count:
  %size_obj = load ptr, ptr %args
  %size = call i64 @PyLong_AsSsize_t(ptr %size_obj)
  %error = icmp eq i64 %size, -1
  br i1 %error, label %raise, label %call
raise:
  ret ptr null
call:
  %data_field = getelementptr i8, ptr %self, i64 {codegen.ARRAY_DATA_OFFSET}
  %data = load ptr, ptr %data_field
  %kernel = load ptr, ptr %data
{loads}  %status = call i32 ({params}) %kernel({call_args})
  %status64 = sext i32 %status to i64
  %result = call ptr @PyLong_FromLong(i64 %status64)
  ret ptr %result
}}
"""


_TRAMPOLINES = _Trampolines()


class KernelStats:
    """Per-thunk counters (cheap: only the parallel branch counts)."""

    __slots__ = ("parallel_calls",)

    def __init__(self):
        self.parallel_calls = 0


#: Output bytes from which a kernel output's buffer is recycled between calls
#: (``OutputRecycler``).  Arrays this large are mmap'd fresh by malloc on every
#: call (glibc's threshold stops adapting at 32 MiB) and every page of them
#: faults on first write: W1 (64 MiB out) 35.9 ms fresh vs 28.3 ms reused,
#: W1b 10.6 vs 5.1 ms (np.copyto 6.0) on the reference 2-core VM.
RECYCLE_MIN_BYTES = 16 << 20


class OutputRecycler:
    """The buffers of one kernel output, kept between calls and reused when
    nothing else references them any more (``sys.getrefcount``: only this
    list and the call's argument), so large outputs skip malloc's fresh,
    page-faulting mapping.  Two are kept: a caller looping ``y = f(x)``
    still holds the previous result while the next one is computed.  A
    buffer the user, a view, or another value still holds is never reused:
    the reference count sees every Python-level holder."""

    __slots__ = ("dtype", "kept", "reused")

    def __init__(self, dtype):
        self.dtype = dtype
        self.kept = []
        self.reused = 0

    def __call__(self, shape):
        kept = self.kept
        for i in range(len(kept)):
            # 2 references: ``kept`` and getrefcount's argument
            if sys.getrefcount(kept[i]) == 2 and kept[i].shape == shape:
                buf = kept.pop(i)
                kept.append(buf)
                self.reused += 1
                return buf
        buf = np.empty(shape, self.dtype)
        kept.append(buf)
        if len(kept) > 2:
            del kept[0]
        return buf


def make_thunk(kernel, address, input_positions=None, inplace=()):
    """A thunk running compiled ``kernel`` at ``address``.

    ``input_positions[k]`` is the index, among the node's input values, of
    kernel input k (None: the same order).  ``inplace`` pairs (output, input)
    are computed in one buffer: the code at ``address`` must have been built
    for the same pairs (``codegen.inplace_pairs``), as it reads the input
    through the output.  The output overwrites the input array where
    ``can_overwrite`` allows, else starts as a copy of it (``_copy_into_new``).

    The thunk is a Python function generated for the kernel's signature
    (``_thunk_source``): the common call -- ndarrays of the kernel's dtypes
    and ranks, all of one shape -- costs a few attribute checks, one
    ``np.empty`` per output and the kernel call (through a trampoline for
    small work, see ``_Trampolines``; ctypes otherwise); anything else goes
    through ``_coerce`` / ``_loop_shape``, which convert, check and
    broadcast.
    """
    if getattr(kernel, "epilogue", None) is not None:
        raise NotLowerable("the llvm runtime does not apply kernel epilogues")
    nin = len(kernel.inputs)
    nops = nin + len(kernel.outputs)
    cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                             *([ctypes.py_object] * nops))(address)
    in_dtypes = [np.dtype(i.dtype) for i in kernel.inputs]
    out_dtypes = [np.dtype(d) for d in kernel.output_dtypes]
    red = kernel.reduce
    kept = None if red is None else [d for d in range(kernel.ndim) if d not in red.axes]
    identities = None if red is None else [red.identity(d) for d in out_dtypes]
    ufunc = None if red is None else Reduction.KINDS[red.kind]
    inplace = dict(codegen.inplace_pairs(kernel, inplace))
    cost = kernel_cost(kernel)
    positions = tuple(input_positions) if input_positions is not None else tuple(range(nin))
    stats = KernelStats()

    def reduction_outputs(shape):
        """Outputs of a reduction over loop ``shape``, filled with the identity
        (the generated thunk inlines this; parallel calls need one set per part)."""
        out_shape = tuple(shape[d] for d in kept)
        outs = []
        for dt, ident in zip(out_dtypes, identities):
            out = np.empty(out_shape, dt)
            out.fill(ident)
            outs.append(out)
        return outs

    def run_parallel(size, shape, arrays, outs):
        stats.parallel_calls += 1
        parts = int(min(max_threads, max(size * cost // PARALLEL_MIN_WORK, 2)))
        bounds = [size * p // parts for p in range(parts + 1)]
        part_outs = [outs] + [reduction_outputs(shape) if red is not None else outs
                              for _ in range(parts - 1)]
        pool = _pool()
        futures = [pool.submit(cfunc, bounds[p], bounds[p + 1], *arrays, *part_outs[p])
                   for p in range(1, parts)]
        status = cfunc(bounds[0], bounds[1], *arrays, *part_outs[0])
        for f in futures:
            status = status or f.result()
        if red is not None:
            for extra in part_outs[1:]:
                for out, part in zip(outs, extra):
                    ufunc(out, part, out=out)
        return status

    def coerce(arrays):
        return _coerce(arrays, in_dtypes, [i.ndim for i in kernel.inputs])

    def loop_shape(arrays):
        return _loop_shape(kernel, arrays)

    # the method definition is kept alive with the builtin that points to it
    fast, fast_def = _TRAMPOLINES.make(address, nops) or (None, None)
    env = {"ndarray": np.ndarray, "empty": np.empty, "cfunc": cfunc,
           "fast": fast, "fast_def": fast_def,
           "runtime": sys.modules[__name__], "cost": cost, "coerce": coerce,
           "loop_shape": loop_shape, "run_parallel": run_parallel,
           "can_overwrite": can_overwrite, "copy_into_new": _copy_into_new,
           "raise_status": _raise_status}
    env.update((f"dt{k}", dt) for k, dt in enumerate(in_dtypes))
    env.update((f"odt{k}", dt) for k, dt in enumerate(out_dtypes))
    recyclers = [OutputRecycler(dt) for dt in out_dtypes]
    env.update((f"recycle{k}", r) for k, r in enumerate(recyclers))
    if identities is not None:
        env.update((f"ident{k}", v) for k, v in enumerate(identities))
    source = _thunk_source(kernel, positions, inplace, kept, fast is not None)
    exec(_compiled(source), env)
    thunk = env["thunk"]
    thunk.kernel = kernel
    thunk.stats = stats
    thunk.cost = cost
    thunk.source_python = source
    thunk.recyclers = recyclers
    return thunk


@functools.lru_cache(maxsize=1024)
def _compiled(source):
    """Kernels of one signature share the code object of their thunk."""
    return compile(source, "<graphc llvm thunk>", "exec")


def _thunk_source(kernel, positions, inplace, kept, trampoline):
    """Python source of ``thunk(values)`` for ``kernel`` (see ``make_thunk``;
    the names it reads are bound there); ``trampoline``: small calls go
    through ``fast`` (see ``_Trampolines``)."""
    nin, nout, ndim = len(kernel.inputs), len(kernel.outputs), kernel.ndim
    ins = [f"a{k}" for k in range(nin)]
    outs = [f"o{k}" for k in range(nout)]
    tuple_of = lambda names: f"({', '.join(names)},)" if names else "()"  # noqa: E731
    checks = " and ".join(
        f"type(a{k}) is ndarray and a{k}.dtype is dt{k} and a{k}.ndim == {inp.ndim}"
        for k, inp in enumerate(kernel.inputs))
    # shape-only inputs (read by KShape leaves) do not shape the loop
    loop = [k for k, inp in enumerate(kernel.inputs) if inp.in_loop]
    same_shape = [f"a{k}.shape != shape" for k in loop[1:]]
    if loop and kernel.inputs[loop[0]].ndim != ndim:
        same_shape.insert(0, f"len(shape) != {ndim}")
    lines = ["def thunk(values):"]
    lines += [f"    a{k} = values[{p}]" for k, p in enumerate(positions)]
    lines += [f"    if {checks}:",
              f"        shape = {f'a{loop[0]}.shape' if loop else repr((1,) * ndim)}"]
    if same_shape:
        lines += [f"        if {' or '.join(same_shape)}:",
                  f"            shape = loop_shape({tuple_of(ins)})"]
    lines += ["    else:",
              f"        {', '.join(ins)}, = coerce({tuple_of(ins)})",
              f"        shape = loop_shape({tuple_of(ins)})"]
    lines.append("    size = " + (" * ".join(f"shape[{d}]" for d in range(ndim)) or "1"))
    if kernel.reduce is None:
        for o in range(nout):
            src = inplace.get(o)
            if src is None:
                itemsize = np.dtype(kernel.output_dtypes[o]).itemsize
                lines.append(f"    o{o} = empty(shape, odt{o}) if size < "
                             f"{-(-RECYCLE_MIN_BYTES // itemsize)} else recycle{o}(shape)")
            else:
                others = tuple_of([a for k, a in enumerate(ins) if k != src])
                lines.append(f"    o{o} = a{src} if can_overwrite(a{src}, shape, {others}) "
                             f"else copy_into_new(a{src}, shape, odt{o})")
    else:
        out_shape = "(" + "".join(f"shape[{d}], " for d in kept) + ")"
        for o in range(nout):
            lines += [f"    o{o} = empty({out_shape}, odt{o})",
                      f"    o{o}.fill(ident{o})"]
    # an in-place input is passed as its output: the code reads it there
    passed = list(ins)
    for o, k in inplace.items():
        passed[k] = f"o{o}"
    operands = ", ".join(passed + outs)
    lines += ["    if size:",
              "        work = size * cost",
              "        if work < runtime.PARALLEL_MIN_WORK or runtime.max_threads < 2:"]
    if trampoline:
        lines += ["            if work < runtime.GIL_HOLD_MAX_WORK:",
                  f"                status = fast(size, {operands})",
                  "            else:",
                  f"                status = cfunc(0, size, {operands})"]
    else:
        lines.append(f"            status = cfunc(0, size, {operands})")
    lines += ["        else:",
              f"            status = run_parallel(size, shape, {tuple_of(passed)}, "
              f"{'[' + ', '.join(outs) + ']'})",
              "        if status:",
              "            raise_status(status)",
              f"    return {tuple_of(outs)}"]
    return "\n".join(lines) + "\n"


def can_overwrite(a, shape, others):
    """Whether an in-place output may be written into input ``a``: it has
    the loop shape, is writeable and shares no memory with the ``others``
    inputs (not even by being passed twice)."""
    return a.shape == shape and a.flags.writeable and not may_share_any(a, others)


def _copy_into_new(a, shape, dtype):
    """A new array of the loop ``shape`` holding ``a`` (broadcast): the
    buffer an in-place output computes in when input ``a`` cannot be
    overwritten (the code reads the input through its output)."""
    out = np.empty(shape, dtype)
    np.copyto(out, a)
    return out


def _coerce(arrays, dtypes, ndims):
    """``arrays`` as ndarrays of ``dtypes``, checking ranks: the slow path of
    a thunk's input check."""
    out = []
    for k, (a, dt, nd) in enumerate(zip(arrays, dtypes, ndims)):
        if type(a) is not np.ndarray or a.dtype != dt:
            a = np.asarray(a, dtype=dt)
        if a.ndim != nd:
            _check_rank(a, nd, k)
        out.append(a)
    return out


def _loop_shape(kernel, arrays):
    """The loop shape for ``arrays`` (NumPy broadcasting, right-aligned)."""
    ndim = kernel.ndim
    shape = [1] * ndim
    arrays = [a for a, inp in zip(arrays, kernel.inputs) if inp.in_loop]
    for a in arrays:
        s = a.shape
        offset = ndim - len(s)
        if offset < 0:  # extra leading length-1 axes (checked by _coerce)
            s, offset = s[-offset:], 0
        for d, n in enumerate(s, offset):
            if n != 1:
                if shape[d] == 1:
                    shape[d] = n
                elif shape[d] != n:
                    # the reference message, naming every operand's shape
                    return tuple(broadcast_shape(kernel, [b.shape for b in arrays]))
    if kernel.strict_broadcast:  # shapes differ: a strict kernel checks who broadcasts
        kernel.check_strict([a.shape for a in arrays], shape)
    return tuple(shape)


def _raise_status(status):
    raise ValueError(STATUS_MESSAGES.get(status, f"kernel failed with status {status}"))


def _check_rank(a, ndim, k):
    """Arrays may carry extra leading length-1 axes (broadcast padding)."""
    if a.ndim < ndim or any(s != 1 for s in a.shape[:a.ndim - ndim]):
        raise TypeError(f"kernel input {k}: expected a {ndim}-d array, got shape {a.shape}")
