"""The low-overhead call path: ``Function.__call__``'s fast input check and
``trust_input``, the generated runner, the generated LLVM kernel thunks and
the ownership rules of what a call hands out.  These test correctness of
the fast paths (and that they fall back to the checked paths), not timings.
"""

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.compile.runner import MemoryClaims, NodeError, may_share_any
from graphc.ops.blas import Gemm
from graphc.ops.kernel import KernelOp
from helpers import assert_same

NO_OPT = Mode("python", optimizer=None)


def _llvm():
    pytest.importorskip("llvmlite")
    from graphc.backends.llvm import compile_kernel, runtime

    return compile_kernel, runtime


# ------------------------------------------------------------ input checks

@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN/inf inputs
def test_fast_path_gives_reference_values(mode, rng):
    x, W = T.fmatrix("x"), graphc.shared(rng.standard_normal((5, 3)).astype("float32"), "W")
    b = graphc.shared(np.linspace(-1, 1, 3).astype("float32"), "b")
    y = T.nnet.relu(T.dot(x, W) + b)
    f = graphc.function([x], y, mode=mode)
    ref = graphc.function([x], y, mode=NO_OPT)
    xv = rng.standard_normal((4, 5)).astype("float32")
    xv[0, 0], xv[1, 1] = np.nan, np.inf
    for _ in range(3):  # repeated calls: nothing is cached between them
        assert_same(f(xv), ref(xv))
    if mode == "llvm":
        assert any(isinstance(n.op, Gemm) for n in f.maker.fgraph.toposort())


@pytest.mark.parametrize("trust_by", ["argument", "attribute"])
def test_trust_input_skips_checks_with_same_values(mode, rng, trust_by):
    x, y = T.dmatrix("x"), T.dvector("y")
    out = [T.exp(x).sum(axis=1) * y, x.T]
    f = graphc.function([x, y], out, mode=mode, trust_input=trust_by == "argument")
    if trust_by == "attribute":
        f.trust_input = True
    ref = graphc.function([x, y], out, mode=NO_OPT)
    xv, yv = rng.standard_normal((3, 4)), np.array([1.0, np.nan, -np.inf])
    for got, want in zip(f(xv, yv), ref(xv, yv)):
        assert_same(got, want)
    # The trusted path still hands out arrays the caller owns alone.
    assert not np.shares_memory(f(xv, yv)[1], xv)


def test_checked_path_converts_what_the_fast_check_rejects(mode):
    x = T.dvector("x")
    f = graphc.function([x], x * 2, mode=mode)
    assert_same(f([1, 2, 3]), np.array([2.0, 4.0, 6.0]))           # a list
    assert_same(f(np.arange(3, dtype="int32")), np.array([0.0, 2.0, 4.0]))  # safe cast
    strided = np.arange(6.0)[::2]                                     # not contiguous
    assert_same(f(strided), np.array([0.0, 4.0, 8.0]))
    swapped = np.arange(3.0).astype(">f8")                            # equal dtype, not identical
    assert_same(f(swapped), np.array([0.0, 2.0, 4.0]))


@pytest.mark.parametrize("value, error, words", [
    (np.zeros(3, "float64"), TypeError, ["'x'", "float32", "float64"]),
    (np.zeros((2, 2), "float32"), TypeError, ["'x'", "dimensions"]),
    (np.zeros(4, "float32"), ValueError, ["'x'", "static shape"]),
])
def test_fast_check_failures_keep_the_messages(mode, value, error, words):
    x = T.TensorType("float32", shape=(3,))("x")
    f = graphc.function([x], x + 1, mode=mode)
    with pytest.raises(error) as info:
        f(value)
    for w in words:
        assert w in str(info.value)
    assert_same(f(np.ones(3, "float32")), np.full(3, 2.0, "float32"))


def test_keywords_defaults_and_counts_take_the_general_path(mode):
    x, y = T.dscalar("x"), T.dscalar("y")
    f = graphc.function([x, graphc.In(y, value=10.0)], x * y, mode=mode)
    assert f(np.float64(2.0)) == 20.0
    assert f(x=np.array(2.0), y=np.array(3.0)) == 6.0
    with pytest.raises(TypeError, match="takes 2 input"):
        f(1.0, 2.0, 3.0)


def test_profiled_calls_match_fast_calls(mode, rng):
    x = T.dmatrix("x")
    out = T.tanh(x).sum(axis=0) / x.shape[0]
    fast = graphc.function([x], out, mode=mode)
    profiled = graphc.function([x], out, mode=mode, profile=True)
    xv = rng.standard_normal((5, 3))
    assert_same(profiled(xv), fast(xv))
    assert profiled.profile.calls == 1 and profiled.profile.node_calls


# ------------------------------------------------------------ ownership

def test_outputs_of_fresh_ops_are_handed_out_unchecked(mode, rng):
    x = T.dmatrix("x")
    W = graphc.shared(rng.standard_normal((3, 3)), "W")
    f = graphc.function([x], T.tanh(T.dot(x, W)) * 2, updates=[(W, W * 0.5)], mode=mode)
    ref = graphc.function([x], T.tanh(T.dot(x, W)) * 2, mode=NO_OPT)
    assert f._results_fresh == all(isinstance(v.owner.op, (KernelOp, Gemm))
                                   for v in f.maker.fgraph.outputs if v.owner)
    xv = rng.standard_normal((2, 3))
    want = ref(xv)
    first = f(xv)
    assert_same(first, want)
    second = f(xv)
    assert not np.shares_memory(first, second)  # no buffer is reused across calls
    assert not np.shares_memory(second, W.get_value(borrow=True))


@pytest.mark.parametrize("case", ["input", "twice", "view", "constant", "update"])
def test_aliasing_results_are_copied(mode, rng, case):
    x = T.dvector("x")
    W = graphc.shared(np.arange(3.0), "W")
    updates = []
    if case == "input":
        outputs = [x]
    elif case == "twice":
        y = T.exp(x)
        outputs = [y, y]
    elif case == "view":
        y = T.exp(x)
        outputs = [y, y[::-1]]
    elif case == "constant":
        outputs = [T.constant(np.arange(3.0)) + 0]
    else:
        y = W + x
        outputs = [y]
        updates = [(W, y)]
    f = graphc.function([x], outputs, updates=updates, mode=mode,
                        on_unused_input="ignore")
    assert not f._results_fresh
    xv = rng.standard_normal(3)
    results = f(xv)
    held = [xv, W.get_value(borrow=True)] + results
    for k, r in enumerate(results):
        assert r.flags.writeable
        for other in held:
            if other is not r:
                assert not np.shares_memory(r, other), (case, k)


def test_memory_claims_follow_views_and_foreign_buffers():
    base = np.arange(10.0)
    claims = MemoryClaims([base[:5]])
    assert claims.overlaps(base[4:])            # same owner, overlapping
    assert not claims.overlaps(base[5:])        # same owner, disjoint halves
    assert not claims.overlaps(np.arange(3.0))  # another owner
    foreign = np.frombuffer(memoryview(base), dtype=base.dtype)  # owner untracked
    assert claims.overlaps(foreign)
    assert MemoryClaims([foreign[::2]]).overlaps(base)
    empty = np.empty(0)
    assert not MemoryClaims([base]).overlaps(empty)
    assert MemoryClaims([empty]).overlaps(empty)  # the very same array
    assert may_share_any(base[2:], [np.ones(2), base])
    assert not may_share_any(base[2:], [np.ones(2), base[:2]])
    assert may_share_any(foreign[1:], [base[:3]])


def test_failed_call_commits_no_update(mode):
    x = T.dvector("x")
    W = graphc.shared(np.arange(3.0), "W")
    f = graphc.function([x], (W * x).sum(), updates=[(W, W + x)], mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(4))
    np.testing.assert_array_equal(W.get_value(), np.arange(3.0))
    assert f(np.ones(3)) == 3.0
    np.testing.assert_array_equal(W.get_value(), np.arange(3.0) + 1)


# ------------------------------------------------------------ generated runner

def test_generated_runner_reports_the_failing_node(mode):
    x, y = T.dvector("x"), T.dvector("y")
    f = graphc.function([x, y], T.exp(x) + y, mode=mode)
    with pytest.raises(NodeError) as info:
        f(np.ones(3), np.ones(4))
    assert "Apply node that caused the error" in str(info.value)
    assert "x" in str(info.value) and "(4,)" in str(info.value)


def test_generated_runner_with_no_nodes_and_constant_outputs(mode):
    x = T.dvector("x")
    f = graphc.function([x], [x, T.constant(np.float64(2.5))], mode=mode)
    xv = np.arange(2.0)
    got, c = f(xv)
    np.testing.assert_array_equal(got, xv)
    assert not np.shares_memory(got, xv) and c == 2.5 and c.flags.writeable


def test_runner_drops_dead_values_and_keeps_outputs(mode, rng):
    x = T.dmatrix("x")
    a = T.exp(x)
    out = [T.dot(a, a.T).sum(), T.log1p(abs(x))]
    f = graphc.function([x], out, mode=mode)
    ref = graphc.function([x], out, mode=NO_OPT)
    xv = rng.standard_normal((3, 3))
    for got, want in zip(f(xv), ref(xv)):
        assert_same(got, want)
    source = f.runner._run_fast.source
    assert "del " in source  # intermediates are released as soon as they are dead


# ------------------------------------------------------------ LLVM kernel thunks

def _kernel(ndim, reduce=None, in_ndims=None, broadcastable=None):
    from graphc.kernel.ir import Kernel, KernelInput, KInput, apply_scalar
    from graphc.ops import scalar as scal

    in_ndims = in_ndims or (ndim, ndim)
    broadcastable = broadcastable or (None, None)
    a, b = KInput(0, "float64"), KInput(1, "float64")
    return Kernel([KernelInput("float64", n, bc) for n, bc in zip(in_ndims, broadcastable)],
                  [apply_scalar(scal.add, apply_scalar(scal.mul, a, b), a)], ndim, reduce)


def _reference(kernel, arrays):
    from graphc.kernel.ir import evaluate

    return evaluate(kernel, arrays)


@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((4, 5), (5,)), ((1, 5), (4, 1)),
                                    ((4, 5), ()), ((0, 5), (5,)), ((4, 1), (4, 5))])
def test_kernel_thunk_shapes_and_broadcasting(rng, shapes):
    compile_kernel, _ = _llvm()
    k = _kernel(2, in_ndims=(len(shapes[0]), len(shapes[1])))
    fn = compile_kernel(k)
    arrays = [rng.standard_normal(s) for s in shapes]
    arrays[0].flat[:1] = np.nan
    (got,) = fn(arrays)
    assert_same(got, _reference(k, arrays)[0])


def test_kernel_thunk_slow_path_converts_and_checks(rng):
    compile_kernel, _ = _llvm()
    k = _kernel(1)
    fn = compile_kernel(k)
    ints = np.arange(4, dtype="int32")
    (got,) = fn([ints, [1.0, 2.0, 3.0, 4.0]])  # wrong dtype and a list
    assert_same(got, _reference(k, [ints.astype("float64"), np.arange(1.0, 5.0)])[0])
    (padded,) = fn([np.ones((1, 4)), np.ones(4)])  # leading length-1 axes are padding
    assert_same(padded, np.full(4, 2.0))
    with pytest.raises(TypeError, match="expected a 1-d array"):
        fn([np.ones((2, 4)), np.ones(4)])
    with pytest.raises(ValueError, match=r"\(3,\) \(4,\)"):
        fn([np.ones(3), np.ones(4)])
    values = [ints, np.ones(4)]
    fn(values)
    assert values[0] is ints  # the caller's list is not rewritten


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1)])
def test_kernel_thunk_reductions_including_empty(rng, axes):
    from graphc.kernel.ir import Reduction

    compile_kernel, _ = _llvm()
    k = _kernel(2, Reduction("sum", axes))
    fn = compile_kernel(k)
    for shape in [(3, 4), (0, 4), (3, 0)]:
        arrays = [rng.standard_normal(shape), rng.standard_normal(shape)]
        (got,) = fn(arrays)
        assert_same(got, _reference(k, arrays)[0])


def test_inplace_thunk_overwrites_only_unaliased_inputs(rng):
    compile_kernel, runtime = _llvm()
    from graphc.backends.llvm import LLVMBackend

    k = _kernel(1)
    backend = LLVMBackend()
    thunk = runtime.make_thunk(k, backend.compile(k, inplace=[(0, 0)]), inplace=[(0, 0)])
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    want = a * b + a
    dead = a.copy()
    (got,) = thunk([dead, b])
    assert got is dead
    assert_same(got, want)
    shared = a.copy()
    (got,) = thunk([shared, shared])  # both operands are one buffer: allocate
    assert got is not shared
    assert_same(got, a * a + a)
    frozen = a.copy()
    frozen.flags.writeable = False
    (got,) = thunk([frozen, b])
    assert got is not frozen
    assert_same(got, want)
    (got,) = thunk([a[:1].copy(), b])  # broadcast input: wrong shape to reuse
    assert got.shape == (5,)


def test_kernel_thunks_share_generated_code_per_signature():
    compile_kernel, _ = _llvm()
    from graphc.kernel.ir import Kernel, KernelInput, KInput, apply_scalar
    from graphc.ops import scalar as scal

    def build(op):
        a, b = KInput(0, "float64"), KInput(1, "float64")
        return Kernel([KernelInput("float64", 1)] * 2, [apply_scalar(op, a, b)], 1)

    add, mul = compile_kernel(build(scal.add)), compile_kernel(build(scal.mul))
    assert add.__code__ is mul.__code__
    assert_same(add([np.ones(3), np.ones(3)])[0], np.full(3, 2.0))
    assert_same(mul([np.ones(3), np.ones(3)])[0], np.ones(3))


def test_single_input_inplace_thunk(rng):
    compile_kernel, runtime = _llvm()
    from graphc.backends.llvm import LLVMBackend
    from graphc.kernel.ir import Kernel, KernelInput, KInput, apply_scalar
    from graphc.ops import scalar as scal

    k = Kernel([KernelInput("float64", 1)], [apply_scalar(scal.exp, KInput(0, "float64"))], 1)
    thunk = runtime.make_thunk(k, LLVMBackend().compile(k, inplace=[(0, 0)]), inplace=[(0, 0)])
    a = np.array([0.0, 1.0, -np.inf, np.nan])
    buf = a.copy()
    (got,) = thunk([buf])
    assert got is buf
    assert_same(got, np.exp(a))


@pytest.mark.parametrize("via", ["trampoline", "ctypes", "threads"])
def test_every_kernel_call_route_agrees(monkeypatch, rng, via):
    compile_kernel, runtime = _llvm()
    from graphc.kernel.ir import Reduction

    k = _kernel(2, Reduction("sum", (1,)))
    fn = compile_kernel(k)
    if via == "trampoline":
        assert fn.__globals__["fast"] is not None  # trampolines work on this machine
    if via in ("ctypes", "threads"):
        monkeypatch.setattr(runtime, "GIL_HOLD_MAX_WORK", 0)
    if via == "threads":
        monkeypatch.setattr(runtime, "PARALLEL_MIN_WORK", 1)
        monkeypatch.setattr(runtime, "max_threads", 2)
    arrays = [rng.standard_normal((6, 7)), rng.standard_normal((6, 7))]
    (got,) = fn(arrays)
    assert_same(got, _reference(k, arrays)[0])
    assert fn.stats.parallel_calls == (via == "threads")


def test_kernel_status_errors_through_the_trampoline(mode):
    x, n = T.lvector("x"), T.lvector("n")
    f = graphc.function([x, n], x ** n, mode=mode)
    np.testing.assert_array_equal(f(np.array([2, 3]), np.array([3, 2])), [8, 9])
    with pytest.raises(ValueError, match="negative integer powers"):
        f(np.array([2, 3]), np.array([1, -1]))


def test_trampoline_rejects_a_wrong_argument_count():
    compile_kernel, _ = _llvm()
    fn = compile_kernel(_kernel(1))
    fast = fn.__globals__["fast"]
    a = np.ones(3)
    assert fast(3, a, a, np.empty(3)) == 0
    assert fast(3, a, a) == -1  # a wrong count never reaches the kernel
    with pytest.raises(TypeError):
        fast("3", a, a, np.empty(3))  # the count must be an int
