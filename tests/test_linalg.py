"""Linear algebra: Theano's dot (1-d/2-d and higher), matmul (batched with
broadcasting), outer, tensordot, batched_dot — values, dtypes, static shapes,
gradients and build-time shape errors."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import verify_grad

FLOATS = ["float32", "float64"]


def run(inputs, outputs, *values, mode):
    return graphc.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12,
                                                                                   atol=1e-12)


def sym(shape, dtype="float64", static=False):
    return T.tensor(dtype, shape=shape if static else (None,) * len(shape))


# ------------------------------------------------------------------ dot

DOT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
              ((0,), (0,)), ((2, 0), (0, 4)), ((0, 3), (3,)), ((1, 1), (1, 1)), ((1,), (1, 5))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=str)
def test_dot_values(mode, rng, dtype, shapes):
    sa, sb = shapes
    va = rng.normal(size=sa).astype(dtype)
    vb = rng.normal(size=sb).astype(dtype)
    a, b = sym(sa, dtype), sym(sb, dtype)
    out = run([a, b], T.dot(a, b), va, vb, mode=mode)
    expected = np.dot(va, vb)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **tol(dtype))
    # static shape of the result when both are known
    assert T.dot(sym(sa, dtype, True), sym(sb, dtype, True)).type.shape == expected.shape


def test_dot_noncontiguous_and_transposed(mode, rng):
    a, b = T.dmatrices("a", "b")
    va = rng.normal(size=(4, 3))
    vb = rng.normal(size=(5, 4))
    out = run([a, b], T.dot(a, b), va.T, vb.T, mode=mode)
    np.testing.assert_allclose(out, va.T @ vb.T)
    out = run([a, b], T.dot(a.T, b.T), va, vb, mode=mode)
    np.testing.assert_allclose(out, va.T @ vb.T)
    out = run([a, b], T.dot(a[::2], b[:, ::2]), rng.normal(size=(6, 5)), rng.normal(size=(5, 6)),
              mode=mode)
    assert out.shape == (3, 3)
    v = T.dvector()
    vv = rng.normal(size=8)
    out = run([a, v], T.dot(a, v[::2]), va.T, vv, mode=mode)
    np.testing.assert_allclose(out, va.T @ vv[::2])


def test_dot_mixed_dtypes(mode, rng):
    a = T.fmatrix()
    b = T.dmatrix()
    assert T.dot(a, b).dtype == "float64"
    i = T.imatrix()
    assert T.dot(i, i).dtype == "int32"
    assert T.dot(a, i).dtype == np.result_type(np.float32, np.int32).name
    vi = np.arange(6, dtype="int32").reshape(2, 3)
    out = run([i], T.dot(i, i.T), vi, mode=mode)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, vi @ vi.T)
    f32 = T.fmatrix()
    vf = rng.normal(size=(2, 2)).astype("float32")
    assert run([f32], T.dot(f32, f32), vf, mode=mode).dtype == np.float32


def test_dot_scalar_operand(mode, rng):
    s = T.dscalar()
    m = T.dmatrix()
    vm = rng.normal(size=(2, 3))
    np.testing.assert_allclose(run([s, m], T.dot(s, m), 2.0, vm, mode=mode), 2.0 * vm)
    np.testing.assert_allclose(run([s, m], T.dot(m, s), 2.0, vm, mode=mode), 2.0 * vm)


def test_dot_method_and_matmul_operator(mode, rng):
    a, b = T.dmatrices("a", "b")
    va, vb = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(run([a, b], a.dot(b), va, vb, mode=mode), va @ vb)
    np.testing.assert_allclose(run([a, b], a @ b, va, vb, mode=mode), va @ vb)
    np.testing.assert_allclose(run([a], a @ vb, va, mode=mode), va @ vb)
    np.testing.assert_allclose(run([b], va @ b, vb, mode=mode), va @ vb)


@pytest.mark.parametrize("shapes", [((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((3,), (2, 3, 4)),
                                    ((5, 3), (2, 3, 4)), ((2, 3, 4), (6, 4, 5)),
                                    ((2, 2, 3, 4), (4, 3))], ids=str)
def test_dot_higher_rank_like_numpy(mode, rng, shapes):
    sa, sb = shapes
    va, vb = rng.normal(size=sa), rng.normal(size=sb)
    a, b = sym(sa), sym(sb)
    out = run([a, b], T.dot(a, b), va, vb, mode=mode)
    np.testing.assert_allclose(out, np.dot(va, vb), rtol=1e-12, atol=1e-12)
    assert T.dot(sym(sa, static=True), sym(sb, static=True)).ndim == np.dot(va, vb).ndim


def test_dot_shape_errors():
    a = T.tensor("float64", shape=(3, 4))
    b = T.tensor("float64", shape=(5, 2))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        T.dot(a, b)
    with pytest.raises(ValueError, match="4"):
        T.dot(a, T.tensor("float64", shape=(3,)))
    with pytest.raises(ValueError):
        T.dot(T.tensor("float64", shape=(2,)), T.tensor("float64", shape=(3,)))
    with pytest.raises(ValueError):
        a @ b
    with pytest.raises(ValueError):
        T.dot(T.tensor("float64", shape=(2, 3, 4)), T.tensor("float64", shape=(5, 6)))


def test_dot_runtime_shape_error(mode):
    a, b = T.dmatrices("a", "b")
    f = graphc.function([a, b], T.dot(a, b), mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros((3, 4)), np.zeros((5, 2)))


@pytest.mark.parametrize("shapes", DOT_SHAPES[:4] + [((1, 3), (3, 1))], ids=str)
def test_dot_grad(rng, shapes):
    sa, sb = shapes
    verify_grad(T.dot, [rng.normal(size=sa), rng.normal(size=sb)])


def test_dot_grad_higher_rank(rng):
    verify_grad(T.dot, [rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 2))])
    verify_grad(T.dot, [rng.normal(size=(3,)), rng.normal(size=(2, 3, 2))])


def test_dot_grad_float32_dtype():
    a, b = T.fmatrices("a", "b")
    ga, gb = graphc.grad(T.dot(a, b).sum(), [a, b])
    assert ga.dtype == "float32" and gb.dtype == "float32"
    v = T.fvector()
    g = graphc.grad(T.dot(v, v), v)
    assert g.dtype == "float32"


# ------------------------------------------------------------------ matmul

MATMUL_SHAPES = [((2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)), ((4, 1, 2, 3), (5, 3, 2)),
                 ((3,), (5, 3, 4)), ((5, 2, 3), (3,)), ((3,), (3,)), ((2, 1, 1, 3), (1, 4, 3, 2)),
                 ((0, 2, 3), (3, 4)), ((2, 0, 3), (2, 3, 1))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_values_and_static_shape(mode, rng, dtype, shapes):
    sa, sb = shapes
    va = rng.normal(size=sa).astype(dtype)
    vb = rng.normal(size=sb).astype(dtype)
    a, b = sym(sa, dtype), sym(sb, dtype)
    expected = np.matmul(va, vb)
    out = run([a, b], T.matmul(a, b), va, vb, mode=mode)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **tol(dtype))
    out = run([a, b], a @ b, va, vb, mode=mode)
    np.testing.assert_allclose(out, expected, **tol(dtype))
    assert T.matmul(sym(sa, dtype, True), sym(sb, dtype, True)).type.shape == expected.shape


def test_matmul_partially_known_batch_shape():
    a = T.tensor("float64", shape=(None, 2, 3))
    b = T.tensor("float64", shape=(1, 3, 4))
    assert T.matmul(a, b).type.shape == (None, 2, 4)
    c = T.tensor("float64", shape=(7, 3, 4))
    assert T.matmul(a, c).type.shape == (7, 2, 4)


def test_matmul_noncontiguous(mode, rng):
    a, b = T.dtensor3s("a", "b")
    va = rng.normal(size=(3, 4, 5)).transpose(2, 1, 0)  # (5, 4, 3)
    vb = rng.normal(size=(5, 3, 2))[:, :, ::-1]
    np.testing.assert_allclose(run([a, b], T.matmul(a, b), va, vb, mode=mode), va @ vb)


def test_matmul_errors():
    a = T.tensor("float64", shape=(5, 2, 3))
    with pytest.raises(ValueError, match=r"\(5, 2, 3\)"):
        T.matmul(a, T.tensor("float64", shape=(5, 4, 2)))
    with pytest.raises(ValueError):
        T.matmul(a, T.tensor("float64", shape=(4, 3, 2)))  # batch 5 vs 4
    with pytest.raises(ValueError):
        T.matmul(a, T.dscalar())


def test_matmul_runtime_batch_mismatch(mode):
    a, b = T.dtensor3s("a", "b")
    f = graphc.function([a, b], T.matmul(a, b), mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros((5, 2, 3)), np.zeros((4, 3, 2)))


@pytest.mark.parametrize("shapes", [((3, 2, 3), (3, 3, 2)), ((3, 2, 3), (3, 2)),
                                    ((2, 3), (4, 3, 2)), ((1, 2, 3), (4, 3, 2)),
                                    ((2, 1, 2, 3), (3, 3, 1)), ((3,), (2, 3, 2)),
                                    ((2, 2, 3), (3,))], ids=str)
def test_matmul_grad(rng, shapes):
    sa, sb = shapes
    verify_grad(T.matmul, [rng.normal(size=sa), rng.normal(size=sb)])


# ------------------------------------------------------------------ outer

@pytest.mark.parametrize("dtype", FLOATS)
def test_outer(mode, rng, dtype):
    x, y = T.tensor(dtype, shape=(None,)), T.tensor(dtype, shape=(None,))
    vx, vy = rng.normal(size=3).astype(dtype), rng.normal(size=4).astype(dtype)
    out = run([x, y], T.outer(x, y), vx, vy, mode=mode)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, np.outer(vx, vy), **tol(dtype))
    assert run([x, y], T.outer(x, y), vx[:0], vy, mode=mode).shape == (0, 4)
    m = T.tensor(dtype, shape=(None, None))
    vm = rng.normal(size=(2, 2)).astype(dtype)
    np.testing.assert_allclose(run([m, y], T.outer(m, y), vm, vy, mode=mode), np.outer(vm, vy),
                               **tol(dtype))
    assert T.outer(T.tensor(dtype, shape=(3,)), T.tensor(dtype, shape=(4,))).type.shape == (3, 4)


def test_outer_grad(rng):
    verify_grad(T.outer, [rng.normal(size=3), rng.normal(size=2)])


# ------------------------------------------------------------------ tensordot

TENSORDOT_CASES = [((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 5), 1), ((3, 4), (5, 6), 0),
                   ((3, 4, 5), (5, 4, 2), [[1, 2], [1, 0]]), ((2, 3), (3, 2), [[0, 1], [1, 0]]),
                   ((3, 4, 5), (3,), [[0], [0]]), ((2, 3, 4), (4, 2), ([2, 0], [0, 1])),
                   ((3, 4), (4,), [1, 0]), ((2, 3), (2, 3), 2), ((0, 3), (3, 2), 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", range(len(TENSORDOT_CASES)))
def test_tensordot(mode, rng, dtype, case):
    sa, sb, axes = TENSORDOT_CASES[case]
    va = rng.normal(size=sa).astype(dtype)
    vb = rng.normal(size=sb).astype(dtype)
    a, b = sym(sa, dtype), sym(sb, dtype)
    expected = np.tensordot(va, vb, axes=axes)
    out = run([a, b], T.tensordot(a, b, axes=axes), va, vb, mode=mode)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **tol(dtype))
    assert T.tensordot(a, b, axes=axes).ndim == expected.ndim


def test_tensordot_static_shape_and_errors():
    a = T.tensor("float64", shape=(3, 4, 5))
    b = T.tensor("float64", shape=(4, 5, 2))
    assert T.tensordot(a, b, 2).type.shape == (3, 2)
    with pytest.raises(ValueError, match=r"\(3, 4, 5\)"):
        T.tensordot(a, b, axes=[[0], [0]])
    with pytest.raises(ValueError):
        T.tensordot(a, b, axes=[[0, 1], [0]])


def test_tensordot_grad(rng):
    verify_grad(lambda a, b: T.tensordot(a, b, 2), [rng.normal(size=(2, 3, 2)),
                                                    rng.normal(size=(3, 2, 2))])
    verify_grad(lambda a, b: T.tensordot(a, b, [[1, 0], [0, 2]]),
                [rng.normal(size=(2, 3, 2)), rng.normal(size=(3, 2, 2))])
    verify_grad(lambda a, b: T.tensordot(a, b, 0), [rng.normal(size=2), rng.normal(size=(2, 2))])


# ------------------------------------------------------------------ batched_dot

BATCHED_CASES = [((4, 2, 3), (4, 3, 5)), ((4, 3), (4, 3)), ((4, 3), (4, 3, 2)), ((4, 2, 3), (4, 3)),
                 ((0, 2, 3), (0, 3, 1)), ((3, 2, 2, 3), (3, 2, 3, 4)), ((3, 2), (3, 4, 2, 5)),
                 ((3, 2, 4), (3, 2, 4, 5))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BATCHED_CASES, ids=str)
def test_batched_dot(mode, rng, dtype, shapes):
    sa, sb = shapes
    va = rng.normal(size=sa).astype(dtype)
    vb = rng.normal(size=sb).astype(dtype)
    a, b = sym(sa, dtype), sym(sb, dtype)
    expected = np.stack([np.dot(p, q) for p, q in zip(va, vb)]) if sa[0] else \
        np.zeros((0,) + np.dot(np.zeros(sa[1:]), np.zeros(sb[1:])).shape)
    out = run([a, b], T.batched_dot(a, b), va, vb, mode=mode)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **tol(dtype))
    assert T.batched_dot(sym(sa, dtype, True), sym(sb, dtype, True)).ndim == expected.ndim


def test_batched_dot_vector_scales(mode, rng):
    """A 1-d operand holds one number per batch entry (Theano)."""
    a, b = T.dvector(), T.dtensor3()
    va, vb = rng.normal(size=3), rng.normal(size=(3, 2, 2))
    np.testing.assert_allclose(run([a, b], T.batched_dot(a, b), va, vb, mode=mode),
                               va[:, None, None] * vb)
    np.testing.assert_allclose(run([a, b], T.batched_dot(b, a), va, vb, mode=mode),
                               va[:, None, None] * vb)


def test_batched_dot_errors():
    with pytest.raises(ValueError):
        T.batched_dot(T.tensor("float64", shape=(4, 2, 3)), T.tensor("float64", shape=(5, 3, 2)))
    with pytest.raises(ValueError):
        T.batched_dot(T.tensor("float64", shape=(4, 2, 3)), T.tensor("float64", shape=(4, 2, 2)))


def test_batched_dot_grad(rng):
    verify_grad(T.batched_dot, [rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 3, 2))])
    verify_grad(T.batched_dot, [rng.normal(size=(3, 2)), rng.normal(size=(3, 2))])
    verify_grad(T.batched_dot, [rng.normal(size=(3, 2)), rng.normal(size=(3, 2, 4))])
    verify_grad(T.batched_dot, [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 2))])
    verify_grad(T.batched_dot, [rng.normal(size=(2, 2, 2, 3)), rng.normal(size=(2, 2, 3, 2))])
