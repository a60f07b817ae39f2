"""Shape ops: reshape, flatten, dimshuffle, squeeze, join/stack/concatenate,
arange, alloc/zeros/ones, eye, tile, repeat, diag — values vs NumPy, static
shapes, gradients and build-time errors."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import verify_grad

FLOATS = ["float32", "float64"]


def run(inputs, outputs, *values, mode):
    return graphc.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)


def close(a, b, dtype="float64"):
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------------ shape()

def test_shape_value_and_static(mode, rng):
    x = T.tensor("float64", shape=(None, 3, None))
    s = x.shape
    assert s.type.shape == (3,) and s.dtype == "int64"
    v = rng.normal(size=(2, 3, 0))
    assert list(run([x], s, v, mode=mode)) == [2, 3, 0]
    assert int(run([x], x.shape[1], v, mode=mode)) == 3
    assert run([x], x.size, v, mode=mode) == 0


def test_shape_of_scalar(mode):
    x = T.dscalar()
    out = run([x], x.shape, 1.5, mode=mode)
    assert out.shape == (0,) and out.dtype == np.int64


# ------------------------------------------------------------------ reshape

@pytest.mark.parametrize("dtype", FLOATS)
def test_reshape_values(mode, rng, dtype):
    x = T.tensor(dtype, shape=(None, None))
    v = rng.normal(size=(4, 6)).astype(dtype)
    for shp in [(24,), (2, 12), (3, -1), (-1, 2, 3), (2, 2, 2, 3), (1, 24, 1)]:
        out = run([x], x.reshape(shp), v, mode=mode)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, v.reshape(shp))


def test_reshape_noncontiguous_input(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(6, 4))
    for arg in (v.T, v[::2], v[:, ::-1]):
        np.testing.assert_array_equal(run([x], x.reshape((-1,)), arg, mode=mode),
                                      arg.reshape(-1))


def test_reshape_static_shape():
    x = T.tensor("float64", shape=(4, 6))
    assert x.reshape((3, -1)).type.shape == (3, 8)
    assert x.reshape((-1,)).type.shape == (24,)
    assert x.reshape((2, 3, 4)).type.shape == (2, 3, 4)
    y = T.dmatrix()
    assert y.reshape((2, -1)).type.shape == (2, None)
    assert y.reshape((y.shape[0], -1)).type.shape == (None, None)
    assert x.reshape((x.shape[0], -1)).type.shape == (4, 6)


def test_reshape_symbolic_shape(mode, rng):
    x = T.dtensor3()
    v = rng.normal(size=(2, 3, 4))
    out = run([x], x.reshape((x.shape[0], -1)), v, mode=mode)
    np.testing.assert_array_equal(out, v.reshape(2, -1))
    n = T.lscalar()
    out = run([x, n], x.reshape((n, -1)), v, 4, mode=mode)
    np.testing.assert_array_equal(out, v.reshape(4, -1))
    out = run([x], x.reshape((x.shape[2], x.shape[0] * x.shape[1])), v, mode=mode)
    np.testing.assert_array_equal(out, v.reshape(4, 6))
    # a whole symbolic shape vector, with ndim=
    s = T.lvector()
    out = run([x, s], T.reshape(x, s, ndim=2), v, [6, 4], mode=mode)
    np.testing.assert_array_equal(out, v.reshape(6, 4))


def test_reshape_varargs_and_int_shape(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(run([x], x.reshape(3, 2), v, mode=mode), v.reshape(3, 2))
    np.testing.assert_array_equal(run([x], x.reshape(6), v, mode=mode), v.reshape(6))


def test_reshape_empty_and_scalar(mode):
    x = T.dmatrix()
    out = run([x], x.reshape((-1, 5)), np.zeros((0, 5)), mode=mode)
    assert out.shape == (0, 5)
    out = run([x], x.reshape((5, 0)), np.zeros((0, 5)), mode=mode)
    assert out.shape == (5, 0)
    s = T.dscalar()
    out = run([s], s.reshape((1, 1)), 2.0, mode=mode)
    assert out.shape == (1, 1) and out[0, 0] == 2.0
    v = T.dvector()
    out = run([v], v.reshape(()), np.array([3.0]), mode=mode)
    assert out.shape == () and out == 3.0


def test_reshape_build_time_errors():
    x = T.tensor("float64", shape=(4, 6))
    with pytest.raises(ValueError, match=r"4, 6"):
        x.reshape((5, 5))
    with pytest.raises(ValueError):
        x.reshape((-1, -1))
    with pytest.raises(ValueError):
        x.reshape((5, -1))


def test_reshape_runtime_error(mode, rng):
    x = T.dmatrix()
    f = graphc.function([x], x.reshape((5, -1)), mode=mode)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        f(rng.normal(size=(2, 3)))


def test_reshape_grad(rng):
    verify_grad(lambda x: x.reshape((3, -1)) ** 2, [rng.normal(size=(2, 6))])
    verify_grad(lambda x: x.reshape((x.shape[0] * x.shape[1],)) * np.arange(6.0),
                [rng.normal(size=(3, 2))])


# ------------------------------------------------------------------ flatten

@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten(mode, rng, ndim):
    x = T.dtensor3()
    v = rng.normal(size=(2, 3, 4))
    out = run([x], x.flatten(ndim), v, mode=mode)
    expected = v.reshape(v.shape[:ndim - 1] + (-1,))
    np.testing.assert_array_equal(out, expected)
    assert T.flatten(x, ndim).ndim == ndim


def test_flatten_static_shape_and_noncontig(mode, rng):
    x = T.tensor("float32", shape=(2, 3, 4))
    assert x.flatten().type.shape == (24,)
    assert x.flatten(2).type.shape == (2, 12)
    assert T.flatten(x, outdim=2).type.shape == (2, 12)
    y = T.fmatrix()
    v = rng.normal(size=(3, 5)).astype("float32")
    np.testing.assert_array_equal(run([y], y.flatten(), v.T, mode=mode), v.T.ravel())


def test_flatten_errors():
    x = T.dmatrix()
    with pytest.raises(ValueError):
        x.flatten(0)
    with pytest.raises(ValueError):
        x.flatten(3)


def test_flatten_grad(rng):
    verify_grad(lambda x: x.flatten(2) * np.arange(12.0).reshape(2, 6),
                [rng.normal(size=(2, 3, 2))])


# ------------------------------------------------------------------ dimshuffle / transpose

def test_dimshuffle_values_and_static(mode, rng):
    x = T.tensor("float64", shape=(2, None, 4))
    v = rng.normal(size=(2, 3, 4))
    d = x.dimshuffle(2, "x", 0, 1)
    assert d.type.shape == (4, 1, 2, None)
    np.testing.assert_array_equal(run([x], d, v, mode=mode), v.transpose(2, 0, 1)[:, None])
    d2 = x.dimshuffle((1, 0, 2))
    np.testing.assert_array_equal(run([x], d2, v, mode=mode), v.transpose(1, 0, 2))


def test_dimshuffle_drop_broadcastable(mode, rng):
    x = T.drow()
    assert x.type.shape == (1, None)
    v = rng.normal(size=(1, 5))
    d = x.dimshuffle(1)
    assert d.type.shape == (None,)
    np.testing.assert_array_equal(run([x], d, v, mode=mode), v[0])
    # col -> row
    c = T.tensor("float64", shape=(None, 1))
    np.testing.assert_array_equal(run([c], c.dimshuffle("x", 0), v.T, mode=mode), v)


def test_dimshuffle_errors():
    x = T.tensor("float64", shape=(3, 4))
    with pytest.raises(ValueError):
        x.dimshuffle(0)  # cannot drop a non-broadcastable dim of size 4
    with pytest.raises(ValueError):
        x.dimshuffle(0, 0)
    with pytest.raises(ValueError):
        x.dimshuffle(0, 2)


def test_dimshuffle_scalar(mode):
    s = T.dscalar()
    out = run([s], s.dimshuffle("x", "x"), 3.0, mode=mode)
    assert out.shape == (1, 1)


def test_transpose(mode, rng):
    x = T.dtensor3()
    v = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(run([x], x.T, v, mode=mode), v.T)
    np.testing.assert_array_equal(run([x], x.transpose(1, 2, 0), v, mode=mode),
                                  v.transpose(1, 2, 0))
    np.testing.assert_array_equal(run([x], T.transpose(x, (0, 2, 1)), v, mode=mode),
                                  v.transpose(0, 2, 1))
    np.testing.assert_array_equal(run([x], x.transpose(-1, 0, 1), v, mode=mode),
                                  v.transpose(-1, 0, 1))
    m = T.tensor("float32", shape=(2, 5))
    assert m.T.type.shape == (5, 2) and m.T.dtype == "float32"


def test_dimshuffle_transpose_grad(rng):
    verify_grad(lambda x: x.dimshuffle(2, "x", 0, 1) * np.arange(24.0).reshape(4, 1, 2, 3),
                [rng.normal(size=(2, 3, 4))])
    verify_grad(lambda x: x.T * np.arange(6.0).reshape(3, 2), [rng.normal(size=(2, 3))])


def test_dimshuffle_drop_grad(rng):
    verify_grad(lambda x: x.dimshuffle(1) * np.arange(4.0),
                [rng.normal(size=(1, 4))])


# ------------------------------------------------------------------ padding / squeeze

def test_shape_padleft_padright_expand_dims(mode, rng):
    x = T.tensor("float64", shape=(3, None))
    v = rng.normal(size=(3, 4))
    assert T.shape_padleft(x).type.shape == (1, 3, None)
    assert T.shape_padright(x, 2).type.shape == (3, None, 1, 1)
    assert T.expand_dims(x, 1).type.shape == (3, 1, None)
    assert T.expand_dims(x, -1).type.shape == (3, None, 1)
    np.testing.assert_array_equal(run([x], T.shape_padleft(x, 2), v, mode=mode), v[None, None])
    np.testing.assert_array_equal(run([x], T.expand_dims(x, 1), v, mode=mode),
                                  np.expand_dims(v, 1))
    np.testing.assert_array_equal(run([x], T.expand_dims(x, -1), v, mode=mode),
                                  np.expand_dims(v, -1))


def test_squeeze(mode, rng):
    x = T.tensor("float64", shape=(1, None, 1, 3))
    v = rng.normal(size=(1, 4, 1, 3))
    s = T.squeeze(x)
    assert s.type.shape == (None, 3)
    np.testing.assert_array_equal(run([x], s, v, mode=mode), v.squeeze())
    np.testing.assert_array_equal(run([x], x.squeeze(), v, mode=mode), v.squeeze())
    s2 = T.squeeze(x, axis=2)
    assert s2.type.shape == (1, None, 3)
    np.testing.assert_array_equal(run([x], s2, v, mode=mode), v.squeeze(2))
    # unknown dim squeezed explicitly: checked at run time
    y = T.dmatrix()
    np.testing.assert_array_equal(run([y], T.squeeze(y, 0), v[0, :, 0, :1].T, mode=mode),
                                  v[0, :, 0, 0])
    f = graphc.function([y], T.squeeze(y, 0), mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        T.squeeze(x, axis=3)


# ------------------------------------------------------------------ join / concatenate / stack

@pytest.mark.parametrize("dtype", FLOATS)
def test_concatenate(mode, rng, dtype):
    a = T.tensor(dtype, shape=(None, 3))
    b = T.tensor(dtype, shape=(None, 3))
    va = rng.normal(size=(2, 3)).astype(dtype)
    vb = rng.normal(size=(0, 3)).astype(dtype)
    vc = rng.normal(size=(4, 3)).astype(dtype)
    out = run([a, b], T.concatenate([a, b, a]), va, vc, mode=mode)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.concatenate([va, vc, va]))
    np.testing.assert_array_equal(run([a, b], T.concatenate([a, b]), va, vb, mode=mode), va)
    np.testing.assert_array_equal(run([a, b], T.concatenate([a, b], axis=1), va, va, mode=mode),
                                  np.concatenate([va, va], axis=1))
    np.testing.assert_array_equal(run([a, b], T.concatenate([a, b], axis=-1), va, va.T.copy().T,
                                      mode=mode), np.concatenate([va, va], axis=-1))


def test_join_theano_order(mode, rng):
    a, b = T.dmatrices("a, b")
    va, vb = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    np.testing.assert_array_equal(run([a, b], T.join(1, a, b), va, vb, mode=mode),
                                  np.concatenate([va, vb], 1))
    np.testing.assert_array_equal(run([a, b], T.join(0, a.T, b.T), va, vb, mode=mode),
                                  np.concatenate([va.T, vb.T], 0))


def test_join_static_shape_and_errors():
    a = T.tensor("float64", shape=(2, 3))
    b = T.tensor("float64", shape=(4, 3))
    c = T.tensor("float64", shape=(None, 3))
    assert T.concatenate([a, b]).type.shape == (6, 3)
    assert T.concatenate([a, c]).type.shape == (None, 3)
    assert T.concatenate([a, a], axis=1).type.shape == (2, 6)
    with pytest.raises(ValueError, match="3"):
        T.concatenate([a, T.tensor("float64", shape=(2, 4))])
    with pytest.raises(ValueError):
        T.concatenate([a, T.dvector()])
    with pytest.raises(ValueError):
        T.concatenate([a, b], axis=2)


def test_join_runtime_mismatch(mode, rng):
    a, b = T.dmatrices("a, b")
    f = graphc.function([a, b], T.concatenate([a, b]), mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros((2, 3)), np.zeros((2, 4)))


def test_join_dtype_promotion(mode):
    a = T.fvector()
    b = T.ivector()
    out = T.concatenate([a, b])
    assert out.dtype == np.result_type(np.float32, np.int32).name
    r = run([a, b], out, np.ones(2, "float32"), np.arange(2, dtype="int32"), mode=mode)
    assert r.dtype == out.dtype


def test_stack(mode, rng):
    a, b = T.dmatrices("a, b")
    va, vb = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    for axis in (0, 1, 2, -1):
        s = T.stack([a, b], axis=axis)
        assert s.ndim == 3
        np.testing.assert_array_equal(run([a, b], s, va, vb, mode=mode),
                                      np.stack([va, vb], axis=axis))
    np.testing.assert_array_equal(run([a, b], T.stack([a, b], 1), va, vb, mode=mode),
                                  np.stack([va, vb], 1))
    # Theano's older varargs form
    np.testing.assert_array_equal(run([a, b], T.stack(a, b, a), va, vb, mode=mode),
                                  np.stack([va, vb, va]))
    x = T.tensor("float64", shape=(2, 3))
    assert T.stack([x, x, x]).type.shape == (3, 2, 3)
    assert T.stack([x, x], axis=1).type.shape == (2, 2, 3)


def test_stack_scalars_and_numbers(mode):
    x, y = T.dscalars("x, y")
    s = T.stack([x, y, 2.0])
    assert s.type.shape == (3,) and s.dtype == "float64"
    np.testing.assert_array_equal(run([x, y], s, 1.0, 3.0, mode=mode), [1.0, 3.0, 2.0])
    i = T.iscalar()
    s2 = T.stack([i, 5])
    assert s2.dtype == "int32"
    np.testing.assert_array_equal(run([i], s2, 7, mode=mode), [7, 5])
    s3 = T.stack([x, i])
    assert s3.dtype == "float64"
    s4 = T.stack([x, y], axis=-1)
    np.testing.assert_array_equal(run([x, y], s4, 1.0, 3.0, mode=mode), [1.0, 3.0])


def test_stack_weak_literals_and_errors():
    f = T.fscalar()
    assert T.stack([f, 0.5]).dtype == "float32"
    assert T.stack([f, 2]).dtype == "float32"
    assert T.stack([2, 3]).dtype == "int64"
    with pytest.raises(OverflowError):  # as np.int8(1) + 300 in NumPy 2
        T.stack([T.bscalar(), 300])
    with pytest.raises(ValueError):
        T.stack([T.dvector(), T.dmatrix()])
    with pytest.raises(ValueError):
        T.stack([T.dvector(), T.dvector()], axis=2)
    with pytest.raises(ValueError):
        T.stack([])


def test_plural_constructors():
    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name, a.dtype, a.ndim) == ("a", "b", "float64", 2)
    x, y, z = T.fvectors(3)
    assert x.dtype == "float32" and x.ndim == 1 and x is not y
    p, q = T.iscalars("p, q")
    assert (p.name, q.name, p.dtype) == ("p", "q", "int32")
    u, v = T.ltensor3s("uv")
    assert (u.name, v.name, u.ndim, u.dtype) == ("u", "v", 3, "int64")
    m, n = T.matrices("m", "n")
    assert m.dtype == graphc.config.floatX


def test_python_list_is_stacked(mode, rng):
    x, y = T.dvectors("x", "y")
    vx, vy = rng.uniform(size=4), rng.uniform(size=4)
    out = run([x, y], T.max([0 * x, 1 - x * y], axis=0), vx, vy, mode=mode)
    np.testing.assert_allclose(out, np.max([0 * vx, 1 - vx * vy], axis=0))
    out = run([x, y], T.sum([x, y]), vx, vy, mode=mode)
    np.testing.assert_allclose(out, np.sum([vx, vy]))
    s = T.as_tensor_variable([x, y])
    assert s.ndim == 2
    a, b = T.dscalars("a", "b")
    hinge = T.max([0 * a, 1 - a * b])
    assert hinge.ndim == 0
    assert run([a, b], hinge, 0.5, 0.5, mode=mode) == 0.75
    assert run([a, b], hinge, 2.0, 1.0, mode=mode) == 0.0
    f = T.fscalar()
    assert T.max([f, 0.0]).dtype == "float32"
    out = run([x, y], T.max([0 * x, 1 - x * y]), vx, vy, mode=mode)
    np.testing.assert_allclose(out, np.max([0 * vx, 1 - vx * vy]))


def test_join_stack_grad(rng):
    verify_grad(lambda a, b: T.concatenate([a, b, a], axis=1) * np.arange(16.0).reshape(2, 8),
                [rng.normal(size=(2, 3)), rng.normal(size=(2, 2))])
    verify_grad(lambda a, b: T.join(0, a, b) ** 2,
                [rng.normal(size=(2, 3)), rng.normal(size=(1, 3))])
    verify_grad(lambda a, b: T.stack([a, b], axis=1) ** 2,
                [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    verify_grad(lambda a, b: T.stack([a, b, a * b]) ** 2,
                [np.array(0.5), np.array(-1.5)])


def test_join_int_and_float_grad():
    x = T.dvector()
    i = T.lvector()
    g = graphc.grad(T.concatenate([x, i]).sum(), x)
    f = graphc.function([x, i], g, mode="python")
    np.testing.assert_array_equal(f(np.ones(2), np.arange(3)), [1.0, 1.0])


# ------------------------------------------------------------------ arange

@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 10, 3), (10, 0, -2), (0,), (5, 2)])
def test_arange_int(mode, args):
    out = run([], T.arange(*args), mode=mode)
    expected = np.arange(*args)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    assert T.arange(*args).type.shape == (len(expected),)


@pytest.mark.parametrize("args", [(2.5,), (0, 1, 0.25), (1.0, 3), (-1, 1.5, 0.5)])
def test_arange_float(mode, args):
    out = run([], T.arange(*args), mode=mode)
    expected = np.arange(*args)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected)


def test_arange_dtypes_like_numpy(mode):
    # Python numbers follow NumPy exactly
    assert T.arange(5).dtype == np.arange(5).dtype.name
    assert T.arange(0, 5, 2.0).dtype == np.arange(0, 5, 2.0).dtype.name
    assert T.arange(True).dtype == "int64"
    # typed symbolic bounds keep their dtype (Theano's rule: no silent widening)
    i32 = T.iscalar()
    assert T.arange(i32).dtype == "int32"
    f32 = T.fscalar()
    assert T.arange(f32).dtype == "float32"
    # float32 scalar with weak Python int step stays float32 (NumPy 2)
    assert T.arange(0, f32, 1).dtype == "float32"
    assert T.arange(0, f32, 0.5).dtype == "float32"
    l = T.lscalar()
    assert T.arange(l).dtype == "int64"
    assert T.arange(i32, l).dtype == "int64"
    assert T.arange(5, dtype="float32").dtype == "float32"
    out = run([i32], T.arange(i32), 4, mode=mode)
    np.testing.assert_array_equal(out, np.arange(4))
    assert out.dtype == np.int32
    out = run([], T.arange(5, dtype="float32"), mode=mode)
    assert out.dtype == np.float32


def test_arange_symbolic(mode):
    n = T.lscalar()
    a = T.arange(n)
    assert a.type.shape == (None,)
    np.testing.assert_array_equal(run([n], a, 4, mode=mode), np.arange(4))
    np.testing.assert_array_equal(run([n], T.arange(n, 0, -1), 4, mode=mode), np.arange(4, 0, -1))
    assert run([n], a, 0, mode=mode).shape == (0,)


def test_arange_errors():
    with pytest.raises(TypeError):
        T.arange(T.dvector())


# ------------------------------------------------------------------ alloc / zeros / ones / fill

def test_zeros_ones(mode):
    z = T.zeros((2, 3))
    assert z.type.shape == (2, 3) and z.dtype == graphc.config.floatX
    np.testing.assert_array_equal(run([], z, mode=mode), np.zeros((2, 3)))
    o = T.ones((4,), dtype="int32")
    out = run([], o, mode=mode)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.ones(4))
    o5 = T.ones(5, dtype="float32")
    assert o5.type.shape == (5,)
    e = T.zeros((0, 3))
    assert run([], e, mode=mode).shape == (0, 3)
    s = T.zeros(())
    assert run([], s, mode=mode).shape == ()


def test_zeros_symbolic_shape(mode, rng):
    x = T.dmatrix()
    z = T.zeros((x.shape[1], 2), dtype="float64")
    assert z.type.shape == (None, 2)
    np.testing.assert_array_equal(run([x], z, np.zeros((4, 5)), mode=mode), np.zeros((5, 2)))
    z2 = T.zeros(x.shape)
    assert z2.ndim == 2
    assert run([x], z2, np.zeros((4, 5)), mode=mode).shape == (4, 5)


def test_zeros_like_ones_like(mode, rng):
    x = T.fmatrix()
    v = rng.normal(size=(2, 3)).astype("float32")
    out = run([x], T.zeros_like(x), v, mode=mode)
    assert out.dtype == np.float32 and out.shape == (2, 3) and not out.any()
    out = run([x], T.ones_like(x, dtype="int64"), v, mode=mode)
    assert out.dtype == np.int64 and (out == 1).all()


def test_alloc(mode, rng):
    v = T.dvector()
    n = T.lscalar()
    a = T.alloc(v, n, 3)
    assert a.type.shape == (None, 3)
    vv = rng.normal(size=3)
    np.testing.assert_array_equal(run([v, n], a, vv, 2, mode=mode), np.broadcast_to(vv, (2, 3)))
    s = T.alloc(1.5, 2, 2)
    np.testing.assert_array_equal(run([], s, mode=mode), np.full((2, 2), 1.5))
    with pytest.raises(ValueError):
        T.alloc(T.dmatrix(), 3)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        T.alloc(T.tensor("float64", shape=(3,)), 2, 4)
    assert T.alloc(T.tensor("float64", shape=(3,)), n, n).type.shape == (None, 3)
    xs = T.tensor("float64", shape=(4, 3))
    assert T.alloc(0.0, xs.shape[0], 2).type.shape == (4, 2)
    assert T.zeros(xs.shape).type.shape == (4, 3)
    f = graphc.function([v, n], a, mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros(4), 2)


def test_alloc_grad(rng):
    verify_grad(lambda v: T.alloc(v, 4, 3) * np.arange(12.0).reshape(4, 3),
                [rng.normal(size=3)])
    verify_grad(lambda v: T.alloc(v, 2, 3) * np.arange(6.0).reshape(2, 3),
                [rng.normal(size=(2, 1))])
    verify_grad(lambda s: T.alloc(s, 2, 3) ** 2, [np.array(0.7)])


def test_fill(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(run([x], T.fill(x, 3.0), v, mode=mode), np.full((2, 3), 3.0))


# ------------------------------------------------------------------ eye

def test_eye(mode):
    for args in [(3,), (3, 4), (4, 3, 1), (3, 3, -1), (3, 5, 4), (0,)]:
        out = run([], T.eye(*args), mode=mode)
        np.testing.assert_array_equal(out, np.eye(*args))
        assert out.dtype == graphc.config.floatX
    assert T.eye(3, 4).type.shape == (3, 4)
    out = run([], T.eye(2, dtype="int32"), mode=mode)
    assert out.dtype == np.int32
    n = T.lscalar()
    e = T.eye(n)
    assert e.type.shape == (None, None)
    np.testing.assert_array_equal(run([n], e, 3, mode=mode), np.eye(3))
    np.testing.assert_array_equal(run([n], T.eye(n, k=1), 3, mode=mode), np.eye(3, k=1))


# ------------------------------------------------------------------ tile

@pytest.mark.parametrize("reps", [(2,), (2, 3), (1, 1), (3, 1, 2), (0, 2)])
def test_tile(mode, rng, reps):
    x = T.dmatrix()
    v = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(run([x], T.tile(x, reps), v, mode=mode), np.tile(v, reps))


def test_tile_static_and_vector(mode, rng):
    x = T.tensor("float32", shape=(2, 3))
    assert T.tile(x, (2, 2)).type.shape == (4, 6)
    assert T.tile(x, (3, 1, 2)).type.shape == (3, 2, 6)
    assert T.tile(x, (2,)).type.shape == (2, 6)
    v = T.dvector()
    vv = rng.normal(size=3)
    np.testing.assert_array_equal(run([v], T.tile(v, (2, 2)), vv, mode=mode), np.tile(vv, (2, 2)))
    np.testing.assert_array_equal(run([v], T.tile(v, [3]), vv, mode=mode), np.tile(vv, 3))


def test_tile_grad(rng):
    verify_grad(lambda x: T.tile(x, (2, 3)) * np.arange(36.0).reshape(4, 9),
                [rng.normal(size=(2, 3))])
    verify_grad(lambda x: T.tile(x, (2, 1, 2)) ** 2, [rng.normal(size=(2, 3))])
    verify_grad(lambda x: T.tile(x, (3,)) * np.arange(6.0), [rng.normal(size=2)])


# ------------------------------------------------------------------ repeat

def test_repeat_scalar(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(2, 3))
    for axis in (0, 1, -1, None):
        np.testing.assert_array_equal(run([x], T.repeat(x, 2, axis=axis), v, mode=mode),
                                      np.repeat(v, 2, axis=axis))
    assert T.repeat(T.tensor("float64", shape=(2, 3)), 3, axis=1).type.shape == (2, 9)
    assert T.repeat(T.tensor("float64", shape=(2, 3)), 3).type.shape in ((18,), (None,))


def test_repeat_vector(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(3, 2))
    reps = np.array([1, 0, 3])
    np.testing.assert_array_equal(run([x], T.repeat(x, reps, axis=0), v, mode=mode),
                                  np.repeat(v, reps, axis=0))
    r = T.lvector()
    np.testing.assert_array_equal(run([x, r], T.repeat(x, r, axis=1), v, [2, 1], mode=mode),
                                  np.repeat(v, [2, 1], axis=1))
    assert T.repeat(T.tensor("float64", shape=(3, 2)), reps, axis=0).type.shape == (4, 2)
    s = T.lscalar()
    np.testing.assert_array_equal(run([x, s], T.repeat(x, s, axis=0), v, 2, mode=mode),
                                  np.repeat(v, 2, axis=0))


def test_repeat_errors(mode):
    x = T.dmatrix()
    with pytest.raises(TypeError):
        T.repeat(x, 1.5)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        T.repeat(T.tensor("float64", shape=(3, 2)), np.array([1, 2]), axis=0)
    with pytest.raises(ValueError):
        T.repeat(x, 2, axis=2)


def test_repeat_grad(rng):
    verify_grad(lambda x: T.repeat(x, 3, axis=0) * np.arange(18.0).reshape(6, 3),
                [rng.normal(size=(2, 3))])
    verify_grad(lambda x: T.repeat(x, np.array([2, 0, 1]), axis=1) ** 2,
                [rng.normal(size=(2, 3))])
    verify_grad(lambda x: T.repeat(x, 2) * np.arange(12.0), [rng.normal(size=(2, 3))])


# ------------------------------------------------------------------ diag

@pytest.mark.parametrize("k", [0, 1, -2, 5])
def test_diag_extract(mode, rng, k):
    x = T.dmatrix()
    v = rng.normal(size=(3, 4))
    out = run([x], T.diag(x, k), v, mode=mode)
    np.testing.assert_array_equal(out, np.diag(v, k))
    out = run([x], T.diag(x, k), v.T, mode=mode)
    np.testing.assert_array_equal(out, np.diag(v.T, k))


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_alloc(mode, rng, k):
    x = T.dvector()
    v = rng.normal(size=3)
    out = run([x], T.diag(x, k), v, mode=mode)
    np.testing.assert_array_equal(out, np.diag(v, k))
    assert T.diag(T.tensor("float64", shape=(3,)), k).type.shape == (3 + abs(k),) * 2


def test_diag_static_shape():
    x = T.tensor("float32", shape=(3, 5))
    d = T.diag(x)
    assert d.type.shape == (3,) and d.dtype == "float32"
    assert T.diag(x, 1).type.shape == (3,)
    assert T.diag(x, 3).type.shape == (2,)
    assert T.diag(x, -1).type.shape == (2,)
    assert T.diag(x, 9).type.shape == (0,)
    with pytest.raises(ValueError):
        T.diag(T.dtensor3())


def test_diag_grad(rng):
    for k in (0, 1, -1):
        verify_grad(lambda x, k=k: T.diag(x, k) ** 2, [rng.normal(size=(3, 4))])
        verify_grad(lambda v, k=k: T.diag(v, k) ** 2, [rng.normal(size=3)])
