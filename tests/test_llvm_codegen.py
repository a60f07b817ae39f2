"""LLVM code generation against the kernel IR's NumPy reference (``evaluate``):
every scalar op for every dtype it accepts (special values included), casts
between all dtypes, any rank with broadcasting and arbitrary strides,
reductions over any axes, vector instructions in the contiguous loop, the
threaded split, and the NumPy error for integers to negative powers."""

import re
import warnings

import numpy as np
import pytest

from helpers import tols

pytest.importorskip("llvmlite")

from graphc.backends.llvm import codegen, compile_kernel, runtime, vecmath  # noqa: E402
from graphc.backends.llvm.jit import toolchain  # noqa: E402
from graphc.backends.llvm.scalar import lowerable_ops  # noqa: E402
from graphc.kernel.ir import (KConst, KInput, Kernel, KernelInput, Reduction,  # noqa: E402
                              apply_scalar, evaluate)
from graphc.ops import scalar as scal  # noqa: E402

DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float16", "float32", "float64"]


def special_values(dtype, n=96, seed=0):
    """Edge values of ``dtype`` (NaN, +-inf, +-0, extremes) then random ones."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        edges = [info.min, info.max, 0, 1, 2, 3, 7, info.max - 1]
        if dt.kind == "i":
            edges += [-1, -2, -7, info.min + 1]
        rand = rng.integers(max(int(info.min), -100), min(int(info.max), 100), n - len(edges))
        return np.concatenate([np.array(edges, dtype=dt), rand.astype(dt)])
    big = 6e4 if dt.itemsize == 2 else 1e4
    edges = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1.5, 3.0,
             big, -big, 1e-3, -1e-3]
    if dt.itemsize > 2:
        edges += [1e-30, -1e-30]
    return np.concatenate([np.array(edges), rng.uniform(-4, 4, n - len(edges))]).astype(dt)


def assert_matches(actual, expected, what):
    """Same dtype; floats equal within the dtype's tolerance with NaN where
    NaN is, and the sign of zero kept; other dtypes exactly equal."""
    assert actual.dtype == expected.dtype, what
    assert actual.shape == expected.shape, what
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    t = dict(rtol=1e-3, atol=1e-3) if expected.dtype == np.float16 else tols(expected.dtype)
    np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=what, **t)
    zeros = expected == 0
    np.testing.assert_array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros]),
                                  err_msg=f"{what}: sign of zero")


def one_kernel_per_dtype(ops, dtype):
    """A kernel computing every op of ``ops`` that accepts ``dtype`` as one
    output each (one compilation for the whole family)."""
    nin = ops[0].nin
    args = [KInput(k, dtype) for k in range(nin)]
    names, outs = [], []
    for op in ops:
        try:
            outs.append(apply_scalar(op, *args))
        except TypeError:  # NumPy has no loop for this dtype
            continue
        names.append(op.name)
    if not outs:
        return None, []
    return Kernel([KernelInput(dtype, 1)] * nin, outs, 1), names


#: vecmath's sin/cos/tan reduce arguments exactly only up to ~1e8 (documented)
TRIG_RANGE = 1e8


def run_and_compare(kernel, names, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = evaluate(kernel, inputs)
    actual = compile_kernel(kernel)(inputs)
    in_trig_range = np.abs(inputs[0].astype(np.float64)) <= TRIG_RANGE
    for name, a, e in zip(names, actual, expected):
        if name in ("sin", "cos", "tan"):
            a, e = a[in_trig_range], e[in_trig_range]
        assert_matches(a, e, name)


def _ops_of_arity(nin, exclude=()):
    return [op for name, op in sorted(scal.SCALAR_OPS.items())
            if op.nin == nin and name not in exclude]


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_ops(dtype):
    kernel, names = one_kernel_per_dtype(_ops_of_arity(1), dtype)
    run_and_compare(kernel, names, [special_values(dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_ops(dtype):
    # every pair of special values: x in the outer, y in the inner position
    v = special_values(dtype, n=40)
    x, y = (a.ravel() for a in np.meshgrid(v, v, indexing="ij"))
    kernel, names = one_kernel_per_dtype(_ops_of_arity(2, exclude=("pow",)), dtype)
    run_and_compare(kernel, names, [x, y])


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow(dtype):
    v = special_values(dtype, n=40)
    if np.dtype(dtype).kind == "i":  # NumPy raises for negative integer exponents
        y = np.abs(v) % 9
    elif np.dtype(dtype).kind == "u":
        y = v % 9
    else:
        y = v
    x, y = (a.ravel() for a in np.meshgrid(v, y, indexing="ij"))
    kernel, names = one_kernel_per_dtype([scal.pow], dtype)
    if kernel is not None:
        run_and_compare(kernel, names, [x, y])


@pytest.mark.parametrize("dtype", ["int8", "int64"])
def test_negative_integer_power_raises(dtype):
    kernel, _ = one_kernel_per_dtype([scal.pow], dtype)
    fn = compile_kernel(kernel)
    with pytest.raises(ValueError, match="negative integer powers"):
        fn([np.array([2, 3], dtype), np.array([1, -1], dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_ternary_ops(dtype):
    v = special_values(dtype, n=24)
    a, b, c = (g.ravel() for g in np.meshgrid(v, v[::-1], np.roll(v, 5), indexing="ij"))
    cond = np.arange(a.size) % 3 == 0
    # switch(cond, a, b) takes a bool condition; clip(x, lo, hi)
    sw = apply_scalar(scal.switch, KInput(0, "bool"), KInput(1, dtype), KInput(2, dtype))
    outs, names = [sw], ["switch"]
    try:
        outs.append(apply_scalar(scal.clip, KInput(1, dtype), KInput(2, dtype),
                                 KInput(3, dtype)))
        names.append("clip")
    except TypeError:
        pass
    kernel = Kernel([KernelInput("bool", 1)] + [KernelInput(dtype, 1)] * 3, outs, 1)
    run_and_compare(kernel, names, [cond, a, b, c])


def _cast_inputs(src, dst):
    """Values whose conversion NumPy defines: float -> int only in range."""
    v = special_values(src, n=200)
    s, d = np.dtype(src), np.dtype(dst)
    if s.kind == "f" and d.kind in "iu":
        info = np.iinfo(d)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(v) & (v > float(info.min) - 1) & (v < float(info.max) + 1)
            ok &= np.abs(v.astype(np.float64)) < 2.0 ** 62
        v = v[ok]
    return v


@pytest.mark.parametrize("src", DTYPES)
def test_casts(src):
    outs = [apply_scalar(scal.Cast(dst), KInput(0, src)) for dst in DTYPES]
    kernel = Kernel([KernelInput(src, 1)], outs, 1)
    fn = compile_kernel(kernel)
    for dst, k in zip(DTYPES, range(len(DTYPES))):
        v = _cast_inputs(src, dst)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = evaluate(kernel, [v])[k]
        assert_matches(fn([v])[k], expected, f"{src} -> {dst}")


def test_every_scalar_op_is_lowered():
    assert set(scal.SCALAR_OPS) <= set(lowerable_ops())


# ------------------------------------------------------------ shapes and strides

def _arith_kernel(ndim, in_ndims, bcast=None, dtype="float64"):
    """out = (a * b - a) / (1 + |b|), exp(a) over inputs of the given ranks."""
    bcast = bcast or [None] * len(in_ndims)
    specs = [KernelInput(dtype, n, bc) for n, bc in zip(in_ndims, bcast)]
    a, b = KInput(0, dtype), KInput(1, dtype)
    one = KConst(1.0, dtype)
    num = apply_scalar(scal.sub, apply_scalar(scal.mul, a, b), a)
    out0 = apply_scalar(scal.true_div, num, apply_scalar(scal.add, one, apply_scalar(scal.abs_, b)))
    out1 = apply_scalar(scal.exp, a)
    return Kernel(specs, [out0, out1], ndim)


def _check(kernel, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = evaluate(kernel, arrays)
    actual = compile_kernel(kernel)(arrays)
    for k, (x, e) in enumerate(zip(actual, expected)):
        assert_matches(x, e, f"output {k}")


@pytest.mark.parametrize("shape_a, shape_b", [
    ((), ()), ((7,), (7,)), ((7,), ()), ((), (7,)), ((3, 4), (4,)), ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)), ((2, 1, 4, 5), (3, 1, 5)), ((0, 3), (3,)), ((5, 0), (1, 0)),
    ((1000,), (1000,)), ((37, 33), (37, 33)), ((2, 3, 4, 5, 6), (6,)),
])
def test_broadcasting_ranks(rng, shape_a, shape_b):
    ndim = max(len(shape_a), len(shape_b))
    kernel = _arith_kernel(ndim, [len(shape_a), len(shape_b)])
    _check(kernel, [rng.standard_normal(shape_a), rng.standard_normal(shape_b)])


@pytest.mark.parametrize("layout", ["transposed", "sliced", "reversed", "fortran",
                                    "column", "broadcast_view"])
def test_strided_inputs(rng, layout):
    base = rng.standard_normal((40, 48))
    if layout == "transposed":
        a, b = base.T, rng.standard_normal((48, 40))
    elif layout == "sliced":
        a, b = base[::2, 1::3], rng.standard_normal((20, 16))[:, ::1]
    elif layout == "reversed":
        a, b = base[::-1, ::-2], base[:, :24]
    elif layout == "fortran":
        a, b = np.asfortranarray(base), base
    elif layout == "column":
        a, b = base[:, 3:4], base  # dynamic broadcast of a non-broadcastable dim
    else:
        a, b = np.broadcast_to(base[0], (40, 48)), base  # stride-0 view
    kernel = _arith_kernel(2, [2, 2])
    _check(kernel, [a, b])


def test_static_broadcast_flags(rng):
    # a row vector statically broadcastable along axis 0, as (1, n)
    kernel = _arith_kernel(2, [2, 2], bcast=[(True, False), None])
    _check(kernel, [rng.standard_normal((1, 33)), rng.standard_normal((9, 33))])


@pytest.mark.parametrize("dtype", ["float32", "int16", "bool", "float16"])
def test_other_dtypes_strided(rng, dtype):
    x = KInput(0, dtype)
    outs = [apply_scalar(scal.maximum, x, KInput(1, dtype)),
            apply_scalar(scal.eq, x, KInput(1, dtype))]
    kernel = Kernel([KernelInput(dtype, 2), KernelInput(dtype, 1)], outs, 2)
    a = (rng.standard_normal((30, 50)) * 10).astype(dtype)
    b = (rng.standard_normal(30) * 10).astype(dtype)
    _check(kernel, [a.T, b])
    _check(kernel, [a[::3, ::2], b[:25]])


def test_padded_inputs_read_trailing_axes(rng):
    # arrays carrying extra leading length-1 axes (broadcast padding)
    kernel = _arith_kernel(2, [1, 2])
    a = rng.standard_normal((1, 6))
    fn = compile_kernel(kernel)
    out = fn([a, rng.standard_normal((4, 6))])
    assert out[0].shape == (4, 6)
    with pytest.raises(TypeError, match="1-d"):
        fn([rng.standard_normal((2, 6)), rng.standard_normal((4, 6))])


def test_incompatible_shapes_raise():
    fn = compile_kernel(_arith_kernel(1, [1, 1]))
    with pytest.raises(ValueError, match="broadcast"):
        fn([np.ones(3), np.ones(4)])


# ------------------------------------------------------------ reductions

def _reduce_kernel(kind, axes, ndim, dtype, out_dtype=None):
    x = KInput(0, dtype)
    y = KInput(1, dtype)
    expr = apply_scalar(scal.mul, x, y) if dtype != "bool" else apply_scalar(scal.and_, x, y)
    if out_dtype:
        from graphc.kernel.ir import cast

        expr = cast(expr, out_dtype)
    return Kernel([KernelInput(dtype, ndim), KernelInput(dtype, 1)], [expr], ndim,
                  Reduction(kind, axes))


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)])
def test_reductions_any_axes(rng, kind, axes):
    x = rng.uniform(0.5, 1.5, (6, 7, 33))
    x[1, 2, 3] = np.nan if kind in ("max", "min") else x[1, 2, 3]
    y = rng.uniform(0.5, 1.5, 33)
    _check(_reduce_kernel(kind, axes, 3, "float64"), [x, y])
    _check(_reduce_kernel(kind, axes, 3, "float64"), [x.transpose(1, 0, 2)[:, :, ::-1], y])


@pytest.mark.parametrize("dtype, out_dtype", [("int32", "int64"), ("bool", None),
                                              ("uint8", None), ("float32", None),
                                              ("float16", None)])
@pytest.mark.parametrize("kind", ["sum", "max", "min", "prod"])
def test_reductions_dtypes(rng, dtype, out_dtype, kind):
    x = (rng.standard_normal((5, 40)) * 3).astype(dtype)
    y = (rng.standard_normal(40) * 2).astype(dtype)
    for axes in [(0,), (1,), (0, 1)]:
        _check(_reduce_kernel(kind, axes, 2, dtype, out_dtype), [x, y])


def test_reduction_of_empty_axis_gives_identity():
    kernel = _reduce_kernel("max", (0,), 2, "float64")
    out = compile_kernel(kernel)([np.ones((0, 3)), np.ones(3)])[0]
    np.testing.assert_array_equal(out, [-np.inf] * 3)


# ------------------------------------------------------------ vectorization

def _assembly(kernel):
    return toolchain().assembly(str(codegen.build_module(kernel, "probe")))


def test_contiguous_loop_is_vectorized():
    x = KInput(0, "float32")
    expr = apply_scalar(scal.true_div,
                        apply_scalar(scal.mul, apply_scalar(scal.add, x, KConst(1.0, "float32")),
                                     apply_scalar(scal.sub, x, KConst(3.0, "float32"))),
                        apply_scalar(scal.add, apply_scalar(scal.mul, x, x),
                                     KConst(1.0, "float32")))
    asm = _assembly(Kernel([KernelInput("float32", 1)], [expr], 1))
    assert re.search(r"\bv(mul|div|add)ps\s+[^\n]*%[yz]mm", asm), "no packed float32 math"


def _optimized_ir(kernel):
    return str(toolchain().optimize(str(codegen.build_module(kernel, "probe"))))


def _chain(fn, x, depth, dtype):
    """y <- 0.5 y + fn(y), ``depth`` times."""
    y = x
    for _ in range(depth):
        y = apply_scalar(scal.add, apply_scalar(scal.mul, y, KConst(0.5, dtype)),
                         apply_scalar(fn, y))
    return y


def test_trig_code_appears_once_per_kernel():
    """cos used 40 times: one vector function holds its code, the
    vectorized row calls it (before, each use was inlined three times: vector
    body, vectorized remainder, scalar remainder)."""
    x = KInput(0, "float32")
    text = _optimized_ir(Kernel([KernelInput("float32", 1)], [_chain(scal.cos, x, 40, "float32")],
                                1))
    defined = re.findall(r"^define [^\n]*@\"?(graphc\.vecmath\.[\w.]+)", text, re.M)
    bodies = [d for d in defined if re.fullmatch(r"graphc\.vecmath\.cos\.v\d+f32", d)]
    assert len(bodies) >= 1 and len(set(defined)) == len(defined), defined
    # one reduction: a branch to each later tier
    assert text.count("label %trig.large") == len(vecmath._trig_tiers("float32")) - 1
    row = text[re.search(r"^define [^\n]*@probe\.row0\(", text, re.M).start():]
    row = row[:row.index("\n}\n")]
    assert re.search(r"call [^\n]*<\d+ x float> @graphc\.vecmath\.cos\.v\d+f32\(", row)


@pytest.mark.parametrize("trig", [scal.sin, scal.cos, scal.tan])
def test_float32_trig_in_a_float64_loop(rng, trig):
    """A loop mixing float32 trig with float64 values (whatever widths the
    vectorizer picks for its body and remainder, a variant serves each):
    values as NumPy's, huge arguments among ordinary ones included."""
    x, y = KInput(0, "float32"), KInput(1, "float64")
    expr = apply_scalar(scal.add, apply_scalar(scal.Cast("float64"), apply_scalar(trig, x)), y)
    kernel = Kernel([KernelInput("float32", 1), KernelInput("float64", 1)], [expr], 1)
    xs = rng.uniform(-50, 50, 1003).astype("float32")
    xs[::13] = 1e30
    ys = rng.standard_normal(1003)
    got = compile_kernel(kernel)([xs, ys])[0] - ys       # exact: the float32 value back
    want = getattr(np, trig.name)(xs.astype("float64"))
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo("float32").eps, atol=0)


def test_sum_reduction_is_vectorized():
    x = KInput(0, "float64")
    k = Kernel([KernelInput("float64", 2)], [apply_scalar(scal.mul, x, x)], 2,
               Reduction("sum", (0, 1)))
    asm = _assembly(k)
    assert re.search(r"\bv(fmadd\w*|mul)pd\s+[^\n]*%[yz]mm", asm)


# ------------------------------------------------------------ threads

@pytest.mark.parametrize("reduce", [None, Reduction("sum", (1,)), Reduction("max", (0, 1))])
def test_threaded_split_matches_single_thread(monkeypatch, rng, reduce):
    x = KInput(0, "float64")
    expr = apply_scalar(scal.sin, apply_scalar(scal.mul, x, KConst(1.5, "float64")))
    k = Kernel([KernelInput("float64", 2)], [expr], 2, reduce)
    fn = compile_kernel(k)
    a = rng.standard_normal((301, 257))
    monkeypatch.setattr(runtime, "PARALLEL_MIN_WORK", 10 ** 12)
    single = fn([a])[0]
    assert fn.stats.parallel_calls == 0
    monkeypatch.setattr(runtime, "PARALLEL_MIN_WORK", 1000)
    monkeypatch.setattr(runtime, "max_threads", 2)
    threaded = fn([a])[0]
    assert fn.stats.parallel_calls == 1
    if reduce is None or reduce.kind == "max":
        np.testing.assert_array_equal(threaded, single)
    else:
        np.testing.assert_allclose(threaded, single, rtol=1e-12)
    np.testing.assert_allclose(threaded, evaluate(k, [a])[0], **tols("float64"))
