"""Indexing: basic slicing, integer/boolean array indexing (NumPy placement
rules), set_subtensor / inc_subtensor, take — values, static shapes, gradients
and errors."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import verify_grad

FLOATS = ["float32", "float64"]


def run(inputs, outputs, *values, mode):
    return graphc.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)


def check(x_var, index, value, mode):
    """x_var[index] against value[index] (index may hold NumPy arrays)."""
    out = run([x_var], x_var[index], value, mode=mode)
    expected = value[index]
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    return out


# ------------------------------------------------------------------ basic indexing

BASIC_INDICES = [
    1, -1, slice(1, 3), (slice(1, 3), slice(None, None, 2)), (slice(None), 2),
    (slice(None, None, -1),), (slice(None, None, -2), slice(3, 0, -1)), (slice(-3, None),),
    (slice(10, 20),), (slice(-10, 2),), (Ellipsis, 1), (None,), (None, slice(1, 2), None),
    (1, None, slice(None)), (Ellipsis, None), (slice(None), None, Ellipsis), (-2, -3),
    (slice(4, 1),), (slice(None, None, 3), Ellipsis, slice(1, None)), (),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index", BASIC_INDICES, ids=str)
def test_basic_index_values(mode, rng, dtype, index):
    x = T.tensor(dtype, shape=(None, None))
    v = rng.normal(size=(5, 4)).astype(dtype)
    check(x, index, v, mode)


@pytest.mark.parametrize("index", BASIC_INDICES, ids=str)
def test_basic_index_static_shape(index):
    x = T.tensor("float64", shape=(5, 4))
    expected = np.empty((5, 4))[index].shape
    assert x[index].type.shape == expected


def test_static_shape_partial():
    x = T.tensor("float64", shape=(5, None))
    assert x[1:3].type.shape == (2, None)
    assert x[1:3, ::2].type.shape == (2, None)
    assert x[:, 1].type.shape == (5,)
    i = T.lscalar()
    assert x[i:].type.shape == (None, None)
    assert x[i].type.shape == (None,)
    assert x[None, :, 0].type.shape == (1, 5)


def test_basic_noncontiguous_and_3d(mode, rng):
    x = T.dtensor3()
    v = rng.normal(size=(4, 5, 6))
    for arg in (v, v.transpose(2, 0, 1), v[::2, ::-1]):
        for index in [(1, slice(None), 2), (Ellipsis, slice(1, None, 2)), (slice(None, None, -1), 0),
                      (None, Ellipsis, None), (0, 0, 0), (slice(1, 2), Ellipsis, -1)]:
            check(x, index, arg, mode)


def test_zero_d_and_empty(mode, rng):
    x = T.dvector()
    out = run([x], x[0], np.array([4.0, 5.0]), mode=mode)
    assert out.shape == () and out == 4.0
    out = run([x], x[2:2], np.arange(4.0), mode=mode)
    assert out.shape == (0,)
    out = run([x], x[:], np.zeros(0), mode=mode)
    assert out.shape == (0,)
    s = T.dscalar()
    out = run([s], s[None], 3.0, mode=mode)
    assert out.shape == (1,)
    out = run([s], s[...], 3.0, mode=mode)
    assert out.shape == () and out == 3.0


def test_symbolic_scalar_index(mode, rng):
    x = T.fmatrix()
    i = T.lscalar()
    j = T.iscalar()
    v = rng.normal(size=(5, 4)).astype("float32")
    out = run([x, i], x[i], v, 2, mode=mode)
    np.testing.assert_array_equal(out, v[2])
    out = run([x, i], x[i], v, -1, mode=mode)
    np.testing.assert_array_equal(out, v[-1])
    out = run([x, i, j], x[i:j, j], v, 1, 3, mode=mode)
    np.testing.assert_array_equal(out, v[1:3, 3])
    out = run([x, i, j], x[::i, j:], v, -2, 1, mode=mode)
    np.testing.assert_array_equal(out, v[::-2, 1:])
    out = run([x, i], x[i, i], v, 3, mode=mode)
    assert out == v[3, 3]
    out = run([x, i], x[x.shape[0] - i], v, 1, mode=mode)
    np.testing.assert_array_equal(out, v[4])
    # numpy integers
    np.testing.assert_array_equal(run([x], x[np.int32(1), np.int64(2)], v, mode=mode), v[1, 2])


def test_symbolic_index_out_of_bounds_at_runtime(mode, rng):
    x = T.dvector()
    i = T.lscalar()
    f = graphc.function([x, i], x[i], mode=mode)
    with pytest.raises(IndexError):
        f(np.zeros(3), 3)


def test_constant_index_errors():
    x = T.tensor("float64", shape=(5, 4))
    with pytest.raises(IndexError, match="5"):
        x[5]
    with pytest.raises(IndexError):
        x[-6]
    with pytest.raises(IndexError):
        x[:, 4]
    with pytest.raises(IndexError):
        x[1, 2, 3]
    with pytest.raises(IndexError):
        x[..., ...]
    with pytest.raises(IndexError):
        x[1.5]
    with pytest.raises(IndexError):
        x[T.dscalar()]
    with pytest.raises(IndexError):
        x[np.array([0, 7])]
    with pytest.raises(IndexError):
        x[np.array([[0, 1]]), np.array([0, 1, 2])]
    with pytest.raises(ValueError):
        x[::0]


def test_index_with_shape_entry(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(5, 4))
    out = run([x], x[: x.shape[0] // 2], v, mode=mode)
    np.testing.assert_array_equal(out, v[:2])


# ------------------------------------------------------------------ advanced indexing

def test_integer_vector_index(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(5, 4))
    idx = T.lvector()
    out = run([x, idx], x[idx], v, [4, 0, 0, -1], mode=mode)
    np.testing.assert_array_equal(out, v[[4, 0, 0, -1]])
    out = run([x, idx], x[:, idx], v, [3, 1], mode=mode)
    np.testing.assert_array_equal(out, v[:, [3, 1]])
    out = run([x, idx], x[idx], v, np.zeros(0, "int64"), mode=mode)
    assert out.shape == (0, 4)
    iv = T.ivector()
    out = run([x, iv], x[iv, 1], v, [2, 3], mode=mode)
    np.testing.assert_array_equal(out, v[[2, 3], 1])


def test_arange_pairing(mode, rng):
    """x[T.arange(n), y]: the classic pick-one-per-row."""
    p = T.dmatrix()
    y = T.lvector()
    v = rng.uniform(size=(6, 3))
    labels = np.array([0, 2, 1, 1, 0, 2])
    out = run([p, y], p[T.arange(y.shape[0]), y], v, labels, mode=mode)
    np.testing.assert_array_equal(out, v[np.arange(6), labels])
    out = run([p, y], p[T.arange(p.shape[0]), y], v, labels, mode=mode)
    np.testing.assert_array_equal(out, v[np.arange(6), labels])


ADV_CASES = [
    # (x shape, index builder) — index builder returns a NumPy index
    ((5, 4), lambda: (np.array([0, 2, 4]),)),
    ((5, 4), lambda: (np.array([[0, 1], [2, 3]]),)),
    ((5, 4), lambda: (np.array([0, 2]), np.array([1, 3]))),
    ((5, 4), lambda: (np.array([[0], [2]]), np.array([1, 3]))),  # broadcast
    ((5, 4), lambda: (slice(1, 3), np.array([1, 0, 1]))),
    ((5, 4), lambda: (np.array([1, 0]), slice(None, None, -1))),
    ((5, 4), lambda: (None, np.array([1, 0]))),
    ((5, 4), lambda: (Ellipsis, np.array([3]))),
    ((5, 4), lambda: (np.array([1, 1]), 2)),
    ((3, 4, 5), lambda: (np.array([0, 2]), slice(None), np.array([1, 4]))),  # non-adjacent: front
    ((3, 4, 5), lambda: (slice(None), np.array([0, 2]), np.array([1, 4]))),  # adjacent: in place
    ((3, 4, 5), lambda: (1, slice(None), np.array([1, 4]))),  # int + array separated: front
    ((3, 4, 5), lambda: (slice(None), 1, np.array([1, 4, 0]))),  # int + array adjacent
    ((3, 4, 5), lambda: (np.array([0, 2]), 1, slice(1, 3))),
    ((3, 4, 5), lambda: (np.array([[0], [2]]), slice(None), np.array([[1, 4, 0]]))),
    ((3, 4, 5), lambda: (None, np.array([0, 2]), None, np.array([1, 3]))),
    ((3, 4, 5), lambda: (slice(None), None, np.array([1, 2]), 0)),
    ((3, 4, 5), lambda: (Ellipsis, np.array([0, 1]), slice(None))),
    ((2, 3, 4, 5), lambda: (slice(None), np.array([0, 2]), slice(None), np.array([1, 4]))),
    ((2, 3, 4, 5), lambda: (np.array([1]), slice(1, 3), np.array([0, 1]), slice(None))),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", range(len(ADV_CASES)))
def test_advanced_index_values_and_static_shape(mode, rng, dtype, case):
    shape, make = ADV_CASES[case]
    index = make()
    v = rng.normal(size=shape).astype(dtype)
    x = T.tensor(dtype, shape=(None,) * len(shape))
    out = check(x, index, v, mode)
    # static shape: fully known input
    xs = T.tensor(dtype, shape=shape)
    assert xs[index].type.shape == out.shape
    # symbolic index arrays (shape unknown) give the right rank
    assert x[index].ndim == out.ndim


def test_advanced_symbolic_placement(mode, rng):
    x = T.dtensor3()
    a, b = T.lvectors("a", "b")
    v = rng.normal(size=(3, 4, 5))
    ia, ib = np.array([0, 2, 1]), np.array([1, 4, 4])
    out = run([x, a, b], x[a, :, b], v, ia, ib, mode=mode)
    np.testing.assert_array_equal(out, v[ia, :, ib])
    out = run([x, a, b], x[:, a, b], v, ia, ib, mode=mode)
    np.testing.assert_array_equal(out, v[:, ia, ib])
    s = T.tensor("float64", shape=(3, 4, 5))
    av = T.tensor("int64", shape=(3,))
    assert s[av, :, av].type.shape == (3, 4)
    assert s[:, av, av].type.shape == (3, 3)


def test_advanced_index_noncontiguous_input(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(4, 6)).T
    idx = np.array([5, 0, 3])
    check(x, (idx,), v, mode)
    check(x, (idx, np.array([1, 2, 3])), v, mode)


def test_boolean_mask(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(4, 3))
    out = run([x], x[x > 0], v, mode=mode)
    np.testing.assert_array_equal(out, v[v > 0])
    m = T.bvector() if False else T.tensor("bool", shape=(None,))
    rowmask = np.array([True, False, True, True])
    out = run([x, m], x[m], v, rowmask, mode=mode)
    np.testing.assert_array_equal(out, v[rowmask])
    out = run([x, m], x[:, m], v, rowmask[:3], mode=mode)
    np.testing.assert_array_equal(out, v[:, rowmask[:3]])
    out = run([x], x[np.array([False] * 4)], v, mode=mode)
    assert out.shape == (0, 3)
    out = run([x], x[x > 100], v, mode=mode)
    assert out.shape == (0,)
    out = run([x], x[T.gt(x, 0)].sum(), v, mode=mode)
    np.testing.assert_allclose(out, v[v > 0].sum())
    assert x[x > 0].ndim == 1


def test_boolean_mask_static_errors():
    x = T.tensor("float64", shape=(4, 3))
    with pytest.raises(IndexError):
        x[np.array([True, False])]


def test_nonzero_values(mode, rng):
    x = T.dmatrix()
    v = np.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(run([x], x.nonzero_values(), v, mode=mode), [1.0, 2.0])


def test_index_runtime_out_of_bounds(mode, rng):
    x = T.dmatrix()
    idx = T.lvector()
    f = graphc.function([x, idx], x[idx], mode=mode)
    with pytest.raises(IndexError):
        f(np.zeros((3, 2)), [0, 3])


# ------------------------------------------------------------------ gradients of indexing

def test_grad_basic_index(rng):
    verify_grad(lambda x: x[1:3, ::2] ** 2, [rng.normal(size=(5, 4))])
    verify_grad(lambda x: x[::-1, 1] * 3.0, [rng.normal(size=(5, 4))])
    verify_grad(lambda x: x[None, 2, ..., None] ** 2, [rng.normal(size=(5, 4))])
    verify_grad(lambda x: x[-1] ** 2, [rng.normal(size=3)])


def test_grad_advanced_index_with_repeats(rng):
    idx = np.array([0, 2, 2, 0, 1])
    verify_grad(lambda x: x[idx] ** 2, [rng.normal(size=(3, 2))])
    verify_grad(lambda x: x[:, idx] * np.arange(15.0).reshape(3, 5), [rng.normal(size=(3, 3))])
    verify_grad(lambda x: x[np.array([0, 0, 1]), np.array([1, 1, 0])] ** 3,
                [rng.normal(size=(2, 2))])
    verify_grad(lambda x: x[np.array([0, 2, 0]), :, np.array([1, 1, 1])] ** 2,
                [rng.normal(size=(3, 2, 2))])


def test_grad_index_values(mode):
    x = T.dvector()
    idx = T.lvector()
    g = graphc.grad(x[idx].sum(), x)
    out = run([x, idx], g, np.zeros(4), [0, 2, 2, 2], mode=mode)
    np.testing.assert_array_equal(out, [1.0, 0.0, 3.0, 0.0])
    m = T.dmatrix()
    g = graphc.grad((m[m > 0] * 2).sum(), m)
    v = np.array([[1.0, -1.0], [0.5, 0.0]])
    np.testing.assert_array_equal(run([m], g, v, mode=mode), 2.0 * (v > 0))


def test_grad_boolean_mask(rng):
    mask = np.array([True, False, True])
    verify_grad(lambda x: x[mask] ** 2, [rng.normal(size=(3, 2))])


# ------------------------------------------------------------------ set_subtensor / inc_subtensor

@pytest.mark.parametrize("dtype", FLOATS)
def test_set_inc_basic(mode, rng, dtype):
    x = T.tensor(dtype, shape=(None, None))
    y = T.tensor(dtype, shape=(None,))
    vx = rng.normal(size=(5, 4)).astype(dtype)
    vy = rng.normal(size=4).astype(dtype)
    out = run([x, y], T.set_subtensor(x[1], y), vx, vy, mode=mode)
    exp = vx.copy()
    exp[1] = vy
    np.testing.assert_array_equal(out, exp)
    assert out.dtype == dtype
    out = run([x, y], T.inc_subtensor(x[1:4, ::-2], y[:2]), vx, vy, mode=mode)
    exp = vx.copy()
    exp[1:4, ::-2] += vy[:2]
    np.testing.assert_allclose(out, exp, rtol=1e-6)
    # the input is not modified
    vx0 = vx.copy()
    run([x, y], T.set_subtensor(x[:, 0], 0.0), vx, vy, mode=mode)
    np.testing.assert_array_equal(vx, vx0)


def test_set_inc_scalar_value_and_broadcast(mode, rng):
    x = T.dmatrix()
    vx = rng.normal(size=(3, 4))
    out = run([x], T.set_subtensor(x[:, 1:3], 7.0), vx, mode=mode)
    exp = vx.copy()
    exp[:, 1:3] = 7.0
    np.testing.assert_array_equal(out, exp)
    out = run([x], T.inc_subtensor(x[0, 0], 1.0), vx, mode=mode)
    exp = vx.copy()
    exp[0, 0] += 1.0
    np.testing.assert_array_equal(out, exp)
    col = T.dcol()
    out = run([x, col], T.inc_subtensor(x[:, :2], col), vx, np.ones((3, 1)), mode=mode)
    exp = vx.copy()
    exp[:, :2] += 1.0
    np.testing.assert_array_equal(out, exp)


def test_inc_advanced_repeated_indices_accumulate(mode, rng):
    x = T.dvector()
    y = T.dvector()
    idx = T.lvector()
    out = run([x, y, idx], T.inc_subtensor(x[idx], y), np.zeros(4), [1.0, 2.0, 3.0], [1, 1, 3],
              mode=mode)
    np.testing.assert_array_equal(out, [0.0, 3.0, 0.0, 3.0])
    # scalar increment broadcast through repeats
    out = run([x, idx], T.inc_subtensor(x[idx], 1.0), np.zeros(3), [0, 0, 0, 2], mode=mode)
    np.testing.assert_array_equal(out, [3.0, 0.0, 1.0])
    # set with repeats: last write wins (NumPy)
    out = run([x, y, idx], T.set_subtensor(x[idx], y), np.zeros(4), [1.0, 2.0, 3.0], [1, 1, 3],
              mode=mode)
    exp = np.zeros(4)
    exp[[1, 1, 3]] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(out, exp)


def test_inc_advanced_2d_and_mixed(mode, rng):
    m = T.dmatrix()
    y = T.dmatrix()
    vm = rng.normal(size=(4, 3))
    rows = np.array([0, 3, 0])
    vy = rng.normal(size=(3, 3))
    out = run([m, y], T.inc_subtensor(m[rows], y), vm, vy, mode=mode)
    exp = vm.copy()
    np.add.at(exp, rows, vy)
    np.testing.assert_allclose(out, exp)
    # mixed: slice + array
    out = run([m, y], T.inc_subtensor(m[1:, np.array([2, 2])], y[:, :2]), vm, vy, mode=mode)
    exp = vm.copy()
    np.add.at(exp, (slice(1, None), np.array([2, 2])), vy[:, :2])
    np.testing.assert_allclose(out, exp)
    # pairs of arrays
    r, c = np.array([0, 1, 0]), np.array([2, 2, 2])
    v = T.dvector()
    out = run([m, v], T.inc_subtensor(m[r, c], v), vm, [1.0, 2.0, 3.0], mode=mode)
    exp = vm.copy()
    np.add.at(exp, (r, c), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(out, exp)
    # non-adjacent advanced indices with a slice in between (3-d)
    t = T.dtensor3()
    vt = rng.normal(size=(3, 4, 5))
    a, b = np.array([0, 2, 0]), np.array([1, 4, 1])
    yy = rng.normal(size=(3, 4))
    out = run([t, y], T.inc_subtensor(t[a, :, b], y), vt, yy, mode=mode)
    exp = vt.copy()
    np.add.at(exp, (a, slice(None), b), yy)
    np.testing.assert_allclose(out, exp)


def test_inc_set_boolean_mask(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(3, 4))
    out = run([x], T.set_subtensor(x[x < 0], 0.0), v, mode=mode)
    np.testing.assert_array_equal(out, np.where(v < 0, 0.0, v))
    out = run([x], T.inc_subtensor(x[x < 0], 10.0), v, mode=mode)
    np.testing.assert_array_equal(out, np.where(v < 0, v + 10.0, v))
    mask = np.array([True, False, True])
    y = T.dmatrix()
    vy = rng.normal(size=(2, 4))
    out = run([x, y], T.inc_subtensor(x[mask], y), v, vy, mode=mode)
    exp = v.copy()
    exp[mask] += vy
    np.testing.assert_array_equal(out, exp)


def test_set_inc_whole_tensor(mode, rng):
    """set_subtensor(x[:], v) and x[...] are the Theano idiom for 'fill x'."""
    x = T.dmatrix()
    v = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(run([x], T.set_subtensor(x[:], 0.0), v, mode=mode),
                                  np.zeros((2, 3)))
    np.testing.assert_array_equal(run([x], T.inc_subtensor(x[...], 1.0), v, mode=mode), v + 1)
    np.testing.assert_array_equal(run([x], x[:, :], v, mode=mode), v)
    s = T.dscalar()
    assert run([s], T.set_subtensor(s[...], 2.0), 1.0, mode=mode) == 2.0


def test_set_inc_dtype(mode):
    x = T.fvector()
    out = run([x], T.inc_subtensor(x[0], 1.5), np.zeros(2, "float32"), mode=mode)
    assert out.dtype == np.float32
    i = T.lvector()
    out = run([i], T.set_subtensor(i[1:], 3), np.zeros(3, "int64"), mode=mode)
    np.testing.assert_array_equal(out, [0, 3, 3])
    with pytest.raises(TypeError):
        T.set_subtensor(i[0], T.dscalar())


def test_set_inc_errors():
    x = T.tensor("float64", shape=(5, 4))
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        T.set_subtensor(x[1:3], T.tensor("float64", shape=(3, 4)))
    with pytest.raises(ValueError):
        T.inc_subtensor(x[0], T.dmatrix())
    with pytest.raises(TypeError):
        T.set_subtensor(x, 1.0)
    with pytest.raises(TypeError):
        T.inc_subtensor(x + 1, 1.0)


def test_set_inc_runtime_shape_error(mode):
    x = T.dmatrix()
    y = T.dvector()
    f = graphc.function([x, y], T.set_subtensor(x[0], y), mode=mode)
    with pytest.raises(ValueError):
        f(np.zeros((2, 3)), np.zeros(4))


def test_set_inc_static_shape():
    x = T.tensor("float32", shape=(5, None))
    assert T.set_subtensor(x[1:3], 0.0).type.shape == (5, None)
    assert T.inc_subtensor(x[np.array([1, 1])], 1.0).type == x.type


def test_grad_set_subtensor(rng):
    verify_grad(lambda x, y: T.set_subtensor(x[1:3], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(2, 3))])
    verify_grad(lambda x, y: T.set_subtensor(x[:, 0], y) * np.arange(12.0).reshape(4, 3),
                [rng.normal(size=(4, 3)), rng.normal(size=4)])
    # broadcast value: its grad sums
    verify_grad(lambda x, y: T.set_subtensor(x[1:, ::2], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(1, 2))])
    verify_grad(lambda x, y: T.set_subtensor(x[np.array([2, 0])], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(2, 3))])


def test_grad_set_subtensor_repeated_indices(rng, mode):
    """With repeated indices only the last write survives: the overwritten
    values of y get zero gradient."""
    verify_grad(lambda x, y: T.set_subtensor(x[np.array([0, 2, 0])], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(3, 3))])
    verify_grad(lambda x, y: T.set_subtensor(x[np.array([1, 1]), np.array([0, 0])], y) * 3.0,
                [rng.normal(size=(2, 2)), rng.normal(size=2)])
    verify_grad(lambda x, y: T.set_subtensor(x[:, np.array([1, 1, 0])], y) ** 2,
                [rng.normal(size=(2, 3)), rng.normal(size=(1, 3))])
    x, y = T.dvector(), T.dvector()
    gy = graphc.grad(T.set_subtensor(x[np.array([1, 1, 0, 1])], y).sum(), y)
    np.testing.assert_array_equal(run([x, y], gy, np.zeros(3), np.ones(4), mode=mode),
                                  [0.0, 0.0, 1.0, 1.0])


def test_grad_inc_subtensor(rng):
    verify_grad(lambda x, y: T.inc_subtensor(x[1:3], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(2, 3))])
    verify_grad(lambda x, y: T.inc_subtensor(x[np.array([0, 2, 0, 0])], y) ** 2,
                [rng.normal(size=(4, 3)), rng.normal(size=(4, 3))])
    verify_grad(lambda x, y: T.inc_subtensor(x[np.array([1, 1]), np.array([0, 0])], y) ** 2,
                [rng.normal(size=(2, 2)), rng.normal(size=2)])
    verify_grad(lambda x, y: T.inc_subtensor(x[:, np.array([1, 1])], y) ** 2,
                [rng.normal(size=(2, 3)), rng.normal(size=(2,))])
    verify_grad(lambda x, y: T.inc_subtensor(x[0], y) ** 2,
                [rng.normal(size=(2, 3)), np.array(0.3)])


# ------------------------------------------------------------------ take

def test_take(mode, rng):
    x = T.dmatrix()
    v = rng.normal(size=(4, 3))
    idx = np.array([[0, 5], [11, 2]])
    np.testing.assert_array_equal(run([x], T.take(x, idx), v, mode=mode), np.take(v, idx))
    for axis in (0, 1, -1):
        ind = np.array([2, 0, 2])
        np.testing.assert_array_equal(run([x], T.take(x, ind, axis=axis), v, mode=mode),
                                      np.take(v, ind, axis=axis))
    i = T.lvector()
    np.testing.assert_array_equal(run([x, i], T.take(x, i, axis=1), v, [1, 1], mode=mode),
                                  np.take(v, [1, 1], axis=1))
    s = T.lscalar()
    np.testing.assert_array_equal(run([x, s], T.take(x, s, axis=0), v, 3, mode=mode),
                                  np.take(v, 3, axis=0))
    assert T.take(T.tensor("float64", shape=(4, 3)), np.array([1, 2]), axis=1).type.shape == (4, 2)
    with pytest.raises(ValueError):
        T.take(x, np.array([0]), axis=2)


def test_take_grad(rng):
    verify_grad(lambda x: T.take(x, np.array([1, 1, 0]), axis=1) ** 2,
                [rng.normal(size=(2, 3))])
    verify_grad(lambda x: T.take(x, np.array([5, 0, 5])) ** 2, [rng.normal(size=(2, 3))])
