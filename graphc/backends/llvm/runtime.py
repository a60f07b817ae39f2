"""The call path of a compiled kernel: as little Python as possible per call.

Per call the thunk checks each input's type/dtype/rank (attribute reads),
finds the loop shape (a tuple comparison in the common same-shape case),
allocates the outputs and makes one ctypes call passing the array objects
themselves: the generated code reads data pointers, shapes and strides from
NumPy's array struct.  ctypes releases the GIL during the call, so large
kernels split their index range over a persistent thread pool.

The split threshold is in "work units" (elements x per-element cost,
``kernel_cost``): below it the hand-off to a worker thread costs more than it
saves; see ``PARALLEL_MIN_WORK``.
"""

import concurrent.futures
import ctypes
import math
import os
import threading

import numpy as np

from ...kernel.ir import KApply, Reduction, broadcast_shape
from . import codegen
from .scalar import MATH_FUNCTIONS, STATUS_MESSAGES

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


def check_array_layout():
    """True when NumPy's array struct has the field offsets the generated
    code reads (the layout of ``PyArrayObject_fields`` on 64-bit CPython)."""
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    a = np.zeros((3, 5), np.float32)[:, ::2]
    base = id(a)
    data = ctypes.c_void_p.from_address(base + codegen.ARRAY_DATA_OFFSET).value
    nd = ctypes.c_int.from_address(base + codegen.ARRAY_NDIM_OFFSET).value
    dims = ctypes.c_void_p.from_address(base + codegen.ARRAY_DIMS_OFFSET).value
    strides = ctypes.c_void_p.from_address(base + codegen.ARRAY_STRIDES_OFFSET).value
    return (data == a.ctypes.data and nd == 2
            and list((ctypes.c_int64 * 2).from_address(dims)) == [3, 3]
            and list((ctypes.c_int64 * 2).from_address(strides)) == [20, 8])


class KernelStats:
    """Per-thunk counters (cheap: only the parallel branch counts)."""

    __slots__ = ("parallel_calls",)

    def __init__(self):
        self.parallel_calls = 0


def make_thunk(kernel, address, input_positions=None, inplace=()):
    """A thunk running compiled ``kernel`` at ``address``.

    ``input_positions[k]`` is the index, among the node's input values, of
    kernel input k (None: the same order).  ``inplace`` pairs (output, input)
    let an output overwrite an input array of the same shape and dtype."""
    nin = len(kernel.inputs)
    nops = nin + len(kernel.outputs)
    cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                             *([ctypes.py_object] * nops))(address)
    in_dtypes = [np.dtype(i.dtype) for i in kernel.inputs]
    in_ndims = [i.ndim for i in kernel.inputs]
    out_dtypes = [np.dtype(d) for d in kernel.output_dtypes]
    ndim = kernel.ndim
    red = kernel.reduce
    kept = None if red is None else [d for d in range(ndim) if d not in red.axes]
    identities = None if red is None else [red.identity(d) for d in out_dtypes]
    ufunc = None if red is None else Reduction.KINDS[red.kind]
    inplace = dict(inplace)
    cost = kernel_cost(kernel)
    positions = list(input_positions) if input_positions is not None else None
    stats = KernelStats()

    def prepare(values):
        arrays = [values[p] for p in positions] if positions is not None else list(values)
        for k in range(nin):
            a = arrays[k]
            if type(a) is not np.ndarray or a.dtype is not in_dtypes[k]:
                a = arrays[k] = np.asarray(a, dtype=in_dtypes[k])
            if a.ndim != in_ndims[k]:
                _check_rank(a, in_ndims[k], k)
        shape = arrays[0].shape
        if len(shape) != ndim or any(a.shape != shape for a in arrays[1:]):
            shape = broadcast_shape(kernel, [a.shape for a in arrays])
        return arrays, tuple(shape)

    def allocate(shape, arrays):
        if red is None:
            outs = []
            for o, dt in enumerate(out_dtypes):
                src = inplace.get(o)
                if src is not None:
                    a = arrays[src]
                    if (a.shape == shape and a.dtype is dt and a.flags.writeable
                            and not any(b is not a and np.may_share_memory(a, b)
                                        for b in arrays)):
                        outs.append(a)
                        continue
                outs.append(np.empty(shape, dt))
            return outs
        out_shape = tuple(shape[d] for d in kept)
        outs = []
        for dt, ident in zip(out_dtypes, identities):
            out = np.empty(out_shape, dt)
            out.fill(ident)
            outs.append(out)
        return outs

    def thunk(values):
        arrays, shape = prepare(values)
        outs = allocate(shape, arrays)
        size = math.prod(shape)
        if size == 0:
            return tuple(outs)
        if size * cost < PARALLEL_MIN_WORK or max_threads < 2:
            status = cfunc(0, size, *arrays, *outs)
        else:
            status = run_parallel(size, shape, arrays, outs)
        if status:
            raise ValueError(STATUS_MESSAGES.get(status, f"kernel failed with status {status}"))
        return tuple(outs)

    def run_parallel(size, shape, arrays, outs):
        stats.parallel_calls += 1
        parts = int(min(max_threads, max(size * cost // PARALLEL_MIN_WORK, 2)))
        bounds = [size * p // parts for p in range(parts + 1)]
        part_outs = [outs] + [allocate(shape, arrays) if red is not None else outs
                              for _ in range(parts - 1)]
        pool = _pool()
        futures = [pool.submit(cfunc, bounds[p], bounds[p + 1], *arrays, *part_outs[p])
                   for p in range(1, parts)]
        status = cfunc(bounds[0], bounds[1], *arrays, *outs)
        for f in futures:
            status = status or f.result()
        if red is not None:
            for extra in part_outs[1:]:
                for out, part in zip(outs, extra):
                    ufunc(out, part, out=out)
        return status

    thunk.kernel = kernel
    thunk.stats = stats
    thunk.cost = cost
    return thunk


def _check_rank(a, ndim, k):
    """Arrays may carry extra leading length-1 axes (broadcast padding)."""
    if a.ndim < ndim or any(s != 1 for s in a.shape[:a.ndim - ndim]):
        raise TypeError(f"kernel input {k}: expected a {ndim}-d array, got shape {a.shape}")
