"""Graphs that several test files build: an MLP train step and a hand-built
fused kernel."""

import numpy as np

import graphc
import graphc.tensor as T
from graphc.kernel.ir import KConst, KInput, Kernel, KernelInput, Reduction, apply_scalar
from graphc.ops import scalar as scal
from graphc.ops.kernel import KernelOp


def mlp_train_graph(seed=0, dropout=True):
    """The MLP train step (relu hidden layer, optional dropout, softmax
    cross-entropy with int labels, L2, SGD updates)."""
    rng = np.random.default_rng(seed)
    x = T.matrix("x")
    y = T.ivector("y")
    W1 = graphc.shared(rng.standard_normal((12, 7)).astype(graphc.config.floatX), "W1")
    b1 = graphc.shared(np.zeros(7, graphc.config.floatX), "b1")
    W2 = graphc.shared(rng.standard_normal((7, 4)).astype(graphc.config.floatX), "W2")
    b2 = graphc.shared(np.zeros(4, graphc.config.floatX), "b2")
    h = T.nnet.relu(T.dot(x, W1) + b1)
    if dropout:
        srng = graphc.RandomStreams(seed=7)
        h = h * T.cast(srng.binomial(h.shape, p=0.8), h.dtype) / 0.8
    p_y = T.nnet.softmax(T.dot(h, W2) + b2)
    loss = T.nnet.categorical_crossentropy(p_y, y).mean() + 1e-3 * T.sum(W1 ** 2)
    params = [W1, b1, W2, b2]
    updates = [(p, p - 0.1 * g) for p, g in zip(params, graphc.grad(loss, params))]
    accuracy = T.mean(T.eq(T.argmax(p_y, axis=1), y))
    return [x, y], [loss, accuracy], updates


def mlp_data(seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((5, 12)).astype(graphc.config.floatX),
            rng.integers(0, 4, 5).astype("int32"))



def kernel_graph():
    """A fused KernelOp by hand (casts, NaN/-0.0/inf constants, a sum
    reduction, an in-place map), the way the fusion rewrite builds them."""
    i0, i1 = KInput(0, "float32"), KInput(1, "float64")
    e = apply_scalar(scal.mul, i0, i1)
    e = apply_scalar(scal.add, e, KConst(-0.0, "float64"))
    e2 = apply_scalar(scal.maximum, e, KConst(float("nan"), "float64"))
    e3 = apply_scalar(scal.minimum, apply_scalar(scal.exp, i1), KConst(float("inf"), "float64"))
    fused = Kernel([KernelInput("float32", 2), KernelInput("float64", 2)], [e, e3], 2)
    reduced = Kernel([KernelInput("float32", 2), KernelInput("float64", 1, [False])], [e2], 2,
                     Reduction("sum", [1]))
    m = T.fmatrix("m")
    w = T.dvector("w")
    scratch = T.dot(T.ones((2, 1)), w[None, :])  # a fresh temporary the kernel may overwrite
    a, c = KernelOp(fused, inplace={1: 1})(m, scratch)
    r = KernelOp(reduced)(m, w)
    rng = np.random.default_rng(2)
    return [m, w], [a, c, r], [rng.standard_normal((2, 3)).astype("float32"),
                               rng.standard_normal(3)]


def relu_mlp_train_step(dtype, mode, sizes, rng, weight_scale):
    """W3 in miniature, built as users build it: relu layers, softmax CE with
    integer labels, SGD (lr 0.1) updates from T.grad; parameters are shared
    variables drawn from ``rng``.  Returns (function, parameters)."""
    X, y = T.matrix("X", dtype=dtype), T.ivector("y")
    params, h = [], X
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = graphc.shared(rng.standard_normal((n_in, n_out)).astype(dtype) * weight_scale,
                          name=f"W{i}")
        b = graphc.shared(rng.standard_normal(n_out).astype(dtype) * 0.1, name=f"b{i}")
        params += [W, b]
        z = T.dot(h, W) + b
        h = T.nnet.relu(z) if i < len(sizes) - 2 else z
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y))
    grads = T.grad(loss, params)
    lr = np.asarray(0.1, dtype)
    f = graphc.function([X, y], loss, updates=[(p, p - lr * g) for p, g in zip(params, grads)],
                        mode=mode)
    return f, params
