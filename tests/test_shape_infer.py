"""Symbolic shape inference (graphc.graph.shape_feature) and the rewrites
that use it: SumToShapeOf / fill removal, shape reads moved to inputs."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.graph.shape_feature import ShapeFeature
from graphc.ops.elemwise import Elemwise, SumToShapeOf
from graphc.ops.kernel import KernelOp
from graphc.ops.shape import Shape

UNOPT = Mode("python", optimizer=None)
#: the NumPy broadcasting rule from the start (no strict specialization)
NUMPY_RULE = Mode("python", strict_broadcast=False)


def both(inputs, outputs, updates=None):
    f = graphc.function(inputs, outputs, mode="python", updates=updates)
    ref = graphc.function(inputs, outputs, mode=UNOPT, updates=updates)
    return f, ref


def ops_of(f):
    return [n.op for n in f.maker.fgraph.toposort()]


def shape_sources(f):
    """The variables whose runtime shape the compiled graph reads."""
    return [n.inputs[0] for n in f.maker.fgraph.toposort() if isinstance(n.op, Shape)]


def test_dims_flow_through_products_and_broadcasts():
    X, W, V = T.fmatrix("X"), T.fmatrix("W"), T.fmatrix("V")
    b = T.fvector("b")
    h = T.nnet.relu(T.dot(X, W) + b)
    out = T.dot(h, V)
    sf = ShapeFeature()
    assert sf.shape_of(h)[0] is sf.shape_of(X)[0]
    # the bias may broadcast at run time: the column dim is a broadcast set
    assert sf.shape_of(h)[1] == frozenset({sf.shape_of(W)[1], sf.shape_of(b)[0]})
    assert sf.shape_of(out) == (sf.shape_of(X)[0], sf.shape_of(V)[1])
    # dot(h, V) checks h's columns against V's rows: the union-find binds them
    assert sf.same_dim(sf.shape_of(V)[0], sf.shape_of(h)[1])
    assert out.owner in sf.witnesses and sf.used_constraints
    # without constraints only structural facts remain
    plain = ShapeFeature(constraints=False)
    assert not plain.same_dim(plain.shape_of(out.owner.inputs[1])[0],
                              plain.shape_of(out.owner.inputs[0])[1])


def test_values_of_shape_reads_are_dims():
    x, y = T.dmatrix("x"), T.ivector("y")
    n = T.shape(x)[0]
    sf = ShapeFeature()
    rows = T.arange(n)
    assert sf.shape_of(rows) == (sf.shape_of(x)[0],)
    assert sf.shape_of(T.alloc(0.0, n, T.shape(x)[1])) == sf.shape_of(x)
    assert sf.shape_of(x[rows, y]) == (frozenset({sf.shape_of(x)[0], sf.shape_of(y)[0]}),)
    assert sf.shape_of(x[1:, :][:, 0]) == (None,) or sf.shape_of(x[:, 0]) == (sf.shape_of(x)[0],)


def test_inference_is_iterative_on_deep_graphs():
    x = T.dvector("x")
    h = x
    for _ in range(3000):  # far beyond the recursion limit if walked recursively
        h = T.exp(h) * 0.5
    sf = ShapeFeature()
    assert sf.shape_of(h) == sf.shape_of(x)


def test_relu_gradient_needs_no_runtime_sum():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    f, ref = both([x], graphc.grad((T.nnet.relu(x) * T.exp(x)).sum(), x))
    assert not any(isinstance(op, SumToShapeOf) for op in ops_of(f))
    assert "second" not in " ".join(map(str, ops_of(f)))
    v = np.array([[1.0, -2.0, np.nan], [np.inf, -np.inf, 0.0]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(v), ref(v))
    # x * w: a length-1 x broadcasts against w, so under the NumPy rule that
    # gradient must sum (the strict variant falls back to this graph)
    g = graphc.grad((x * w).sum(), x)
    f, ref = graphc.function([x, w], g, mode=NUMPY_RULE), graphc.function([x, w], g, mode=UNOPT)
    assert any(isinstance(op, SumToShapeOf) for op in ops_of(f))
    wv = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(f(v[:, :1], wv), ref(v[:, :1], wv))


def test_bias_gradient_keeps_runtime_broadcast():
    """A length-1 bias broadcasts at run time: its gradient must still sum."""
    X, W = T.dmatrix("X"), T.dmatrix("W")
    b = graphc.shared(np.zeros(1), name="b")
    loss = (T.nnet.relu(T.dot(X, W) + b) ** 2).sum()
    gb = graphc.grad(loss, b)
    f, ref = graphc.function([X, W], gb, mode=NUMPY_RULE), graphc.function([X, W], gb, mode=UNOPT)
    assert any(isinstance(op, SumToShapeOf) for op in ops_of(f))
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    got = f(xv, wv)
    assert got.shape == (1,)
    np.testing.assert_allclose(got, ref(xv, wv), rtol=1e-12)
    # the DimShuffles around the bias gradient are gone
    assert sum(1 for n in f.maker.fgraph.toposort()
               if type(n.op).__name__ == "DimShuffle") <= 1


def test_mean_reads_input_shapes_and_fuses():
    p, y = T.fvectors("p", "y")
    f, ref = both([p, y], T.mean((p - y) ** 2))
    assert all(v in (p, y) for v in shape_sources(f))
    kernels = [op for op in ops_of(f) if isinstance(op, KernelOp)]
    assert any(k.kernel.reduce is not None for k in kernels)
    pv = np.array([1.0, 2.0, np.inf, 4.0, 5.0], "float32")
    yv = np.array([0.5, 1.0, 1.0, 0.0, np.nan], "float32")
    np.testing.assert_array_equal(f(pv, yv), ref(pv, yv))
    # one side broadcasts: the length is the other's
    np.testing.assert_allclose(f(pv[:1], yv[:4]), ref(pv[:1], yv[:4]))
    np.testing.assert_allclose(f(pv[:3], yv[:1]), ref(pv[:3], yv[:1]))


def test_fill_of_own_source_is_dropped():
    x = T.dvector("x")
    e = T.exp(x)
    f, ref = both([x], T.second(e, e * 2 + x))
    assert not any(isinstance(op, Elemwise) and op.scalar_op.name == "second"
                   for op in ops_of(f))
    v = np.array([0.0, -np.inf, np.nan, 800.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(v), ref(v))


def test_incompatible_operands_still_raise():
    x, y = T.dvectors("x", "y")
    f = graphc.function([x, y], x + y, mode="python")
    with pytest.raises(ValueError, match="x.*y|y.*x"):
        f(np.ones(3), np.ones(4))


def test_shape_of_checked_product_keeps_the_check():
    a, b = T.dmatrices("a", "b")
    f, ref = both([a, b], T.dot(a, b).shape[0] + 0)
    assert f(np.ones((2, 3)), np.ones((3, 4))) == 2
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError):
        ref(np.ones((2, 3)), np.ones((5, 4)))


def test_shape_of_elementwise_reads_the_input():
    a = T.dmatrix("a")
    f, ref = both([a], T.exp(a).shape[1] * 2)
    assert shape_sources(f) == [a] or not shape_sources(f)
    assert not any(isinstance(op, (Elemwise, KernelOp)) and "exp" in str(op) for op in ops_of(f))
    assert f(np.ones((2, 3))) == ref(np.ones((2, 3))) == 6


def test_constraint_witness_that_dies_is_not_relied_on():
    """b's rows equal a's columns only because dot(a, b) checks it; when the
    rewrite would drop that dot, the shape must not come from a."""
    a, b = T.dmatrices("a", "b")
    v = T.exp(b) + T.dot(a, b).sum()
    f, ref = both([a, b], v.shape[0] + 0)
    assert f(np.ones((2, 3)), np.ones((3, 4))) == 3
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.ones((5, 4)))


def test_w3_has_no_shape_noise():
    rng = np.random.default_rng(0)
    X, y = T.fmatrix("X"), T.ivector("y")
    h, params = X, []
    for k, (n_in, n_out) in enumerate([(6, 5), (5, 4)]):
        W = graphc.shared(rng.standard_normal((n_in, n_out)).astype("float32"), f"W{k}")
        b = graphc.shared(np.zeros(n_out, "float32"), f"b{k}")
        params += [W, b]
        h = T.dot(h, W) + b
        if k == 0:
            h = T.nnet.relu(h)
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y))
    grads = graphc.grad(loss, params)
    f, ref = both([X, y], [loss] + grads)
    names = [type(op).__name__ for op in ops_of(f)]
    assert "Softmax" not in names and "AdvancedIncSubtensor" not in names
    assert all(v in (X, y) for v in shape_sources(f))
    assert not any(isinstance(op, KernelOp) and "second" in str(op) for op in ops_of(f))
    xv = rng.standard_normal((7, 6)).astype("float32")
    yv = rng.integers(0, 4, 7).astype("int32")
    for got, want in zip(f(xv, yv), ref(xv, yv)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
