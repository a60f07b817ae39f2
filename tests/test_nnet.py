"""Softmax, log-softmax and the cross-entropies of ``T.nnet``: values vs NumPy,
stability for large inputs, dtypes, static shapes and gradients."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import verify_grad
from graphc.tensor import nnet

FLOATS = ["float32", "float64"]


def run(inputs, outputs, *values, mode):
    return graphc.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsoftmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12,
                                                                                  atol=1e-14)


# ------------------------------------------------------------------ softmax

@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_matrix(mode, rng, dtype):
    x = T.tensor(dtype, shape=(None, None))
    v = rng.normal(size=(4, 5)).astype(dtype)
    out = run([x], nnet.softmax(x), v, mode=mode)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, np_softmax(v), **tol(dtype))
    np.testing.assert_allclose(out.sum(axis=1), np.ones(4), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsoftmax_matrix(mode, rng, dtype):
    x = T.tensor(dtype, shape=(None, None))
    v = rng.normal(size=(4, 5)).astype(dtype)
    out = run([x], nnet.logsoftmax(x), v, mode=mode)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, np_logsoftmax(v), **tol(dtype))
    np.testing.assert_allclose(np.exp(out).sum(axis=1), np.ones(4), **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_stable_for_large_inputs(mode, dtype):
    x = T.tensor(dtype, shape=(None, None))
    v = np.array([[1000.0, 1000.0, 999.0], [-1000.0, 0.0, 1000.0], [1e4, -1e4, 0.0]], dtype=dtype)
    out = run([x], nnet.softmax(x), v, mode=mode)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np_softmax(v.astype("float64")), **tol(dtype))
    np.testing.assert_allclose(out.sum(axis=1), np.ones(3), **tol(dtype))
    lout = run([x], nnet.logsoftmax(x), v, mode=mode)
    assert np.all(np.isfinite(lout))
    np.testing.assert_allclose(lout, np_logsoftmax(v.astype("float64")), rtol=1e-5, atol=1e-5)
    # log(softmax(x)) spelled out is also finite where it can be
    single = np.full((1, 4), 1000.0, dtype=dtype)
    np.testing.assert_allclose(run([x], nnet.softmax(x), single, mode=mode), np.full((1, 4), 0.25),
                               **tol(dtype))


def test_softmax_vector_and_axis(mode, rng):
    v = T.dvector()
    vv = rng.normal(size=6)
    np.testing.assert_allclose(run([v], nnet.softmax(v), vv, mode=mode), np_softmax(vv))
    np.testing.assert_allclose(run([v], nnet.logsoftmax(v), vv, mode=mode), np_logsoftmax(vv))
    t = T.dtensor3()
    vt = rng.normal(size=(2, 3, 4))
    for axis in (0, 1, 2, -1, -3):
        np.testing.assert_allclose(run([t], nnet.softmax(t, axis=axis), vt, mode=mode),
                                   np_softmax(vt, axis), rtol=1e-12)
        np.testing.assert_allclose(run([t], nnet.logsoftmax(t, axis=axis), vt, mode=mode),
                                   np_logsoftmax(vt, axis), rtol=1e-12)


def test_softmax_static_shape_and_odd_inputs(mode, rng):
    x = T.tensor("float32", shape=(3, 7))
    assert nnet.softmax(x).type.shape == (3, 7) and nnet.softmax(x).dtype == "float32"
    assert nnet.logsoftmax(x).type == x.type
    m = T.dmatrix()
    # one column: all ones / zeros
    np.testing.assert_array_equal(run([m], nnet.softmax(m), np.ones((3, 1)) * 5, mode=mode),
                                  np.ones((3, 1)))
    np.testing.assert_array_equal(run([m], nnet.logsoftmax(m), np.ones((3, 1)), mode=mode),
                                  np.zeros((3, 1)))
    # no rows
    assert run([m], nnet.softmax(m), np.zeros((0, 4)), mode=mode).shape == (0, 4)
    # transposed (non-contiguous) input
    v = rng.normal(size=(5, 3))
    np.testing.assert_allclose(run([m], nnet.softmax(m), v.T, mode=mode), np_softmax(v.T))
    # -inf entries get probability 0
    w = np.array([[0.0, -np.inf, 1.0]])
    out = run([m], nnet.softmax(m), w, mode=mode)
    np.testing.assert_allclose(out, np_softmax(np.array([[0.0, -1e300, 1.0]])))


def test_softmax_int_input_is_float(mode):
    i = T.imatrix()
    assert nnet.softmax(i).dtype.startswith("float")
    out = run([i], nnet.softmax(i), np.array([[0, 1]], dtype="int32"), mode=mode)
    np.testing.assert_allclose(out, np_softmax(np.array([[0.0, 1.0]])), rtol=1e-6)


def test_softmax_errors():
    with pytest.raises(ValueError):
        nnet.softmax(T.dscalar())
    with pytest.raises(ValueError):
        nnet.softmax(T.dmatrix(), axis=2)


def test_softmax_names():
    assert T.nnet.softmax is nnet.softmax
    assert nnet.log_softmax is nnet.logsoftmax


def test_softmax_grad(rng):
    verify_grad(nnet.softmax, [rng.normal(size=(3, 4))])
    verify_grad(nnet.softmax, [rng.normal(size=5)])
    verify_grad(lambda x: nnet.softmax(x, axis=0), [rng.normal(size=(3, 4))])
    verify_grad(lambda x: nnet.softmax(x, axis=1), [rng.normal(size=(2, 3, 2))])


def test_logsoftmax_grad(rng):
    verify_grad(nnet.logsoftmax, [rng.normal(size=(3, 4))])
    verify_grad(nnet.logsoftmax, [rng.normal(size=4)])
    verify_grad(lambda x: nnet.logsoftmax(x, axis=0), [rng.normal(size=(3, 4))])


def test_logsoftmax_grad_large_inputs(mode):
    x = T.dmatrix()
    g = graphc.grad(nnet.logsoftmax(x)[:, 0].sum(), x)
    v = np.array([[1000.0, 0.0, -1000.0]])
    out = run([x], g, v, mode=mode)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.0]], atol=1e-12)
    g = graphc.grad(nnet.softmax(x)[:, 1].sum(), x)
    assert np.all(np.isfinite(run([x], g, v, mode=mode)))


def test_softmax_grad_float32_dtype():
    x = T.fmatrix()
    g = graphc.grad(nnet.softmax(x)[:, 0].sum(), x)
    assert g.dtype == "float32"
    g = graphc.grad(nnet.logsoftmax(x)[:, 0].sum(), x)
    assert g.dtype == "float32"


# ------------------------------------------------------------------ categorical_crossentropy

@pytest.mark.parametrize("dtype", FLOATS)
def test_categorical_crossentropy_one_hot(mode, rng, dtype):
    p = T.tensor(dtype, shape=(None, None))
    t = T.tensor(dtype, shape=(None, None))
    vp = np_softmax(rng.normal(size=(5, 3))).astype(dtype)
    labels = np.array([0, 2, 1, 1, 0])
    vt = np.eye(3, dtype=dtype)[labels]
    out = run([p, t], nnet.categorical_crossentropy(p, t), vp, vt, mode=mode)
    assert out.shape == (5,) and out.dtype == dtype
    np.testing.assert_allclose(out, -np.log(vp[np.arange(5), labels]), **tol(dtype))
    # soft targets
    soft = np_softmax(rng.normal(size=(5, 3))).astype(dtype)
    out = run([p, t], nnet.categorical_crossentropy(p, t), vp, soft, mode=mode)
    np.testing.assert_allclose(out, -(soft * np.log(vp)).sum(axis=1), **tol(dtype))


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8"])
def test_categorical_crossentropy_int_labels(mode, rng, label_dtype):
    p = T.dmatrix()
    y = T.tensor(label_dtype, shape=(None,))
    vp = np_softmax(rng.normal(size=(5, 3)))
    labels = np.array([0, 2, 1, 1, 0], dtype=label_dtype)
    out = run([p, y], nnet.categorical_crossentropy(p, y), vp, labels, mode=mode)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, -np.log(vp[np.arange(5), labels]), rtol=1e-12)
    # the mean NLL of a softmax classifier
    cost = nnet.categorical_crossentropy(nnet.softmax(p), y).mean()
    np.testing.assert_allclose(run([p, y], cost, vp, labels, mode=mode),
                               -np_logsoftmax(vp)[np.arange(5), labels].mean(), rtol=1e-12)


def test_categorical_crossentropy_static_shape_and_errors():
    p = T.tensor("float32", shape=(4, 3))
    assert nnet.categorical_crossentropy(p, T.ivector()).type.shape == (4,)
    assert nnet.categorical_crossentropy(p, T.fmatrix()).type.shape == (4,)
    assert nnet.categorical_crossentropy(p, T.ivector()).dtype == "float32"
    with pytest.raises(TypeError):
        nnet.categorical_crossentropy(p, T.fvector())
    with pytest.raises((TypeError, ValueError)):
        nnet.categorical_crossentropy(p, T.itensor3())
    with pytest.raises(ValueError):
        nnet.categorical_crossentropy(p, T.tensor("float32", shape=(4, 5)))


def test_categorical_crossentropy_grad(rng):
    vp = np_softmax(rng.normal(size=(4, 3)))
    vt = np.eye(3)[[0, 2, 1, 0]]
    verify_grad(nnet.categorical_crossentropy, [vp, vt])
    labels = np.array([0, 2, 1, 0])
    verify_grad(lambda p: nnet.categorical_crossentropy(p, labels), [vp])
    verify_grad(lambda x: nnet.categorical_crossentropy(nnet.softmax(x), labels),
                [rng.normal(size=(4, 3))])


def test_crossentropy_softmax_grad_value(mode, rng):
    """d/dx mean(CE(softmax(x), y)) = (softmax(x) - onehot(y)) / n."""
    x = T.dmatrix()
    y = T.lvector()
    cost = nnet.categorical_crossentropy(nnet.softmax(x), y).mean()
    g = graphc.grad(cost, x)
    vx = rng.normal(size=(4, 3))
    vy = np.array([2, 0, 1, 1])
    out = run([x, y], g, vx, vy, mode=mode)
    np.testing.assert_allclose(out, (np_softmax(vx) - np.eye(3)[vy]) / 4, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------ binary_crossentropy

@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_crossentropy(mode, rng, dtype):
    o = T.tensor(dtype, shape=(None, None))
    t = T.tensor(dtype, shape=(None, None))
    vo = rng.uniform(0.05, 0.95, size=(3, 4)).astype(dtype)
    vt = (rng.uniform(size=(3, 4)) > 0.5).astype(dtype)
    out = run([o, t], nnet.binary_crossentropy(o, t), vo, vt, mode=mode)
    assert out.dtype == dtype and out.shape == (3, 4)
    expected = -(vt * np.log(vo) + (1 - vt) * np.log(1 - vo))
    np.testing.assert_allclose(out, expected, **tol(dtype))
    # soft targets and broadcasting a target row
    r = T.tensor(dtype, shape=(1, None))
    vr = rng.uniform(size=(1, 4)).astype(dtype)
    out = run([o, r], nnet.binary_crossentropy(o, r), vo, vr, mode=mode)
    np.testing.assert_allclose(out, -(vr * np.log(vo) + (1 - vr) * np.log(1 - vo)), **tol(dtype))


def test_binary_crossentropy_of_sigmoid(mode, rng):
    x = T.dvector()
    t = T.dvector()
    vx = rng.normal(size=5)
    vt = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    out = run([x, t], nnet.binary_crossentropy(nnet.sigmoid(x), t), vx, vt, mode=mode)
    s = 1 / (1 + np.exp(-vx))
    np.testing.assert_allclose(out, -(vt * np.log(s) + (1 - vt) * np.log(1 - s)), rtol=1e-10)


def test_binary_crossentropy_float32_stays_float32():
    o, t = T.fvector(), T.fvector()
    assert nnet.binary_crossentropy(o, t).dtype == "float32"


def test_binary_crossentropy_grad(rng):
    vo = rng.uniform(0.1, 0.9, size=(2, 3))
    vt = rng.uniform(size=(2, 3))
    verify_grad(nnet.binary_crossentropy, [vo, vt])
    verify_grad(lambda x: nnet.binary_crossentropy(nnet.sigmoid(x), vt), [rng.normal(size=(2, 3))])
