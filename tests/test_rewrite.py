"""Rewrite passes: the structure each promises (via the public
``f.maker.fgraph.toposort()``) and values identical to the unoptimized graph."""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.kernel.ir import KApply
from graphc.ops.elemwise import Elemwise
from graphc.ops.kernel import KernelOp
from graphc.ops.scalar import Cast
from graphc.rewrite import optimize, pipeline

NO_OPT = Mode("python", optimizer=None)


def ops(f):
    return [node.op for node in f.maker.fgraph.toposort()]


def scalar_names(f):
    """Scalar ops computed, whether by Elemwise nodes or inside fused kernels."""
    names = []
    for op in ops(f):
        if isinstance(op, Elemwise):
            names.append(op.scalar_op.name)
        elif isinstance(op, KernelOp):
            names += [n.op.name for n in op.kernel.nodes
                      if isinstance(n, KApply) and not isinstance(n.op, Cast)]
    return names


def reduction_kinds(f):
    """Kinds of the reductions computed, by Reduce nodes or reduction kernels."""
    return [op.kind if hasattr(op, "kind") else op.kernel.reduce.kind for op in ops(f)
            if hasattr(op, "kind") or (isinstance(op, KernelOp) and op.kernel.reduce)]


def test_merge_computes_identical_subexpressions_once(rng):
    x = T.dmatrix("x")
    y = T.exp(x) * 2 + T.exp(x) * 2
    # the rewrite is under test, not a backend: both run NumPy, so the merged
    # graph must give bit-identical values
    f = graphc.function([x], y, mode=Mode("python"))
    ref = graphc.function([x], y, mode=NO_OPT)
    assert scalar_names(f).count("exp") == 1
    assert scalar_names(ref).count("exp") == 2
    assert scalar_names(graphc.function([x], y)).count("exp") == 1  # the default mode too
    xv = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(f(xv), ref(xv))
    assert f.maker.fgraph.rewrite_report.fired["merge"] >= 2


def test_merge_keeps_distinct_ops_apart():
    x = T.dvector("x")
    f = graphc.function([x], [T.sum(x), T.prod(x), T.sum(x, keepdims=True)])
    assert sorted(reduction_kinds(f)) == ["prod", "sum"]  # keepdims reuses the sum
    np.testing.assert_allclose(f([1.0, 2.0, 3.0])[1], 6.0)


def test_constant_folding_evaluates_constant_subgraphs_once():
    x = T.dvector("x")
    c = T.exp(T.constant(np.arange(3.0))) * 2 + 1
    f = graphc.function([x], x * c)
    ref = graphc.function([x], x * c, mode=NO_OPT)
    assert scalar_names(f) == ["mul"]
    assert len(ops(ref)) > 1
    xv = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(f(xv), ref(xv))


def test_constant_folding_keeps_nan_and_inf_as_computed():
    x = T.dscalar("x")
    c = T.log(T.constant(np.array([0.0, -1.0, 1.0])))
    f = graphc.function([x], x + c)
    ref = graphc.function([x], x + c, mode=NO_OPT)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(1.0), ref(1.0))


def test_constant_folding_never_folds_random_draws():
    from graphc.tensor.shared_randomstreams import RandomStreams

    srng = RandomStreams(3)
    f = graphc.function([], srng.uniform((2,)))
    assert f().tolist() != f().tolist()


def test_function_output_folded_to_a_constant_is_still_returned():
    f = graphc.function([], T.arange(5).sum() * 2)
    assert int(f()) == 20 and not f.maker.fgraph.toposort()


def test_rewrites_never_mutate_user_variables():
    x = T.dvector("x")
    y = T.exp(x) + T.exp(x)
    before = [n.inputs[:] for n in [y.owner]]
    graphc.function([x], y)
    assert y.owner.inputs == before[0]
    assert y.owner.inputs[0] is not y.owner.inputs[1]


def test_report_and_pipeline_table():
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x) + T.exp(x))
    report = f.maker.fgraph.rewrite_report
    assert report.nodes_before > report.nodes_after
    assert "merge" in str(report)
    names = [name for _, name, _ in pipeline.table()]
    assert names[0] == "merge" and "merge_final" in names
    # only memory planning (110-119) runs after the final merge
    assert all(p >= 110 for p, name, _ in pipeline.table()[names.index("merge_final") + 1:])
    with pytest.raises(ValueError):
        optimize(f.maker.fgraph, "NO_SUCH_LEVEL")


def test_fast_compile_runs_the_cheap_passes(rng):
    x = T.dmatrix("x")
    y = T.exp(x) * 2 + T.exp(x) * 2
    f = graphc.function([x], y, mode="FAST_COMPILE")
    xv = rng.standard_normal((2, 2))
    np.testing.assert_allclose(f(xv), 4 * np.exp(xv))
    assert scalar_names(f).count("exp") == 1
