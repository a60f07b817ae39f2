"""Neural-network activations and losses (``T.nnet``)."""

from ...ops.nnet import LogSoftmax, Softmax
from .. import math as tm
from ..basic import arange, shape
from ..var import as_tensor_variable

sigmoid = tm.sigmoid
ultra_fast_sigmoid = tm.ultra_fast_sigmoid
softplus = tm.softplus


def hard_sigmoid(x):
    """Theano's piecewise-linear sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    x = as_tensor_variable(x)
    return tm.clip(x * 0.2 + 0.5, 0, 1)


def relu(x, alpha=0):
    """max(x, 0), or a leaky ReLU with slope ``alpha`` below zero."""
    x = as_tensor_variable(x)
    if alpha == 0:
        return tm.switch(tm.gt(x, 0), x, tm.zeros_like(x))
    return tm.switch(tm.gt(x, 0), x, alpha * x)


def elu(x, alpha=1.0):
    x = as_tensor_variable(x)
    return tm.switch(tm.gt(x, 0), x, alpha * tm.expm1(x))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (the last by default), computed stably."""
    return Softmax(axis)(as_tensor_variable(x))


def logsoftmax(x, axis=-1):
    """log(softmax(x)) without underflow."""
    return LogSoftmax(axis)(as_tensor_variable(x))


log_softmax = logsoftmax


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return -(target * tm.log(output) + (1.0 - target) * tm.log(1.0 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy of each row: ``true_dist`` is a one-hot/probability matrix
    or a vector of integer class labels."""
    coding_dist = as_tensor_variable(coding_dist)
    true_dist = as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return -tm.sum(true_dist * tm.log(coding_dist), axis=coding_dist.ndim - 1)
    if true_dist.ndim == coding_dist.ndim - 1 and true_dist.dtype.startswith(("int", "uint")):
        rows = arange(shape(coding_dist)[0])
        return -tm.log(coding_dist[rows, true_dist])
    raise TypeError(f"categorical_crossentropy: true_dist {true_dist} ({true_dist.ndim}-d "
                    f"{true_dist.dtype}) must be a distribution like {coding_dist} or a vector "
                    "of integer labels")


def squared_error(x, y):
    return tm.sqr(x - y)
