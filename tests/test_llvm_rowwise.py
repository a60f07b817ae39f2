"""The llvm backend's compiled softmax cross-entropy ops (``backends/llvm/
rowwise.py``) against the python backend's NumPy ``perform``, and in-place
planning of kernels whose output root is not a ufunc (``Kernel.writable_roots``)."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.ops.kernel import KernelOp
from graphc.ops.nnet import CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx

from helpers import assert_same


def _ce_functions(dtype, label_dtype="int32"):
    """(llvm, python) functions of (x, labels, dy) -> (loss, softmax, dx)."""
    x = T.matrix("x", dtype=dtype)
    y = T.vector("y", dtype=label_dtype)
    dy = T.vector("dy", dtype=dtype)
    loss, sm = CrossentropySoftmax1Hot()(x, y)
    dx = CrossentropySoftmax1HotDx()(dy, sm, y)
    return [graphc.function([x, y, dy], [loss, sm, dx], mode=m) for m in ("llvm", "python")]


def _logits(dtype, n=37, k=10, seed=0):
    """Rows with NaN, inf and -inf entries, rows all -inf / all inf, large values."""
    x = (np.random.default_rng(seed).standard_normal((n, k)) * 30).astype(dtype)
    x[0, 3] = np.nan
    x[1, :] = -np.inf
    x[2, 4] = np.inf
    x[3, :] = np.inf
    x[4, 2] = -np.inf
    x[5, :] = 1e30 if dtype == "float32" else 1e300
    return x


def _assert_all_same(actual, expected):
    for a, e in zip(actual, expected):
        assert np.array_equal(np.isnan(a), np.isnan(e))
        assert_same(np.nan_to_num(a), np.nan_to_num(e))


def _compiled_nodes(f):
    """The schedule's nodes that run compiled code (not their NumPy perform)."""
    return [n for n, thunk, *_ in f.runner.schedule if not getattr(thunk, "fallback", False)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8", "int8"])
def test_compiled_matches_numpy_perform(dtype, label_dtype):
    f_llvm, f_py = _ce_functions(dtype, label_dtype)
    compiled = {type(n.op) for n in _compiled_nodes(f_llvm)}
    assert {CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx} <= compiled
    x = _logits(dtype)
    rng = np.random.default_rng(1)
    low = 0 if label_dtype == "uint8" else -10  # negative labels count from the end
    y = rng.integers(low, 10, size=x.shape[0]).astype(label_dtype)
    for dy in (rng.standard_normal(x.shape[0]).astype(dtype),
               np.array([0.25], dtype=dtype)):  # one value for every row
        with np.errstate(invalid="ignore"):
            _assert_all_same(f_llvm(x, y, dy), f_py(x, y, dy))


@pytest.mark.parametrize("k", [1, 3, 8, 10, 33, 1000])
def test_row_lengths_and_strided_logits(k):
    f_llvm, f_py = _ce_functions("float32")
    base = np.random.default_rng(2).standard_normal((9, 2 * k)).astype("float32") * 5
    y = np.random.default_rng(3).integers(0, k, size=9).astype("int32")
    dy = np.linspace(-1, 1, 9).astype("float32")
    for x in (base[:, :k], base[:, ::2], base[:, :k].T.copy().T):  # contiguous rows or not
        _assert_all_same(f_llvm(x, y, dy), f_py(x, y, dy))


@pytest.mark.parametrize("bad", [10, -11, 127])
def test_out_of_range_label_message_unchanged(bad):
    f_llvm, f_py = _ce_functions("float32")
    x = _logits("float32", n=6)
    y = np.array([0, 1, 2, bad, 4, 5], dtype="int32")
    dy = np.ones(6, "float32")
    messages = []
    for f in (f_llvm, f_py):
        with np.errstate(invalid="ignore"), pytest.raises(IndexError, match=f"label {bad} is out of bounds for axis 1 with size "
                                             "10") as info:
            f(x, y, dy)
        messages.append(str(info.value).splitlines()[0])
    assert messages[0] == messages[1]


def test_out_of_range_gradient_label():
    """The gradient op alone (its own node) checks the labels as perform does."""
    dy, sm, y = T.fvector("dy"), T.fmatrix("sm"), T.ivector("y")
    fs = [graphc.function([dy, sm, y], CrossentropySoftmax1HotDx()(dy, sm, y), mode=m)
          for m in ("llvm", "python")]
    sm_val = np.full((3, 4), 0.25, "float32")
    for f in fs:
        with pytest.raises(IndexError, match="label 4 is out of bounds for axis 1 with size 4"):
            f(np.ones(3, "float32"), sm_val, np.array([0, 4, 1], "int32"))
    good = np.array([0, -1, 1], "int32")
    assert_same(fs[0](np.ones(3, "float32"), sm_val, good),
                fs[1](np.ones(3, "float32"), sm_val, good))


def test_broadcast_labels_and_empty_shapes_fall_back_to_perform():
    """Calls outside the compiled path (one label for all rows, one row for
    many labels, zero rows, zero classes) give the NumPy perform's results."""
    f_llvm, f_py = _ce_functions("float32")
    x = _logits("float32", n=6)
    cases = [(x, np.array([3], "int32"), np.ones(6, "float32")),
             (x[:1], np.array([1, 2, 3], "int32"), np.ones(3, "float32")),
             (x[:0], np.zeros(0, "int32"), np.ones(0, "float32"))]
    with np.errstate(invalid="ignore"):
        for args in cases:
            _assert_all_same(f_llvm(*args), f_py(*args))
    for f in (f_llvm, f_py):
        with pytest.raises(ValueError, match="zero-size array"):
            f(np.zeros((2, 0), "float32"), np.zeros(2, "int32"), np.ones(2, "float32"))


def test_train_step_uses_compiled_ce(mode):
    """The ops the stability rewrite builds from softmax + categorical CE and
    its gradient are compiled on llvm, with the python backend's values."""
    x, y = T.fmatrix("x"), T.ivector("y")
    w = graphc.shared(np.random.default_rng(4).standard_normal((5, 7)).astype("float32"))
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, w)), y))
    g = T.grad(loss, w)
    f = graphc.function([x, y], [loss, g], mode=mode)
    ref = graphc.function([x, y], [loss, g], mode="python")
    ops = {type(n.op) for n in f.maker.fgraph.toposort()}
    assert {CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx} <= ops
    if mode == "llvm":
        assert not any(isinstance(n.op, (CrossentropySoftmax1Hot, CrossentropySoftmax1HotDx))
                       for n in f.runner.fallbacks)
    xv = np.random.default_rng(5).standard_normal((6, 5)).astype("float32")
    yv = np.array([0, 6, 3, -1, 2, 5], "int32")
    for a, e in zip(f(xv, yv), ref(xv, yv)):
        assert_same(a, e)


# ----------------------------------------------- in place with a non-ufunc root

def test_relu_gradient_switch_is_planned_in_place(mode):
    """``switch(a > 0, g, 0)`` (root: switch, not a ufunc) overwrites the dead
    product ``g``; values equal the unoptimized graph's, NaN and inf included."""
    a, b, c = T.fmatrix("a"), T.fmatrix("b"), T.fmatrix("c")
    out = T.switch(a > 0, T.dot(b, c), 0) * 1
    f = graphc.function([a, b, c], out, mode=mode)
    kernels = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, KernelOp)]
    assert len(kernels) == 1 and dict(kernels[0].op.inplace) == {0: 1}
    rng = np.random.default_rng(6)
    av = rng.standard_normal((4, 3)).astype("float32")
    av[0, 0], av[1, 1], av[2, 2] = np.nan, np.inf, -np.inf
    bv = rng.standard_normal((4, 5)).astype("float32")
    bv[3, 0] = np.nan
    cv = rng.standard_normal((5, 3)).astype("float32")
    expected = graphc.function([a, b, c], out, mode=Mode(mode, optimizer=None))
    with np.errstate(invalid="ignore"):
        got, want = f(av, bv, cv), expected(av, bv, cv)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert_same(np.nan_to_num(got), np.nan_to_num(want))

