"""Accuracy, special values and vectorization of graphc.backends.llvm.vecmath.

Each function is compiled into a loop ``out[i] = f(in[i])`` with llvmlite's
MCJIT at O3, run over ~1e6 points spanning the whole finite range plus
special values, and compared in ulps with a long-double (mpmath for erf/erfc
in float64) reference; the optimized IR must be vector code without calls.
"""

import ctypes
import functools
import re

import numpy as np
import pytest

llvm = pytest.importorskip("llvmlite.binding")
from llvmlite import ir  # noqa: E402

from graphc.backends.llvm import vecmath  # noqa: E402
from graphc.ops.scalar import SCALAR_OPS  # noqa: E402

LD = np.longdouble
HAVE_LONG_DOUBLE = np.finfo(LD).nmant >= 63
MAX_ULP = {"float32": 4.0, "float64": 8.0}
FTYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType()}
UNARY = sorted(vecmath.UNARY)

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()


def _target_machine(fma=True):
    """A fresh host target machine (an MCJIT engine takes ownership of its own)."""
    features = llvm.get_host_cpu_features()
    if not fma:  # a target that cannot fuse: fmuladd stays mul + add
        for f in list(features):
            if f.startswith("fma") or f.startswith("avx512"):
                features[f] = False
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name() if fma else "x86-64",
                                        features=features.flatten(), opt=3)


def _loop_module(name, dtype, nargs):
    """``void kern(T* in0[, T* in1], T* out, i64 n)``: out[i] = name(in...[i])."""
    ft = FTYPES[dtype]
    i64 = ir.IntType(64)
    ptr = ir.PointerType()
    module = ir.Module(name=f"vm_{name}_{dtype}")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * (nargs + 1) + [i64]),
                     name="kern")
    for a in fn.args[:-1]:
        a.add_attribute("noalias")
    entry, body, done = (fn.append_basic_block(n) for n in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    n = fn.args[-1]
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    xs = [b.load(b.gep(fn.args[k], [i], source_etype=ft), typ=ft) for k in range(nargs)]
    if nargs == 1:
        y = vecmath.emit_unary(b, name, xs[0], dtype)
    else:
        y = vecmath.emit_binary(b, name, xs[0], xs[1], dtype)
    b.store(y, b.gep(fn.args[nargs], [i], source_etype=ft))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    vecmath.finish_module(module)
    return module


class Compiled:
    """A JIT-compiled vecmath loop; call with NumPy arrays."""

    def __init__(self, name, dtype, fma=True):
        self.dtype = np.dtype(dtype)
        self.nargs = 2 if name in vecmath.BINARY else 1
        tm = _target_machine(fma)
        mod = llvm.parse_assembly(str(_loop_module(name, dtype, self.nargs)))
        mod.verify()
        pto = llvm.PipelineTuningOptions(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        self.optimized_ir = str(mod)
        self.engine = llvm.create_mcjit_compiler(mod, tm)
        self.engine.finalize_object()
        addr = self.engine.get_function_address("kern")
        self._fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (self.nargs + 1),
                                    ctypes.c_int64)(addr)

    def __call__(self, *xs):
        xs = [np.ascontiguousarray(x, dtype=self.dtype) for x in xs]
        xs = np.broadcast_arrays(*xs)
        xs = [np.ascontiguousarray(x) for x in xs]
        out = np.empty_like(xs[0])
        self._fn(*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
        return out


@functools.lru_cache(maxsize=None)
def compiled(name, dtype, fma=True):
    return Compiled(name, dtype, fma)


# ---------------------------------------------------------------- references
def _reference(name, dtype, *xs):
    """Exact-enough values as long double (mpmath for erf/erfc in float64)."""
    if name in ("erf", "erfc"):
        if dtype == "float32":
            from scipy import special
            return getattr(special, name)(xs[0].astype(np.float64)).astype(LD)
        import mpmath
        mpmath.mp.prec = 80
        fn = getattr(mpmath, name)
        # beyond |x| = 30 erf is +-1 and erfc 0 or 2 in any binary64 rounding
        return np.array([LD(str(fn(mpmath.mpf(float(v))))) if abs(v) < 30 else
                         LD(SCALAR_OPS[name].impl(np.float64(v))) for v in xs[0]], dtype=LD)
    a = [x.astype(LD) for x in xs]
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-a[0]))
        if name == "softplus":
            return np.logaddexp(LD(0), a[0])
        if name == "pow":
            return np.power(a[0], a[1])
        return getattr(np, name)(a[0])


def ulp_error(got, ref, dtype):
    """|got - ref| in ulps of the dtype at ref (ref unrounded, so a correctly
    rounded result scores up to 0.5); NaN mismatch -> inf; infinities count as
    2**(emax+1) so results next to the overflow threshold are scored."""
    fi = np.finfo(dtype)
    big = LD(2.0) ** (fi.maxexp)
    with np.errstate(over="ignore"):
        ref_d = ref.astype(dtype)
    err = np.zeros(got.shape, dtype=LD)
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    same = (np.isinf(got) & (got == ref_d)) | (nan_got & nan_ref)
    err[nan_got != nan_ref] = np.inf
    rest = ~same & ~nan_got & ~nan_ref
    g = np.clip(np.where(np.isinf(got), np.sign(got) * big, got.astype(LD)), -big, big)[rest]
    r = np.clip(ref[rest], -big, big)
    with np.errstate(over="ignore"):
        unit = np.spacing(np.minimum(np.abs(ref_d[rest]), fi.max)).astype(LD)
    err[rest] = np.abs(g - r) / unit
    return err


# ---------------------------------------------------------------- inputs
def _all_finite(dtype, n, rng):
    """Uniform over bit patterns: every exponent is equally represented."""
    itype = np.int32 if dtype == "float32" else np.int64
    info = np.iinfo(itype)
    x = rng.integers(info.min, info.max, n, dtype=itype).view(dtype)
    return x[np.isfinite(x)]


def _uniform(lo, hi, n, dtype, rng):
    return rng.uniform(lo, hi, n).astype(dtype)


def _specials(dtype):
    fi = np.finfo(dtype)
    tiny = fi.smallest_subnormal
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, fi.smallest_normal - tiny,
            fi.smallest_normal, -fi.smallest_normal, fi.max, -fi.max, 1.0, -1.0, 0.5, -0.5, 2.0,
            1e-30, -1e-30, np.pi / 2, np.pi, 10.0, -10.0, 20.0, -20.0, 1000.0, -1000.0]
    # overflow / underflow thresholds of exp and their neighbours
    for t in (np.log(fi.max), np.log(fi.smallest_subnormal), np.log(fi.smallest_normal),
              np.arcsinh(fi.max)):
        t = np.array(t, dtype)
        vals += [t, np.nextafter(t, np.array(np.inf, dtype)), np.nextafter(t, np.array(-np.inf, dtype))]
    return np.array(vals, dtype=dtype)


# Per function: (lo, hi) of a dense uniform sample, plus a log-spaced magnitude
# range; every function also gets all-finite bit patterns and special values.
_DENSE = {
    "exp": (-110, 90, -750, 712), "exp2": (-155, 130, -1080, 1030), "expm1": (-30, 90, -50, 712),
    "log": (0, 4, 0, 4), "log2": (0, 4, 0, 4), "log10": (0, 4, 0, 4), "log1p": (-1, 3, -1, 3),
    "sin": (-100, 100, -100, 100), "cos": (-100, 100, -100, 100), "tan": (-100, 100, -100, 100),
    "tanh": (-12, 12, -22, 22), "sinh": (-92, 92, -712, 712), "cosh": (-92, 92, -712, 712),
    "sigmoid": (-110, 30, -750, 40), "softplus": (-110, 30, -750, 40),
    "erf": (-5, 5, -7, 7), "erfc": (-5, 11, -7, 28),
}
TRIG = ("sin", "cos", "tan")


def _unary_inputs(name, dtype, n):
    rng = np.random.default_rng(hash((name, dtype)) % 2**32)
    lo32, hi32, lo64, hi64 = _DENSE[name]
    lo, hi = (lo32, hi32) if dtype == "float32" else (lo64, hi64)
    parts = [_uniform(lo, hi, n // 2, dtype, rng), _all_finite(dtype, n // 4, rng),
             _uniform(-1, 1, n // 8, dtype, rng), _specials(dtype)]
    mags = 10.0 ** rng.uniform(-40 if dtype == "float32" else -300, 8, n // 8)
    parts.append((mags * rng.choice([-1.0, 1.0], mags.size)).astype(dtype))
    x = np.concatenate(parts)
    if name in ("erf", "erfc") and dtype == "float64":
        x = x[:: max(1, x.size // 40000)]     # the mpmath reference is slow
    return x


def _max_error(name, dtype, x, got):
    err = ulp_error(got, _reference(name, dtype, x), dtype)
    worst = int(np.argmax(err))
    return float(err[worst]), x[worst], got[worst]


# ---------------------------------------------------------------- tests
@pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_max_ulp_error(name, dtype):
    n = 1_000_000 if not (name in ("erf", "erfc") and dtype == "float64") else 160_000
    x = _unary_inputs(name, dtype, n)
    err, worst_x, worst_y = _max_error(name, dtype, x, compiled(name, dtype)(x))
    print(f"{name} {dtype}: max {err:.2f} ulp at x={worst_x!r} (got {worst_y!r})")
    assert err <= MAX_ULP[dtype], (name, dtype, err, worst_x, worst_y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values_match_numpy(name, dtype):
    x = _specials(dtype)
    got = compiled(name, dtype)(x)
    with np.errstate(all="ignore"):
        want = SCALAR_OPS[name].impl(x)
    assert want.dtype == got.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern, x={x}")
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]),
                                  err_msg=f"sign of zero results at x={x[zero]}")
    if HAVE_LONG_DOUBLE:
        err = ulp_error(got, _reference(name, dtype, x), dtype)
        assert err.max() <= MAX_ULP[dtype], list(zip(x[err > MAX_ULP[dtype]],
                                                     got[err > MAX_ULP[dtype]]))


def test_documented_special_values():
    for dtype in ("float32", "float64"):
        f = {n: compiled(n, dtype) for n in ("exp", "log", "tanh", "sigmoid", "softplus", "sin")}
        inf, nan = np.inf, np.nan
        assert f["exp"]([-inf, inf, nan, -0.0]).tolist()[:2] == [0.0, inf]
        assert f["log"]([0.0, -0.0, -1.0, inf])[0] == -inf
        assert np.isnan(f["log"]([-1.0])[0]) and np.isnan(f["exp"]([nan])[0])
        assert f["tanh"]([1e30, -1e30, inf, -inf]).tolist() == [1.0, -1.0, 1.0, -1.0]
        assert f["sigmoid"]([-1000.0, 1000.0, -inf, inf]).tolist() == [0.0, 1.0, 0.0, 1.0]
        assert f["softplus"]([1000.0, -inf, inf]).tolist() == [1000.0, 0.0, inf]
        assert np.isnan(f["sin"]([inf, -inf, nan])).all()
        fi = np.finfo(dtype)
        sub = np.array([fi.smallest_subnormal, fi.smallest_normal / 3], dtype)
        np.testing.assert_array_equal(f["log"](sub), np.log(sub.astype(LD)).astype(dtype))


# ---------------------------------------------------------------- trig reduction
TRIG_RANGE = {"float32": (-30, np.log10(np.finfo(np.float32).max)),
              "float64": (-300, np.log10(np.finfo(np.float64).max))}


def _mp_reference(name, values):
    """name(values) by mpmath, which widens its precision for large arguments."""
    import mpmath
    fn = getattr(mpmath, name)
    with mpmath.workprec(128):
        return np.array([LD(str(fn(mpmath.mpf(float(v))))) for v in values], dtype=LD)


@functools.lru_cache(maxsize=None)
def _worst_case_inputs(dtype):
    """Per exponent, the x closest to a multiple of pi/2, its neighbours and negations."""
    x = np.array([float(m) * 2.0 ** e for _, m, e in vecmath._trig_worst_cases(dtype, 10 ** 4)],
                 dtype=dtype)
    inf = np.array(np.inf, dtype)
    x = np.concatenate([x, np.nextafter(x, inf), np.nextafter(x, -inf)])
    x = x[np.isfinite(x)]
    return np.concatenate([x, -x])


def test_reduction_tables_are_derived_from_two_over_pi():
    import mpmath
    assert vecmath._derive_two_over_pi() == format(vecmath._TWO_OVER_PI, "x")
    with mpmath.workprec(200):
        pio2 = sum(mpmath.mpf(v) for v in vecmath._PIO2_26)
        assert abs(pio2 - mpmath.pi / 2) < mpmath.mpf(2) ** -105
        two_over_pi = 2 / mpmath.pi
        for band in range(vecmath._F32_BANDS):       # A + B = 2/pi's bits from i0 on
            _, a, b = vecmath._f32_band(band)
            i0 = band * vecmath._F32_BAND_BITS
            tail = mpmath.frac(two_over_pi * mpmath.mpf(2) ** (i0 - 1)) / mpmath.mpf(2) ** (i0 - 1)
            assert a == int(tail * mpmath.mpf(2) ** (i0 + 52)) * 2.0 ** -(i0 + 52)
            assert abs(mpmath.mpf(a) + b - tail) <= abs(b) * 2.0 ** -52
    rows = np.array(vecmath._f64_reduction_table()).reshape(-1, vecmath._F64_TABLE_STRIDE)
    assert rows.shape[0] == 2047 - vecmath._F64_FIRST_EXPONENT
    for biased in (vecmath._F64_FIRST_EXPONENT, 1075, 1500, 2046):   # unpack like the kernel
        pair01, pair23, t4, rest = rows[biased - vecmath._F64_FIRST_EXPONENT]
        exponent = biased - 1075
        chunks = []
        for packed, guard in zip((pair01, pair23), vecmath._F64_PAIR_GUARDS):
            assert guard <= packed < 2 * guard          # the guard bit fixes the exponent
            with_hi = (np.float64(packed).view(np.int64) & ~((1 << 26) - 1)).view(np.float64)
            chunks += [with_hi - guard, packed - with_hi]
        chunks.append(t4)
        i0, scale = exponent - 1, exponent + 52
        for k, chunk in enumerate(chunks):
            assert chunk == vecmath._two_over_pi_window(i0 + 26 * k, 26, scale)
        assert rest == vecmath._two_over_pi_rest(i0 + 130, scale)


def test_trig_worst_case_distances():
    """The closest approaches to multiples of pi/2 quoted in vecmath (known
    values: Kahan-McIlroy's 6381956970095103 * 2**797 for float64)."""
    d32, m32, e32 = vecmath._trig_worst_cases("float32")[0]
    d64, m64, e64 = vecmath._trig_worst_cases("float64")[0]
    assert (m32, e32, round(d32, 2)) == (16367173, 72, -29.86)
    assert (m64, e64, round(d64, 2)) == (6381956970095103, 797, -61.54)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", TRIG)
def test_trig_worst_cases_within_ulp_bound(name, dtype):
    """At the inputs closest to multiples of pi/2 (one per exponent, with
    neighbours) the result stays within the bound: the reduction is exact."""
    x = _worst_case_inputs(dtype)
    got = compiled(name, dtype)(x)
    err = ulp_error(got, _mp_reference(name, x), dtype)
    worst = int(np.argmax(err))
    print(f"{name} {dtype} worst cases: max {err[worst]:.2f} ulp at x={x[worst]!r}")
    assert err[worst] <= MAX_ULP[dtype], (x[worst], got[worst])


@pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", TRIG)
def test_trig_log_uniform_magnitudes_within_ulp_bound(name, dtype):
    """|x| log-uniform over the whole finite range (long double reference:
    glibc's reduction is exact; spot-checked against mpmath)."""
    rng = np.random.default_rng(hash((name, dtype, "log")) % 2 ** 32)
    lo, hi = TRIG_RANGE[dtype]
    x = (10.0 ** rng.uniform(lo, hi, 200_000) * rng.choice([-1.0, 1.0], 200_000)).astype(dtype)
    x = x[np.isfinite(x)]
    got = compiled(name, dtype)(x)
    ref = _reference(name, dtype, x)
    spot = slice(0, None, 1000)
    np.testing.assert_allclose(ref[spot].astype(float), _mp_reference(name, x[spot]).astype(float),
                               rtol=1e-15, atol=1e-300)
    err = ulp_error(got, ref, dtype)
    worst = int(np.argmax(err))
    print(f"{name} {dtype} log-uniform: max {err[worst]:.2f} ulp at x={x[worst]!r}")
    assert err[worst] <= MAX_ULP[dtype], (x[worst], got[worst])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trig_of_huge_arguments_is_faithful(dtype):
    """sin/cos/tan(1e30), 1e22 (exact in float64), the largest finite values
    and others: within one ulp of the mpmath value (before this reduction,
    float32 sin(1e30) was 6.3e6); sin(1e30) is NumPy's."""
    fi = np.finfo(dtype)
    x = np.array([1e30, -1e30, 1e22, 1e38, fi.max, -fi.max, 2.0 ** 100, 3e20], dtype=dtype)
    for name in TRIG:
        err = ulp_error(compiled(name, dtype)(x), _mp_reference(name, x), dtype)
        assert err.max() < 1.0, (name, err)
    np.testing.assert_array_equal(compiled("sin", dtype)(np.array([1e30], dtype)),
                                  np.sin(np.array([1e30], dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reduction_paths_agree_at_the_thresholds(dtype):
    """Around each |x| where one reduction tier hands over to the next
    (float32: 2**9 float32 Cody-Waite -> 2**26 double Cody-Waite -> bands;
    float64: 2**26 Cody-Waite -> Payne-Hanek), both are exact: results match
    the reference on either side, also when a vector mixes both tiers."""
    limits = [limit for _, limit in vecmath._trig_tiers(dtype)[:-1]]
    assert limits == sorted(limits) and limits[-1] == 2.0 ** 26
    for limit in limits:
        t = np.array(limit, dtype)
        x = np.concatenate([t + np.arange(-2000, 2000, dtype=dtype) * np.spacing(t),
                            [np.nextafter(t, np.array(0, dtype)), t]]).astype(dtype)
        x = np.concatenate([x, -x])
        for name in TRIG:
            err = ulp_error(compiled(name, dtype)(x), _mp_reference(name, x), dtype)
            assert err.max() <= MAX_ULP[dtype], (name, limit)


def _near_multiples_of_half_pi(count, below, spread):
    """float32 x within ``spread`` ulps of q pi/2, every q with q pi/2 < ``below``."""
    centers = (np.arange(1, count + 1, dtype=LD) * (LD(np.pi) / 2)).astype(np.float32)
    centers = centers[centers < below]
    bits = centers.view(np.int32)[:, None] + np.arange(-spread, spread + 1, dtype=np.int32)
    return bits.ravel().view(np.float32)


@pytest.mark.skipif(not vecmath.host_has_fma(), reason="the float32 tier needs FMA")
def test_float32_small_tier_near_every_multiple_of_half_pi():
    """The float32-only reduction (|x| < 2**9) where it is hardest: the 2**12
    floats on each side of every multiple of pi/2 below its limit, both signs
    (all of [0.5, 2**9) was checked exhaustively when it was written: sin
    0.87, cos 0.86, tan 2.40 ulp, the same as the double reduction)."""
    limit = vecmath._F32_SMALL_LIMIT
    assert vecmath._trig_tiers("float32")[0] == (vecmath._reduce_f32_small, limit)
    x = _near_multiples_of_half_pi(int(limit), limit, 2 ** 12)
    x = np.concatenate([x, -x])
    x = x[np.abs(x) < limit]
    ref = {"sin": np.sin, "cos": np.cos, "tan": np.tan}
    bound = {"sin": 1.0, "cos": 1.0, "tan": 2.5}
    for name in TRIG:
        got = compiled(name, "float32")(x)
        err = ulp_error(got, ref[name](x.astype(np.float64)).astype(LD), "float32")
        worst = int(np.argmax(err))
        print(f"{name} float32 near q pi/2 below 2**9: max {err[worst]:.2f} ulp at x={x[worst]!r}")
        assert err[worst] <= bound[name], (name, x[worst], got[worst])


def test_float32_small_tier_constants():
    """pi/2 = P1 + P2 + P3 to 2**-64; P1, P3 are float32, P2 has 15 bits, so
    q P2 is exact for every q < 2**9 the tier sees (2**9 2/pi < 2**9); and
    float32 |x| below 2**18 stay 2**-27.83 away from multiples of pi/2 (the
    closest approach the tier's error bound is measured against)."""
    import mpmath
    p1, p2, p3 = vecmath._PIO2_F32
    assert all(float(np.float32(p)) == p for p in (p1, p2, p3))
    assert float(np.float32(p2 * 2 ** 39)) == p2 * 2 ** 39 and abs(p2 * 2 ** 39) < 2 ** 15
    with mpmath.workprec(200):
        miss = abs(mpmath.pi / 2 - (mpmath.mpf(p1) + p2 + p3))
        assert miss < mpmath.mpf(2) ** -64
        x = _near_multiples_of_half_pi(int(2 ** 18 * 2 / np.pi), 2.0 ** 18, 2)
        x = x[x > 1]
        q = np.rint(x.astype(np.float64) * (2 / np.pi))
        # distances in long double: x - q pi/2 with pi/2 as a double-double
        hi = LD(np.float64(mpmath.pi / 2))
        lo = LD(np.float64(mpmath.pi / 2 - mpmath.mpf(float(hi))))
        dist = np.abs(x.astype(LD) - q.astype(LD) * hi - q.astype(LD) * lo)
        assert round(float(np.log2(dist.min())), 2) == -27.83


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", TRIG)
def test_lanes_needing_the_full_reduction_leave_the_others_alone(name, dtype):
    """A vector with one huge argument (at every lane position in turn) takes
    the full-range branch and blends: each lane equals its value computed
    among its own kind only, and NaN/inf stay NaN."""
    rng = np.random.default_rng(5)
    ordinary = rng.uniform(-100, 100, 4099).astype(dtype)
    huge = (10.0 ** rng.uniform(9, 30, 4099) * rng.choice([-1, 1], 4099)).astype(dtype)
    special = np.array([np.inf, -np.inf, np.nan], dtype)
    mixed = ordinary.copy()
    mixed[::7] = huge[::7]
    at = np.array([i for i in range(3, mixed.size, 500) if i % 7])
    mixed[at] = special[np.arange(at.size) % 3]
    fn = compiled(name, dtype)
    got = fn(mixed)
    plain = mixed == ordinary
    np.testing.assert_array_equal(got[plain], fn(ordinary)[plain])
    np.testing.assert_array_equal(got[::7], fn(huge)[::7])
    assert np.isnan(got[at]).all()


def test_reduction_table_is_private_and_float32_needs_none():
    ir64 = str(_loop_module("sin", "float64", 1))
    assert "private unnamed_addr constant" in ir64 and "two_over_pi_f64" in ir64
    ir32 = str(_loop_module("sin", "float32", 1))
    assert "two_over_pi" not in ir32 and "constant [" not in ir32      # selects, no gather


def test_trig_of_huge_arguments_through_graphc_function():
    """End to end on the LLVM backend (object code with the table, loaded by
    the JIT) against NumPy."""
    import graphc
    import graphc.tensor as T
    from graphc.compile.mode import Mode
    for dtype in ("float32", "float64"):
        v = T.vector(dtype=dtype)
        f = graphc.function([v], [T.sin(v), T.cos(v)], mode=Mode("llvm"))
        x = np.array([1e30, -3e37, 1.5, 1e8, 7e15, np.finfo(dtype).max], dtype=dtype)
        s, c = f(x)
        np.testing.assert_allclose(s, np.sin(x), rtol=4 * np.finfo(dtype).eps, atol=0)
        np.testing.assert_allclose(c, np.cos(x), rtol=4 * np.finfo(dtype).eps, atol=0)


def _pow_inputs(dtype, rng, n):
    fi = np.finfo(dtype)
    # wide: |x| log-uniform, y such that |y log x| spans beyond the overflow range
    x = 10.0 ** rng.uniform(-30 if dtype == "float32" else -300, 30 if dtype == "float32" else 300, n)
    lim = np.log(float(fi.max)) * 1.05
    y = rng.uniform(-lim, lim, n) / np.log(x)
    xs = [x, rng.uniform(0, 4, n), rng.uniform(0.999, 1.001, n)]
    ys = [y, rng.uniform(-60, 60, n), rng.uniform(-1e5, 1e5, n)]
    # negative bases with integer exponents, and moderate random pairs
    neg = -rng.uniform(0.1, 10, n)
    xs.append(neg)
    ys.append(np.round(rng.uniform(-30, 30, n)))
    return (np.concatenate(xs).astype(dtype), np.concatenate(ys).astype(dtype))


@pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs an 80-bit long double reference")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_max_ulp_error(dtype):
    x, y = _pow_inputs(dtype, np.random.default_rng(11), 250_000)
    got = compiled("pow", dtype)(x, y)
    err = ulp_error(got, _reference("pow", dtype, x, y), dtype)
    worst = int(np.argmax(err))
    print(f"pow {dtype}: max {err[worst]:.2f} ulp at x={x[worst]!r} y={y[worst]!r}")
    assert err[worst] <= MAX_ULP[dtype], (x[worst], y[worst], got[worst])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_special_cases_match_numpy(dtype):
    fi = np.finfo(dtype)
    vals = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5, np.inf,
                     -np.inf, np.nan, fi.smallest_subnormal, -fi.smallest_subnormal, fi.max,
                     -fi.max, 1e-3, 1e3, 2.0 ** 60, -(2.0 ** 60) - 1], dtype)
    x, y = (a.ravel() for a in np.meshgrid(vals, vals))
    got = compiled("pow", dtype)(x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    bad = (np.isnan(got) != np.isnan(want)) | (np.signbit(got) != np.signbit(want)) & ~np.isnan(want)
    bad |= np.isinf(want) != np.isinf(got)
    assert not bad.any(), list(zip(x[bad], y[bad], got[bad], want[bad]))
    if HAVE_LONG_DOUBLE:
        err = ulp_error(got, _reference("pow", dtype, x, y), dtype)
        assert err.max() <= MAX_ULP[dtype]


def _function_text(module_text, name):
    """The definition of function ``name`` in an IR module's text."""
    start = re.search(r"^define [^\n]*@\"?%s\"?\(" % re.escape(name), module_text, re.M).start()
    return module_text[start:module_text.index("\n}\n", start)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY + sorted(vecmath.BINARY))
def test_loop_vectorizes_without_calls(name, dtype):
    """Inline functions leave a vector loop calling only intrinsics; the
    out-of-line ones (control flow) are called as their native-width vector
    function, which branches to the full-range reduction."""
    text = compiled(name, dtype).optimized_ir
    body = _function_text(text, "kern")
    scalar = "float" if dtype == "float32" else "double"
    widths = [int(w) for w in re.findall(r"<(\d+) x %s>" % scalar, body)]
    assert widths and max(widths) >= (4 if dtype == "float32" else 2), f"{name} not vectorized"
    callees = set(re.findall(r"call [^@]*@([\w.$]+)", body)) - {"llvm.smax.i64", "llvm.umax.i64"}
    if name not in vecmath.OUT_OF_LINE:
        assert all(c.startswith("llvm.") for c in callees), callees
        return
    lanes = vecmath.native_vector_bits() // np.dtype(dtype).itemsize // 8
    suffix = "f32" if dtype == "float32" else "f64"
    vector = f"graphc.vecmath.{name}.v{lanes}{suffix}"
    assert vector in callees, callees
    # besides: narrower variants (the vectorized remainder) and the scalar one
    assert all(c.startswith(("llvm.", f"graphc.vecmath.{name}.")) for c in callees), callees
    function = _function_text(text, vector)
    assert re.search(r"br i1 [^\n]*label %trig.large", function)   # full range on demand
    assert all(c.startswith("llvm.") for c in re.findall(r"call [^@]*@([\w.$]+)", function))


@pytest.mark.skipif(not vecmath.host_has_scalef(), reason="needs AVX-512 (vscalef)")
def test_exp_scales_by_one_vector_ldexp():
    """On AVX-512, exp's 2**n scaling is a vector ldexp (one vscalef) instead
    of two multiplies by built powers of two."""
    for dtype in ("float32", "float64"):
        body = _function_text(compiled("exp", dtype).optimized_ir, "kern")
        assert re.search(r"call <\d+ x \w+> @llvm\.ldexp\.v\d+f(32|64)", body), dtype


@pytest.mark.parametrize("name", ["exp", "log", "sin", "tanh", "expm1", "log1p", "sigmoid"])
def test_accuracy_without_fma_target(name):
    """fmuladd is unfused on a target without FMA; accuracy must not depend on it."""
    for dtype in ("float32", "float64"):
        x = _unary_inputs(name, dtype, 100_000)
        fn = compiled(name, dtype, fma=False)
        if HAVE_LONG_DOUBLE:
            err, wx, wy = _max_error(name, dtype, x, fn(x))
            assert err <= MAX_ULP[dtype], (name, dtype, err, wx, wy)


@pytest.mark.parametrize("feature", ["host_has_scalef", "host_has_fma"])
def test_accuracy_without_host_features(feature, monkeypatch):
    """The code emitted for hosts without AVX-512 (exp's two-step scaling
    instead of ldexp) or without FMA (no float32-only trig tier) is as
    accurate; on this host it is compiled on purpose."""
    monkeypatch.setattr(vecmath, feature, lambda: False)
    names = ["exp", "exp2", "sinh", "erfc"] if feature == "host_has_scalef" else list(TRIG)
    for name in names:
        for dtype in ("float32", "float64"):
            fn = Compiled(name, dtype)
            intrinsic = "@llvm.ldexp." if feature == "host_has_scalef" else "@llvm.fma."
            assert intrinsic not in fn.optimized_ir, (name, dtype)
            x = _unary_inputs(name, dtype, 100_000)
            if HAVE_LONG_DOUBLE:
                err, wx, wy = _max_error(name, dtype, x, fn(x))
                assert err <= MAX_ULP[dtype], (name, dtype, err, wx, wy)


def _vector_function(name, dtype, lanes):
    """``<lanes x T> f(<lanes x T>)`` built directly from vector values."""
    ft = ir.VectorType(FTYPES[dtype], lanes)
    module = ir.Module(name=f"vec_{name}")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType()] * 2), name="f")
    b = ir.IRBuilder(fn.append_basic_block())
    align = np.dtype(dtype).itemsize    # NumPy data is only element-aligned
    y = vecmath.emit_unary(b, name, b.load(fn.args[0], typ=ft, align=align), dtype)
    b.store(y, fn.args[1], align=align)
    b.ret_void()
    mod = llvm.parse_assembly(str(module))
    engine = llvm.create_mcjit_compiler(mod, _target_machine())
    engine.finalize_object()
    cfn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(engine.get_function_address("f"))
    return engine, cfn


@pytest.mark.parametrize("name", ["exp", "log", "sin", "erf", "softplus"])
def test_vector_operands_give_the_scalar_results(name):
    for dtype, lanes in (("float32", 8), ("float64", 4)):
        x = np.concatenate([_specials(dtype), np.linspace(-5, 5, 13, dtype=dtype)])
        x = x[: x.size // lanes * lanes]
        engine, cfn = _vector_function(name, dtype, lanes)
        out = np.empty_like(x)
        for k in range(0, x.size, lanes):
            cfn(x[k:].ctypes.data, out[k:].ctypes.data)
        np.testing.assert_array_equal(out, compiled(name, dtype)(x))


def test_api_availability_and_errors():
    for name in ("exp", "log", "tanh", "sigmoid", "softplus", "sin", "cos", "log1p", "expm1",
                 "erf", "pow", "exp2", "log2", "log10", "tan", "sinh", "cosh", "erfc"):
        assert vecmath.available(name, "float32") and vecmath.available(name, "float64")
        assert name in SCALAR_OPS
    assert not vecmath.available("exp", "float16") and not vecmath.available("sqrt", "float32")
    b = ir.IRBuilder(ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), []),
                                 name="g").append_basic_block())
    one = ir.Constant(ir.FloatType(), 1.0)
    with pytest.raises(TypeError, match="do not match dtype float64"):
        vecmath.emit_unary(b, "exp", one, "float64")
    with pytest.raises(TypeError, match="float/double"):
        vecmath.emit_unary(b, "exp", ir.Constant(ir.IntType(32), 1), "float32")
    with pytest.raises(KeyError, match="no unary function 'sqrt'"):
        vecmath.emit_unary(b, "sqrt", one, "float32")
    with pytest.raises(KeyError, match="no binary function"):
        vecmath.emit_binary(b, "arctan2", one, one, "float32")
