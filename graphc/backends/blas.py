"""CBLAS ``?gemm`` of the OpenBLAS NumPy itself links, called through ctypes.

Why not ``np.dot``: it only computes ``A @ B`` into a fresh array, so
``W - lr * X.T @ g`` costs the product plus two more passes over memory
(scale, add).  BLAS's ``C := alpha * op(A) @ op(B) + beta * C`` does it in one
call, and can accumulate straight into an existing array (a bias already
broadcast into the output, or a shared weight updated in place).
Why not SciPy's ``cython_blas``/f2py wrappers: SciPy ships a *second*
OpenBLAS with its own thread pool, which fights NumPy's on a small machine.
The library NumPy loaded is already in the process; opening it again with
``dlopen`` returns that same instance (one thread pool).

Finding it: the shared objects mapped into the process whose name mentions
``blas`` (``/proc/self/maps``), then NumPy's bundled-library folders
(``numpy.libs``, ``numpy/.dylibs``).  Entry points tried, in order:
scipy-openblas's ILP64 ``scipy_cblas_?gemm64_``, OpenBLAS's ILP64
``cblas_?gemm64_``, the LP64 ``scipy_cblas_?gemm`` and plain ``cblas_?gemm``
(64-bit integers only when the library says ``USE64BITINT``).  A binding is
used only after it computed a small product correctly; when none is found
``available()`` is False and callers use NumPy (``np.dot``).
"""

import ctypes
import glob
import os
import sys
import threading

import numpy as np

from .array_struct import data_pointer_reader

ROW_MAJOR = 101
NO_TRANS, TRANS = 111, 112

#: (symbol pattern, integer type); ``{t}`` is ``s`` or ``d``.  ``None``: the
#: integer width is the library's configuration (``USE64BITINT``).
_ENTRY_POINTS = (("scipy_cblas_{t}gemm64_", ctypes.c_int64),
                 ("cblas_{t}gemm64_", ctypes.c_int64),
                 ("scipy_cblas_{t}gemm", ctypes.c_int32),
                 ("cblas_{t}gemm", None))
_CONFIG_SYMBOLS = ("scipy_openblas_get_config64_", "openblas_get_config64_",
                   "scipy_openblas_get_config", "openblas_get_config")


class CBlas:
    """The bound ``sgemm``/``dgemm`` of one library, and the raw entry points
    compiled code calls (``routine``: ``?gemm``/``?gemv`` addresses and the
    integer width of their dimension arguments)."""

    def __init__(self, path, functions, symbols, pattern=None, int_type=None):
        self.path = path
        self._functions = functions  # dtype -> ctypes function
        self.symbols = symbols  # dtype -> symbol name (for reports and tests)
        self._pointer = data_pointer_reader()
        self._pattern = pattern  # entry point name pattern ({t}: s/d; gemm in it)
        #: bits of the library's BLAS integers (64: ILP64), part of compiled code
        self.int_bits = 8 * ctypes.sizeof(int_type) if int_type is not None else None

    def routine(self, name, dtype):
        """``(symbol, address)`` of CBLAS routine ``name`` (``"gemm"`` or
        ``"gemv"``) for ``dtype``, or None when the library lacks it (or this
        binding was not made by ``find_cblas``)."""
        if self._pattern is None or self.int_bits is None:
            return None
        letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
        if letter is None:
            return None
        symbol = self._pattern.replace("{t}gemm", "{t}" + name).format(t=letter)
        try:
            lib = ctypes.CDLL(self.path)
            address = ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value
        except (OSError, AttributeError):
            return None
        return symbol, address

    def __repr__(self):
        return f"CBlas({os.path.basename(self.path)}: {', '.join(self.symbols.values())})"

    def gemm(self, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        """Row-major ``C := alpha * op(A) @ op(B) + beta * C`` on raw pointers
        (``a``, ``b``, ``c``: ndarrays whose data the leading dims describe)."""
        pointer = self._pointer
        self._functions[c.dtype](ROW_MAJOR, TRANS if trans_a else NO_TRANS,
                                 TRANS if trans_b else NO_TRANS, m, n, k, alpha,
                                 pointer(a), lda, pointer(b), ldb, beta, pointer(c), ldc)


def _candidate_libraries():
    """Paths of BLAS libraries, the ones NumPy already loaded first."""
    seen = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1] if "/" in line else ""
                if "blas" in os.path.basename(path).lower() and path not in seen:
                    seen.append(path)
    except OSError:  # not Linux: rely on NumPy's folders
        pass
    root = os.path.dirname(os.path.abspath(np.__file__))
    for folder in (os.path.join(os.path.dirname(root), "numpy.libs"),
                   os.path.join(root, ".dylibs"), os.path.join(root, "_core")):
        for path in sorted(glob.glob(os.path.join(folder, "*blas*"))):
            if path not in seen:
                seen.append(path)
    return seen


def _integer_type(lib, int_type):
    if int_type is not None:
        return int_type
    for name in _CONFIG_SYMBOLS:
        get_config = getattr(lib, name, None)
        if get_config is not None:
            get_config.restype = ctypes.c_char_p
            config = get_config() or b""
            return ctypes.c_int64 if b"USE64BITINT" in config else ctypes.c_int32
    return ctypes.c_int32  # reference CBLAS


def _bind(lib, pattern, int_type):
    functions, symbols = {}, {}
    for letter, dtype, scalar in (("s", np.float32, ctypes.c_float),
                                  ("d", np.float64, ctypes.c_double)):
        name = pattern.format(t=letter)
        fn = getattr(lib, name, None)
        if fn is None:
            return None
        fn.restype = None
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, int_type, int_type, int_type,
                       scalar, ctypes.c_void_p, int_type, ctypes.c_void_p, int_type, scalar,
                       ctypes.c_void_p, int_type]
        functions[np.dtype(dtype)] = fn
        symbols[np.dtype(dtype)] = name
    return functions, symbols


def _self_test(blas):
    """Whether ``blas`` computes a small product exactly (small integers:
    no rounding), transposes, alpha and beta included."""
    for dtype in (np.float32, np.float64):
        a = np.arange(1, 7, dtype=dtype).reshape(2, 3)
        b = np.arange(-3, 3, dtype=dtype).reshape(2, 3)
        c = np.array([[1, 2], [3, 4]], dtype=dtype)
        want = 2.0 * (a @ b.T) - 1.0 * c
        blas.gemm(False, True, 2, 2, 3, 2.0, a, 3, b, 3, -1.0, c, 2)
        if not np.array_equal(c, want):
            return False
    return True


def find_cblas():
    """A working ``CBlas`` for the process's BLAS, or None."""
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern, int_type in _ENTRY_POINTS:
            width = _integer_type(lib, int_type)
            bound = _bind(lib, pattern, width)
            if bound is None:
                continue
            blas = CBlas(path, *bound, pattern=pattern, int_type=width)
            try:
                if _self_test(blas):
                    return blas
            except Exception:  # a wrong signature guess must not take graphc down
                pass
    return None


_UNSET = object()
_cblas = _UNSET
_lock = threading.Lock()


def cblas():
    """The process's ``CBlas`` (found on first use), or None: callers then
    compute with NumPy."""
    global _cblas
    if _cblas is _UNSET:
        with _lock:
            if _cblas is _UNSET:
                _cblas = find_cblas() if sys.maxsize > 2**32 else None
    return _cblas


def set_cblas(blas):
    """Use ``blas`` (a ``CBlas`` or None for NumPy only) from now on; returns
    the previous one.  For tests of the NumPy fallback and for users whose
    BLAS misbehaves."""
    global _cblas
    previous = cblas()
    _cblas = blas
    return previous


# ---------------------------------------------------------------- operands

def matrix_layout(x):
    """``(transposed, leading dim)`` describing 2-d ndarray ``x`` to row-major
    BLAS without a copy, or None when its strides fit neither row- nor
    column-major storage (then the caller copies it).  Dims of length 1 may
    have any stride; the leading dim must be >= the row length."""
    if not x.flags.aligned:
        return None
    rows, cols = x.shape
    size = x.itemsize
    s0, s1 = x.strides
    if (cols == 1 or s1 == size) and s0 % size == 0:
        ld = s0 // size if rows > 1 else max(cols, 1)
        if ld >= max(cols, 1):
            return False, ld
    if (rows == 1 or s0 == size) and s1 % size == 0:
        ld = s1 // size if cols > 1 else max(rows, 1)
        if ld >= max(rows, 1):
            return True, ld
    return None


def as_matrix(x, column):
    """2-d view of ``x``: a vector as a 1-row matrix, or a 1-column one when
    ``column`` (so that its stride becomes the leading dimension)."""
    if x.ndim == 2:
        return x
    return x.reshape(-1, 1) if column else x.reshape(1, -1)


def gemm_into(blas, out, a, b, trans_a, trans_b, alpha, beta):
    """``out := alpha * op(a) @ op(b) + beta * out`` for 2-d ``a``, ``b``,
    ``out``; ``out`` must have a BLAS layout (``matrix_layout``), ``a`` and
    ``b`` are copied only when their strides fit none.  Returns ``out``."""
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return out
    if k == 0:  # an empty sum: BLAS may reject the leading dims of empty operands
        if beta == 0.0:
            out.fill(0)  # out may be uninitialised (NaN * 0 is NaN)
        elif beta != 1.0:
            np.multiply(out, out.dtype.type(beta), out=out)
        return out
    target, (transposed, ldc) = out, matrix_layout(out)
    if transposed:  # column-major out: compute out.T = op(b).T @ op(a).T row-major
        a, b, trans_a, trans_b, target, m, n = b, a, not trans_b, not trans_a, out.T, n, m
    operands = []
    for x in (a, b):
        layout = matrix_layout(x)
        if layout is None:
            x = np.ascontiguousarray(x)
            layout = matrix_layout(x)
        operands.append((x, layout))
    (a, (stored_a, lda)), (b, (stored_b, ldb)) = operands
    blas.gemm(trans_a != stored_a, trans_b != stored_b, m, n, k, alpha, a, lda, b, ldb, beta,
              target, ldc)
    return out
