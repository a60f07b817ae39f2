"""graphc.grad and friends: values against hand-derived derivatives,
wrt structures, consider_constant, disconnected inputs, known_grads,
integer inputs, jacobian/hessian, gradient hooks, higher-order derivatives
and verify_grad."""

import warnings

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import (DisconnectedInputError, GradientError, disconnected_grad, grad_clip,
                             verify_grad, zero_grad)
from graphc.graph.basic import Apply
from graphc.graph.op import Op


def _f(inputs, outputs, mode, **kw):
    return graphc.function(inputs, outputs, mode=mode, **kw)


# ------------------------------------------------------------------ simple values

def test_grad_polynomial_and_transcendental(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    cost = x ** 2 * y + T.sin(x) + T.exp(y) / x
    gx, gy = graphc.grad(cost, [x, y])
    f = _f([x, y], [gx, gy], mode)
    xv, yv = 1.3, -0.7
    out = f(xv, yv)
    np.testing.assert_allclose(out[0], 2 * xv * yv + np.cos(xv) - np.exp(yv) / xv ** 2)
    np.testing.assert_allclose(out[1], xv ** 2 + np.exp(yv) / xv)


def test_grad_of_vector_expressions(mode, rng):
    x = T.dvector("x")
    W = T.dmatrix("W")
    b = T.dvector("b")
    h = T.tanh(T.dot(W, x) + b)
    cost = T.sum(h ** 2)
    gW, gb, gx = graphc.grad(cost, [W, b, x])
    f = _f([W, x, b], [gW, gb, gx], mode)
    Wv, xv, bv = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    hv = np.tanh(Wv @ xv + bv)
    delta = 2 * hv * (1 - hv ** 2)
    out = f(Wv, xv, bv)
    np.testing.assert_allclose(out[0], np.outer(delta, xv))
    np.testing.assert_allclose(out[1], delta)
    np.testing.assert_allclose(out[2], Wv.T @ delta)


def test_grad_through_broadcasting_and_reductions(mode, rng):
    x = T.dmatrix("x")
    b = T.dvector("b")
    cost = T.mean((x + b) ** 2)
    gx, gb = graphc.grad(cost, [x, b])
    xv, bv = rng.standard_normal((3, 2)), rng.standard_normal(2)
    out = _f([x, b], [gx, gb], mode)(xv, bv)
    np.testing.assert_allclose(out[0], 2 * (xv + bv) / 6)
    np.testing.assert_allclose(out[1], (2 * (xv + bv) / 6).sum(axis=0))


def test_grad_of_shared_variable(mode):
    W = graphc.shared(np.array([[1.0, 2.0], [3.0, 4.0]]), "W")
    cost = T.sum(T.dot(W, W))
    g = graphc.grad(cost, W)
    Wv = W.get_value()
    # d/dW sum(W @ W) = ones @ W.T + W.T @ ones
    ones = np.ones((2, 2))
    np.testing.assert_allclose(_f([], g, mode)(), ones @ Wv.T + Wv.T @ ones)


def test_grad_dtype_follows_wrt(mode):
    x = T.fvector("x")
    g = graphc.grad(T.sum(x * 0.5), x)
    assert g.dtype == "float32"
    out = _f([x], g, mode)(np.ones(3, dtype="float32"))
    assert out.dtype == np.float32


# ------------------------------------------------------------------ structure of wrt

def test_wrt_single_returns_single_and_list_returns_list():
    x = T.dscalar("x")
    y = T.dscalar("y")
    cost = x * y
    g = graphc.grad(cost, x)
    assert not isinstance(g, (list, tuple))
    gs = graphc.grad(cost, [x])
    assert isinstance(gs, list) and len(gs) == 1
    gs = graphc.grad(cost, [x, y])
    assert isinstance(gs, list) and len(gs) == 2
    gt = graphc.grad(cost, (x, y))
    assert len(gt) == 2


def test_wrt_intermediate_variable(mode):
    x = T.dscalar("x")
    h = x * 3
    cost = h ** 2
    g = graphc.grad(cost, h)
    assert _f([x], g, mode)(2.0) == 12.0  # 2 * h


def test_grad_through_variable_used_twice(mode):
    x = T.dscalar("x")
    y = x * x + x
    assert _f([x], graphc.grad(y, x), mode)(3.0) == 7.0


def test_grad_T_namespace():
    x = T.dscalar("x")
    assert T.grad is graphc.grad or T.grad(x * 2, x) is not None


# ------------------------------------------------------------------ consider_constant

def test_consider_constant(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    z = x * y
    cost = z * x
    g = graphc.grad(cost, x, consider_constant=[z])
    assert _f([x, y], g, mode)(2.0, 3.0) == 6.0  # z only
    g_full = graphc.grad(cost, x)
    assert _f([x, y], g_full, mode)(2.0, 3.0) == 12.0  # 2 x y


def test_consider_constant_on_wrt_itself(mode):
    # As in Theano: consider_constant stops the gradient from flowing
    # *through* a variable; the variable itself still gets its gradient.
    x = T.dscalar("x")
    y = x * 3
    with pytest.raises(DisconnectedInputError):  # x only reaches the cost through y
        graphc.grad(y * 2, [x, y], consider_constant=[y])
    g = graphc.grad(y * 2, [x, y], consider_constant=[y], disconnected_inputs="ignore")
    f = _f([x], g, mode, on_unused_input="ignore")
    out = f(1.0)
    assert out[0] == 0.0 and out[1] == 2.0
    g = graphc.grad(x * 2, x, consider_constant=[x])
    assert _f([x], g, mode, on_unused_input="ignore")(1.0) == 2.0


def test_wrt_intermediate_and_its_input(mode):
    x = T.dscalar("x")
    h = x * 3
    gx, gh = graphc.grad(h ** 2, [x, h])
    out = _f([x], [gx, gh], mode)(2.0)
    assert out[0] == 36.0  # 2 h * 3
    assert out[1] == 12.0  # 2 h


def test_undefined_gradient_propagates_to_inputs():
    class NoGrad(Op):
        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type.make_variable()])

        def perform(self, node, inputs):
            return (inputs[0],)

    x = T.dvector("x")
    cost = T.sum(NoGrad()(x * 2) + x)  # x reaches the cost also around NoGrad
    with pytest.raises(TypeError, match="NoGrad"):
        graphc.grad(cost, x)


# ------------------------------------------------------------------ disconnected inputs

def test_disconnected_inputs_raise():
    x = T.dscalar("x")
    y = T.dscalar("lonely")
    with pytest.raises(DisconnectedInputError, match="lonely"):
        graphc.grad(x * 2, y)
    with pytest.raises(ValueError):  # DisconnectedInputError is a ValueError
        graphc.grad(x * 2, [x, y], disconnected_inputs="raise")


def test_disconnected_inputs_warn(mode):
    x = T.dscalar("x")
    y = T.dscalar("lonely")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gx, gy = graphc.grad(x * 2, [x, y], disconnected_inputs="warn")
    assert any("lonely" in str(w.message) for w in caught)
    out = _f([x, y], [gx, gy], mode, on_unused_input="ignore")(1.0, 1.0)
    assert out[0] == 2.0 and out[1] == 0.0


def test_disconnected_inputs_ignore(mode):
    x = T.dscalar("x")
    v = T.dvector("v")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gx, gv = graphc.grad(x * 2, [x, v], disconnected_inputs="ignore")
    out = _f([x, v], [gx, gv], mode, on_unused_input="ignore")(1.0, np.ones(3))
    assert out[0] == 2.0
    np.testing.assert_array_equal(out[1], np.zeros(3))


def test_disconnected_inputs_bad_value():
    x = T.dscalar("x")
    with pytest.raises(ValueError):
        graphc.grad(x * 2, x, disconnected_inputs="maybe")


# ------------------------------------------------------------------ known_grads

def test_known_grads_without_cost(mode):
    x = T.dvector("x")
    h = x * 3
    g = graphc.grad(None, x, known_grads={h: T.constant(np.array([1.0, 2.0]))})
    np.testing.assert_array_equal(_f([x], g, mode, on_unused_input="ignore")(np.ones(2)),
                                  [3.0, 6.0])


def test_known_grads_override_the_cost_path(mode):
    # As in Theano: the gradient of a variable in known_grads is the given one.
    x = T.dscalar("x")
    h = x * 3
    g = graphc.grad(h * h, x, known_grads={h: T.constant(2.0)})
    assert _f([x], g, mode, on_unused_input="ignore")(1.0) == 6.0
    y = T.dscalar("y")
    g = graphc.grad(h * y, [x, y], known_grads={h: y * 2})
    out = _f([x, y], g, mode)(1.0, 5.0)
    assert out[0] == 30.0  # (2 y) * 3
    assert out[1] == 3.0  # h


def test_known_grads_symbolic_seed(mode):
    x = T.dvector("x")
    seed = T.dvector("seed")
    y = T.exp(x)
    g = graphc.grad(None, x, known_grads={y: seed})
    xv, sv = np.array([0.0, 1.0]), np.array([2.0, 3.0])
    np.testing.assert_allclose(_f([x, seed], g, mode)(xv, sv), sv * np.exp(xv))


def test_grad_needs_cost_or_known_grads():
    x = T.dscalar("x")
    with pytest.raises(ValueError):
        graphc.grad(None, x)


# ------------------------------------------------------------------ integers and bad costs

def test_integer_wrt_gets_zeros(mode):
    i = T.iscalar("i")
    x = T.dvector("x")
    cost = T.sum(x[i] * 2) + T.cast(i, "float64") * 5
    gx, gi = graphc.grad(cost, [x, i])
    assert gi.dtype.startswith("float")
    out = _f([x, i], [gx, gi], mode)(np.ones(3), 1)
    np.testing.assert_array_equal(out[0], [0.0, 2.0, 0.0])
    assert out[1] == 0.0


def test_integer_used_only_as_index_gets_zeros(mode):
    i = T.lscalar("i")
    x = T.dvector("x")
    g = graphc.grad(T.sum(x[i] ** 2), i)  # connected, but not differentiably
    assert _f([x, i], g, mode, on_unused_input="ignore")(np.ones(3), 1) == 0.0
    j = T.lscalar("j")
    with pytest.raises(DisconnectedInputError):  # not in the graph at all
        graphc.grad(T.sum(x[i] ** 2), j)


def test_integer_vector_wrt_gets_zeros_of_its_shape(mode):
    iv = T.ivector("iv")
    cost = T.sum(T.cast(iv, "float64") ** 2)
    g = graphc.grad(cost, iv)
    np.testing.assert_array_equal(_f([iv], g, mode)([1, 2, 3]), [0.0, 0.0, 0.0])


def test_non_scalar_cost_raises_type_error():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        graphc.grad(x * 2, x)


def test_wrt_must_be_symbolic():
    x = T.dscalar("x")
    with pytest.raises(TypeError):
        graphc.grad(x * 2, 3.0)


# ------------------------------------------------------------------ jacobian / hessian

def test_jacobian_of_square(mode):
    x = T.dvector("x")
    J = T.jacobian(x ** 2, x)
    xv = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(_f([x], J, mode)(xv), np.diag(2 * xv))


def test_jacobian_of_matrix_vector_product(mode, rng):
    x = T.dvector("x")
    A = T.dmatrix("A")
    J = T.jacobian(T.dot(A, x), x)
    Av, xv = rng.standard_normal((2, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(_f([A, x], J, mode)(Av, xv), Av)


def test_jacobian_list_and_scalar(mode):
    x = T.dvector("x")
    y = T.dvector("y")
    Jx, Jy = T.jacobian(x * y, [x, y])
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out = _f([x, y], [Jx, Jy], mode)(xv, yv)
    np.testing.assert_allclose(out[0], np.diag(yv))
    np.testing.assert_allclose(out[1], np.diag(xv))
    g = T.jacobian(T.sum(x ** 2), x)  # a scalar expression: the gradient
    np.testing.assert_allclose(_f([x], g, mode)(xv), 2 * xv)


def test_hessian_of_sum_of_cubes(mode):
    x = T.dvector("x")
    H = T.hessian(T.sum(x ** 3), x)
    xv = np.array([1.0, 2.0, -1.5])
    np.testing.assert_allclose(_f([x], H, mode)(xv), np.diag(6 * xv))


def test_hessian_of_quadratic_form(mode, rng):
    x = T.dvector("x")
    A = T.dmatrix("A")
    H = T.hessian(T.dot(x, T.dot(A, x)), x)
    Av, xv = rng.standard_normal((3, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(_f([A, x], H, mode)(Av, xv), Av + Av.T)


def test_hessian_rejects_non_scalar_cost():
    x = T.dvector("x")
    with pytest.raises(TypeError):
        T.hessian(x ** 2, x)


# ------------------------------------------------------------------ hooks

def test_disconnected_grad(mode):
    x = T.dscalar("x")
    cost = disconnected_grad(x ** 2) * x
    assert _f([x], cost, mode)(3.0) == 27.0  # forward unchanged
    assert _f([x], graphc.grad(cost, x), mode)(3.0) == 9.0  # x**2 treated as a constant
    with pytest.raises(DisconnectedInputError):
        graphc.grad(disconnected_grad(x) * 2, x)


def test_zero_grad(mode):
    x = T.dscalar("x")
    cost = zero_grad(x ** 2) * x
    assert _f([x], cost, mode)(3.0) == 27.0
    assert _f([x], graphc.grad(cost, x), mode)(3.0) == 9.0
    # zero_grad keeps x connected: no DisconnectedInputError
    assert _f([x], graphc.grad(zero_grad(x) * 2, x), mode)(1.0) == 0.0


def test_grad_clip(mode):
    x = T.dscalar("x")
    y = grad_clip(x, -1.0, 1.0) ** 2
    g = _f([x], graphc.grad(y, x), mode)
    assert g(3.0) == 1.0  # 2 x = 6, clipped to 1
    assert g(-3.0) == -1.0
    assert g(0.25) == 0.5  # within bounds: unchanged
    assert _f([x], y, mode)(3.0) == 9.0
    with pytest.raises(ValueError):
        grad_clip(x, 1.0, -1.0)


def test_hooks_exported_from_graphc():
    assert graphc.disconnected_grad is disconnected_grad
    assert graphc.zero_grad is zero_grad
    assert graphc.grad_clip is grad_clip


# ------------------------------------------------------------------ higher order

def test_second_derivative(mode):
    x = T.dscalar("x")
    y = x ** 3 + T.sin(x)
    d1 = graphc.grad(y, x)
    d2 = graphc.grad(d1, x)
    d3 = graphc.grad(d2, x)
    f = _f([x], [d1, d2, d3], mode)
    xv = 0.7
    out = f(xv)
    np.testing.assert_allclose(out[0], 3 * xv ** 2 + np.cos(xv))
    np.testing.assert_allclose(out[1], 6 * xv - np.sin(xv))
    np.testing.assert_allclose(out[2], 6 - np.cos(xv))


def test_grad_of_grad_norm(mode, rng):
    x = T.dvector("x")
    g = graphc.grad(T.sum(T.tanh(x)), x)
    cost = T.sum(g ** 2)
    gg = graphc.grad(cost, x)
    xv = rng.standard_normal(4)
    t = np.tanh(xv)
    s = 1 - t ** 2
    expected = 2 * s * (-2 * t * s)
    np.testing.assert_allclose(_f([x], gg, mode)(xv), expected)


# ------------------------------------------------------------------ verify_grad

class _Cube(Op):
    """x ** 3 with a gradient rule given at construction (right or wrong)."""

    __props__ = ("factor",)

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        return (inputs[0] ** 3,)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        return [gz * self.factor * x ** 2]


def test_verify_grad_passes_for_correct_ops(rng):
    assert verify_grad(lambda a: T.tanh(a) * a, [rng.standard_normal((2, 3))], rng=rng)
    assert verify_grad(lambda a, b: T.dot(a, b), [rng.standard_normal((2, 3)),
                                                  rng.standard_normal((3, 2))], rng=rng)
    assert verify_grad(_Cube(3.0), [rng.standard_normal(4)], rng=rng)


def test_verify_grad_detects_a_wrong_gradient(rng):
    with pytest.raises(GradientError) as info:
        verify_grad(_Cube(2.0), [rng.standard_normal(4)], rng=rng)
    assert isinstance(info.value, AssertionError)
    assert "input 0" in str(info.value)


def test_custom_op_gradient_used_by_grad(mode):
    x = T.dvector("x")
    g = graphc.grad(T.sum(_Cube(3.0)(x)), x)
    np.testing.assert_allclose(_f([x], g, mode)(np.array([1.0, 2.0])), [3.0, 12.0])


def test_op_without_gradient_raises_clearly():
    class NoGrad(Op):
        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type.make_variable()])

        def perform(self, node, inputs):
            return (inputs[0],)

    x = T.dvector("x")
    with pytest.raises(TypeError, match="NoGrad"):
        graphc.grad(T.sum(NoGrad()(x)), x)
