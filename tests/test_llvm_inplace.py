"""In-place kernels on the llvm backend (output o overwrites input k, set by
memory planning): the code reads input k through output o's pointer, so
every pointer of the vectorized row stays ``noalias`` and the vector loop
runs without a runtime overlap check (which in-place calls, passing one
buffer twice, used to fail: the scalar loop ran, 4x slower).  The thunk
makes output o hold input k's values: the input itself, or a copy when it is
read-only, broadcast, of another shape or shares memory with another input.

Checked: values against the NumPy reference (``evaluate``, what the python
backend runs) on every layout and call route, the buffer actually reused
when it may be, the optimized row free of alias checks and vectorized, and
the cache key separating in-place code from out-of-place code."""

import re

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import graphc  # noqa: E402
import graphc.tensor as T  # noqa: E402
from graphc.backends.llvm import LLVMBackend, _kernel_text, codegen, runtime  # noqa: E402
from graphc.backends.llvm.jit import toolchain  # noqa: E402
from graphc.compile.mode import Mode  # noqa: E402
from graphc.kernel.ir import (KConst, KInput, Kernel, KernelInput, Reduction,  # noqa: E402
                              apply_scalar, evaluate)
from graphc.ops import scalar as scal  # noqa: E402
from graphc.ops.kernel import KernelOp  # noqa: E402

from helpers import assert_same  # noqa: E402

SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 700.0, -745.0, 1e-310]


def _w2_like(dtype="float64", ndim=1, broadcastable=None):
    """Three outputs from inputs (x, b, y): sigmoid(x + b), y * softplus(x + b),
    exp(-x); memory planning would pair output 1 with input 0."""
    x, b, y = (KInput(i, dtype) for i in range(3))
    z = apply_scalar(scal.add, x, b)
    outs = [apply_scalar(scal.sigmoid, z),
            apply_scalar(scal.mul, y, apply_scalar(scal.softplus, z)),
            apply_scalar(scal.exp, apply_scalar(scal.neg, x))]
    return Kernel([KernelInput(dtype, ndim, broadcastable), KernelInput(dtype, 0),
                   KernelInput(dtype, ndim)], outs, ndim)


def _two_pairs(dtype="float64"):
    """Outputs (tanh(x) * y, x - y, x * 2): outputs 0 and 1 overwrite inputs 1 and 0."""
    x, y = KInput(0, dtype), KInput(1, dtype)
    outs = [apply_scalar(scal.mul, apply_scalar(scal.tanh, x), y),
            apply_scalar(scal.sub, x, y),
            apply_scalar(scal.mul, x, KConst(2.0, dtype))]
    return Kernel([KernelInput(dtype, 2), KernelInput(dtype, 2)], outs, 2)


def _thunk(kernel, inplace):
    address = LLVMBackend().compile(kernel, inplace=inplace)
    return runtime.make_thunk(kernel, address, inplace=inplace)


def _check(thunk, kernel, arrays):
    """Run ``thunk`` on ``arrays`` (it may overwrite them) and compare with
    the reference evaluated on untouched copies; returns the outputs."""
    want = evaluate(kernel, [np.array(a, copy=True) for a in arrays])
    got = thunk(arrays)
    for g, w in zip(got, want):
        assert_same(g, w)
    return got


def _values(rng, shape, dtype="float64"):
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    flat[:min(len(SPECIAL), flat.size)] = SPECIAL[:flat.size]
    return a


# ------------------------------------------------------------------ values

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 7, 1000, 4099])
def test_contiguous_input_is_overwritten(rng, dtype, n):
    kernel = _w2_like(dtype)
    thunk = _thunk(kernel, [(1, 0)])
    x = _values(rng, n, dtype)
    out = _check(thunk, kernel, [x, np.asarray(0.25, dtype), rng.standard_normal(n).astype(dtype)])
    assert out[1] is x


def test_strided_input_computes_in_place_through_the_view(rng):
    kernel = _w2_like(ndim=2)
    thunk = _thunk(kernel, [(1, 0)])
    base = _values(rng, (5, 3001))
    view = base[:, ::2]  # writeable, not contiguous: the buffered strided row
    skipped = base[:, 1::2].copy()
    out = _check(thunk, kernel, [view, np.asarray(-0.5), rng.standard_normal((5, 1501))])
    assert out[1] is view
    np.testing.assert_array_equal(base[:, 1::2], skipped)  # nothing else written


def test_strided_other_operand_with_a_contiguous_in_place_input(rng):
    kernel = _w2_like(ndim=2)
    thunk = _thunk(kernel, [(1, 0)])
    x = _values(rng, (40, 33))
    y = rng.standard_normal((33, 40)).T  # transposed: the nd path, strided rows
    out = _check(thunk, kernel, [x, np.asarray(1.5), y])
    assert out[1] is x


def test_read_only_input_is_copied_not_written(rng):
    kernel = _w2_like()
    thunk = _thunk(kernel, [(1, 0)])
    x = _values(rng, 1000)
    frozen = x.copy()
    frozen.flags.writeable = False
    out = _check(thunk, kernel, [frozen, np.asarray(0.0), rng.standard_normal(1000)])
    assert out[1] is not frozen
    np.testing.assert_array_equal(frozen, x)


def test_broadcast_input_is_expanded_into_a_new_output(rng):
    kernel = _w2_like(ndim=2)
    thunk = _thunk(kernel, [(1, 0)])
    row = _values(rng, (1, 37))  # the loop is (6, 37): the row broadcasts
    kept = row.copy()
    out = _check(thunk, kernel, [row, np.asarray(0.5), rng.standard_normal((6, 37))])
    assert out[1].shape == (6, 37) and out[1] is not row
    np.testing.assert_array_equal(row, kept)


def test_statically_broadcast_in_place_input(rng):
    """Input 0 is statically of length 1 along axis 0 while the loop is not:
    the code reads it through its output, which holds it broadcast."""
    kernel = _w2_like(ndim=2, broadcastable=(True, False))
    thunk = _thunk(kernel, [(1, 0)])
    for y in (rng.standard_normal((9, 130)), rng.standard_normal((130, 9)).T):
        row = _values(rng, (1, 130))
        kept = row.copy()
        out = _check(thunk, kernel, [row, np.asarray(0.5), y])
        assert out[1].shape == (9, 130)
        np.testing.assert_array_equal(row, kept)
    x = _values(rng, (1, 130))
    out = _check(thunk, kernel, [x, np.asarray(0.5), rng.standard_normal((1, 130))])
    assert out[1] is x  # the loop has the input's shape: overwritten


def test_input_sharing_memory_with_another_operand(rng):
    kernel = _w2_like()
    thunk = _thunk(kernel, [(1, 0)])
    x = _values(rng, 500)
    kept = x.copy()
    out = _check(thunk, kernel, [x, np.asarray(0.5), x])  # one array passed twice
    assert out[1] is not x
    np.testing.assert_array_equal(x, kept)
    base = _values(rng, 600)
    kept = base.copy()
    out = _check(thunk, kernel, [base[:500], np.asarray(0.5), base[100:]])  # overlapping views
    assert out[1] is not base
    np.testing.assert_array_equal(base, kept)


def test_zero_dim_and_empty(rng):
    kernel = _w2_like(ndim=0)
    thunk = _thunk(kernel, [(1, 0)])
    for value in SPECIAL:
        x = np.asarray(value)
        out = _check(thunk, kernel, [x, np.asarray(0.5), np.asarray(2.0)])
        assert out[1] is x
    kernel = _w2_like()
    thunk = _thunk(kernel, [(1, 0)])
    x = np.empty(0)
    out = _check(thunk, kernel, [x, np.asarray(0.5), np.empty(0)])
    assert out[1].shape == (0,)


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_two_in_place_pairs(rng, layout):
    kernel = _two_pairs()
    thunk = _thunk(kernel, [(0, 1), (1, 0)])
    x, y = _values(rng, (30, 70)), rng.standard_normal((30, 70))
    if layout == "strided":
        x, y = _values(rng, (70, 30)).T, rng.standard_normal((30, 140))[:, ::2]
    out = _check(thunk, kernel, [x, y])
    assert out[0] is y and out[1] is x
    x = _values(rng, (30, 70))
    out = _check(thunk, kernel, [x, x])  # both pairs want one buffer: both copy
    assert out[0] is not x and out[1] is not x


def test_two_pairs_through_the_backend_plan(rng):
    """A KernelOp node with two in-place pairs lowers through ``_plan`` (the
    pairs reach both the code and the thunk)."""
    kernel = _two_pairs()
    inputs = [T.dmatrix(name) for name in "xy"]
    node = KernelOp(kernel, inplace={0: 1, 1: 0}).make_node(*inputs)
    (thunk,) = LLVMBackend().make_thunks([node])
    assert thunk.source_language == "LLVM IR"  # compiled, not the NumPy fallback
    assert "inplace=((0, 1), (1, 0))" in _kernel_text(kernel, codegen.inplace_pairs(
        kernel, node.op.inplace))
    x, y = _values(rng, (8, 9)), rng.standard_normal((8, 9))
    out = _check(thunk, kernel, [x, y])
    assert out[0] is y and out[1] is x


def test_threaded_split_in_place(monkeypatch, rng):
    monkeypatch.setattr(runtime, "max_threads", 2)
    monkeypatch.setattr(runtime, "PARALLEL_MIN_WORK", 1000)
    kernel = _w2_like(ndim=2)
    thunk = _thunk(kernel, [(1, 0)])
    for x in (_values(rng, (64, 515)), _values(rng, (515, 64)).T):
        out = _check(thunk, kernel, [x, np.asarray(0.1), rng.standard_normal((64, 515))])
        assert out[1] is x
    assert thunk.stats.parallel_calls == 2


def test_pair_of_different_dtypes_is_dropped(rng):
    """A comparison's bool output cannot live in its float input's buffer."""
    x = KInput(0, "float64")
    kernel = Kernel([KernelInput("float64", 1)],
                    [apply_scalar(scal.gt, x, KConst(0.0, "float64")), apply_scalar(scal.exp, x)],
                    1)
    assert codegen.inplace_pairs(kernel, {0: 0}) == ()
    assert codegen.inplace_pairs(kernel, {1: 0}) == ((1, 0),)
    thunk = _thunk(kernel, {0: 0})
    x = _values(rng, 50)
    out = _check(thunk, kernel, [x])
    assert out[0] is not x


def test_reduction_kernels_get_no_pairs(rng):
    x = KInput(0, "float64")
    kernel = Kernel([KernelInput("float64", 2)], [apply_scalar(scal.exp, x)], 2,
                    Reduction("sum", (1,)))
    assert codegen.inplace_pairs(kernel, {0: 0}) == ()
    x = rng.standard_normal((4, 5))
    (out,) = _check(_thunk(kernel, {0: 0}), kernel, [x])
    assert out.shape == (4,)


def test_out_of_range_pair_is_an_error():
    with pytest.raises(ValueError, match="output 3, input 0"):
        codegen.inplace_pairs(_w2_like(), {3: 0})


def test_graph_with_an_in_place_kernel_matches_python_and_unoptimized(rng):
    X, w = T.dmatrix("X"), T.dvector("w")
    z = T.dot(X, w)
    expr = T.exp(-z) * 2 + T.nnet.softplus(z)
    f = graphc.function([X, w], expr, mode="llvm")
    kernels = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, KernelOp)]
    assert [n.op.inplace for n in kernels] == [((0, 0),)]
    assert not f.runner.fallbacks  # the kernel runs as machine code
    ref = graphc.function([X, w], expr, mode="python")
    plain = graphc.function([X, w], expr, mode=Mode("python", optimizer=None))
    Xv = rng.standard_normal((300, 20))
    Xv[:4] = [[np.inf] * 20, [-np.inf] * 20, [np.nan] * 20, [800.0] * 20]
    wv = rng.standard_normal(20)
    with np.errstate(invalid="ignore", over="ignore"):
        got = f(Xv, wv)
        assert_same(got, ref(Xv, wv))
        assert_same(got, plain(Xv, wv))


# ------------------------------------------------------------ machine code

def _row_ir(kernel, inplace):
    text = str(toolchain().optimize(str(codegen.build_module(kernel, "probe",
                                                             inplace=inplace))))
    row = text[re.search(r"^define [^\n]*@\"?probe\.row0\"?\(", text, re.M).start():]
    return row[:row.index("\n}\n")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_row_has_no_alias_check(dtype):
    """The vector loop is entered without comparing pointers: no
    ``diff.check``/``vector.memcheck`` block, no pointer-to-int math."""
    row = _row_ir(_w2_like(dtype), [(1, 0)])
    assert "vector.body" in row
    assert not re.search(r"diff\.check|memcheck|found\.conflict|ptrtoint", row), row[:2000]
    assert "noalias" in row.splitlines()[0]
    assert row.splitlines()[0].count("noalias") == 6  # every pointer (3 inputs, 3 outputs)


def test_in_place_row_with_two_pairs_has_no_alias_check():
    row = _row_ir(_two_pairs(), [(0, 1), (1, 0)])
    assert "vector.body" in row
    assert not re.search(r"diff\.check|memcheck|ptrtoint", row)


def test_in_place_assembly_is_vectorized():
    asm = toolchain().assembly(str(codegen.build_module(_w2_like(), "probe", inplace=[(1, 0)])))
    row = asm[asm.index("probe.row0:"):]
    row = row[:row.index(".Lfunc_end")]
    assert re.search(r"\bv\w+pd\s+[^\n]*%[yz]mm", row), "no packed float64 math in the row"


def test_cache_key_separates_in_place_code():
    kernel = _w2_like()
    texts = {_kernel_text(kernel, ()), _kernel_text(kernel, ((1, 0),)),
             _kernel_text(kernel, ((1, 2),))}
    assert len(texts) == 3
    backend = LLVMBackend()
    assert backend.compile(kernel) != backend.compile(kernel, inplace=[(1, 0)])
    # one kernel, in place or not: the same values
    x = np.linspace(-5, 5, 64)
    args = [np.asarray(0.5), np.cos(x)]
    plain = runtime.make_thunk(kernel, backend.compile(kernel))([x, *args])
    in_place = _thunk(kernel, [(1, 0)])([x.copy(), *args])
    for a, b in zip(plain, in_place):
        np.testing.assert_array_equal(a, b)
