"""Shared variables: construction, get_value/set_value with and without
borrow, type checks, and state seen by several functions."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T


def test_shared_copies_its_value_unless_borrowed():
    v = np.arange(3.0)
    s = graphc.shared(v)
    v[0] = 99.0
    np.testing.assert_array_equal(s.get_value(), [0.0, 1.0, 2.0])
    b = graphc.shared(v, borrow=True)
    v[1] = 42.0
    np.testing.assert_array_equal(b.get_value(), [99.0, 42.0, 2.0])


def test_get_value_copy_vs_borrow():
    s = graphc.shared(np.zeros(3), "s")
    got = s.get_value()
    got[0] = 5.0
    np.testing.assert_array_equal(s.get_value(), [0.0, 0.0, 0.0])
    internal = s.get_value(borrow=True)
    internal[0] = 5.0
    np.testing.assert_array_equal(s.get_value(), [5.0, 0.0, 0.0])
    assert s.get_value(borrow=True) is internal
    assert s.get_value() is not internal


def test_set_value_copy_vs_borrow():
    s = graphc.shared(np.zeros(3), "s")
    new = np.ones(3)
    s.set_value(new)
    new[0] = 7.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 1.0, 1.0])
    new = np.ones(3)
    s.set_value(new, borrow=True)
    new[0] = 7.0
    np.testing.assert_array_equal(s.get_value(), [7.0, 1.0, 1.0])


def test_set_value_may_change_shape_but_not_ndim():
    s = graphc.shared(np.zeros((2, 2)), "W")
    s.set_value(np.ones((3, 5)))
    assert s.get_value().shape == (3, 5)
    with pytest.raises(TypeError) as info:
        s.set_value(np.ones(4))
    msg = str(info.value)
    assert "W" in msg and "2" in msg and "(4,)" in msg


def test_set_value_checks_dtype():
    s = graphc.shared(np.zeros(3, dtype="float32"), "w32")
    with pytest.raises(TypeError) as info:
        s.set_value(np.ones(3))  # float64 -> float32 loses precision
    msg = str(info.value)
    assert "w32" in msg and "float64" in msg and "float32" in msg
    np.testing.assert_array_equal(s.get_value(), [0.0, 0.0, 0.0])
    s.set_value(np.ones(3, dtype="int8"))  # a safe cast
    assert s.get_value().dtype == np.float32
    i = graphc.shared(np.zeros(2, dtype="int32"), "counts")
    with pytest.raises(TypeError, match="counts"):
        i.set_value(np.array([0.5, 1.5]))
    with pytest.raises(TypeError, match="counts"):
        i.set_value(np.zeros(2, dtype=np.complex128))
    assert i.get_value().dtype == np.int32


def test_set_value_accepts_lists():
    s = graphc.shared(np.zeros(2), "s")
    s.set_value([1, 2])
    assert s.get_value().dtype == np.float64
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])


def test_python_and_numpy_scalars():
    f = graphc.shared(1.5)
    assert f.ndim == 0 and f.dtype == "float64"
    assert f.get_value().shape == () and f.get_value() == 1.5
    f32 = graphc.shared(np.float32(2.5))
    assert f32.ndim == 0 and f32.dtype == "float32"
    i = graphc.shared(3)
    assert i.ndim == 0 and i.dtype == "int64"
    f.set_value(2.0)
    assert f.get_value() == 2.0


def test_shared_name_and_type():
    W = graphc.shared(np.zeros((2, 3), dtype="float32"), name="W")
    assert W.name == "W" and str(W) == "W"
    assert W.dtype == "float32" and W.ndim == 2
    # the static shape is unknown: set_value may change it
    assert W.type.shape == (None, None)


def test_shared_rejects_non_numeric():
    with pytest.raises(TypeError):
        graphc.shared(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        graphc.shared(graphc.shared(1.0))


def test_shared_seen_by_two_functions(mode):
    c = graphc.shared(0.0, "c")
    inc = graphc.function([], c, updates=[(c, c + 1)], mode=mode)
    read = graphc.function([], c * 10, mode=mode)
    inc()
    inc()
    assert read() == 20.0
    assert c.get_value() == 2.0
    c.set_value(5.0)
    assert read() == 50.0
    assert inc() == 5.0
    assert read() == 60.0


def test_borrowed_value_seen_by_function(mode):
    buf = np.zeros(2)
    s = graphc.shared(buf, "s", borrow=True)
    f = graphc.function([], s.sum(), mode=mode)
    buf[:] = [1.0, 2.0]
    assert f() == 3.0


def test_get_value_after_update_is_independent(mode):
    s = graphc.shared(np.zeros(2), "s")
    f = graphc.function([], [], updates=[(s, s + 1)], mode=mode)
    before = s.get_value()
    f()
    np.testing.assert_array_equal(before, [0.0, 0.0])
    np.testing.assert_array_equal(s.get_value(), [1.0, 1.0])


def test_shared_in_expression_and_gradient(mode):
    W = graphc.shared(np.array([[1.0, 2.0], [3.0, 4.0]]), "W")
    x = T.dvector("x")
    cost = T.sum(T.dot(x, W) ** 2)
    g = graphc.grad(cost, W)
    f = graphc.function([x], g, mode=mode)
    xv = np.array([1.0, -1.0])
    expected = np.outer(xv, 2 * (xv @ W.get_value()))
    np.testing.assert_allclose(f(xv), expected)


def test_sgd_step_updates_weights(mode):
    W = graphc.shared(np.zeros(2), "W")
    x = T.dvector("x")
    target = T.dscalar("t")
    cost = (T.dot(x, W) - target) ** 2
    step = graphc.function([x, target], cost, updates=[(W, W - 0.1 * graphc.grad(cost, W))],
                           mode=mode)
    xs = np.array([1.0, 2.0])
    losses = [float(step(xs, 3.0)) for _ in range(30)]
    assert losses[-1] < 1e-3 < losses[0]
    np.testing.assert_allclose(W.get_value() @ xs, 3.0, atol=1e-2)
