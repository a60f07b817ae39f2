"""The Gemm op and the gemm/gemm_epilogue specialization rewrites: every case
checks the optimized graph's structure AND its values against the
unoptimized graph (inf/NaN and signed zeros included where they matter)."""

import io

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.ops.blas import Dot, Gemm, ProductShape
from graphc.ops.elemwise import Elemwise
from graphc.ops.kernel import KernelOp
from graphc.printing import debugprint

from graphs import relu_mlp_train_step
from helpers import assert_same, tols

DTYPES = ["float32", "float64"]
REFERENCE = Mode("python", optimizer=None)


def compile_pair(inputs, outputs, mode, **kwargs):
    """(optimized, unoptimized reference) functions of the same graph."""
    return (graphc.function(inputs, outputs, mode=mode, **kwargs),
            graphc.function(inputs, outputs, mode=REFERENCE, **kwargs))


def gemms(f):
    return [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]


def elementwise(f):
    """The elementwise nodes left (Elemwise, or KernelOps if fusion ran), as text."""
    return [str(n.op) for n in f.maker.fgraph.toposort() if isinstance(n.op, (Elemwise, KernelOp))]


def has_op(f, cls):
    return any(isinstance(n.op, cls) for n in f.maker.fgraph.toposort())


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ Gemm op

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_gemm_op_values_with_transposed_and_strided_operands(mode, rng, dtype, trans_a, trans_b):
    A, B, C = T.matrix(dtype=dtype), T.matrix(dtype=dtype), T.vector(dtype=dtype)
    f = graphc.function([A, B, C], Gemm(-0.5, 2.0, trans_a, trans_b)(A, B, C), mode=mode)
    a = rand(rng, (6, 4), dtype)  # op(A) is 6x4 or 4x6 read transposed
    b = rand(rng, (8, 10), dtype)[::2, ::2]  # op(B) is 4x5, strided
    a = a.T.copy() if trans_a else a
    b = np.asfortranarray(b.T) if trans_b else b
    c = rand(rng, (5,), dtype)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    assert_same(f(a, b, c), (-0.5 * (opa @ opb) + 2.0 * c).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_op_vector_cases_and_empty(mode, rng, dtype):
    M, v, c = T.matrix(dtype=dtype), T.vector(dtype=dtype), T.scalar(dtype=dtype)
    gemv = graphc.function([M, v, c], Gemm(1.0, 1.0)(M, v, c), mode=mode)
    vgem = graphc.function([v, M], Gemm(2.0, 0.0, trans_b=True)(v, M), mode=mode)
    m, x, y = rand(rng, (3, 5), dtype), rand(rng, (5,), dtype), rand(rng, (3,), dtype)
    assert_same(gemv(m, x, np.asarray(1.5, dtype)), m @ x + np.asarray(1.5, dtype))
    assert_same(vgem(x, m), (2 * (x @ m.T)).astype(dtype))
    # an empty inner dimension gives zeros plus C, as NumPy's dot does
    assert_same(gemv(np.zeros((3, 0), dtype), np.zeros(0, dtype), np.asarray(2.0, dtype)),
                np.full(3, 2.0, dtype))
    assert_same(vgem(np.zeros(0, dtype), np.zeros((4, 0), dtype)), np.zeros(4, dtype))
    assert_same(graphc.function([v, M], Gemm()(v, M), mode=mode)(y, m), y @ m)


def test_gemm_op_type_errors():
    f32, f64 = T.fmatrix("a"), T.dmatrix("b")
    with pytest.raises(TypeError, match="share one dtype"):
        Gemm()(f32, f64)
    with pytest.raises(TypeError, match="float32 or float64"):
        Gemm()(T.imatrix("i"), T.imatrix("j"))
    with pytest.raises(TypeError, match="C must be given exactly when beta"):
        Gemm(beta=1.0)(f32, f32)
    with pytest.raises(TypeError, match="C must be given exactly when beta"):
        Gemm()(f32, f32, T.fvector())
    with pytest.raises(TypeError, match="trans_a needs a 2-d operand"):
        Gemm(trans_a=True)(T.fvector(), f32)
    with pytest.raises(TypeError, match="not both 1-d"):
        Gemm()(T.fvector(), T.fvector())
    with pytest.raises(ValueError, match="inner dimensions"):
        Gemm()(T.tensor("float32", shape=(2, 3)), T.tensor("float32", shape=(4, 5)))
    with pytest.raises(ValueError, match="unknown activation"):
        Gemm(activation="softmax")


def test_gemm_prints_alpha_beta_and_flags():
    assert str(Gemm(-0.1, 1.0, trans_a=True)) == "Gemm{-0.1*dot(A.T, B) + C}"
    assert str(Gemm(2.0, -1.0, trans_b=True, activation="relu")) == "Gemm{relu(2*dot(A, B.T) - C)}"
    assert str(Gemm(1.0, 0.5)) == "Gemm{dot(A, B) + 0.5*C}"
    assert Gemm(-0.1, 1.0) == Gemm(-0.1, 1.0) and Gemm(-0.1, 1.0) != Gemm(-0.2, 1.0)


def test_gemm_never_writes_into_c(mode, rng):
    A, B, C = T.dmatrix(), T.dmatrix(), T.dmatrix()
    f = graphc.function([A, B, C], Gemm(1.0, 1.0)(A, B, C), mode=mode)
    c = rand(rng, (3, 3), "float64")
    saved = c.copy()
    f(rand(rng, (3, 2), "float64"), rand(rng, (2, 3), "float64"), c)
    np.testing.assert_array_equal(c, saved)


# ------------------------------------------------------------- gemm rewrite

@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_dot_and_transposes_become_flags(mode, rng, dtype):
    X, Y = T.matrix("X", dtype=dtype), T.matrix("Y", dtype=dtype)
    f, ref = compile_pair([X, Y], [T.dot(X.T, Y), T.dot(X, Y.T), T.dot(X.T, Y.T.T)], mode)
    ops = gemms(f)
    # X.T @ Y.T.T is X.T @ Y again: merged with the first product
    assert sorted((op.trans_a, op.trans_b) for op in ops) in (
        [(False, True), (True, False)], [(False, True), (True, False), (True, False)])
    assert not has_op(f, Dot)
    assert not any(n.op.__class__.__name__ == "DimShuffle" for n in f.maker.fgraph.toposort())
    x = rand(rng, (7, 4), dtype)[:, ::-1]  # non-contiguous
    y = np.asfortranarray(rand(rng, (7, 4), dtype))
    for got, want in zip(f(x, y[:, :4]), ref(x, y[:, :4])):
        assert_same(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_add_folds_as_broadcast_c(mode, rng, dtype):
    X, W, b = T.matrix("X", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    f, ref = compile_pair([X, W, b], T.dot(X, W) + b, mode)
    (op,) = gemms(f)
    assert (op.alpha, op.beta) == (1.0, 1.0)
    node = f.maker.fgraph.outputs[0].owner
    assert node.inputs[2].ndim == 1  # the bias itself, not its broadcast pad
    assert not elementwise(f)
    args = rand(rng, (5, 3), dtype), rand(rng, (3, 4), dtype), rand(rng, (4,), dtype)
    assert_same(f(*args), ref(*args))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_is_one_gemm_in_place(mode, rng, dtype):
    X, g = T.matrix("X", dtype=dtype), T.matrix("g", dtype=dtype)
    W = graphc.shared(rand(rng, (4, 3), dtype), name="W")
    old = W.get_value(borrow=True)
    saved = old.copy()
    f = graphc.function([X, g], [], updates=[(W, W - 0.1 * T.dot(X.T, g))], mode=mode)
    ref_W = graphc.shared(saved.copy())
    ref = graphc.function([X, g], [], updates=[(ref_W, ref_W - 0.1 * T.dot(X.T, g))],
                          mode=REFERENCE)
    (op,) = gemms(f)
    assert (op.alpha, op.beta, op.trans_a, op.trans_b, op.inplace) == (
        float(np.asarray(-0.1, dtype)), 1.0, True, False, True)
    assert len(f.maker.fgraph.toposort()) == 1
    x, gv = rand(rng, (6, 4), dtype), rand(rng, (6, 3), dtype)
    for _ in range(2):
        f(x, gv)
        ref(x, gv)
    # accumulated into W's own array (BLAS beta=1), as Theano's in-place GEMM:
    # get_value(borrow=True) returned that array (tests/test_blas.py: in-place updates)
    assert W.get_value(borrow=True) is old
    assert_same(W.get_value(), ref_W.get_value())


@pytest.mark.parametrize("build,alpha,beta", [
    (lambda A, B, C: T.dot(A, B) * 3.0, 3.0, 0.0),
    (lambda A, B, C: 3.0 * T.dot(A, B), 3.0, 0.0),
    (lambda A, B, C: -T.dot(A, B), -1.0, 0.0),
    (lambda A, B, C: C + T.dot(A, B) * 0.5, 0.5, 1.0),
    (lambda A, B, C: C - 0.5 * T.dot(A, B), -0.5, 1.0),
    (lambda A, B, C: T.dot(A, B) - C, 1.0, -1.0),
    (lambda A, B, C: -T.dot(A, B) + C, -1.0, 1.0),
])
def test_scaled_add_patterns(mode, rng, build, alpha, beta):
    A, B, C = T.dmatrix("A"), T.dmatrix("B"), T.dmatrix("C")
    f, ref = compile_pair([A, B, C], build(A, B, C), mode, on_unused_input="ignore")
    (op,) = gemms(f)
    assert (op.alpha, op.beta) == (alpha, beta)
    assert not elementwise(f)
    args = rand(rng, (3, 4), "float64"), rand(rng, (4, 2), "float64"), rand(rng, (3, 2), "float64")
    assert_same(f(*args), ref(*args))


@pytest.mark.parametrize("build,alpha,beta", [
    (lambda A, B, C: T.dot(A, B) + 0.25 * C, 1.0, 0.25),
    (lambda A, B, C: C * 0.25 - T.dot(A, B), -1.0, 0.25),
    (lambda A, B, C: 2.0 * (T.dot(A, B) + C), 2.0, 2.0),
    (lambda A, B, C: -(T.dot(A, B) - C), -1.0, 1.0),
    (lambda A, B, C: C - 0.5 * (T.dot(A, B) + 0.25 * C), -0.5, 0.875),
    (lambda A, B, C: 0.5 * (T.dot(A, B) + 0.25 * C) + C, 0.5, 1.125),
])
def test_scaled_c_and_scaled_gemm_patterns(mode, rng, build, alpha, beta):
    A, B, C = T.dmatrix("A"), T.dmatrix("B"), T.dmatrix("C")
    f, ref = compile_pair([A, B, C], build(A, B, C), mode)
    (op,) = gemms(f)
    assert (op.alpha, op.beta) == (alpha, beta)
    assert not elementwise(f)
    args = rand(rng, (3, 4), "float64"), rand(rng, (4, 2), "float64"), rand(rng, (3, 2), "float64")
    assert_same(f(*args), ref(*args))


def test_c_terms_that_cancel_stay_apart(mode, rng):
    # C - (dot + C) would need beta = 0, which BLAS reads as "ignore C" (NaN in C lost)
    A, B, C = T.dmatrix("A"), T.dmatrix("B"), T.dmatrix("C")
    f, ref = compile_pair([A, B, C], C - (T.dot(A, B) + C), mode)
    assert [op.beta for op in gemms(f)] == [1.0] and len(elementwise(f)) == 1
    c = rand(rng, (3, 2), "float64")
    c[0, 0] = np.nan
    args = rand(rng, (3, 4), "float64"), rand(rng, (4, 2), "float64"), c
    assert_same(f(*args), ref(*args))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vector", [False, True], ids=["matrix", "vector"])
def test_weight_decay_update_is_one_gemm_in_place(mode, rng, dtype, vector):
    # W - lr * (dot(X.T, g) + c * W): the L2 gradient's c*W joins the Gemm as
    # beta, and the update's W merges with it (beta = 1 - lr*c), in place
    X = T.matrix("X", dtype=dtype)
    g = T.vector("g", dtype=dtype) if vector else T.matrix("g", dtype=dtype)
    shape = (4,) if vector else (4, 3)
    W = graphc.shared(rand(rng, shape, dtype), name="W")
    ref_W = graphc.shared(W.get_value())
    old = W.get_value(borrow=True)

    def update(w):
        return [(w, w - 0.1 * (T.dot(X.T, g) + 0.02 * w))]
    f = graphc.function([X, g], [], updates=update(W), mode=mode)
    ref = graphc.function([X, g], [], updates=update(ref_W), mode=REFERENCE)
    (op,) = gemms(f)
    assert (op.alpha, op.beta, op.trans_a, op.inplace) == (
        float(np.asarray(-0.1, dtype)), float(np.asarray(1 - 0.1 * 0.02, dtype)), True, True)
    assert len(f.maker.fgraph.toposort()) == 1
    x, gv = rand(rng, (6, 4), dtype), rand(rng, (6,) if vector else (6, 3), dtype)
    for _ in range(3):
        f(x, gv)
        ref(x, gv)
    assert W.get_value(borrow=True) is old
    assert_same(W.get_value(), ref_W.get_value())


def test_weight_decay_fold_gives_inf_where_the_graph_gives_nan(mode):
    # the one inexact fold (documented in graphc/rewrite/specialize.py): an
    # infinite weight stays infinite instead of becoming inf - inf = NaN
    X, g = T.dmatrix("X"), T.dvector("g")
    W = graphc.shared(np.array([np.inf, 1.0]), name="W")
    f = graphc.function([X, g], [], updates=[(W, W - 0.1 * (T.dot(X.T, g) + 0.02 * W))],
                        mode=mode)
    f(np.eye(2), np.array([1.0, 2.0]))
    value = W.get_value()
    assert value[0] == np.inf
    np.testing.assert_allclose(value[1], 1.0 - 0.1 * (2.0 + 0.02))


def test_gemv_logistic_regression_forward(mode, rng):
    # W2: X.w + b with a scalar bias: matrix-vector Gemm, bias as 0-d C
    X, w, b = T.dmatrix("X"), T.dvector("w"), T.dscalar("b")
    f, ref = compile_pair([X, w, b], T.nnet.sigmoid(T.dot(X, w) + b), mode)
    (op,) = gemms(f)
    assert (op.beta, op.activation) == (1.0, "sigmoid")
    args = rand(rng, (9, 4), "float64"), rand(rng, (4,), "float64"), np.float64(0.3)
    assert_same(f(*args), ref(*args))


def test_shared_product_is_not_folded(mode, rng):
    A, B, C = T.dmatrix("A"), T.dmatrix("B"), T.dmatrix("C")
    d = T.dot(A, B)
    f, ref = compile_pair([A, B, C], [d + C, d * 2.0], mode)
    assert [(op.alpha, op.beta) for op in gemms(f)] == [(1.0, 0.0)]  # computed once
    assert len(elementwise(f)) == 2  # the add and the scale stay elementwise
    args = rand(rng, (2, 3), "float64"), rand(rng, (3, 2), "float64"), rand(rng, (2, 2), "float64")
    for got, want in zip(f(*args), ref(*args)):
        assert_same(got, want)


@pytest.mark.parametrize("scale", [0.0, np.inf, np.nan])
def test_scales_that_would_change_nan_semantics_stay_elementwise(mode, scale):
    A, B = T.dmatrix("A"), T.dmatrix("B")
    f, ref = compile_pair([A, B], T.dot(A, B) * scale, mode)
    assert [op.alpha for op in gemms(f)] == [1.0] and len(elementwise(f)) == 1
    a = np.array([[np.inf, 1.0], [np.nan, 0.0]])
    assert_same(f(a, np.eye(2)), ref(a, np.eye(2)))


def test_mixed_dtypes_and_integers_are_left_alone(mode, rng):
    A, C = T.fmatrix("A"), T.dmatrix("C")
    I = T.imatrix("I")
    f, ref = compile_pair([A, C, I], [T.dot(A, A) + C, T.dot(I, I)], mode)
    assert [(op.alpha, op.beta) for op in gemms(f)] == [(1.0, 0.0)]
    assert len(elementwise(f)) == 1 and has_op(f, Dot)
    args = rand(rng, (2, 2), "float32"), rand(rng, (2, 2), "float64"), np.arange(4, dtype="int32").reshape(2, 2)
    for got, want in zip(f(*args), ref(*args)):
        assert_same(got, want)


def test_c_larger_than_the_product_at_run_time(mode, rng):
    # dims unknown statically: the product is 1x1 at run time and C broadcasts it
    A, B, C = T.dmatrix("A"), T.dmatrix("B"), T.dmatrix("C")
    f, ref = compile_pair([A, B, C], T.dot(A, B) + C, mode)
    assert len(gemms(f)) == 1
    args = rand(rng, (1, 3), "float64"), rand(rng, (3, 1), "float64"), rand(rng, (4, 5), "float64")
    assert_same(f(*args), ref(*args))


def test_inf_and_nan_operands_match(mode):
    A, B, C = T.fmatrix("A"), T.fmatrix("B"), T.fvector("c")
    f, ref = compile_pair([A, B, C], C - 0.25 * T.dot(A.T, B), mode)
    assert len(gemms(f)) == 1 and not elementwise(f)
    a = np.array([[np.inf, 1.0], [1.0, np.nan], [2.0, -np.inf]], "float32")
    b = np.array([[1.0, 0.0], [2.0, 1.0], [0.5, 3.0]], "float32")
    c = np.array([np.inf, 1.0], "float32")
    assert_same(f(a, b, c), ref(a, b, c))


def test_gradient_shape_readers_move_to_product_shape(mode, rng):
    # T.grad reads dot(X, W)'s shape (SumToShapeOf) next to the bias add: the
    # add still folds and the shape comes from a ProductShape, not a 2nd GEMM.
    X, W, b = T.dmatrix("X"), T.dmatrix("W"), T.dvector("b")
    cost = T.sum(T.tanh(T.dot(X, W) + b) ** 2)
    grads = T.grad(cost, [W, b])
    f, ref = compile_pair([X, W, b], [cost] + grads, mode)
    forward = [op for op in gemms(f) if not op.trans_a and not op.trans_b]
    assert [(op.beta, op.activation) for op in forward] == [(1.0, "tanh")] or \
        [(op.beta, op.activation) for op in forward] == [(1.0, None)]
    assert has_op(f, ProductShape) or not any(
        type(n.op).__name__ == "SumToShapeOf" for n in f.maker.fgraph.toposort())
    args = rand(rng, (5, 3), "float64"), rand(rng, (3, 4), "float64"), rand(rng, (4,), "float64")
    for got, want in zip(f(*args), ref(*args)):
        assert_same(got, want)


# ------------------------------------------------------------ epilogue pass

EPILOGUES = {
    "tanh": T.tanh,
    "sigmoid": T.nnet.sigmoid,
    "relu": T.nnet.relu,
    "maximum0": lambda z: T.maximum(z, 0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EPILOGUES))
def test_activation_epilogue_is_exact_with_nan_inf_and_signed_zero(mode, dtype, name):
    X, W, b = T.matrix("X", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    f, ref = compile_pair([X, W, b], EPILOGUES[name](T.dot(X, W) + b), mode)
    (op,) = gemms(f)
    assert (op.activation, op.beta) == (name, 1.0)
    assert not elementwise(f), elementwise(f)
    x = np.array([[np.nan, 0.0], [np.inf, 1.0], [-np.inf, 1.0], [0.0, 0.0], [1e30, -1e30]], dtype)
    w = np.eye(2, dtype=dtype)
    bias = np.array([-0.0, -0.0], dtype)  # 0 + -0 and -0 + -0 give both signs of zero
    got, want = f(x, w, bias), ref(x, w, bias)
    assert_same(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_epilogue_needs_the_product_alone(mode, rng):
    X, W = T.dmatrix("X"), T.dmatrix("W")
    z = T.dot(X, W)
    f, ref = compile_pair([X, W], [T.tanh(z), z], mode)
    assert [op.activation for op in gemms(f)] == [None]
    assert len(elementwise(f)) == 1 and "tanh" in elementwise(f)[0]
    args = rand(rng, (2, 3), "float64"), rand(rng, (3, 2), "float64")
    for got, want in zip(f(*args), ref(*args)):
        assert_same(got, want)


def _mlp_train_step(dtype, rng, mode):
    return relu_mlp_train_step(dtype, mode, (6, 5, 4, 3), rng, 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_train_step_from_grad(mode, dtype):
    f, params = _mlp_train_step(dtype, np.random.default_rng(0), mode)
    ref, ref_params = _mlp_train_step(dtype, np.random.default_rng(0), REFERENCE)
    ops = gemms(f)
    assert not has_op(f, Dot)
    # forward: 3 bias Gemms (2 with relu); backward: 2 input gradients;
    # updates: 3 weight Gemms W - 0.1 * dot(h.T, g)
    assert sorted(op.activation or "" for op in ops if op.beta == 1.0 and not op.trans_a) == \
        ["", "relu", "relu"]
    assert len([op for op in ops if op.trans_a and op.beta == 1.0 and op.alpha < 0]) == 3
    assert len([op for op in ops if op.trans_b and op.beta == 0.0]) == 2
    data = np.random.default_rng(1)
    x = rand(data, (8, 6), dtype)
    labels = data.integers(0, 3, size=8).astype("int32")
    for _ in range(3):
        loss, want = f(x, labels), ref(x, labels)
        np.testing.assert_allclose(loss, want, **tols(dtype))
    for p, q in zip(params, ref_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-4 if dtype == "float32"
                                   else 1e-10, atol=1e-5 if dtype == "float32" else 1e-12)


def test_debugprint_shows_gemm_alpha_beta(mode):
    X, g = T.fmatrix("X"), T.fmatrix("g")
    W = graphc.shared(np.zeros((2, 2), "float32"), name="W")
    f = graphc.function([X, g], [], updates=[(W, W - 0.5 * T.dot(X.T, g))], mode=mode)
    out = io.StringIO()
    debugprint(f, file=out)
    assert "Gemm{-0.5*dot(A.T, B) + C}" in out.getvalue()
    # dot -> Gemm, * 0.5 folded into alpha, W - ... folded as C
    assert f.maker.fgraph.rewrite_report.fired.get("gemm") == 3


def test_runtime_error_in_a_gemm_names_the_users_dot_line(mode):
    X, W, b = T.dmatrix("X"), T.dmatrix("W"), T.dvector("b")
    out = T.dot(X, W) + b  # the line the error must point at
    line = test_runtime_error_in_a_gemm_names_the_users_dot_line.__code__.co_firstlineno + 2
    f = graphc.function([X, W, b], out, mode=mode)
    assert len(gemms(f)) == 1
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 2)), np.ones(2))
    assert "test_rewrite_gemm.py" in str(info.value) and f"line {line}" in str(info.value)
