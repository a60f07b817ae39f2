"""Canonicalization: each rule's structure (via ``f.maker.fgraph.toposort()``,
looking inside fused kernels too) and values identical to the unoptimized
graph, with inf/-inf/NaN among the inputs, in float32 and float64."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.graph.fg import FunctionGraph
from graphc.ops.elemwise import DimShuffle, Elemwise, SumToShapeOf
from graphc.ops.kernel import KernelOp
from graphc.ops.reduce import Reduce
from graphc.rewrite import optimize
from graphc.rewrite.canonicalize import Canonicalize, widening_cast
from helpers import assert_same

NO_OPT = Mode("python", optimizer=None)
SPECIAL = np.array([1.5, -2.0, 0.0, 3.0, np.inf, -np.inf, np.nan, 1e-3])


def scalar_ops(f):
    """Names of the scalar ops computed, in Elemwise nodes and fused kernels."""
    names = []
    for node in f.maker.fgraph.toposort():
        if isinstance(node.op, Elemwise):
            names.append(node.op.scalar_op.name)
        elif isinstance(node.op, KernelOp):
            stack = list(node.op.kernel.outputs)
            seen = set()
            while stack:
                k = stack.pop()
                if id(k) in seen:
                    continue
                seen.add(id(k))
                if hasattr(k, "op"):
                    names.append(k.op.name)
                    stack.extend(k.args)
    return names


def compile_both(inputs, outputs):
    return graphc.function(inputs, outputs), graphc.function(inputs, outputs, mode=NO_OPT)


def check_same(f, ref, *args):
    with np.errstate(all="ignore"):
        got, want = f(*args), ref(*args)
    if not isinstance(got, list):
        got, want = [got], [want]
    for g, w in zip(got, want):
        assert_same(g, w)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w))


# (expression of x, scalar ops that must be gone, scalar ops that must be there)
CASES = {
    "x*1": (lambda x: x * 1, {"mul"}, set()),
    "1*x": (lambda x: 1 * x, {"mul"}, set()),
    "x+0": (lambda x: x + 0, {"add"}, set()),
    "x-0": (lambda x: x - 0, {"sub"}, set()),
    "--x": (lambda x: -(-x), {"neg"}, set()),
    "x*x": (lambda x: x * x, {"mul"}, {"sqr"}),
    "x**2": (lambda x: x ** 2, {"pow"}, {"sqr"}),
    "x**1": (lambda x: x ** 1, {"pow"}, set()),
    "x**0.5": (lambda x: x ** 0.5, {"pow"}, {"sqrt"}),
    "x**-1": (lambda x: x ** -1, {"pow"}, {"reciprocal"}),
    "x**3": (lambda x: x ** 3, {"pow"}, {"sqr", "mul"}),
    "x**4": (lambda x: x ** 4, {"pow"}, {"sqr"}),
    "x**-2": (lambda x: x ** -2, {"pow"}, {"reciprocal", "sqr"}),
    "x**0": (lambda x: x ** 0, {"pow"}, set()),
    "x/4": (lambda x: x / 4.0, {"true_div"}, {"mul"}),
    "x/-1": (lambda x: x / -1.0, {"true_div", "mul"}, {"neg"}),
    "1/x": (lambda x: 1.0 / x, {"true_div"}, {"reciprocal"}),
    "x*-1": (lambda x: x * -1, {"mul"}, {"neg"}),
    "cast_same": (lambda x: T.cast(T.identity(x), x.dtype), {"identity"}, set()),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_structure_and_values(case, dtype):
    build, gone, present = CASES[case]
    x = T.vector("x", dtype=dtype)
    f, ref = compile_both([x], build(x))
    names = scalar_ops(f)
    assert not gone & set(names), (case, names)
    assert present <= set(names), (case, names)
    check_same(f, ref, SPECIAL.astype(dtype))


# (expression of a and b, scalar ops it computes after canonicalization)
NEGATIONS = {
    "-a-b": (lambda a, b: -a - b, ["add", "neg"]),
    "-(a+b)": (lambda a, b: -(a + b), ["add", "neg"]),
    "-a+-b": (lambda a, b: (-a) + (-b), ["add", "neg"]),
    "a--b": (lambda a, b: a - (-b), ["add"]),
    "a+-b": (lambda a, b: a + (-b), ["sub"]),
    "-b+a": (lambda a, b: (-b) + a, ["sub"]),
    "1+-b": (lambda a, b: 1 + (-b), ["sub"]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(NEGATIONS))
def test_negations_have_one_spelling(case, dtype):
    build, ops = NEGATIONS[case]
    a, b = T.vector("a", dtype=dtype), T.vector("b", dtype=dtype)
    f = graphc.function([a, b], build(a, b), on_unused_input="ignore")
    ref = graphc.function([a, b], build(a, b), mode=NO_OPT, on_unused_input="ignore")
    assert sorted(scalar_ops(f)) == ops
    av = np.concatenate([SPECIAL, SPECIAL]).astype(dtype)
    bv = np.concatenate([SPECIAL, np.roll(-SPECIAL, 3)]).astype(dtype)
    check_same(f, ref, av, bv)


def test_two_spellings_of_a_negated_sum_are_one_value():
    a, b = T.dvectors("a", "b")
    s = T.nnet.sigmoid
    f, ref = compile_both([a, b], [s(-a - b), s(-(a + b)), s(a + b)])
    names = scalar_ops(f)
    assert names.count("sigmoid") == 2 and names.count("add") == 1 and names.count("neg") == 1
    av, bv = np.array([1.0, -2.0, np.inf, np.nan]), np.array([-1.0, 0.5, 3.0, 0.0])
    check_same(f, ref, av, bv)
    # the one value that changes: the sign of an exactly zero sum
    g, g_ref = compile_both([a, b], -a - b)
    one, minus_one = np.array([1.0]), np.array([-1.0])
    assert np.signbit(g(one, minus_one)[0]) and not np.signbit(g_ref(one, minus_one)[0])


def test_negation_is_absorbed_only_in_the_result_dtype():
    # -int8(-128) wraps to -128: (-i) - x is not -(i + x) in float64
    i, x = T.vector("i", dtype="int8"), T.dvector("x")
    f, ref = compile_both([i, x], [(-i) - x, x + (-i)])
    assert scalar_ops(f).count("neg") == 1
    check_same(f, ref, np.array([-128, 5, 0], "int8"), np.array([1.0, np.inf, -0.5]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constants_collect_across_chains(dtype):
    x = T.vector("x", dtype=dtype)
    f, ref = compile_both([x], [(x * 2) * 3, (x + 1) + 2, 2 * (3 * (x * 4)), (x - 1) - 2])
    names = scalar_ops(f)
    assert names.count("mul") == 2 and names.count("add") == 2 and "sub" not in names
    check_same(f, ref, SPECIAL.astype(dtype))
    fg = FunctionGraph([x], [(x * 2) * 3, 2 * (3 * (x * 4))])
    Canonicalize().apply(fg)
    folded = [[i.data.item() for i in out.owner.inputs if i is not x] for out in fg.outputs]
    assert folded == [[6.0], [24.0]]


def test_constant_collection_never_hides_overflow():
    # (x * 1e300) * 1e-300 overflows for x = 1e10; folding to x * 1 would not
    x = T.dvector("x")
    f, ref = compile_both([x], [(x * 1e300) * 1e-300, (x + 1e308) + -1e308])
    assert scalar_ops(f).count("mul") == 2
    check_same(f, ref, np.array([1e10, -1e10, 1.0, np.inf]))


def test_nan_and_inf_producing_forms_are_kept():
    x = T.dvector("x")
    f, ref = compile_both([x], [x * 0, x - x, x / x, x ** 1.5])
    names = scalar_ops(f)
    assert {"mul", "sub", "true_div", "pow"} <= set(names)
    check_same(f, ref, SPECIAL)


def test_broadcasting_operand_keeps_the_output_shape():
    x = T.dvector("x")
    ones = T.constant(np.ones((2, 1)))
    f, ref = compile_both([x], [x * ones, x + np.zeros((3, 1))])
    for out, want in zip(f.maker.fgraph.outputs, ref.maker.fgraph.outputs):
        assert out.type == want.type
    check_same(f, ref, SPECIAL[:4])


def test_unknown_length_operand_is_not_dropped():
    # y may have length 1 at run time and broadcast x: second(y, x) must stay.
    x, y = T.dvectors("x", "y")
    f, ref = compile_both([x, y], T.second(y, x))
    check_same(f, ref, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    check_same(f, ref, np.array([5.0]), np.array([1.0, 2.0, 3.0]))


def test_dtype_is_preserved_when_an_operand_goes():
    i = T.ivector("i")
    u = T.vector("u", dtype="uint8")
    f, ref = compile_both([i, u], [i * 1.0, i + 0, u / -1, i / 1, u * 1])
    check_same(f, ref, np.array([1, -7, 3], "int32"), np.array([1, 2, 250], "uint8"))


def test_fill_sinks_and_disappears_in_gradient_graphs():
    x = T.dmatrix("x")
    cost = T.sum(T.exp(x) * 3)
    g = T.grad(cost, x)
    f, ref = compile_both([x], g)
    # the ones_like(cost) seed and the Sum's second() are gone: only exp * 3
    assert "second" not in scalar_ops(f)
    assert not any(isinstance(n.op, Reduce) for n in f.maker.fgraph.toposort())
    check_same(f, ref, np.array([[0.5, -1.0], [np.inf, np.nan]]))


def test_sum_of_a_filled_constant():
    x = T.dmatrix("x")
    f, ref = compile_both([x], [T.sum(T.ones_like(x) * 2.5), T.sum(T.fill(x, 2.0), axis=0)])
    assert not any(isinstance(n.op, Reduce) for n in f.maker.fgraph.toposort())
    check_same(f, ref, np.ones((3, 4)))
    check_same(f, ref, np.ones((0, 4)))


def test_dimshuffles_compose_and_identity_goes():
    x = T.dmatrix("x")
    y = x.dimshuffle(1, 0).dimshuffle(1, 0)
    z = x.dimshuffle("x", 0, 1).dimshuffle(2, 1, 0)
    f, ref = compile_both([x], [y + 1, z])
    shuffles = [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, DimShuffle)]
    assert len(shuffles) == 1 and shuffles[0].new_order == (1, 0, "x")
    check_same(f, ref, np.arange(6.0).reshape(2, 3))


def test_cast_of_widening_cast_is_one_cast():
    b = T.vector("b", dtype="int16")
    f, ref = compile_both([b], T.cast(T.cast(b, "int64"), "float32"))
    casts = [n for n in scalar_ops(f) if n.startswith("Cast")]
    assert casts == ["Cast{float32}"]
    check_same(f, ref, np.array([-3, 7, 32000], "int16"))
    assert widening_cast("int32", "float64") and not widening_cast("int64", "float64")
    assert not widening_cast("float64", "float32") and widening_cast("uint8", "int16")


def test_sum_to_shape_of_an_equal_shape_is_dropped():
    x = T.dmatrix("x")
    g = T.grad(T.sum(T.tanh(x) * x), x)
    f, ref = compile_both([x], g)
    assert not any(isinstance(n.op, SumToShapeOf) for n in f.maker.fgraph.toposort())
    check_same(f, ref, np.array([[0.5, np.inf], [-np.inf, np.nan]]))


def test_pass_is_one_sweep_without_recursion():
    x = T.dvector("x")
    y = x
    for _ in range(3000):
        y = (y * 1 + 0) * 1.0
    fg = FunctionGraph([x], [y])
    fired = Canonicalize().apply(fg)
    assert fired > 0 and fg.toposort() == []
    assert fg.outputs[0] is x


def test_registered_in_fast_run_and_fast_compile():
    x = T.dvector("x")
    for level in ("FAST_RUN", "FAST_COMPILE"):
        fg = FunctionGraph([x], [x * 1])
        report = optimize(fg, level)
        assert report.fired.get("canonicalize") == 1
