"""User mistakes get exceptions that name the user's variable, the shapes and
dtypes involved and, at run time, the line of user code that created the
failing node; a failing call changes no shared variable."""

import os
import sys

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.function import MissingInputError

THIS_FILE = os.path.basename(__file__)


def _line():
    """The line number of the caller's current line."""
    return sys._getframe(1).f_lineno


def _assert_points_here(msg, lineno):
    assert THIS_FILE in msg, msg
    assert f"line {lineno}" in msg, (lineno, msg)


# ------------------------------------------------------------------ call-time input checks

def test_too_many_inputs_names_the_inputs(mode):
    x = T.dvector("xs")
    y = T.dvector("ys")
    f = graphc.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(2), np.ones(2), np.ones(2))
    msg = str(info.value)
    assert "2" in msg and "3" in msg and "xs" in msg and "ys" in msg


def test_too_few_inputs_names_the_missing_one(mode):
    x = T.dvector("xs")
    y = T.dvector("ys")
    f = graphc.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(2))
    msg = str(info.value)
    assert "ys" in msg and "2" in msg and "1" in msg


def test_wrong_ndim_names_input_and_shapes(mode):
    x = T.dmatrix("images")
    f = graphc.function([x], x.sum(), mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(5))
    msg = str(info.value)
    assert "images" in msg
    assert "(5,)" in msg  # the shape given
    assert "2" in msg and "1" in msg  # expected and actual ndim


def test_wrong_ndim_of_second_input(mode):
    x = T.dvector("a")
    y = T.dscalar("b")
    f = graphc.function([x, y], x * y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(3), np.ones(3))
    msg = str(info.value)
    assert "'b'" in msg and "#1" in msg and "(3,)" in msg


def test_unsafe_dtype_cast_names_input_and_dtypes(mode):
    x = T.fmatrix("weights")
    f = graphc.function([x], x * 2, mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones((2, 2)))
    msg = str(info.value)
    assert "weights" in msg and "float64" in msg and "float32" in msg
    assert "allow_input_downcast" in msg


def test_non_numeric_input(mode):
    x = T.dvector("x")
    f = graphc.function([x], x, mode=mode)
    with pytest.raises(TypeError, match="'x'"):
        f(["a", "b"])
    with pytest.raises(TypeError, match="'x'"):
        f([[1.0], [2.0, 3.0]])  # ragged


def test_static_shape_mismatch_on_input(mode):
    x = T.tensor("float64", shape=(None, 3), name="fixed")
    f = graphc.function([x], x.sum(), mode=mode)
    assert f(np.ones((2, 3))) == 6.0
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 4)))
    msg = str(info.value)
    assert "fixed" in msg and "(2, 4)" in msg and "3" in msg


# ------------------------------------------------------------------ run-time errors

def test_runtime_broadcast_mismatch(mode):
    x = T.dmatrix("xmat")
    y = T.dvector("yvec")
    z = x + y; lineno = _line()  # noqa: E702
    f = graphc.function([x, y], z * 2, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones(4))
    msg = str(info.value)
    assert "xmat" in msg and "yvec" in msg
    assert "(2, 3)" in msg and "4" in msg
    assert "float64" in msg
    _assert_points_here(msg, lineno)
    assert "z = x + y" in msg  # the source text of that line


def test_runtime_dot_inner_dimension_mismatch(mode):
    a = T.dmatrix("A")
    b = T.dmatrix("B")
    c = T.dot(a, b); lineno = _line()  # noqa: E702
    f = graphc.function([a, b], T.tanh(c), mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 5)))
    msg = str(info.value)
    assert "A" in msg and "B" in msg
    assert "(2, 3)" in msg and "(4, 5)" in msg
    _assert_points_here(msg, lineno)


def test_runtime_error_in_gradient_points_at_grad_call(mode):
    x = T.dmatrix("x")
    v = T.dvector("v")
    cost = T.sum(T.dot(x, v))
    g = graphc.grad(cost, v); lineno = _line()  # noqa: E702
    f = graphc.function([x, v], g, mode=mode)
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones(3)), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones(4))
    msg = str(info.value)
    assert THIS_FILE in msg
    assert "(2, 3)" in msg and "(4,)" in msg
    # either the forward dot (created above) or a gradient node (created by grad)
    assert f"line {lineno}" in msg or f"line {lineno - 1}" in msg, msg


def test_runtime_error_is_catchable_by_original_type(mode):
    x = T.dvector("x")
    y = T.dvector("y")
    f = graphc.function([x, y], x * y, mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(2), np.ones(3))
    try:
        f(np.ones(2), np.ones(3))
    except ValueError as exc:
        assert exc.node is not None  # the failing (compiled) Apply node


def test_index_out_of_bounds_at_runtime(mode):
    x = T.dvector("data")
    i = T.lscalar("i")
    y = x[i]; lineno = _line()  # noqa: E702
    f = graphc.function([x, i], y, mode=mode)
    assert f(np.arange(3.0), 2) == 2.0
    with pytest.raises(IndexError) as info:
        f(np.arange(3.0), 5)
    msg = str(info.value)
    assert "data" in msg and "(3,)" in msg
    _assert_points_here(msg, lineno)


# ------------------------------------------------------------------ failing calls are atomic

def test_failing_call_changes_no_shared_variable(mode):
    a = graphc.shared(np.array([1.0, 2.0]), "a")
    b = graphc.shared(np.float64(5.0), "b")
    count = graphc.shared(np.int64(0), "count")
    M = graphc.shared(np.ones((2, 2)), "M")
    v = T.dvector("v")
    # The updates of a, b and count are computable before the dot fails.
    updates = [(a, a + 1), (b, b * 2), (count, count + 1), (M, M + T.outer(T.dot(M, v), v))]
    f = graphc.function([v], a.sum(), updates=updates, mode=mode)
    f(np.ones(2))
    snapshot = {s.name: s.get_value() for s in (a, b, count, M)}
    assert snapshot["count"] == 1
    with pytest.raises(ValueError) as info:
        f(np.ones(3))  # dot(M (2,2), v (3,)) fails at run time
    assert "(3,)" in str(info.value)
    for s in (a, b, count, M):
        np.testing.assert_array_equal(s.get_value(), snapshot[s.name])
    # ...and the function still works afterwards
    f(np.ones(2))
    assert count.get_value() == 2


def test_failing_input_check_changes_no_shared_variable(mode):
    s = graphc.shared(0.0, "s")
    x = T.dvector("x")
    y = T.dmatrix("y")
    f = graphc.function([x, y], x.sum() + y.sum(), updates=[(s, s + 1)], mode=mode)
    with pytest.raises(TypeError):
        f(np.ones(2), np.ones(2))
    assert s.get_value() == 0.0


def test_failing_call_does_not_advance_random_state(mode):
    srng = graphc.RandomStreams(seed=5)
    x = T.dvector("x")
    y = T.dvector("y")
    f = graphc.function([x, y], srng.uniform((2,)) + x * y, mode=mode)
    g = graphc.function([x, y], srng.uniform((2,)) + x * y, mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(2), np.ones(3))
    # f's stream is still at its start: it matches a fresh stream of the same seed
    srng2 = graphc.RandomStreams(seed=5)
    ref = graphc.function([], srng2.uniform((2,)), mode=mode)
    np.testing.assert_array_equal(f(np.zeros(2), np.zeros(2)), ref())
    del g


# ------------------------------------------------------------------ compile-time errors

def test_update_with_wrong_dtype_names_shared_variable():
    W = graphc.shared(np.zeros(3, dtype="float32"), "W32")
    x = T.dvector("x")
    with pytest.raises(TypeError) as info:
        graphc.function([x], [], updates=[(W, W + x)])  # float64 update of a float32 variable
    msg = str(info.value)
    assert "W32" in msg and "float32" in msg and "float64" in msg


def test_update_with_wrong_ndim_names_shared_variable():
    W = graphc.shared(np.zeros((2, 2)), "Wmat")
    lineno = _line() + 1
    upd = W.sum(axis=0)
    with pytest.raises(TypeError) as info:
        graphc.function([], [], updates=[(W, upd)])
    msg = str(info.value)
    assert "Wmat" in msg and "1" in msg and "2" in msg
    _assert_points_here(msg, lineno)


def test_update_with_int_of_float_shared_is_safe_but_float_into_int_is_not():
    count = graphc.shared(np.int32(0), "count")
    with pytest.raises(TypeError, match="count"):
        graphc.function([], [], updates=[(count, count + 0.5)])


def test_missing_input_names_the_variable():
    x = T.dscalar("x")
    forgotten = T.dscalar("forgotten")
    z = x * forgotten; lineno = _line()  # noqa: E702
    with pytest.raises(MissingInputError) as info:
        graphc.function([x], z)
    msg = str(info.value)
    assert "forgotten" in msg
    _assert_points_here(msg, lineno)


def test_missing_input_in_update():
    s = graphc.shared(0.0, "s")
    step = T.dscalar("step")
    with pytest.raises(MissingInputError, match="step"):
        graphc.function([], [], updates=[(s, s + step)])


def test_bad_function_arguments():
    x = T.dscalar("x")
    s = graphc.shared(1.0, "s")
    with pytest.raises(TypeError, match="list"):
        graphc.function(x, x)
    with pytest.raises(TypeError, match="s"):
        graphc.function([s], s * 2)  # shared variables are implicit inputs
    with pytest.raises(TypeError):
        graphc.function([x * 2], x)  # not a free variable
    with pytest.raises(ValueError):
        graphc.function([x, x], x)
    with pytest.raises(ValueError, match="unknown mode"):
        graphc.function([x], x, mode="no_such_mode")


def test_build_time_shape_error_names_operands():
    x = T.tensor("float64", shape=(2, 3), name="left")
    y = T.tensor("float64", shape=(4,), name="right")
    with pytest.raises(ValueError) as info:
        x + y
    msg = str(info.value)
    assert "left" in msg and "right" in msg and "3" in msg and "4" in msg


def test_symbolic_truth_value_is_an_error():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="ifelse|switch"):
        if x > 0:
            pass


def test_runtime_error_hides_internal_traceback_by_default(mode):
    x = T.dvector("x")
    y = T.dvector("y")
    f = graphc.function([x, y], x * y, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(2), np.ones(3))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value.original, ValueError)  # NumPy's own error, kept
    assert "HINT" in str(info.value)


def test_exception_verbosity_high_shows_values(mode):
    graphc.config.exception_verbosity = "high"  # restored by conftest
    x = T.dvector("x")
    y = T.dvector("y")
    f = graphc.function([x, y], x * y, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.array([1.5, 2.5]), np.array([7.0, 8.0, 9.0]))
    msg = str(info.value)
    assert "[1.5, 2.5]" in msg and "[7., 8., 9.]" in msg
    assert info.value.__cause__ is info.value.original
