"""The CBLAS binding (graphc/backends/blas.py), Gemm's CBLAS and NumPy paths,
and in-place SGD updates of shared variables (graphc/rewrite/memory.py): values
against NumPy in float64 and against the function compiled without in-place
updates, over several steps; atomicity on errors; no aliasing of user outputs
or inputs with shared storage."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.backends import blas
from graphc.compile.mode import Mode
from graphc.ops.blas import CBLAS_MIN_OUTPUT, Gemm
from graphc.rewrite.memory import check_destroy_plan, memory_plan

from graphs import relu_mlp_train_step
from helpers import assert_same

DTYPES = ["float32", "float64"]
REFERENCE = Mode("python", optimizer=None)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def close(got, want, dtype, k=1):
    """BLAS and NumPy sum in different orders: allow ``k``-term rounding."""
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=8 * eps * max(k, 1) ** 0.5,
                               atol=8 * eps * max(k, 1) ** 0.5)


@pytest.fixture
def no_cblas():
    """Gemm without the CBLAS binding (the np.dot fallback)."""
    previous = blas.set_cblas(None)
    yield
    blas.set_cblas(previous)


@pytest.fixture
def no_inplace_updates():
    memory_plan.inplace_updates = False
    yield
    memory_plan.inplace_updates = True


def gemm_nodes(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]


# ------------------------------------------------------------------ binding

def numpy_links_openblas():
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:
        return False
    return "openblas" in str(info.get("name", "")).lower()


@pytest.mark.skipif(not numpy_links_openblas(), reason="NumPy is not built with OpenBLAS")
def test_finds_the_openblas_numpy_loaded():
    found = blas.cblas()
    assert found is not None
    assert "blas" in found.path.lower()
    # the very library NumPy's extension module has mapped (one thread pool)
    with open("/proc/self/maps") as maps:
        assert found.path in maps.read()
    assert set(found.symbols) == {np.dtype("float32"), np.dtype("float64")}


def test_no_library_means_no_binding(monkeypatch):
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: [])
    assert blas.find_cblas() is None
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: ["/nonexistent/libblas.so"])
    assert blas.find_cblas() is None


def test_library_without_gemm_symbols_is_skipped(monkeypatch):
    import ctypes.util

    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm to stand in for a BLAS-less library")
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: [libm])
    assert blas.find_cblas() is None


def test_a_binding_that_computes_wrong_values_is_rejected(monkeypatch):
    found = blas.cblas()
    if found is None:
        pytest.skip("no CBLAS")

    class Wrong(blas.CBlas):
        def gemm(self, *args):
            super().gemm(*args)
            args[-2][...] += 1

    monkeypatch.setattr(blas, "CBlas", Wrong)
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: [found.path])
    assert blas.find_cblas() is None


@pytest.mark.parametrize("shape,strides,want", [
    ((3, 4), None, (False, 4)),  # C order
    ((3, 4), "F", (True, 3)),  # Fortran order: the transpose, row-major
    ((1, 4), None, (False, 4)),
    ((4, 1), "F", (False, 1)),  # one column: either layout
])
def test_matrix_layout(shape, strides, want):
    x = np.zeros(shape, "float32", order="F" if strides == "F" else "C")
    assert blas.matrix_layout(x) == want


def test_matrix_layout_of_views():
    base = np.zeros((6, 8), "float64")
    assert blas.matrix_layout(base[:, :5]) == (False, 8)  # row padding is a leading dim
    assert blas.matrix_layout(base[::2, :]) == (False, 16)
    assert blas.matrix_layout(base[:, ::2]) is None  # strided rows: copy
    assert blas.matrix_layout(base[::-1]) is None  # negative stride: copy
    assert blas.matrix_layout(np.broadcast_to(np.zeros(3), (4, 3))) is None


def operand(rng, shape, dtype, layout):
    """A matrix of ``shape`` with the given memory layout."""
    if layout == "C":
        return rand(rng, shape, dtype)
    if layout == "F":
        return np.asfortranarray(rand(rng, shape, dtype))
    if layout == "padded":  # row-major with a leading dim larger than the row
        return rand(rng, (shape[0], shape[1] + 3), dtype)[:, :shape[1]]
    if layout == "strided":  # fits no BLAS layout: copied
        return rand(rng, (shape[0] * 2, shape[1] * 3), dtype)[::2, ::3]
    return rand(rng, shape, dtype)[::-1]  # negative strides


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("layout", ["C", "F", "padded", "strided", "reversed"])
def test_gemm_into_matches_numpy(rng, dtype, trans_a, trans_b, layout):
    found = blas.cblas()
    if found is None:
        pytest.skip("no CBLAS")
    m, n, k = 7, 5, 6
    a = operand(rng, (k, m) if trans_a else (m, k), dtype, layout)
    b = operand(rng, (n, k) if trans_b else (k, n), dtype, layout)
    for out_order in "CF":
        out = np.asarray(rand(rng, (m, n), dtype), order=out_order)
        c = out.copy()
        a_saved, b_saved = a.copy(), b.copy()
        result = blas.gemm_into(found, out, a, b, trans_a, trans_b, -0.75, 0.5)
        assert result is out
        opa = (a.T if trans_a else a).astype("float64")
        opb = (b.T if trans_b else b).astype("float64")
        close(out, -0.75 * (opa @ opb) + 0.5 * c, dtype, k)
        np.testing.assert_array_equal(a, a_saved)
        np.testing.assert_array_equal(b, b_saved)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_empty_dims(dtype):
    found = blas.cblas()
    if found is None:
        pytest.skip("no CBLAS")
    out = np.full((3, 2), np.nan, dtype)  # uninitialised memory may hold NaN
    blas.gemm_into(found, out, np.zeros((3, 0), dtype), np.zeros((0, 2), dtype), False, False,
                   1.0, 0.0)
    np.testing.assert_array_equal(out, np.zeros((3, 2), dtype))
    out = np.ones((3, 2), dtype)
    blas.gemm_into(found, out, np.zeros((3, 0), dtype), np.zeros((0, 2), dtype), False, False,
                   1.0, -2.0)
    np.testing.assert_array_equal(out, np.full((3, 2), -2.0, dtype))
    empty = np.zeros((0, 2), dtype)
    blas.gemm_into(found, empty, np.zeros((0, 4), dtype), np.ones((4, 2), dtype), False, False,
                   1.0, 0.0)


# ------------------------------------------------------------------ Gemm op

#: (op(A) rows, inner, op(B) cols): large enough for the CBLAS path, and small
BIG = (64, 9, CBLAS_MIN_OUTPUT // 64)
SMALL = (3, 4, 5)


def gemm_case(rng, dtype, dims, trans_a, trans_b, c_shape):
    m, k, n = dims
    a = rand(rng, (k, m) if trans_a else (m, k), dtype)
    b = rand(rng, (2 * n, k) if trans_b else (k, 2 * n), dtype)
    b = b[::2] if trans_b else b[:, ::2]  # strided
    c = rand(rng, c_shape(m, n), dtype)
    opa = (a.T if trans_a else a).astype("float64")
    opb = (b.T if trans_b else b).astype("float64")
    return a, b, c, opa @ opb


C_SHAPES = {"matrix": lambda m, n: (m, n), "row": lambda m, n: (n,),
            "column": lambda m, n: (m, 1), "scalar": lambda m, n: ()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [BIG, SMALL], ids=["cblas", "numpy"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-0.1, 1.0), (2.0, -1.0), (0.5, 3.0)])
@pytest.mark.parametrize("with_cblas", [True, False], ids=["binding", "fallback"])
def test_gemm_values(mode, rng, dtype, dims, trans_a, trans_b, alpha, beta, with_cblas):
    previous = blas.set_cblas(blas.cblas() if with_cblas else None)
    try:
        for c_name, c_shape in C_SHAPES.items():
            a, b, c, product = gemm_case(rng, dtype, dims, trans_a, trans_b, c_shape)
            A, B = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
            C = T.tensor(dtype=dtype, shape=(None,) * c.ndim)
            op = Gemm(alpha, beta, trans_a, trans_b)
            args = [A, B] + ([C] if beta else [])
            f = graphc.function(args, op(*args), mode=mode, on_unused_input="ignore")
            got = f(a, b, *([c] if beta else []))
            assert got.dtype == dtype and got.shape == product.shape, c_name
            close(got, alpha * product + beta * c.astype("float64"), dtype, dims[1])
    finally:
        blas.set_cblas(previous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [5, CBLAS_MIN_OUTPUT + 3])
def test_gemv_cases_with_strided_vectors(mode, rng, dtype, n):
    M, v, c = T.matrix(dtype=dtype), T.vector(dtype=dtype), T.vector(dtype=dtype)
    k = 6
    m = rand(rng, (n, k), dtype)
    x = rand(rng, (2 * k,), dtype)[::2]
    cv = rand(rng, (2 * n,), dtype)[::-2]
    mv = graphc.function([M, v, c], Gemm(0.5, 1.0)(M, v, c), mode=mode)
    close(mv(m, x, cv), 0.5 * (m.astype("float64") @ x) + cv, dtype, k)
    vm = graphc.function([v, M, c], Gemm(-1.0, 2.0, trans_b=True)(v, M, c), mode=mode)
    close(vm(x, m, cv), -(x.astype("float64") @ m.T) + 2 * cv, dtype, k)
    # v @ M with M (k x n): the result is a row
    tm = graphc.function([v, M], Gemm(2.0)(v, M), mode=mode)
    close(tm(x, np.ascontiguousarray(m.T)), 2 * (x.astype("float64") @ m.T), dtype, k)


def test_cblas_and_fallback_agree_on_inf_and_nan(mode, no_cblas):
    A, B, C = T.fmatrix("A"), T.fmatrix("B"), T.fvector("c")
    n = CBLAS_MIN_OUTPUT // 4
    a = np.ones((4, 3), "float32")
    a[0, 0], a[1, 1], a[2, 2] = np.inf, np.nan, -np.inf
    b = np.ones((3, n), "float32")
    c = np.ones(n, "float32")
    c[0] = np.inf
    f = graphc.function([A, B, C], Gemm(-0.25, 1.0)(A, B, C), mode=mode)
    fallback = f(a, b, c)
    blas.set_cblas(blas.find_cblas())
    assert_same(f(a, b, c), fallback)


def test_mismatched_inner_dims_name_the_shapes(mode):
    A, B = T.fmatrix("A"), T.fmatrix("B")
    f = graphc.function([A, B], Gemm(trans_a=True)(A, B), mode=mode)
    with pytest.raises(ValueError, match=r"op\(A\) has shape \(3, 2\).*\(4, 5\)"):
        f(np.ones((2, 3), "float32"), np.ones((4, 5), "float32"))


def test_inplace_flag():
    assert Gemm(-0.1, 1.0, inplace=True).destroy_map == {0: [2]}
    assert Gemm(-0.1, 1.0).destroy_map == {}
    assert Gemm(-0.1, 1.0, inplace=True) != Gemm(-0.1, 1.0)
    with pytest.raises(ValueError, match="needs a C operand"):
        Gemm(1.0, 0.0, inplace=True)


# --------------------------------------------------------- in-place updates

def mlp_train_step(dtype, mode):
    """A relu MLP SGD step (W3 in miniature), parameters as shared variables."""
    return relu_mlp_train_step(dtype, mode, (20, 16, 12, 3), np.random.default_rng(0), 0.3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_cblas", [True, False], ids=["binding", "fallback"])
def test_mlp_updates_in_place_equal_out_of_place_steps(mode, dtype, with_cblas):
    previous = blas.set_cblas(blas.cblas() if with_cblas else None)
    try:
        f, params = mlp_train_step(dtype, mode)
        memory_plan.inplace_updates = False
        try:
            g, g_params = mlp_train_step(dtype, mode)
        finally:
            memory_plan.inplace_updates = True
        inplace = [n for n in gemm_nodes(f) if n.op.inplace]
        assert len(inplace) == 3  # the three weight updates
        assert not any(n.op.inplace for n in gemm_nodes(g))
        schedule = f.maker.fgraph.toposort()
        assert schedule[-3:] == inplace  # they run last
        buffers = [p.get_value(borrow=True) for p in params]
        data = np.random.default_rng(1)
        x = rand(data, (8, 20), dtype)
        labels = data.integers(0, 3, size=8).astype("int32")
        for _ in range(4):
            assert_same(f(x, labels), g(x, labels))
            for p, q in zip(params, g_params):
                assert_same(p.get_value(), q.get_value())
        # the weights were updated in their own arrays, the biases got new ones
        for k, (p, old) in enumerate(zip(params, buffers)):
            assert (p.get_value(borrow=True) is old) == (k % 2 == 0), p.name
    finally:
        blas.set_cblas(previous)


def sgd(W, X, g, lr=0.1):
    return W - lr * T.dot(X.T, g)


def test_update_with_other_readers_of_w_runs_after_them(mode, rng):
    X, g = T.fmatrix("X"), T.fmatrix("g")
    W = graphc.shared(rand(rng, (4, 3), "float32"), name="W")
    # W's old value is read after the update's node in a naive order
    out = T.dot(g, W.T).sum()
    f = graphc.function([X, g], out, updates=[(W, sgd(W, X, g))], mode=mode)
    W_ref = graphc.shared(W.get_value(), name="W")
    ref = graphc.function([X, g], T.dot(g, W_ref.T).sum(), updates=[(W_ref, sgd(W_ref, X, g))],
                          mode=REFERENCE)
    (update,) = [n for n in gemm_nodes(f) if n.op.inplace]
    assert f.maker.fgraph.toposort()[-1] is update
    x, gv = rand(rng, (6, 4), "float32"), rand(rng, (6, 3), "float32")
    for _ in range(3):
        assert_same(f(x, gv), ref(x, gv))
        assert_same(W.get_value(), W_ref.get_value())


@pytest.mark.parametrize("returned", ["new", "old", "view"])
def test_user_outputs_never_alias_shared_storage(mode, rng, returned):
    X, g = T.dmatrix("X"), T.dmatrix("g")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    new = sgd(W, X, g)
    out = {"new": new, "old": W, "view": W.T}[returned]
    f = graphc.function([X, g], out, updates=[(W, new)], mode=mode)
    assert not any(n.op.inplace for n in gemm_nodes(f))
    x, gv = rand(rng, (6, 4), "float64"), rand(rng, (6, 3), "float64")
    before = W.get_value()
    got = f(x, gv)
    assert not np.shares_memory(got, W.get_value(borrow=True))
    want = {"new": W.get_value(), "old": before, "view": before.T}[returned]
    assert_same(got, want)


def test_a_value_updating_two_shared_variables_is_not_in_place(mode, rng):
    X, g = T.dmatrix("X"), T.dmatrix("g")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    V = graphc.shared(rand(rng, (4, 3), "float64"), name="V")
    new = sgd(W, X, g)
    f = graphc.function([X, g], [], updates=[(W, new), (V, new)], mode=mode)
    assert not any(n.op.inplace for n in gemm_nodes(f))
    f(rand(rng, (6, 4), "float64"), rand(rng, (6, 3), "float64"))
    assert not np.shares_memory(W.get_value(borrow=True), V.get_value(borrow=True))
    assert_same(W.get_value(), V.get_value())


def test_w_read_by_its_own_gemm_is_not_in_place(mode, rng):
    g = T.dmatrix("g")
    W = graphc.shared(rand(rng, (4, 4), "float64"), name="W")
    f = graphc.function([g], [], updates=[(W, W - 0.1 * T.dot(W.T, g))], mode=mode)
    assert not any(n.op.inplace for n in gemm_nodes(f))
    w, gv = W.get_value(), rand(rng, (4, 4), "float64")
    f(gv)
    assert_same(W.get_value(), w - 0.1 * (w.T @ gv))


def test_updates_reading_each_others_weights(mode, rng):
    g = T.dmatrix("g")
    U = graphc.shared(rand(rng, (4, 4), "float64"), name="U")
    V = graphc.shared(rand(rng, (4, 4), "float64"), name="V")
    W = graphc.shared(rand(rng, (4, 4), "float64"), name="W")
    # U's update reads V, V's reads U (a cycle); W's reads U
    updates = [(U, U - 0.1 * T.dot(V.T, g)), (V, V - 0.1 * T.dot(U.T, g)),
               (W, W - 0.1 * T.dot(U, g))]
    f = graphc.function([g], [], updates=updates, mode=mode)
    u, v, w, gv = U.get_value(), V.get_value(), W.get_value(), rand(rng, (4, 4), "float64")
    inplace = [n for n in gemm_nodes(f) if n.op.inplace]
    assert 1 <= len(inplace) <= 3
    f(gv)
    assert_same(U.get_value(), u - 0.1 * (v.T @ gv))
    assert_same(V.get_value(), v - 0.1 * (u.T @ gv))
    assert_same(W.get_value(), w - 0.1 * (u @ gv))


def test_error_in_a_later_update_leaves_every_shared_value_unchanged(mode, rng):
    X, g, h = T.dmatrix("X"), T.dmatrix("g"), T.dmatrix("h")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    V = graphc.shared(rand(rng, (4, 3), "float64"), name="V")
    f = graphc.function([X, g, h], [], updates=[(W, sgd(W, X, g)), (V, sgd(V, X, h))],
                        mode=mode)
    assert len([n for n in gemm_nodes(f) if n.op.inplace]) == 2
    w_buffer, v_buffer = W.get_value(borrow=True), V.get_value(borrow=True)
    w, v = w_buffer.copy(), v_buffer.copy()
    x, gv = rand(rng, (6, 4), "float64"), rand(rng, (6, 3), "float64")
    for bad in ((gv, rand(rng, (5, 3), "float64")), (rand(rng, (5, 3), "float64"), gv)):
        with pytest.raises(ValueError, match="inner dimensions"):
            f(x, *bad)
        np.testing.assert_array_equal(W.get_value(borrow=True), w)
        np.testing.assert_array_equal(V.get_value(borrow=True), v)
    f(x, gv, gv)  # and a good call still updates both in place
    assert W.get_value(borrow=True) is w_buffer and V.get_value(borrow=True) is v_buffer
    assert_same(w_buffer, w - 0.1 * x.T @ gv)


def test_profiled_calls_check_before_writing_too(rng):
    X, g, h = T.dmatrix("X"), T.dmatrix("g"), T.dmatrix("h")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    V = graphc.shared(rand(rng, (4, 3), "float64"), name="V")
    f = graphc.function([X, g, h], [], updates=[(W, sgd(W, X, g)), (V, sgd(V, X, h))],
                        profile=True)
    w = W.get_value()
    x, gv = rand(rng, (6, 4), "float64"), rand(rng, (6, 3), "float64")
    for bad in ((gv, rand(rng, (5, 3), "float64")), (rand(rng, (5, 3), "float64"), gv)):
        with pytest.raises(ValueError, match="inner dimensions"):
            f(x, *bad)
        np.testing.assert_array_equal(W.get_value(), w)
    f(x, gv, gv)
    assert_same(W.get_value(), w - 0.1 * x.T @ gv)


def test_input_aliasing_the_updated_weight_keeps_its_value(mode, rng):
    g = T.dmatrix("g")
    M = T.dmatrix("M")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    V = graphc.shared(W.get_value(borrow=True), name="V", borrow=True)  # same buffer
    # M is read by the update itself and by the output
    f = graphc.function([M, g], [M * 1.0, V * 1.0], updates=[(W, W - 0.1 * T.dot(M, g))],
                        mode=mode)
    assert len([n for n in gemm_nodes(f) if n.op.inplace]) == 1
    w = W.get_value()
    gv = rand(rng, (3, 3), "float64")
    m_out, v_out = f(W.get_value(borrow=True), gv)  # M is W's own buffer
    assert_same(m_out, w)
    assert_same(v_out, w)
    assert_same(W.get_value(), w - 0.1 * (w @ gv))
    assert_same(V.get_value(), w)  # V's buffer was not written


def test_read_only_or_reshaped_weights_fall_back_to_a_new_array(mode, rng):
    X, g = T.fmatrix("X"), T.fmatrix("g")
    W = graphc.shared(np.zeros((4, 3), "float32"), name="W")
    f = graphc.function([X, g], [], updates=[(W, sgd(W, X, g))], mode=mode)
    x, gv = rand(rng, (6, 4), "float32"), rand(rng, (6, 3), "float32")
    frozen = rand(rng, (4, 3), "float32")
    frozen.flags.writeable = False
    W.set_value(frozen, borrow=True)
    f(x, gv)
    close(W.get_value(), frozen - 0.1 * (x.T.astype("float64") @ gv), "float32", 6)
    assert W.get_value(borrow=True) is not frozen
    # Fortran-ordered and strided weights: updated in place (BLAS layouts) or copied
    for w in (np.asfortranarray(rand(rng, (4, 3), "float32")),
              rand(rng, (8, 3), "float32")[::2]):
        W.set_value(w, borrow=True)
        before = w.copy()
        f(x, gv)
        close(W.get_value(), before - 0.1 * (x.T.astype("float64") @ gv), "float32", 6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F", "padded"])
@pytest.mark.parametrize("with_cblas", [True, False], ids=["binding", "fallback"])
def test_large_weight_updated_in_its_own_array(mode, rng, dtype, order, with_cblas,
                                               monkeypatch):
    found = blas.cblas()
    calls = []
    if found is not None:  # count the BLAS calls that write into W's array
        gemm = found.gemm
        monkeypatch.setattr(found, "gemm", lambda *args: calls.append(args[-2]) or gemm(*args))
    previous = blas.set_cblas(found if with_cblas else None)
    try:
        X, g = T.matrix("X", dtype=dtype), T.matrix("g", dtype=dtype)
        rows, cols = 128, CBLAS_MIN_OUTPUT // 128
        w = rand(rng, (rows, cols + 5), dtype)[:, :cols] if order == "padded" else \
            np.asarray(rand(rng, (rows, cols), dtype), order=order)
        W = graphc.shared(w, name="W", borrow=True)
        f = graphc.function([X, g], [], updates=[(W, sgd(W, X, g, 0.25))], mode=mode)
        assert [n.op.inplace for n in gemm_nodes(f)] == [True]
        x, gv = rand(rng, (7, rows), dtype), rand(rng, (7, cols), dtype)
        want = w.astype("float64")
        for _ in range(2):
            f(x, gv)
            want = want - 0.25 * (x.T.astype("float64") @ gv)
        assert W.get_value(borrow=True) is w
        close(w, want, dtype, 14)
        if with_cblas and found is not None:
            # the llvm backend calls CBLAS from compiled code (not through
            # ``found.gemm``: tests/test_llvm_gemm.py)
            compiled = f.maker.mode.backend == "llvm"
            assert len(calls) == (0 if compiled else 2)
            assert all(np.shares_memory(c, w) for c in calls)
    finally:
        blas.set_cblas(previous)


def test_in_place_is_shown_by_debugprint(mode, rng):
    import io

    from graphc.printing import debugprint

    X, g = T.fmatrix("X"), T.fmatrix("g")
    W = graphc.shared(np.zeros((4, 3), "float32"), name="W")
    f = graphc.function([X, g], [], updates=[(W, sgd(W, X, g))], mode=mode)
    text = io.StringIO()
    debugprint(f, file=text)
    assert "d={0: [2]}" in text.getvalue()


def test_destroy_plan_check_rejects_a_wrong_in_place_update(rng, no_inplace_updates):
    X, g = T.dmatrix("X"), T.dmatrix("g")
    W = graphc.shared(rand(rng, (4, 3), "float64"), name="W")
    f = graphc.function([X, g], T.dot(g, W.T).sum(), updates=[(W, sgd(W, X, g))])
    fgraph = f.maker.fgraph
    schedule = fgraph.toposort()
    (update,) = [n for n in gemm_nodes(f) if n.op.beta == 1.0]
    update.op = update.op.clone_with(inplace=True)
    # the update before the node that reads W's old value
    early = [update] + [n for n in schedule if n is not update]
    with pytest.raises(RuntimeError, match="read after it is overwritten|before other nodes"):
        check_destroy_plan(early, fgraph)
    late = [n for n in schedule if n is not update] + [update]
    assert check_destroy_plan(late, fgraph) == [W]
