"""graphc.function: outputs, updates, givens, In, input casting, aliasing,
configuration and default updates."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.function import In, MissingInputError, UnusedInputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ outputs

def test_single_output_is_an_array(mode):
    x = T.dvector("x")
    f = graphc.function([x], x * 2, mode=mode)
    out = f([1.0, 2.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [2.0, 4.0])


def test_scalar_output_is_0d_array(mode):
    x = T.dvector("x")
    out = graphc.function([x], x.sum(), mode=mode)(np.array([1.0, 2.0, 3.0]))
    assert isinstance(out, np.ndarray)
    assert out.shape == () and out.dtype == np.float64
    assert out == 6.0


def test_list_of_outputs_returns_list(mode):
    x = T.dscalar("x")
    f = graphc.function([x], [x + 1, x * 3], mode=mode)
    out = f(2.0)
    assert isinstance(out, list) and len(out) == 2
    assert out[0] == 3.0 and out[1] == 6.0
    one = graphc.function([x], [x + 1], mode=mode)(2.0)
    assert isinstance(one, list) and len(one) == 1 and one[0] == 3.0
    tup = graphc.function([x], (x + 1, x - 1), mode=mode)(2.0)
    assert [float(v) for v in tup] == [3.0, 1.0]


def test_outputs_none_and_empty(mode):
    s = graphc.shared(0.0, "s")
    f = graphc.function([], updates=[(s, s + 1)], mode=mode)
    assert f() == []
    assert s.get_value() == 1.0
    g = graphc.function([], [], updates=[(s, s + 1)], mode=mode)
    assert g() == []
    assert s.get_value() == 2.0


def test_output_dtype_and_value(mode, rng):
    x = T.fmatrix("x")
    y = T.fmatrix("y")
    f = graphc.function([x, y], T.dot(x, y) + 1, mode=mode)
    a = rng.standard_normal((3, 4)).astype("float32")
    b = rng.standard_normal((4, 2)).astype("float32")
    out = f(a, b)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, a @ b + 1, rtol=1e-5)


# ------------------------------------------------------------------ updates

@pytest.mark.parametrize("form", ["list", "tuple", "dict"])
def test_update_forms(mode, form):
    a = graphc.shared(np.float64(1.0), "a")
    b = graphc.shared(np.zeros(2), "b")
    pairs = [(a, a * 2), (b, b + a)]
    updates = {"list": pairs, "tuple": tuple(pairs), "dict": dict(pairs)}[form]
    f = graphc.function([], a, updates=updates, mode=mode)
    assert f() == 1.0  # the output sees the value before the call
    assert a.get_value() == 2.0
    np.testing.assert_array_equal(b.get_value(), [1.0, 1.0])
    assert f() == 2.0
    assert a.get_value() == 4.0
    np.testing.assert_array_equal(b.get_value(), [3.0, 3.0])


def test_update_pair_given_as_list(mode):
    a = graphc.shared(1.0, "a")
    f = graphc.function([], [], updates=[[a, a + 10]], mode=mode)
    f()
    assert a.get_value() == 11.0


def test_updates_swap(mode):
    a = graphc.shared(np.array([1.0, 2.0]), "a")
    b = graphc.shared(np.array([3.0, 4.0]), "b")
    swap = graphc.function([], [], updates=[(a, b), (b, a)], mode=mode)
    swap()
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    swap()
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])
    np.testing.assert_array_equal(b.get_value(), [3.0, 4.0])
    # After a swap the two variables do not share storage.
    a.get_value(borrow=True)[0] = 100.0
    np.testing.assert_array_equal(b.get_value(), [3.0, 4.0])


def test_updates_use_pre_call_values(mode):
    a = graphc.shared(2.0, "a")
    b = graphc.shared(3.0, "b")
    f = graphc.function([], [a, b], updates=[(a, a + b), (b, a * b)], mode=mode)
    out = f()
    assert [float(v) for v in out] == [2.0, 3.0]
    assert a.get_value() == 5.0  # 2 + 3
    assert b.get_value() == 6.0  # 2 * 3, not 5 * 3


def test_update_with_input(mode):
    acc = graphc.shared(np.zeros(3), "acc")
    x = T.dvector("x")
    f = graphc.function([x], acc.sum(), updates=[(acc, acc + x)], mode=mode)
    f([1.0, 2.0, 3.0])
    out = f(np.ones(3))
    assert out == 6.0
    np.testing.assert_array_equal(acc.get_value(), [2.0, 3.0, 4.0])


def test_update_safe_upcast_is_accepted(mode):
    s = graphc.shared(np.zeros(2), "s")  # float64
    i = T.ivector("i")
    f = graphc.function([i], [], updates=[(s, i)], mode=mode)
    f([1, 2])
    assert s.get_value().dtype == np.float64
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])


def test_update_target_must_be_shared():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="shared"):
        graphc.function([x], x, updates=[(x, x + 1)])


def test_two_updates_of_one_variable_rejected():
    s = graphc.shared(0.0, "s")
    with pytest.raises(ValueError, match="s"):
        graphc.function([], [], updates=[(s, s + 1), (s, s + 2)])


# ------------------------------------------------------------------ givens

def test_givens_replace_input_by_expression(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    f = graphc.function([y], x * 2 + 1, givens=[(x, y + 1)], mode=mode)
    assert f(3.0) == 9.0


def test_givens_replace_shared_by_constant(mode):
    W = graphc.shared(np.arange(3.0), "W")
    v = T.dvector("v")
    f = graphc.function([v], T.dot(W, v), givens={W: np.ones(3)}, mode=mode)
    assert f([1.0, 2.0, 3.0]) == 6.0
    np.testing.assert_array_equal(W.get_value(), [0.0, 1.0, 2.0])


def test_givens_replace_shared_by_slice_of_other_shared(mode):
    data = graphc.shared(np.arange(10.0).reshape(5, 2), "data")
    idx = T.lscalar("idx")
    x = T.dmatrix("x")
    f = graphc.function([idx], x.sum(), givens={x: data[idx:idx + 2]}, mode=mode)
    assert f(0) == 0 + 1 + 2 + 3
    assert f(3) == 6 + 7 + 8 + 9


def test_givens_replacement_reading_its_own_key(mode):
    x = T.dscalar("x")
    f = graphc.function([x], x * 2, givens={x: x + 1}, mode=mode)
    assert f(1.0) == 4.0  # (x + 1) * 2: the replacement is not substituted again
    W = graphc.shared(3.0, "W")
    assert graphc.function([], W * 2, givens={W: W * 10}, mode=mode)() == 60.0
    with pytest.raises(MissingInputError, match="x"):
        graphc.function([], x * 2, givens={x: x + 1})


def test_givens_ndim_mismatch_raises():
    x = T.dvector("x")
    y = T.dmatrix("y")
    with pytest.raises(TypeError, match="x"):
        graphc.function([y], x.sum(), givens={x: y})


# ------------------------------------------------------------------ In

def test_in_default_value_and_keywords(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    f = graphc.function([x, In(y, value=10.0)], x - y, mode=mode)
    assert f(1.0) == -9.0
    assert f(1.0, 2.0) == -1.0
    assert f(x=1.0) == -9.0
    assert f(y=3.0, x=1.0) == -2.0
    assert f(1.0, y=4.0) == -3.0


def test_in_with_custom_name(mode):
    x = T.dscalar("x")
    y = T.dscalar()
    f = graphc.function([x, In(y, name="offset", value=0.5)], x + y, mode=mode)
    assert f(1.0) == 1.5
    assert f(1.0, offset=2.0) == 3.0


def test_keyword_errors(mode):
    x = T.dscalar("x")
    f = graphc.function([x], x, mode=mode)
    with pytest.raises(TypeError, match="'z'"):
        f(z=1.0)
    with pytest.raises(TypeError, match="'x'"):
        f(1.0, x=2.0)


# ------------------------------------------------------------------ unused inputs

def test_on_unused_input_raise_by_default():
    x = T.dscalar("x")
    y = T.dscalar("unused_y")
    with pytest.raises(UnusedInputError, match="unused_y"):
        graphc.function([x, y], x * 2)
    with pytest.raises(UnusedInputError, match="unused_y"):
        graphc.function([x, y], x * 2, on_unused_input="raise")


def test_on_unused_input_warn(mode):
    x = T.dscalar("x")
    y = T.dscalar("unused_y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = graphc.function([x, y], x * 2, mode=mode, on_unused_input="warn")
    msgs = [str(w.message) for w in caught]
    assert any("unused_y" in m for m in msgs), msgs
    assert f(1.0, 5.0) == 2.0


def test_on_unused_input_ignore(mode):
    x = T.dscalar("x")
    y = T.dscalar("unused_y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = graphc.function([x, y], x * 2, mode=mode, on_unused_input="ignore")
    assert f(1.0, 5.0) == 2.0


def test_on_unused_input_bad_value():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="on_unused_input"):
        graphc.function([x], x, on_unused_input="sometimes")


def test_givens_keep_declared_dtype(mode):
    x = T.fvector("x")
    d = T.dvector("d")
    f = graphc.function([d], x * 2, givens={x: d}, mode=mode)
    out = f([1.0, 2.0])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 4.0])


def test_input_used_only_through_givens_is_used(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    f = graphc.function([y], x + 1, givens={x: y * 2}, mode=mode)
    assert f(2.0) == 5.0


# ------------------------------------------------------------------ input casting

def test_float64_into_fvector_needs_downcast(mode):
    x = T.fvector("xf")
    f = graphc.function([x], x * 2, mode=mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(3))
    msg = str(info.value)
    assert "xf" in msg and "float64" in msg and "float32" in msg
    g = graphc.function([x], x * 2, mode=mode, allow_input_downcast=True)
    out = g(np.ones(3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 2.0, 2.0])


def test_python_float_into_fscalar(mode):
    x = T.fscalar("x")
    f = graphc.function([x], x * 2, mode=mode)
    out = f(1.5)
    assert out.dtype == np.float32 and out == 3.0
    assert f(2).dtype == np.float32  # Python int, exact in float32


def test_python_float_list_into_fvector(mode):
    x = T.fvector("x")
    out = graphc.function([x], x * 2, mode=mode)([0.5, 1.5])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1.0, 3.0])


def test_int_list_into_dvector(mode):
    x = T.dvector("x")
    out = graphc.function([x], x / 2, mode=mode)([1, 2, 3])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 1.0, 1.5])


def test_int_array_into_dvector_is_safe(mode):
    x = T.dvector("x")
    out = graphc.function([x], x, mode=mode)(np.array([1, 2], dtype=np.int32))
    assert out.dtype == np.float64


def test_float_into_int_input_raises(mode):
    i = T.ivector("idx")
    f = graphc.function([i], i + 1, mode=mode)
    with pytest.raises(TypeError, match="idx"):
        f(np.array([1.5, 2.0]))
    with pytest.raises(TypeError, match="idx"):
        f([1.5, 2.0])
    np.testing.assert_array_equal(f([1, 2]), [2, 3])
    g = graphc.function([i], i + 1, mode=mode, allow_input_downcast=True)
    np.testing.assert_array_equal(g(np.array([1.7, 2.0])), [2, 3])


def test_int64_array_into_int32_input_raises(mode):
    i = T.ivector("idx")
    f = graphc.function([i], i * 2, mode=mode)
    with pytest.raises(TypeError, match="int64"):
        f(np.array([1, 2], dtype=np.int64))


def test_allow_input_downcast_false_rejects_python_float_into_fscalar(mode):
    x = T.fscalar("x")
    f = graphc.function([x], x, mode=mode, allow_input_downcast=False)
    with pytest.raises(TypeError, match="x"):
        f(0.1)


def test_trust_input(mode):
    x = T.dvector("x")
    f = graphc.function([x], x * 2, mode=mode, trust_input=True)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])
    assert f.trust_input


# ------------------------------------------------------------------ aliasing

def test_output_of_shared_is_a_copy(mode):
    W = graphc.shared(np.arange(3.0), "W")
    f = graphc.function([], W, mode=mode)
    out = f()
    out[0] = 100.0
    np.testing.assert_array_equal(W.get_value(), [0.0, 1.0, 2.0])
    g = graphc.function([], W.T, mode=mode)  # a view of W's storage
    out = g()
    out[1] = 100.0
    np.testing.assert_array_equal(W.get_value(), [0.0, 1.0, 2.0])


def test_output_equal_to_new_shared_value_is_a_copy(mode):
    W = graphc.shared(np.ones(3), "W")
    y = W * 2
    f = graphc.function([], y, updates=[(W, y)], mode=mode)
    out = f()
    np.testing.assert_array_equal(out, [2.0, 2.0, 2.0])
    out[0] = 100.0
    np.testing.assert_array_equal(W.get_value(), [2.0, 2.0, 2.0])


def test_two_updates_from_one_expression_do_not_share_storage(mode):
    W = graphc.shared(np.ones(2), "W")
    V = graphc.shared(np.ones(2), "V")
    y = W + V
    f = graphc.function([], [], updates=[(W, y), (V, y)], mode=mode)
    f()
    W.get_value(borrow=True)[0] = -5.0
    np.testing.assert_array_equal(V.get_value(), [2.0, 2.0])


def test_repeated_outputs_are_distinct_arrays(mode):
    x = T.dvector("x")
    y = x * 2
    a, b = graphc.function([x], [y, y], mode=mode)([1.0, 2.0])
    a[0] = 7.0
    np.testing.assert_array_equal(b, [2.0, 4.0])


def test_output_does_not_alias_input(mode):
    x = T.dvector("x")
    f = graphc.function([x], [x, x.T, x[1:]], mode=mode)
    arg = np.array([1.0, 2.0, 3.0])
    outs = f(arg)
    for o in outs:
        assert not np.shares_memory(o, arg)
        o[...] = 0
    np.testing.assert_array_equal(arg, [1.0, 2.0, 3.0])


def test_constant_output_is_writeable(mode):
    x = T.dscalar("x")
    out = graphc.function([x], [T.constant(np.ones(2)), x], mode=mode)(1.0)[0]
    out[0] = 3.0  # does not raise, does not corrupt the constant
    out2 = graphc.function([x], [T.constant(np.ones(2)), x], mode=mode)(1.0)[0]
    np.testing.assert_array_equal(out2, [1.0, 1.0])


# ------------------------------------------------------------------ inspection

def test_maker_fgraph_toposort(mode):
    x = T.dvector("x")
    W = graphc.shared(np.eye(2), "W")
    f = graphc.function([x], T.tanh(T.dot(W, x)), mode=mode)
    nodes = f.maker.fgraph.toposort()
    assert nodes, "the compiled graph has nodes"
    names = [str(n.op) for n in nodes]
    assert any("tanh" in n for n in names)
    assert any("dot" in n.lower() for n in names)
    # every node comes after the nodes computing its inputs
    seen = set(f.maker.fgraph.inputs)
    for node in nodes:
        for inp in node.inputs:
            assert inp in seen or inp.owner is None
        seen.update(node.outputs)
    assert f.graph is f.maker.fgraph


def test_eval():
    x = T.dscalar("x")
    y = T.dscalar("y")
    assert (x * 2 + 1).eval({x: 3.0}) == 7.0
    assert (x * y).eval({x: 2.0, y: 5.0}) == 10.0
    assert T.constant(2.0).eval() == 2.0
    W = graphc.shared(np.array([1.0, 2.0]), "W")
    np.testing.assert_array_equal((W * 3).eval(), [3.0, 6.0])
    out = (x + 1).eval({x: 1.0})
    assert isinstance(out, np.ndarray) and out.shape == ()


# ------------------------------------------------------------------ config

def test_floatx_default_and_assignment():
    assert T.matrix().dtype == graphc.config.floatX
    graphc.config.floatX = "float32"  # restored by conftest
    assert T.matrix().dtype == "float32"
    assert T.vector().dtype == "float32"
    assert T.dmatrix().dtype == "float64"
    with pytest.raises(ValueError, match="floatX"):
        graphc.config.floatX = "float16"
    with pytest.raises(AttributeError, match="no_such_flag"):
        graphc.config.no_such_flag = 1
    with pytest.raises(AttributeError, match="no_such_flag"):
        graphc.config.no_such_flag


def _run_with_flags(flags, code):
    env = dict(os.environ, GRAPHC_FLAGS=flags, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def test_graphc_flags_environment():
    res = _run_with_flags("floatX=float32",
                          "import graphc.tensor as T, graphc; "
                          "print(T.matrix().dtype, graphc.config.floatX)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["float32", "float32"]
    res = _run_with_flags(" floatX = float32 , device=cpu ",
                          "import graphc; print(graphc.config.floatX, graphc.config.device)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["float32", "cpu"]


@pytest.mark.parametrize("flags, words", [
    ("floatX=float16", ["GRAPHC_FLAGS", "floatX", "float16"]),
    ("floatx=float32", ["GRAPHC_FLAGS", "floatx", "floatX"]),
    ("floatX", ["GRAPHC_FLAGS", "floatX", "name=value"]),
])
def test_bad_graphc_flags_raise_clearly(flags, words):
    res = _run_with_flags(flags, "import graphc")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(("ValueError", "AttributeError")), res.stderr
    for w in words:
        assert w in last, (w, last)


# ------------------------------------------------------------------ random streams

def test_random_streams_default_updates(mode):
    srng = graphc.RandomStreams(seed=42)
    u = srng.uniform((4,))
    f = graphc.function([], u, mode=mode)
    a, b = f(), f()
    assert a.shape == (4,) and np.all((a >= 0) & (a < 1))
    assert not np.array_equal(a, b)  # the state advanced
    # the same seed gives the same numbers
    srng2 = graphc.RandomStreams(seed=42)
    f2 = graphc.function([], srng2.uniform((4,)), mode=mode)
    np.testing.assert_array_equal(f2(), a)
    np.testing.assert_array_equal(f2(), b)


def test_random_streams_no_default_updates(mode):
    srng = graphc.RandomStreams(seed=3)
    n = srng.normal((3,))
    f = graphc.function([], n, mode=mode, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())


def test_random_state_shared_between_functions(mode):
    srng = graphc.RandomStreams(seed=7)
    u = srng.uniform(())
    f = graphc.function([], u, mode=mode)
    g = graphc.function([], u * 1, mode=mode)
    first = f()
    second = g()  # continues the same stream (one state, two functions)
    srng_ref = graphc.RandomStreams(seed=7)
    h = graphc.function([], srng_ref.uniform(()), mode=mode)
    assert h() == first
    assert h() == second


def test_random_streams_seed_resets(mode):
    srng = graphc.RandomStreams(seed=1)
    f = graphc.function([], srng.uniform((2,)), mode=mode)
    a = f()
    f()
    srng.seed(1)
    np.testing.assert_array_equal(f(), a)
