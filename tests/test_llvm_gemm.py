"""Gemm nodes compiled by the llvm backend into one call of CBLAS ?gemv/?gemm
plus one pass for C and the activation (graphc/backends/llvm/gemm.py):
values against ``Gemm.perform`` (what the python backend runs), layouts
BLAS cannot take, in-place updates, errors, and the generated code."""

import itertools

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.backends import blas
from graphc.backends.llvm import LLVMBackend
from graphc.backends.llvm import gemm as llvm_gemm
from graphc.ops.blas import Gemm
from helpers import assert_same

pytestmark = pytest.mark.skipif(blas.cblas() is None, reason="no CBLAS binding")

DTYPES = ["float32", "float64"]


def tensor(dtype, ndim):
    return T.TensorType(dtype, shape=(None,) * ndim)()


def gemm_node(op, dtype, ranks):
    return op(*[tensor(dtype, r) for r in ranks]).owner


def compiled_thunk(node):
    thunk = LLVMBackend().make_thunk(node)
    assert hasattr(thunk, "source_python"), "the Gemm did not compile"
    return thunk


def run_both(node, values):
    """(compiled result, perform's result) on copies of ``values``."""
    thunk = compiled_thunk(node)
    (got,) = thunk([v.copy() if isinstance(v, np.ndarray) else v for v in values])
    with np.errstate(invalid="ignore", over="ignore"):  # NumPy's sigmoid of inf/NaN
        (want,) = node.op.perform(node, [v.copy() for v in values])
    return got, want


def operand_shape(rank, trans, outer, inner, is_a):
    """Shape of A (``is_a``: outer x inner as op(A)) or B (inner x outer)."""
    if rank == 1:
        return (inner,)
    shape = (outer, inner) if is_a else (inner, outer)
    return shape[::-1] if trans else shape


#: (rank A, rank B, trans_a, trans_b): every product Gemm accepts
PRODUCTS = [(2, 2, ta, tb) for ta, tb in itertools.product([False, True], repeat=2)] + \
    [(1, 2, False, tb) for tb in (False, True)] + [(2, 1, ta, False) for ta in (False, True)]


def c_shapes(out_shape):
    """The forms of C against a result shape: full, bias row, column,
    scalar (0-d and all-ones)."""
    forms = {"full": out_shape, "scalar": (), "ones": (1,) * len(out_shape)}
    if len(out_shape) == 2:
        forms["row"] = out_shape[1:]
        forms["column"] = (out_shape[0], 1)
    return forms


#: (ranks and transposes, form of C): row and column forms only for 2-d results
PRODUCT_C_FORMS = [(p, form) for p in PRODUCTS
                   for form in ["none", "full", "row", "column", "scalar", "ones"]
                   if p[0] + p[1] == 4 or form not in ("row", "column")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ranks_trans,c_form", PRODUCT_C_FORMS, ids=str)
def test_values_equal_perform_for_every_product_and_form_of_c(dtype, ranks_trans, c_form):
    ra, rb, ta, tb = ranks_trans
    rng = np.random.default_rng(0)
    for m, k, n in [(5, 4, 6), (1, 7, 3), (4, 3, 1), (1, 1, 1), (3, 1, 2)]:
        m = 1 if ra == 1 else m
        n = 1 if rb == 1 else n
        a = rng.standard_normal(operand_shape(ra, ta, m, k, True)).astype(dtype)
        b = rng.standard_normal(operand_shape(rb, tb, n, k, False)).astype(dtype)
        out_shape = ((m,) if ra == 2 else ()) + ((n,) if rb == 2 else ())
        if c_form == "none":
            op, values, ranks = Gemm(alpha=0.5, trans_a=ta, trans_b=tb), [a, b], (ra, rb)
        else:
            c = rng.standard_normal(c_shapes(out_shape)[c_form]).astype(dtype)
            op = Gemm(alpha=-1.5, beta=0.25, trans_a=ta, trans_b=tb)
            values, ranks = [a, b, c], (ra, rb, c.ndim)
        got, want = run_both(gemm_node(op, dtype, ranks), values)
        assert_same(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "maximum0", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(5, 4, 6), (1, 4, 6), (5, 4, 1)])
def test_activations_keep_nan_signed_zero_and_inf_semantics(dtype, activation, shape):
    """C full of NaN, -0.0, +-inf and large values drives the product into
    every special case; relu/maximum0 are exact (sign of zero included),
    sigmoid/tanh equal up to rounding."""
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = np.zeros((k, n), dtype)
    b[:, ::2] = rng.standard_normal((k, (n + 1) // 2))
    specials = np.array([np.nan, -0.0, np.inf, -np.inf, 1e30, -1e30, 0.0, 3.0], dtype)
    c = np.resize(specials, (m, n)).astype(dtype)
    node = gemm_node(Gemm(beta=1.0, activation=activation), dtype, (2, 2, 2))
    got, want = run_both(node, [a, b, c])
    assert_same(got, want)
    if activation in ("relu", "maximum0"):
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
        assert np.array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.0, -1.0, 0.5])
@pytest.mark.parametrize("shape", [(6, 5, 4), (1, 5, 4), (6, 5, 1)])
def test_in_place_accumulates_into_c_own_buffer(dtype, beta, shape):
    m, k, n = shape
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    node = gemm_node(Gemm(alpha=-0.1, beta=beta, inplace=True), dtype, (2, 2, 2))
    (want,) = node.op.perform(node, [a, b, c.copy()])
    target = c.copy()
    (got,) = compiled_thunk(node)([a, b, target])
    assert got is target
    assert_same(got, want)


def in_place_refusals(dtype):
    """(name, a, b, c) cases where an in-place Gemm must not write into C."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    read_only = rng.standard_normal((4, 5)).astype(dtype)
    read_only.flags.writeable = False
    square = rng.standard_normal((4, 4)).astype(dtype)
    return [("read-only C", a, b, read_only),
            ("broadcast C", a, b, rng.standard_normal(5).astype(dtype)),
            ("C is A", square, square.copy(), square),
            ("C overlaps B", square[:, :4], square, square)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(4))
def test_in_place_refuses_c_it_must_not_write(dtype, case):
    name, a, b, c = in_place_refusals(dtype)[case]
    node = gemm_node(Gemm(alpha=2.0, beta=1.0, inplace=True), dtype, (2, 2, c.ndim))
    before = c.copy()
    want = 2.0 * (a @ b) + before
    (got,) = compiled_thunk(node)([a, b, c])
    assert got is not c, name
    np.testing.assert_array_equal(c, before)
    assert_same(got, want.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_into_column_major_c_falls_back_before_writing(dtype):
    """A Fortran-ordered C is writable but not a row-major GEMM result: the
    compiled code reports FALLBACK before any write, perform accumulates."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    c = np.asfortranarray(rng.standard_normal((4, 5)).astype(dtype))
    node = gemm_node(Gemm(beta=1.0, inplace=True), dtype, (2, 2, 2))
    (want,) = node.op.perform(node, [a, b, c.copy(order="F")])
    (got,) = compiled_thunk(node)([a, b, c])
    assert_same(got, want)


def strided_operands(dtype):
    """Operands in layouts BLAS takes transposed, or cannot take at all
    (then the thunk falls back to perform)."""
    rng = np.random.default_rng(5)
    big = rng.standard_normal((12, 14)).astype(dtype)
    return {
        "fortran": np.asfortranarray(big[:6, :5]),
        "row_step": big[::2, :5],
        "col_step": big[:6, ::2][:, :5],
        "negative_rows": big[5::-1, :5],
        "negative_cols": big[:6, 4::-1],
        "broadcast": np.broadcast_to(big[0, :5], (6, 5)),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["fortran", "row_step", "col_step", "negative_rows",
                                    "negative_cols", "broadcast"])
@pytest.mark.parametrize("position", ["A", "B", "C"])
def test_strided_and_negative_stride_operands(dtype, layout, position):
    rng = np.random.default_rng(6)
    x = strided_operands(dtype)[layout]  # 6 x 5
    values = {"A": rng.standard_normal((3, 6)).astype(dtype),
              "B": rng.standard_normal((6, 5)).astype(dtype),
              "C": rng.standard_normal((3, 5)).astype(dtype)}
    if position == "A":
        values["A"] = x.T[:3]
    else:
        values[position] = x if position == "B" else x[:3]
    node = gemm_node(Gemm(alpha=0.5, beta=1.0, activation="relu"), dtype, (2, 2, 2))
    got, want = run_both(node, [values["A"], values["B"], values["C"]])
    assert_same(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["step", "negative", "broadcast"])
def test_strided_vectors(dtype, layout):
    rng = np.random.default_rng(7)
    base = rng.standard_normal(12).astype(dtype)
    v = {"step": base[::2], "negative": base[5::-1], "broadcast": np.broadcast_to(base[:1], (6,))}
    vec = v[layout]
    m = rng.standard_normal((6, 4)).astype(dtype)
    for node, values in [
            (gemm_node(Gemm(), dtype, (1, 2)), [vec, m]),
            (gemm_node(Gemm(trans_a=True), dtype, (2, 1)), [m, vec]),
            (gemm_node(Gemm(beta=1.0, activation="tanh"), dtype, (2, 1, 1)),
             [m.T.copy(), vec, base[:4]])]:
        got, want = run_both(node, values)
        assert_same(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0), (1, 0, 1)])
@pytest.mark.parametrize("inplace", [False, True])
def test_empty_dims(dtype, shape, inplace):
    m, k, n = shape
    rng = np.random.default_rng(8)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    node = gemm_node(Gemm(beta=-1.0, activation="relu", inplace=inplace), dtype, (2, 2, 2))
    got, want = run_both(node, [a, b, c])
    assert_same(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_product_released_gil_path(dtype):
    """A product over ``GIL_RELEASE_MIN_WORK`` multiply-adds goes through
    ctypes (GIL released): same values."""
    m = k = n = 128
    assert m * n * k >= llvm_gemm.GIL_RELEASE_MIN_WORK
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal(n).astype(dtype)
    node = gemm_node(Gemm(alpha=0.5, beta=2.0, activation="sigmoid"), dtype, (2, 2, 1))
    got, want = run_both(node, [a, b, c])
    assert_same(got, want)


def test_errors_are_perform_s():
    dtype = "float64"
    node = gemm_node(Gemm(beta=1.0), dtype, (2, 2, 1))
    thunk = compiled_thunk(node)
    a, b = np.ones((3, 4)), np.ones((5, 2))
    with pytest.raises(ValueError, match=r"inner dimensions do not match: op\(A\) has shape "
                                         r"\(3, 4\), op\(B\) has shape \(5, 2\)"):
        thunk([a, b, np.ones(2)])
    with pytest.raises(ValueError, match=r"C of shape \(3,\) does not broadcast against the "
                                         r"product's shape \(3, 2\)"):
        thunk([a, np.ones((4, 2)), np.ones(3)])


def test_other_input_types_run_perform():
    """Operands of another dtype are not the compiled signature: perform runs."""
    node = gemm_node(Gemm(beta=1.0), "float64", (2, 2, 1))
    thunk = compiled_thunk(node)
    (got,) = thunk([np.array([[1.0, 2.0]]), np.ones((2, 3)), np.ones(3, np.float32)])
    assert_same(got, np.array([[4.0, 4.0, 4.0]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_ir_calls_gemv_and_gemm_of_the_library_width(dtype):
    node = gemm_node(Gemm(beta=1.0, activation="relu"), dtype, (2, 2, 1))
    source = str(compiled_thunk(node).source)
    letter = "s" if dtype == "float32" else "d"
    bits = blas.cblas().int_bits
    for routine in ("gemv", "gemm"):
        assert f"call void @\"graphc_cblas_{letter}{routine}_i{bits}\"" in source


def w4_like(dtype, mode):
    x = T.vector("x", dtype=dtype)
    rng = np.random.default_rng(10)
    layers = [(rng.standard_normal((n_in, n_out)).astype(dtype) * 0.1,
               rng.standard_normal(n_out).astype(dtype)) for n_in, n_out in
              [(16, 8), (8, 4), (4, 2)]]
    h = x.dimshuffle("x", 0)
    for i, (w, b) in enumerate(layers):
        h = T.dot(h, graphc.shared(w)) + graphc.shared(b)
        if i < len(layers) - 1:
            h = T.nnet.relu(h)
    return graphc.function([x], h, mode=mode)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_forward_compiles_its_gemms_and_reports_them_as_blas(mode, dtype):
    f = w4_like(dtype, mode)
    ref = w4_like(dtype, "python")
    x = np.random.default_rng(11).standard_normal(16).astype(dtype)
    x[3] = np.nan
    assert_same(f(x), ref(x))
    gemms = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]
    assert len(gemms) == 3
    assert any(n.op.activation == "relu" for n in gemms)
    report = f.report()
    for info in report.nodes:
        if isinstance(info.node.op, Gemm):
            assert info.backend == ("BLAS" if f.maker.mode.backend == "llvm" else "python")
            assert not info.fallback
    if f.maker.mode.backend == "llvm":
        thunks = [t for n, t, *_ in f.runner.schedule if isinstance(n.op, Gemm)]
        assert all(hasattr(t, "source_python") for t in thunks)


def test_without_cblas_the_numpy_path_runs():
    previous = blas.set_cblas(None)
    try:
        node = gemm_node(Gemm(beta=1.0, activation="relu"), "float32", (2, 2, 1))
        assert llvm_gemm.GemmPlan.of(node) is None
        thunk = LLVMBackend().make_thunk(node)
        assert not hasattr(thunk, "source_python")
        rng = np.random.default_rng(12)
        values = [rng.standard_normal(s).astype("float32") for s in ((3, 4), (4, 5), (5,))]
        (got,) = thunk(values)
        (want,) = node.op.perform(node, values)
        assert_same(got, want)
    finally:
        blas.set_cblas(previous)


def test_equal_but_distinct_dtype_objects_take_the_blas_call():
    # arrays from pickle (or np.load) carry a dtype equal to, but not the
    # same object as, np.dtype("float64"); they must round as every other
    # call does (the BLAS call with beta), not through ``perform``'s np.dot
    import pickle

    node = gemm_node(Gemm(alpha=-0.1, beta=0.9998, trans_a=True), "float64", (2, 2, 2))
    rng = np.random.default_rng(3)
    values = [rng.standard_normal((5, 12)), rng.standard_normal((5, 7)),
              rng.standard_normal((12, 7))]
    unpickled = pickle.loads(pickle.dumps(values))
    assert unpickled[2].dtype is not values[2].dtype
    thunk = compiled_thunk(node)
    (want,) = thunk([v.copy() for v in values])
    (got,) = thunk(unpickled)
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
