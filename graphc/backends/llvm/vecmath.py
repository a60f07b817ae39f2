"""Vectorizable transcendental functions emitted as straight-line LLVM IR.

LLVM's loop vectorizer cannot widen a loop that calls ``expf``/``sin``, so a
fused kernel containing one runs a scalar libm call per element.  Everything
here is emitted inline with only arithmetic, compares, selects, bit casts and
intrinsics that have vector forms (``llvm.fmuladd``, ``llvm.fma``,
``llvm.fabs``, ``llvm.floor``, ``llvm.rint``, ``llvm.copysign``): no calls to
other functions, no branches, so a loop using them becomes ``<16 x float>`` /
``<8 x double>`` code.  sin/cos/tan (a branch to their full-range reduction)
are vector functions the vectorizer calls instead (``OUT_OF_LINE``); a
module using them ends with ``finish_module``.  The semantics are NumPy's (C99 Annex F for ``pow``;
``sigmoid(x) = exp(-logaddexp(0, -x))``, ``softplus(x) = logaddexp(0, x)``).

Entry points, called by the code generator::

    available(name, dtype)                 # dtype in {'float32', 'float64'}
    emit_unary(builder, name, x, dtype)    # -> ir.Value of x's type
    emit_binary(builder, name, x, y, dtype)

``x`` may be a scalar ``float``/``double`` or a vector of them.

Methods (coefficients: Chebyshev fits made with mpmath, regenerate with
``python -m graphc.backends.llvm.vecmath``):

* exp, exp2, expm1: ``x = n ln2 + r`` (Cody-Waite, |r| <= ln2/2), expm1(r) by
  a polynomial, scaling by ``2**n`` rounded once, so that subnormal results
  are right and overflow happens exactly at the threshold: one ``llvm.ldexp``
  (AVX-512's vscalef) where the host has it, else two exact steps.
* log, log2, log10, log1p: ``x = 2**k m``, m in [sqrt(1/2), sqrt(2)),
  ``log(m) = 2 atanh(s)``, ``s = (m-1)/(m+1)``; subnormals are pre-scaled;
  log1p adds the rounding error of ``1 + x`` as a first-order correction.
* sin, cos, tan: ``x 2/pi = q + f`` (q integer, only q mod 4 matters,
  |f| <~ 1/2), ``r = f pi/2`` as a double word, then the sine/cosine
  polynomials on [-pi/4, pi/4].  The reduction is exact (error far below an
  ulp of r) for every finite x, including the inputs closest to multiples of
  pi/2 (|f| = 2**-29.86 for float32, 2**-61.54 for float64; derived by
  ``_trig_worst_cases`` and tested):
  reductions in tiers, each exact below its limit: float32 Cody-Waite with
  FMA and a 24+15+24-bit split of pi/2 (|x| < 2**9, FMA hosts), Cody-Waite
  in double with 27-bit pieces (|x| < 2**26; float64's first tier), then the
  full-range one: float32 multiplies x by the bits of 2/pi from its
  exponent's band on (five bands, chosen by selects: no table lookup),
  float64 uses Payne-Hanek with 2/pi chunks from a per-exponent constant
  table (four gathers); the bits of 2/pi are a literal checked against
  mpmath.  The first tier runs on every lane, a later one only for vectors
  where some lane needs it (a branch on the OR of the lanes, then a blend).
  With that branch they cannot be inlined into a loop the vectorizer
  widens, so they are functions, one per module (see "out-of-line
  functions" below; also one copy of their code per kernel).  Details above
  ``_reduce_f32``.
* tanh = expm1(2|x|) / (expm1(2|x|) + 2) with the sign of x (saturates, so
  its expm1 needs no clamps or overflow handling);
  sinh = (t + t/(t+1))/2, t = expm1(|x|), cosh = (e + 1/e)/2, e = exp(|x|), and
  both e**(|x|/2)**2 / 2 once e**-|x| no longer matters (finite up to their
  own overflow threshold).
* sigmoid = e / (1 + e) or 1 / (1 + e) with e = exp(-|x|);
  softplus = max(x, 0) + log1p(exp(-|x|)) (NumPy's logaddexp formula).
* erf, erfc: odd polynomial for |x| < 0.84375; beyond,
  ``erfc(x) = t exp(-x**2 + h(t))``, ``t = 2/(2+x)``, with x**2 split exactly
  (fma) and passed to exp as a double-word argument.
* pow: float32 computes exp(y log|x|) in double; float64 carries log|x| as a
  double-word (about 2**-68 relative) into a double-word exp argument.  All
  C99 special cases (pow(x, 0) = 1, pow(1, NaN) = 1, signed zeros,
  infinities, negative bases with integral exponents) are selects.

``llvm.fma`` is used where an exact product is needed (double-word pow and
the x**2 split of erfc); on a target without FMA it becomes a library call,
which is correct but slow.  Everywhere else ``llvm.fmuladd`` is used, which is
accurate whether or not the target fuses it.

Measured (``tests/test_llvm_vecmath.py`` data, AMD EPYC with AVX-512, loop
vectorized by LLVM at O3; max error in ulp against a long-double/mpmath
reference over ~1e6 points per function spanning the whole finite range;
throughput is elements per ns for a 1e6-element array vs the NumPy ufunc):

    function   max ulp f32  f64    el/ns f32 (NumPy)   el/ns f64 (NumPy)
    exp             1.03   0.95     3.0  (1.8)          1.35 (1.15)
    exp2            1.03   0.96     3.3  (2.6)          1.35 (1.37)
    expm1           1.52   1.75     3.3  (2.7)          1.26 (0.80)
    log             1.22   1.13     2.3  (2.5)          0.95 (1.22)
    log2            1.70   1.55     1.9  (2.3)          0.94 (1.1)
    log10           1.92   1.64     2.4  (4.5)          0.86 (1.10)
    log1p           1.66   1.65     2.0  (2.0)          0.79 (0.95)
    sin             0.81   0.82     0.69 (1.7)          0.12 (0.04)
    cos             0.85   0.83     0.71 (1.8)          0.12 (0.03)
    tan             2.27   2.12     0.74 (2.2)          0.11 (0.66)
    tanh            2.28   2.48     2.6  (2.7)          0.95 (0.25-0.56)
    sinh            2.79   2.68     1.37 (2.7)          0.52 (0.82)
    cosh            3.06   2.71     1.41 (3.0)          0.50 (1.03)
    sigmoid         2.17   2.09     2.0  (0.03)         1.04 (0.03)
    softplus        1.86   1.83     0.83 (0.04)         0.14-0.3 (0.04)
    erf             0.99   1.41     0.57 (0.08)         0.13 (0.04)
    erfc            2.60   3.59     0.48 (0.04)         0.12 (0.04)
    pow             0.50   1.12     0.13 (1.40)         0.12 (0.16)

Single thread, 1e6 elements, median of 9; the 2-core machine was shared, so
throughput figures vary by up to ~2x between runs.  NumPy's float32 exp/log/
trig use its own AVX-512 SIMD loops; its sigmoid/softplus are composites.
float32 pow (computed in double) is the one clearly slow function.  The rows
above predate later work on sin/cos/tan, tanh and exp (single thread, 64K
elements, ns per element; accuracy as in the table): the full-range trig
reductions on demand took float32 sin 1.5 -> 0.9 and float64 sin 7.3 -> 1.6;
then (same run, before -> after) the float32 trig tier: sin 0.87 -> 0.47, cos
0.85 -> 0.44, tan 0.90 -> 0.52; tanh without expm1's clamps: 0.39 -> 0.28
(float32), 1.04 -> 0.82 (float64); exp by ldexp: 0.26 -> 0.21, 0.72 -> 0.64.
"""

import functools
import math

from llvmlite import ir

__all__ = ["available", "emit_unary", "emit_binary", "finish_module", "UNARY", "BINARY",
           "OUT_OF_LINE"]

DTYPES = ("float32", "float64")

# ---------------------------------------------------------------- coefficients
# Highest degree first.  Each entry approximates, on its interval:
#   exp:  E(r) = (e**r - 1 - r) / r**2,              |r| <= ln2/2
#   log:  Q(z) = (2 atanh(s) - 2s - 2s**3/3) / s**5,  z = s**2 <= ((sqrt2-1)/(sqrt2+1))**2
#   sin:  S(z) = (sin(r) - r) / r**3,                 z = r**2 <= (pi/4)**2
#   cos:  C(z) = (cos(r) - 1 + z/2) / z**2,           z = r**2 <= (pi/4)**2
#   erf:  E(z) = erf(x) / x,                          z = x**2 <= 0.84375**2
#   erfc: h(u) = log(erfc(x)/t) + x**2, t = 2/(2+x) = center + halfwidth*u, |u| <= 1,
#         0.84375 <= x <= ERFC_XMAX
_COEFFS = {
    ("exp", "float32"): (0.001392617611993558, 0.008363173074513711, 0.041666554662050534,
                         0.1666657702559799, 0.5),
    ("exp", "float64"): (2.0914679376583935e-09, 2.510520637395701e-08, 2.7557273661348637e-07,
                         2.7557255425746435e-06, 2.4801587325533363e-05, 0.00019841269874800493,
                         0.0013888888888883752, 0.008333333333326141, 0.04166666666666667,
                         0.1666666666666667, 0.5),
    ("log", "float32"): (0.29239676660403907, 0.39997533645139327),
    ("log", "float64"): (0.1291349606680315, 0.13285967273890614, 0.1538557450045883,
                         0.18181808251607398, 0.2222222227107745, 0.2857142857133856,
                         0.40000000000000024),
    ("sin", "float32"): (2.724992580305979e-06, -0.00019840086735384846, 0.008333331874710208,
                         -0.1666666666385529),
    ("sin", "float64"): (-7.586697117706918e-13, 1.6058531618986147e-10, -2.5052106232447578e-08,
                         2.7557319219339167e-06, -0.00019841269841265065, 0.008333333333333331,
                         -0.16666666666666666),
    ("cos", "float32"): (2.4547942085071572e-05, -0.0013888303035894866, 0.04166666465950221),
    ("cos", "float64"): (-1.1382632425521717e-11, 2.08761462684032e-09, -2.7557317271729793e-07,
                         2.480158729876569e-05, -0.0013888888888887398, 0.041666666666666664),
    ("erf", "float32"): (-0.0006353060560274759, 0.005057443327366071, -0.026806251301416638,
                         0.11282805217978197, -0.3761257909818635, 1.128379161189615),
    ("erf", "float64"): (1.0726571432176348e-08, -1.571446067260244e-07, 1.640162967934702e-06,
                         -1.4922121574443055e-05, 0.00012055199941321885, -0.000854832379116413,
                         0.005223977576377844, -0.02686617064077985, 0.11283791670935311,
                         -0.376126389031834, 1.1283791670955126),
    ("erfc", "float32"): (1.767213149771771e-06, -5.611537247641561e-06, -2.2621804850405766e-05,
                          8.924212938349662e-05, 0.0002987776016499833, -0.001259430043732186,
                          -0.006273557085320832, 0.01870378013397132, 0.35394043694660227,
                          -0.759268096141458),
    ("erfc", "float64"): (-1.6595641767930826e-11, 2.5624826687282876e-11, 1.6381667130394396e-10,
                          -4.601103270732776e-10, -6.205068197850459e-10, 4.412426168604025e-09,
                          -1.6782704442720944e-09, -3.071701829293687e-08, 4.8629875333834626e-08,
                          1.7685145611966322e-07, -5.162426974108965e-07, -9.222832877448069e-07,
                          4.4166272935055906e-06, 4.975409366978587e-06, -3.5939729087868586e-05,
                          -3.577834059391723e-05, 0.000304852835437552, 0.00043129579770218333,
                          -0.002884977984284632, -0.008691754690269522, 0.030486247719852717,
                          0.409378344173605, -0.8227557520882972),
}

#: number of coefficients per fit, and the fit intervals (used by _derive_coefficients)
_FIT_SIZES = {("exp", "float32"): 5, ("exp", "float64"): 11, ("log", "float32"): 2,
              ("log", "float64"): 7, ("sin", "float32"): 4, ("sin", "float64"): 7,
              ("cos", "float32"): 3, ("cos", "float64"): 6, ("erf", "float32"): 6,
              ("erf", "float64"): 11, ("erfc", "float32"): 10, ("erfc", "float64"): 23}

ERF_SMALL = 0.84375                                  # erf by polynomial below this |x|
ERFC_XMAX = {"float32": 10.1, "float64": 27.5}       # erfc(x) rounds to 0 beyond
_ERFC_T_RANGE = {dt: (2.0 / (2.0 + xmax), 2.0 / (2.0 + ERF_SMALL)) for dt, xmax in ERFC_XMAX.items()}

# Cody-Waite splits: the high parts have trailing zero bits so n*hi is exact.
_LN2_HI = {"float32": 0.693359375, "float64": 6.93147180369123816490e-01}
_LN2_LO = {"float32": -0.00021219444005469057, "float64": 1.9082149292705877e-10}
#: pi/2 = sum of these; the first three have 27 significant bits
_PIO2_PARTS = (1.570796325802803, 9.920935739593517e-10, 5.721188709663575e-18,
               1.6446256936324258e-26)
#: ln 2 rounded to the dtype, and what that rounding dropped
_LN2_TAIL = {"float32": -1.904654299957768e-09, "float64": 2.3190468138462996e-17}
_LOG10_2_HI = {"float32": 0.30078125, "float64": 3.01029995663611771306e-01}
_LOG10_2_LO = {"float32": math.log10(2.0) - 0.30078125, "float64": 3.69423907715893078616e-13}

_LOG2E = 1.4426950408889634
_LOG10E = 0.4342944819032518
_INV_LN10 = _LOG10E


class _Format:
    """IEEE binary format constants for one dtype."""

    def __init__(self, bits, mant, bias):
        self.bits, self.mant, self.bias = bits, mant, bias
        self.min_normal = 2.0 ** (1 - bias)
        self.max_finite = (2.0 - 2.0 ** -mant) * 2.0 ** bias
        self.shifter = 1.5 * 2.0 ** mant      # x + shifter rounds x to an integer
        self.sqrt_half_bits = {32: 0x3F3504F3, 64: 0x3FE6A09E667F3BCD}[bits]
        self.one_bits = bias << mant


_FORMATS = {"float32": _Format(32, 23, 127), "float64": _Format(64, 52, 1023)}

# Input ranges outside which the result is already decided (0, -1, inf, +-1).
_EXP_CLAMP = {"float32": (-104.0, 89.0), "float64": (-746.0, 710.0)}
_EXPM1_CLAMP = {"float32": (-30.0, 89.0), "float64": (-40.0, 710.0)}
_EXP2_CLAMP = {"float32": (-152.0, 129.0), "float64": (-1077.0, 1025.0)}
_TANH_SATURATE = {"float32": 10.0, "float64": 20.0}
_SINH_CLAMP = {"float32": 90.0, "float64": 711.0}
#: above this |x|, e**-|x| is below half an ulp of e**|x| and sinh = cosh = e**|x| / 2
_HYPERBOLIC_BIG = {"float32": 9.0, "float64": 19.0}


class _Emitter:
    """IR construction for one float type (scalar or vector): typed
    constants, NaN-aware compares/clamps, intrinsics and double-word helpers."""

    def __init__(self, builder, ftype):
        self.b = builder
        self.module = builder.module
        self.ftype = ftype
        self.lanes = ftype.count if isinstance(ftype, ir.VectorType) else None
        scalar = ftype.element if self.lanes else ftype
        if isinstance(scalar, ir.DoubleType):
            self.dtype = "float64"
        elif isinstance(scalar, ir.FloatType):
            self.dtype = "float32"
        else:
            raise TypeError(f"vecmath works on float/double values, got {ftype}")
        self.fmt = _FORMATS[self.dtype]
        self.itype = self._shaped(ir.IntType(self.fmt.bits))
        self._fname = ("v%d" % self.lanes if self.lanes else "") + ("f64" if self.fmt.bits == 64
                                                                    else "f32")

    def _shaped(self, scalar_type):
        return ir.VectorType(scalar_type, self.lanes) if self.lanes else scalar_type

    def retyped(self, dtype):
        """The emitter for ``dtype`` with the same vector shape."""
        scalar = ir.DoubleType() if dtype == "float64" else ir.FloatType()
        return _Emitter(self.b, self._shaped(scalar))

    def convert(self, x, target):
        """``x`` converted to ``target``'s float type (exact widening or one rounding)."""
        if target.fmt.bits > self.fmt.bits:
            return self.b.fpext(x, target.ftype)
        if target.fmt.bits < self.fmt.bits:
            return self.b.fptrunc(x, target.ftype)
        return x

    # constants
    def c(self, value):
        value = float(value)
        if self.lanes:
            return ir.Constant(self.ftype, [value] * self.lanes)
        return ir.Constant(self.ftype, value)

    def ic(self, value):
        if self.lanes:
            return ir.Constant(self.itype, [int(value)] * self.lanes)
        return ir.Constant(self.itype, int(value))

    def coeffs(self, key):
        return _COEFFS[(key, self.dtype)]

    # arithmetic
    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def neg(self, a):
        return self.b.fneg(a)

    def _intrinsic(self, stem, *args):
        name = f"llvm.{stem}.{self._fname}"
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(self.ftype, [self.ftype] * len(args)),
                             name=name)
        return self.b.call(fn, list(args))

    def muladd(self, a, b, c):
        """a*b + c, fused if the target has FMA (accuracy does not depend on it)."""
        return self._intrinsic("fmuladd", a, b, c)

    def fma(self, a, b, c):
        """a*b + c with one rounding (exact-product tricks need this)."""
        return self._intrinsic("fma", a, b, c)

    def fabs(self, a):
        return self._intrinsic("fabs", a)

    def floor(self, a):
        return self._intrinsic("floor", a)

    def rint(self, a):
        return self._intrinsic("rint", a)

    def copysign(self, mag, sign):
        return self._intrinsic("copysign", mag, sign)

    def poly(self, x, coeffs):
        """Horner evaluation, highest degree first."""
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = self.muladd(acc, x, self.c(k))
        return acc

    # compares and selects (ordered compares are false for NaN)
    def cmp(self, op, a, b):
        return self.b.fcmp_ordered(op, a, b)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def and_(self, a, b):
        return self.b.and_(a, b)

    def or_(self, a, b):
        return self.b.or_(a, b)

    def not_(self, a):
        return self.b.not_(a)

    def clamp(self, x, lo, hi):
        """x limited to [lo, hi]; NaN stays NaN (unlike minnum/maxnum)."""
        x = self.select(self.cmp("<", x, self.c(lo)), self.c(lo), x)
        return self.select(self.cmp(">", x, self.c(hi)), self.c(hi), x)

    # bit-level access
    def to_bits(self, x):
        return self.b.bitcast(x, self.itype)

    def from_bits(self, i):
        return self.b.bitcast(i, self.ftype)

    def sign_bit_set(self, x):
        return self.b.icmp_signed("<", self.to_bits(x), self.ic(0))

    def round_to_int(self, x):
        """(rint(x) as float, as integer) for |x| < 2**(mant-1): no fptosi, so
        NaN/inf give garbage integers rather than poison."""
        sh = self.c(self.fmt.shifter)
        kd = self.add(x, sh)
        return self.sub(kd, sh), self.b.sub(self.to_bits(kd), self.ic(_bits_of(self.fmt.shifter,
                                                                                self.fmt)))

    def int_to_float(self, i):
        """Signed integer |i| < 2**(mant-1) to float, via the shifter's bits."""
        sh = self.fmt.shifter
        return self.sub(self.from_bits(self.b.add(i, self.ic(_bits_of(sh, self.fmt)))), self.c(sh))

    def ldexp(self, x, n):
        """x * 2**n rounded once (subnormal results and overflow included),
        integer n of this type's width; ``llvm.ldexp`` is one instruction
        on AVX-512 (vscalef), a library call per element elsewhere."""
        i32 = self._shaped(ir.IntType(32))
        if n.type != i32:
            n = self.b.trunc(n, i32)
        name = f"llvm.ldexp.{self._fname}.{'v%di32' % self.lanes if self.lanes else 'i32'}"
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(self.ftype, [self.ftype, i32]), name=name)
        return self.b.call(fn, [x, n])

    def pow2i(self, n):
        """2**n for integer n in the normal exponent range."""
        return self.from_bits(self.b.shl(self.b.add(n, self.ic(self.fmt.bias)),
                                         self.ic(self.fmt.mant)))

    # double-word arithmetic
    def two_sum(self, a, b):
        """(s, e) with s = fl(a+b) and a + b = s + e exactly."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e

    def fast_two_sum(self, a, b):
        """two_sum for |a| >= |b|."""
        s = self.add(a, b)
        return s, self.sub(b, self.sub(s, a))

    def two_prod(self, a, b):
        p = self.mul(a, b)
        return p, self.fma(a, b, self.neg(p))


def _bits_of(value, fmt):
    import struct
    if fmt.bits == 64:
        return struct.unpack("<q", struct.pack("<d", value))[0]
    return struct.unpack("<i", struct.pack("<f", value))[0]


def _constant_table(module, name, build):
    """The module's private constant array of doubles ``name``; ``build()``
    gives its values (computed once per process)."""
    table = module.globals.get(name)
    if table is None:
        values = _TABLE_VALUES.get(name)
        if values is None:
            values = _TABLE_VALUES[name] = build()
        typ = ir.ArrayType(ir.DoubleType(), len(values))
        table = ir.GlobalVariable(module, typ, name=name)
        table.global_constant = True
        table.linkage = "private"
        table.unnamed_addr = True
        table.align = 64
        table.initializer = ir.Constant(typ, values)
    return table


_TABLE_VALUES = {}


def _table_load(m, table, index, offset):
    """``table[index + offset]`` as m's (double) type: a plain load the loop
    vectorizer turns into a gather; lane by lane for vector operands."""
    b = m.b

    def load(i):
        i = b.add(i, ir.Constant(i.type, offset)) if offset else i
        ptr = b.gep(table, [ir.Constant(i.type, 0), i], inbounds=True,
                    source_etype=table.value_type)
        return b.load(ptr, typ=ir.DoubleType(), align=8)

    if not isinstance(index.type, ir.VectorType):
        return load(index)
    lanes = [load(b.extract_element(index, ir.Constant(ir.IntType(32), k)))
             for k in range(index.type.count)]
    out = ir.Constant(m.ftype, ir.Undefined)
    for k, v in enumerate(lanes):
        out = b.insert_element(out, v, ir.Constant(ir.IntType(32), k))
    return out


# ====================================================================== exp
def _expm1_poly(m, r):
    """e**r - 1 for |r| <= ln2/2 (plus rounding)."""
    return m.muladd(m.mul(r, r), m.poly(r, m.coeffs("exp")), r)


def _exp_reduce(m, x):
    """(n float, n int, r) with x = n ln2 + r, |r| <= ln2/2 (x pre-clamped)."""
    n, ni = m.round_to_int(m.mul(x, m.c(_LOG2E)))
    r = m.muladd(m.neg(n), m.c(_LN2_HI[m.dtype]), x)
    r = m.muladd(m.neg(n), m.c(_LN2_LO[m.dtype]), r)
    return n, ni, r


def _scale(m, p, ni):
    """p * 2**ni for ni in [-(bias+mant+2), bias+1], rounded once (a
    subnormal result is rounded once and overflow happens exactly at the
    threshold): ldexp where the target has it as an instruction, else two
    exact power-of-two factors."""
    if host_has_scalef():
        return m.ldexp(p, ni)
    n1 = m.b.ashr(ni, m.ic(1))
    n2 = m.b.sub(ni, n1)
    return m.mul(m.mul(p, m.pow2i(n1)), m.pow2i(n2))


def _exp_core(m, x, x_lo=None):
    """e**(x + x_lo) with x_lo a small correction (double-word argument)."""
    lo, hi = _EXP_CLAMP[m.dtype]
    xc = m.clamp(x, lo, hi)
    _, ni, r = _exp_reduce(m, xc)
    if x_lo is not None:  # only meaningful when x was not clamped
        r = m.add(r, m.select(m.cmp("==", x, xc), x_lo, m.c(0.0)))
    p = m.add(m.c(1.0), _expm1_poly(m, r))
    return _scale(m, p, ni)


def _exp(m, x):
    return _exp_core(m, x)


def _exp2(m, x):
    lo, hi = _EXP2_CLAMP[m.dtype]
    xc = m.clamp(x, lo, hi)
    n, ni = m.round_to_int(xc)
    f = m.sub(xc, n)                                   # exact, |f| <= 1/2
    r = m.muladd(f, m.c(math.log(2.0)), m.mul(f, m.c(_LN2_TAIL[m.dtype])))
    p = m.add(m.c(1.0), _expm1_poly(m, r))
    return _scale(m, p, ni)


def _expm1(m, x):
    lo, hi = _EXPM1_CLAMP[m.dtype]
    xc = m.clamp(x, lo, hi)
    _, ni, r = _exp_reduce(m, xc)
    p = _expm1_poly(m, r)
    # expm1(x) = 2**n p + (2**n - 1); 2**n is capped at 2**bias and the
    # missing factor 2 applied after (only for results near overflow).
    ncap = m.b.select(m.b.icmp_signed(">", ni, m.ic(m.fmt.bias)), m.ic(m.fmt.bias), ni)
    s = m.pow2i(ncap)
    res = m.muladd(p, s, m.sub(s, m.c(1.0)))
    res = m.mul(res, m.pow2i(m.b.sub(ni, ncap)))
    return m.select(m.cmp("==", x, m.c(0.0)), x, res)     # keeps -0


# ====================================================================== log
def _log_decompose(m, x):
    """(k float, f) with x = 2**k (1 + f), 1 + f in [sqrt(1/2), sqrt(2));
    valid for positive finite x including subnormals."""
    fmt = m.fmt
    tiny = m.cmp("<", x, m.c(fmt.min_normal))
    xs = m.select(tiny, m.mul(x, m.c(2.0 ** (fmt.mant + 1))), x)
    bits = m.b.add(m.to_bits(xs), m.ic(fmt.one_bits - fmt.sqrt_half_bits))
    k = m.b.sub(m.b.lshr(bits, m.ic(fmt.mant)), m.ic(fmt.bias))
    k = m.b.select(tiny, m.b.sub(k, m.ic(fmt.mant + 1)), k)
    mbits = m.b.add(m.b.and_(bits, m.ic((1 << fmt.mant) - 1)), m.ic(fmt.sqrt_half_bits))
    f = m.sub(m.from_bits(mbits), m.c(1.0))           # exact (Sterbenz)
    return m.int_to_float(k), f


def _log1p_reduced(m, f):
    """(f - hfsq, s (hfsq + R)) whose sum is log(1 + f) for 1 + f in
    [sqrt(1/2), sqrt(2)); the split keeps the leading part exact-ish."""
    s = m.div(f, m.add(m.c(2.0), f))
    z = m.mul(s, s)
    q = m.poly(z, m.coeffs("log"))
    rr = m.mul(z, m.muladd(z, q, m.c(2.0 / 3.0)))       # 2 atanh(s)/s - 2
    hfsq = m.mul(m.c(0.5), m.mul(f, f))
    return m.sub(f, hfsq), m.mul(s, m.add(hfsq, rr))


def _log_specials(m, x, res, arg=None):
    """log's results for 0 (-inf), +inf, negatives and NaN (NaN)."""
    arg = x if arg is None else arg
    fmt_inf = m.c(math.inf)
    special = m.select(m.cmp("==", arg, m.c(0.0)), m.c(-math.inf),
                       m.select(m.cmp("==", arg, fmt_inf), fmt_inf, m.c(math.nan)))
    finite_pos = m.and_(m.cmp(">", arg, m.c(0.0)), m.cmp("<", arg, fmt_inf))
    return m.select(finite_pos, res, special)


def _ln_parts(m, x, extra=None):
    """log(x) as k*ln2_hi + (head + (tail + k*ln2_lo + extra)), rounded once at the end."""
    k, f = _log_decompose(m, x)
    head, tail = _log1p_reduced(m, f)
    lo = m.mul(k, m.c(_LN2_LO[m.dtype]))
    if extra is not None:
        lo = m.add(lo, extra)
    return m.muladd(k, m.c(_LN2_HI[m.dtype]), m.add(head, m.add(tail, lo)))


def _log(m, x):
    return _log_specials(m, x, _ln_parts(m, x))


def _log2(m, x):
    k, f = _log_decompose(m, x)
    head, tail = _log1p_reduced(m, f)
    hi = m.mul(head, m.c(_LOG2E))
    lo = m.muladd(tail, m.c(_LOG2E), m.fma(head, m.c(_LOG2E), m.neg(hi)))
    return _log_specials(m, x, m.add(k, m.add(hi, lo)))


def _log10(m, x):
    k, f = _log_decompose(m, x)
    head, tail = _log1p_reduced(m, f)
    lo = m.muladd(k, m.c(_LOG10_2_LO[m.dtype]), m.mul(tail, m.c(_INV_LN10)))
    body = m.muladd(head, m.c(_INV_LN10), lo)
    return _log_specials(m, x, m.muladd(k, m.c(_LOG10_2_HI[m.dtype]), body))


def _log1p(m, x):
    u = m.add(m.c(1.0), x)
    # 1 + x = u (1 + c) exactly to first order; u - 1 is exact.
    c = m.div(m.sub(x, m.sub(u, m.c(1.0))), u)
    res = _log_specials(m, x, _ln_parts(m, u, extra=c), arg=u)
    return m.select(m.cmp("==", x, m.c(0.0)), x, res)


# ====================================================================== trig
# Argument reduction: x 2/pi = q + f with q an integer (only q mod 4 matters)
# and |f| <= ~1/2, then r = f pi/2.  Cody-Waite (x - q pi/2 with pi/2 in
# pieces) is exact only while q pi/2 has few bits; Payne-Hanek multiplies x by
# just the bits of 2/pi that can affect x 2/pi mod 4, chosen by x's exponent
# (float64: a row of a constant table, i.e. a gather; float32: one of five
# bands of constants, by selects), in exact pieces.
#
# Write x = M 2**E, M an integer of p bits (24 or 53).  Bit i of 2/pi (weight
# 2**-i) contributes M 2**(E-i), a multiple of 4 when i <= E - 2, so only bits
# from i0 = E - 1 on are needed.  How many depends on how close x 2/pi gets
# to an integer: over all finite inputs the minimum of |x 2/pi - nearest
# integer| is 2**-29.86 for float32 (x = 16367173 * 2**72) and 2**-61.54 for
# float64 (x = 6381956970095103 * 2**797) (_trig_worst_cases derives these by
# continued fractions; the tests check them).

#: floor(2/pi * 2**_TWO_OVER_PI_BITS) (regenerate: python -m graphc.backends.llvm.vecmath)
_TWO_OVER_PI_BITS = 1216
_TWO_OVER_PI = int(
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561"
    "b7246e3a424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484"
    "e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980f"
    "ef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b"
    "3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6bab", 16)


def _two_over_pi_window(start, width, scale=0):
    """2**scale times the bits start .. start+width-1 of 2/pi (bit i weighs
    2**-i; bits i <= 0 are zero), exactly (width <= 53)."""
    last = start + width - 1
    chunk = (_TWO_OVER_PI >> (_TWO_OVER_PI_BITS - last)) & ((1 << width) - 1)
    return math.ldexp(chunk, scale - last)


def _two_over_pi_rest(start, scale=0):
    """2**scale times the bits of 2/pi from ``start`` on, rounded once."""
    rest = _TWO_OVER_PI & ((1 << (_TWO_OVER_PI_BITS - start + 1)) - 1)
    return rest / (1 << (_TWO_OVER_PI_BITS - scale))       # int / int: rounded once


# float32, every finite x, in double arithmetic without a table lookup: the
# exponents are split into _F32_BANDS bands; band b uses the bits of 2/pi from
# i0 = 21 b on (band 0 starts at bit 0, so it is 2/pi itself and covers every
# |x| < 2**45), picked by compares and selects.  Per band: A = bits i0 ..
# i0+52 of 2/pi exactly, split into A1 (its leading 29 significant bits) and
# A2 (<= 24 bits) so that x A1 and x A2 are exact, and B = the bits after,
# rounded.  With x = M 2**E, g = E - 1 - i0 < 21 (negative for |x| < 2**24):
# x A1 is reduced mod 4 exactly; q = rint(s + x A2); s - q is exact, and so is
# (s - q) + x A2 (multiples of 2**(g-51), below 1) when g >= 0 (else it is one
# rounding of an exact sum); x B < 2**(g-27) adds one rounding and x B and B
# drop < 2**(g-79).  Against the smallest |f|, 2**-29.86, the reduction error
# is below 2**-30 (2**-53 of f plus 2**(g-79)): negligible next to float32's
# 2**-24.
_F32_BAND_BITS = 21
_F32_BANDS = 5                        # i0 up to 84: E - 1 <= 103 stays in the last band


def _f32_band(band):
    """(smallest |x| of ``band``, A, B) for ``band``."""
    i0 = band * _F32_BAND_BITS
    return 2.0 ** (i0 + 24), _two_over_pi_window(i0, 53), _two_over_pi_rest(i0 + 53)


# float64, |x| >= 2**26 (below, Cody-Waite is exact): x = m 2**(E+52), m in
# +-[1, 2) (x's sign and significand), split m = m_hi + m_lo into 26 and 27
# significant bits by a bit mask, times five 26-bit chunks T_k of 2/pi from
# bit i0 = E - 1, scaled by 2**(E+52) (so T_k = N_k 2**(28 - 26 k) for every
# E), plus R = the rest of 2/pi rounded.  All m_* T_k are exact.  As multiples
# of / below (magnitude):
#   m_hi T0: 2**3, which drops out mod 4
#   m_lo T0, m_hi T1: 2**-24, 2**-23 / 2**29     m_lo T1, m_hi T2: 2**-50, 2**-49 / 2**3
#   m_lo T2, m_hi T3: 2**-76, 2**-75 / 2**-23    m_lo T3, m_hi T4: 2**-102, 2**-101 / 2**-49
#   m_lo T4, m R: below 2**-75, rounding < 2**-127
# The first four, each reduced to [-2, 2], sum exactly (multiples of 2**-50
# below 8) to S; q = rint(S), f0 = S - q.  The next two are split at 2**-50
# and their high parts join f0 exactly; their low parts and the next two's
# parts above 2**-76 sum exactly (multiples of 2**-76 below 2**-47) to L1; the
# rest, below 2**-75, is summed plainly (error < 2**-127).  f0 + L1 is exact
# whenever it is below 2**-23, so f = f0 + L1 + rest carries an error below
# 2**-120 + 2**-106 |f|: 2**-58 of the smallest |f|.  A table row holds T0, T1
# in one double and T2, T3 in another (each pair behind a guard bit that fixes
# the double's exponent, so a bit mask separates them), then T4 and R: four
# gathers per element.
_F64_TABLE_STRIDE = 4                 # one 32-byte row per exponent
_F64_LARGE = 2.0 ** 26                # Payne-Hanek from here on
_F64_FIRST_EXPONENT = 1023 + 26
_F64_PAIR_GUARDS = (2.0 ** 54, 2.0 ** 2)   # guard bits of the (T0, T1) and (T2, T3) doubles


def _f64_reduction_table():
    rows = []
    for biased in range(_F64_FIRST_EXPONENT, 2047):
        exponent = biased - 1075          # x = M 2**exponent, M < 2**53
        i0, scale = exponent - 1, exponent + 52
        t = [_two_over_pi_window(i0 + 26 * k, 26, scale) for k in range(5)]
        rows += [_F64_PAIR_GUARDS[0] + t[0] + t[1], _F64_PAIR_GUARDS[1] + t[2] + t[3], t[4],
                 _two_over_pi_rest(i0 + 130, scale)]
    return rows


def _pio2_split():
    """pi/2 = Q1 + Q2 + Q3 with Q1, Q2 of 26 bits (products with 27-bit
    numbers are exact), from the Cody-Waite pieces (exact to ~2**-139)."""
    from fractions import Fraction
    pio2 = sum(Fraction(p) for p in _PIO2_PARTS)
    q1 = Fraction(math.floor(pio2 * 2 ** 25), 2 ** 25)
    q2 = Fraction(math.floor((pio2 - q1) * 2 ** 51), 2 ** 51)
    return float(q1), float(q2), float(pio2 - q1 - q2)


_PIO2_26 = _pio2_split()


def _reduce_mod4(m, v):
    """v - 4 rint(v/4), in [-2, 2]: exact for any double v."""
    return m.muladd(m.rint(m.mul(v, m.c(0.25))), m.c(-4.0), v)


def _biased_exponent(m, bits):
    return m.b.and_(m.b.lshr(bits, m.ic(m.fmt.mant)), m.ic(2 * m.fmt.bias + 1))


def _table_row(m, bits, first, last, stride):
    """Index of the first entry of the table row for x's biased exponent,
    clamped to [first, last] (rows start at ``first``), as m's integer type."""
    be = _biased_exponent(m, bits)
    be = m.b.select(m.b.icmp_unsigned("<", be, m.ic(first)), m.ic(first), be)
    be = m.b.select(m.b.icmp_unsigned(">", be, m.ic(last)), m.ic(last), be)
    return m.b.mul(m.b.sub(be, m.ic(first)), m.ic(stride))


def _clear_low(m, v, n):
    """v with the low ``n`` bits of its significand cleared (exact truncation)."""
    return m.from_bits(m.b.and_(m.to_bits(v), m.ic(~((1 << n) - 1))))


def _reduce_f32(m, x):
    """(k, r, r_lo) for float32 x: x 2/pi = q + f (mod 4), r + r_lo = f pi/2,
    q mod 4 in the low bits of the integer k; every finite x (the bands)."""
    w = m.retyped("float64")
    xd = m.convert(x, w)
    ax = m.fabs(x)
    _, a, b = (w.c(v) for v in _f32_band(0))
    for band in range(1, _F32_BANDS):
        threshold, *consts = _f32_band(band)
        use = m.cmp(">=", ax, m.c(threshold))          # false for NaN
        a, b = (w.select(use, w.c(v), old) for v, old in zip(consts, (a, b)))
    a1 = _clear_low(w, a, 53 - 29)
    s = _reduce_mod4(w, w.mul(xd, a1))                  # inf -> NaN here
    p2 = w.mul(xd, w.sub(a, a1))
    q = w.rint(w.add(s, p2))
    f = w.muladd(xd, b, w.add(w.sub(s, q), p2))
    r = w.mul(f, w.c(math.pi / 2))
    rf = w.convert(r, m)
    return (_low_word(m, _quadrant_integer(w, q)), rf,
            w.convert(w.sub(r, m.convert(rf, w)), m))


def _reduce_f32_small(m, x):
    """(k, r, r_lo) as ``_reduce_f32`` for |x| < _F32_SMALL_LIMIT, in float32
    alone (twice the lanes of the double tiers, no conversions): Cody-Waite
    with pi/2 = P1 + P2 + P3 + O(2**-65) (``_pio2_f32``).

    With q = rint(x 2/pi), |q| < 2**9: r1 = x - q P1 is exact (one
    FMA: the exact product; the difference is a multiple of 2**-24 below 1).
    P2 has 15 bits, so q P2 is exact, and r = fl(r1 - q P2) is exact below
    2**-15; above, r1 - r is exact (a multiple of 2**-39 below 2**-15), so
    c = (r1 - r) - q P2 is r's rounding error exactly, and r_lo = c - q P3
    (|q P3| < 2**-31).  r + r_lo is x - q pi/2 within 2**-24 |r_lo| + q
    2**-65 < 2**-54, against |r| >= 2**-27.83 for every float32 |x| < 2**18
    (at x = 252.89821): error <= 2**-26 of r, far below float32's precision.
    More bits of q would leave fewer for P2 and a larger dropped rest."""
    p1, p2, p3 = (m.c(v) for v in _PIO2_F32)
    k = m.muladd(x, m.c(2.0 / math.pi), m.c(m.fmt.shifter))    # q + shifter: rint
    nq = m.neg(m.sub(k, m.c(m.fmt.shifter)))
    r1 = m.fma(nq, p1, x)
    r = m.muladd(nq, p2, r1)                                     # q P2 exact: one rounding
    r_lo = m.muladd(nq, p3, m.muladd(nq, p2, m.sub(r1, r)))
    return m.to_bits(k), r, r_lo


def _reduce_f32_medium(m, x):
    """(k, r, r_lo) as ``_reduce_f32`` for |x| < _F32_MEDIUM_LIMIT: Cody-Waite
    in double with the 27-bit pieces of pi/2.  q < 2**26, so every q p_k is
    exact with or without FMA and x - q p1 is exact (Sterbenz); the two
    roundings after it and the dropped q p4 leave an error below
    2**-52 |r| + 2**-60, against |r| >= 2**-29.2 (the closest approach,
    see above): far below float32's precision."""
    w = m.retyped("float64")
    xd = m.convert(x, w)
    k = w.muladd(xd, w.c(2.0 / math.pi), w.c(w.fmt.shifter))    # q + shifter: rint
    nq = w.neg(w.sub(k, w.c(w.fmt.shifter)))
    r = xd
    for piece in _PIO2_PARTS[:3]:
        r = w.muladd(nq, w.c(piece), r)
    rf = w.convert(r, m)
    return _low_word(m, w.to_bits(k)), rf, w.convert(w.sub(r, m.convert(rf, w)), m)


def _low_word(m, bits):
    """The low half of 64-bit quadrant bits as m's integer type (float32's
    reductions work in double; q mod 4 is in the low bits)."""
    return m.b.trunc(bits, m.itype) if m.fmt.bits < 64 else bits


def _quadrant_integer(w, q):
    """Integer-valued double q (|q| < 2**51) as w's integer type whose low
    two bits are q mod 4 (q + 1.5 2**52 holds q in its low significand bits)."""
    return w.to_bits(w.add(q, w.c(w.fmt.shifter)))


def _reduce_f64_cody_waite(m, x):
    """(k, r, r_lo) exact for |x| < 2**26 pi/2 (and NaN for inf, NaN); the
    low bits of the integer k are q mod 4 (``_quadrant_integer``)."""
    k = m.muladd(x, m.c(2.0 / math.pi), m.c(m.fmt.shifter))      # q + shifter: rint
    q = m.sub(k, m.c(m.fmt.shifter))
    nq = m.neg(q)
    p1, p2, p3, p4 = _PIO2_PARTS
    r = m.muladd(nq, m.c(p1), x)                       # exact: q*p1 exact, Sterbenz
    hi, e1 = m.two_sum(r, m.mul(nq, m.c(p2)))          # q*p2, q*p3 exact
    hi, e2 = m.two_sum(hi, m.mul(nq, m.c(p3)))
    lo = m.muladd(nq, m.c(p4), m.add(e1, e2))
    r, r_lo = m.fast_two_sum(hi, lo)
    return m.to_bits(k), r, r_lo


def _round_to_multiple(m, v, unit):
    """v rounded to a multiple of ``unit`` (a power of two), for |v| < 2**52 unit."""
    magic = m.c(1.5 * 2.0 ** 52 * unit)
    return m.sub(m.add(v, magic), magic)


def _split_at(m, v, unit):
    """(v rounded to a multiple of ``unit``, the exact remainder)."""
    hi = _round_to_multiple(m, v, unit)
    return hi, m.sub(v, hi)


def _unpack_pair(m, packed, guard):
    """The two 26-bit chunks stored as ``guard + hi + lo`` in one double."""
    with_hi = _clear_low(m, packed, 26)
    return m.sub(with_hi, m.c(guard)), m.sub(packed, with_hi)


def _reduce_f64_payne_hanek(m, x):
    """(k, r, r_lo) as ``_reduce_f64_cody_waite`` for finite |x| >= 2**26
    (garbage elsewhere)."""
    bits = m.to_bits(x)
    row = _table_row(m, bits, _F64_FIRST_EXPONENT, 2046, _F64_TABLE_STRIDE)
    table = _constant_table(m.module, "graphc.vecmath.two_over_pi_f64", _f64_reduction_table)
    pair01, pair23, t4, rest = (_table_load(m, table, row, k) for k in range(4))
    t0, t1 = _unpack_pair(m, pair01, _F64_PAIR_GUARDS[0])
    t2, t3 = _unpack_pair(m, pair23, _F64_PAIR_GUARDS[1])
    sign_mant = (1 << (m.fmt.bits - 1)) | ((1 << m.fmt.mant) - 1)
    mant = m.from_bits(m.b.or_(m.b.and_(bits, m.ic(sign_mant)), m.ic(m.fmt.one_bits)))
    m_hi = _clear_low(m, mant, 27)
    m_lo = m.sub(mant, m_hi)
    s = m.add(_reduce_mod4(m, m.mul(m_lo, t0)), _reduce_mod4(m, m.mul(m_hi, t1)))
    s = m.add(s, _reduce_mod4(m, m.mul(m_lo, t1)))
    s = m.add(s, _reduce_mod4(m, m.mul(m_hi, t2)))
    q = m.rint(s)
    e_hi, e_lo = _split_at(m, m.mul(m_lo, t2), 2.0 ** -50)
    f_hi, f_lo = _split_at(m, m.mul(m_hi, t3), 2.0 ** -50)
    g_hi, g_lo = _split_at(m, m.mul(m_lo, t3), 2.0 ** -76)
    h_hi, h_lo = _split_at(m, m.mul(m_hi, t4), 2.0 ** -76)
    f0 = m.add(m.add(m.sub(s, q), e_hi), f_hi)
    l1 = m.add(m.add(e_lo, f_lo), m.add(g_hi, h_hi))
    l2 = m.add(m.add(g_lo, h_lo), m.muladd(mant, rest, m.mul(m_lo, t4)))
    f, err = m.fast_two_sum(f0, l1)       # exact sum when it is small, see above
    lo = m.add(err, l2)
    # (f + lo) pi/2 as a double word: f split in 26 + 27 bits, exact leading products
    q1, q2, q3 = _PIO2_26
    fh = _clear_low(m, f, 27)
    fl = m.sub(f, fh)
    tail = m.add(m.add(m.mul(fl, m.c(q1)), m.mul(fh, m.c(q2))),
                 m.muladd(fl, m.c(q2), m.muladd(f, m.c(q3), m.mul(lo, m.c(math.pi / 2)))))
    r, r_lo = m.fast_two_sum(m.mul(fh, m.c(q1)), tail)
    return _quadrant_integer(m, q), r, r_lo


def _pio2_f32():
    """(P1, P2, P3): P1 = pi/2 rounded to float32, P2 = the rest rounded to
    15 significant bits, P3 = what remains, rounded to float32 (from the
    Cody-Waite pieces, exact to ~2**-139)."""
    from fractions import Fraction

    def rounded(value, bits):
        scale = Fraction(2) ** (bits - 1 - math.floor(math.log2(abs(value))))
        return float(Fraction(round(value * scale)) / scale)

    rest = sum(Fraction(p) for p in _PIO2_PARTS)
    pieces = []
    for bits in (24, 15, 24):
        pieces.append(rounded(rest, bits))
        rest -= Fraction(pieces[-1])
    return tuple(pieces)


_PIO2_F32 = _pio2_f32()
#: float32 |x| below which ``_reduce_f32_small`` is exact (q < 2**9, see there)
_F32_SMALL_LIMIT = 2.0 ** 9
#: float32 |x| from which the bands of ``_reduce_f32`` are needed
_F32_MEDIUM_LIMIT = 2.0 ** 26


def _trig_tiers(dtype):
    """The argument reductions of ``dtype`` as (reduction, limit) pairs: each
    is exact for |x| below its limit, the last for every finite x; a tier
    runs only for vectors where some lane is at or above the previous limit."""
    if dtype == "float64":
        return ((_reduce_f64_cody_waite, _F64_LARGE), (_reduce_f64_payne_hanek, math.inf))
    tiers = ((_reduce_f32_medium, _F32_MEDIUM_LIMIT), (_reduce_f32, math.inf))
    if host_has_fma():
        tiers = ((_reduce_f32_small, _F32_SMALL_LIMIT),) + tiers
    return tiers


def _reduce_in_tiers(m, x, tiers):
    """(k, r, r_lo) from the first of ``tiers`` (see ``_trig_tiers``) on every
    lane, and from each later one only when some lane needs it (a branch on
    the OR of the lanes' flags, then a blend of those lanes), so ordinary
    arguments never pay for the others.  This makes control flow: the
    functions using it are emitted out of line (``_call_out_of_line``)."""
    b = m.b
    ax = m.fabs(x)
    reduced = tiers[0][0](m, x)
    incoming = [(reduced, b.block)]
    join = b.append_basic_block("trig.reduced")
    for (_, below), (reduction, limit) in zip(tiers, tiers[1:]):
        # NaN stays on the first tier and inf on the last but one, which make
        # them NaN (the full-range reductions take finite x only)
        needed = m.cmp(">=", ax, m.c(below))
        if limit == math.inf:
            needed = m.and_(needed, m.cmp("<", ax, m.c(math.inf)))
        tier_block = b.append_basic_block("trig.large")
        b.cbranch(_any_lane(m, needed), tier_block, join).set_weights([1, 1000])
        b.position_at_end(tier_block)
        wide = reduction(m, x)
        if m.lanes:
            wide = [b.select(needed, w, r) for w, r in zip(wide, reduced)]
        reduced = wide
        incoming.append((reduced, b.block))
    b.branch(join)
    b.position_at_end(join)
    merged = []
    for i in range(3):
        phi = b.phi(incoming[0][0][i].type)
        for values, block in incoming:
            phi.add_incoming(values[i], block)
        merged.append(phi)
    return merged


def _trig_reduce(m, x):
    """(r, r_lo, odd, flip) with x = q pi/2 + r + r_lo, |r| <~ pi/4, odd = q
    odd, flip = bit 1 of q; exact for all finite x, NaN for inf and NaN."""
    k, r, r_lo = _reduce_in_tiers(m, x, _trig_tiers(m.dtype))
    b = m.b
    odd = b.trunc(k, m._shaped(ir.IntType(1)))
    flip = b.trunc(b.lshr(k, m.ic(1)), m._shaped(ir.IntType(1)))
    return r, r_lo, odd, flip


def _any_lane(m, flags):
    """i1: whether any lane of ``flags`` (an i1 or a vector of them) is set."""
    if not m.lanes:
        return flags
    name = f"llvm.vector.reduce.or.v{m.lanes}i1"
    fn = m.module.globals.get(name)
    if fn is None:
        fn = ir.Function(m.module, ir.FunctionType(ir.IntType(1), [flags.type]), name=name)
    return m.b.call(fn, [flags])


def _sin_cos_reduced(m, r, r_lo):
    """(sin(r + r_lo), cos(r + r_lo)) for |r| <= ~pi/4."""
    z = m.mul(r, r)
    sin_tail = m.muladd(m.mul(z, r), m.poly(z, m.coeffs("sin")), r_lo)
    sin_r = m.add(r, sin_tail)
    hz = m.mul(m.c(0.5), z)
    w = m.sub(m.c(1.0), hz)
    cos_tail = m.sub(m.mul(m.mul(z, z), m.poly(z, m.coeffs("cos"))), m.mul(r, r_lo))
    cos_r = m.add(w, m.add(m.sub(m.sub(m.c(1.0), w), hz), cos_tail))
    return sin_r, cos_r


def _sin_or_cos(m, x, cosine):
    r, r_lo, odd, flip = _trig_reduce(m, x)
    s, c = _sin_cos_reduced(m, r, r_lo)
    if cosine:  # cos(x) = sin(x + pi/2): quadrant q + 1
        res = m.select(odd, s, c)
        flip = m.b.xor(flip, odd)
    else:
        res = m.select(odd, c, s)
    res = m.select(flip, m.neg(res), res)
    return res if cosine else m.select(m.cmp("==", x, m.c(0.0)), x, res)


def _sin(m, x):
    return _sin_or_cos(m, x, cosine=False)


def _cos(m, x):
    return _sin_or_cos(m, x, cosine=True)


def _tan(m, x):
    r, r_lo, odd, _ = _trig_reduce(m, x)
    s, c = _sin_cos_reduced(m, r, r_lo)
    res = m.select(odd, m.neg(m.div(c, s)), m.div(s, c))
    return m.select(m.cmp("==", x, m.c(0.0)), x, res)


# ====================================================================== hyperbolic / logistic
def _saturate_abs(m, x, limit):
    """|x| capped at ``limit`` (NaN kept)."""
    a = m.fabs(x)
    return m.select(m.cmp(">", a, m.c(limit)), m.c(limit), a)


def _tanh(m, x):
    """expm1(2|x|) / (expm1(2|x|) + 2) with x's sign; 2|x| is saturated to
    [0, 2 _TANH_SATURATE], where expm1 needs neither clamps nor overflow
    care (2**n is normal) and tanh(+-0) comes out as +-0 by the copysign."""
    a = _saturate_abs(m, x, _TANH_SATURATE[m.dtype])
    _, ni, r = _exp_reduce(m, m.add(a, a))
    s = m.pow2i(ni)
    em = m.muladd(_expm1_poly(m, r), s, m.sub(s, m.c(1.0)))   # 2**n (p + 1) - 1
    return m.copysign(m.div(em, m.add(em, m.c(2.0))), x)


def _half_exp_squared(m, a):
    """e**a / 2 computed as (e**(a/2) / 2) e**(a/2): finite up to sinh/cosh's
    own overflow threshold, where e**a alone would overflow first."""
    w = _exp_core(m, m.mul(m.c(0.5), _saturate_abs(m, a, _SINH_CLAMP[m.dtype])))
    return m.mul(m.mul(m.c(0.5), w), w)


def _sinh(m, x):
    a = m.fabs(x)
    big = m.cmp("<", a, m.c(_HYPERBOLIC_BIG[m.dtype]))     # false for NaN
    t = _expm1(m, m.select(big, a, m.c(0.0)))
    near = m.mul(m.c(0.5), m.add(t, m.div(t, m.add(t, m.c(1.0)))))   # (e**a - e**-a) / 2
    return m.copysign(m.select(big, near, _half_exp_squared(m, a)), x)


def _cosh(m, x):
    a = m.fabs(x)
    big = m.cmp("<", a, m.c(_HYPERBOLIC_BIG[m.dtype]))
    q = _exp_core(m, m.select(big, a, m.c(0.0)))
    near = m.mul(m.c(0.5), m.add(q, m.div(m.c(1.0), q)))
    return m.select(big, near, _half_exp_squared(m, a))


def _sigmoid(m, x):
    e = _exp_core(m, m.neg(m.fabs(x)))
    num = m.select(m.cmp("<", x, m.c(0.0)), e, m.c(1.0))
    return _nan_of(m, x, m.div(num, m.add(m.c(1.0), e)))


def _softplus(m, x):
    e = _exp_core(m, m.neg(m.fabs(x)))
    pos = m.select(m.cmp(">", x, m.c(0.0)), x, m.c(0.0))
    return _nan_of(m, x, m.add(pos, _log1p(m, e)))


def _nan_of(m, x, res):
    """``res``, or x itself where x is NaN: NumPy passes the input's NaN
    through (its sign included), while ``-|x|`` would flip the sign."""
    return m.select(m.isnan(x), x, res)


# ====================================================================== erf
def _erf_small_correction(m, x):
    """erf(x) - x for |x| < ERF_SMALL: x (E(x**2) - 1), small next to x."""
    coeffs = m.coeffs("erf")
    return m.mul(x, m.poly(m.mul(x, x), coeffs[:-1] + (coeffs[-1] - 1.0,)))


def _erfc_large(m, a):
    """erfc(a) for a >= ERF_SMALL (a = NaN gives NaN)."""
    a = m.select(m.cmp(">", a, m.c(ERFC_XMAX[m.dtype])), m.c(ERFC_XMAX[m.dtype]), a)
    # float32 forms t in double: a rounded t would move both the factor t and
    # h(t) off the point a (about 2 ulp at a ~ 1); float64 can afford that.
    w = m.retyped("float64")
    t = w.div(w.c(2.0), w.add(w.c(2.0), m.convert(a, w)))
    t_lo, t_hi = _ERFC_T_RANGE[m.dtype]
    center, halfwidth = (t_lo + t_hi) / 2, (t_hi - t_lo) / 2
    u = w.convert(w.muladd(t, w.c(1.0 / halfwidth), w.c(-center / halfwidth)), m)
    h = m.poly(u, m.coeffs("erfc"))
    sq_hi, sq_lo = m.two_prod(a, a)
    arg, arg_err = m.two_sum(m.neg(sq_hi), h)
    e = _exp_core(m, arg, m.sub(arg_err, sq_lo))
    return w.convert(w.mul(t, m.convert(e, w)), m)


def _erf(m, x):
    a = m.fabs(x)
    big = m.copysign(m.sub(m.c(1.0), _erfc_large(m, a)), x)
    small = m.add(x, _erf_small_correction(m, x))
    return m.select(m.cmp("<", a, m.c(ERF_SMALL)), small, big)


def _erfc(m, x):
    a = m.fabs(x)
    tail = _erfc_large(m, a)
    big = m.select(m.cmp("<", x, m.c(0.0)), m.sub(m.c(2.0), tail), tail)
    small = m.sub(m.sub(m.c(1.0), x), _erf_small_correction(m, x))   # 1 - x exact near 1
    return m.select(m.cmp("<", a, m.c(ERF_SMALL)), small, big)


# ====================================================================== pow
def _log_double_word(m, x):
    """log(x) as (hi, lo), relative error ~2**-68, positive finite x (float64)."""
    k, f = _log_decompose(m, x)
    d = m.add(m.c(2.0), f)
    s = m.div(f, d)
    # s_lo: the rounding error of s = f / (2 + f); f - 2s is exact (Sterbenz).
    s_lo = m.div(m.fma(m.neg(s), f, m.sub(f, m.add(s, s))), d)
    z, z_lo = m.two_prod(s, s)
    cube, cube_err = m.two_prod(z, s)
    cube_lo = m.add(cube_err, m.muladd(z_lo, s, m.mul(m.c(3.0), m.mul(z, s_lo))))
    # (2/3) s**3 as a double word: 2/3 = float64(2/3) + _TWO_THIRDS_TAIL
    t3, t3_err = m.two_prod(cube, m.c(2.0 / 3.0))
    t3_lo = m.add(t3_err, m.muladd(cube, m.c(_TWO_THIRDS_TAIL), m.mul(cube_lo, m.c(2.0 / 3.0))))
    tail = m.mul(m.mul(z, cube), m.poly(z, m.coeffs("log")))       # s**5 Q(z)
    big, e1 = m.two_sum(m.mul(k, m.c(_LN2_HI["float64"])), m.add(s, s))
    big, e2 = m.two_sum(big, t3)
    lo = m.add(m.add(e1, e2), m.add(m.muladd(k, m.c(_LN2_LO["float64"]), m.add(s_lo, s_lo)),
                                    m.add(t3_lo, tail)))
    return m.fast_two_sum(big, lo)


_TWO_THIRDS_TAIL = 3.700743415417188e-17      # 2/3 - float64(2/3)


def _pow_magnitude(m, ax, y):
    """|x|**y for finite positive |x| and finite y."""
    if m.dtype == "float32":
        w = m.retyped("float64")
        yd = m.convert(y, w)
        return w.convert(_exp_core(w, w.mul(yd, _ln_parts(w, m.convert(ax, w)))), m)
    l_hi, l_lo = _log_double_word(m, ax)
    p_hi, p_err = m.two_prod(y, l_hi)
    return _exp_core(m, p_hi, m.muladd(y, l_lo, p_err))


def _pow(m, x, y):
    zero, one, inf = m.c(0.0), m.c(1.0), m.c(math.inf)
    ax = m.fabs(x)
    mag = _pow_magnitude(m, ax, y)
    # infinities and zeros of x, infinite y: the magnitude is 0, 1 or inf
    y_inf = m.cmp("==", m.fabs(y), inf)
    edge = m.or_(m.or_(m.cmp("==", ax, zero), m.cmp("==", ax, inf)), y_inf)
    grows = m.b.icmp_unsigned("==", m.cmp(">", ax, one), m.cmp(">", y, zero))
    edge_mag = m.select(m.cmp("==", ax, one), one, m.select(grows, inf, zero))
    mag = m.select(edge, edge_mag, mag)
    # sign: negative base (including -0, -inf) to an odd integer power
    y_int = m.cmp("==", m.floor(y), y)
    half = m.mul(y, m.c(0.5))
    y_odd = m.and_(y_int, m.cmp("!=", m.floor(half), half))
    res = m.select(m.and_(m.sign_bit_set(x), y_odd), m.neg(mag), mag)
    # finite negative base to a finite non-integer power, and NaN inputs
    invalid = m.and_(m.and_(m.cmp("<", x, zero), m.cmp("!=", ax, inf)),
                     m.and_(m.not_(y_int), m.not_(y_inf)))
    invalid = m.or_(invalid, m.or_(m.isnan(x), m.isnan(y)))
    res = m.select(invalid, m.c(math.nan), res)
    # pow(x, 0) = pow(1, y) = 1 even for NaN
    return m.select(m.or_(m.cmp("==", y, zero), m.cmp("==", x, one)), one, res)


# ====================================================================== registry
UNARY = {"exp": _exp, "exp2": _exp2, "expm1": _expm1, "log": _log, "log2": _log2,
         "log10": _log10, "log1p": _log1p, "sin": _sin, "cos": _cos, "tan": _tan,
         "tanh": _tanh, "sinh": _sinh, "cosh": _cosh, "sigmoid": _sigmoid,
         "softplus": _softplus, "erf": _erf, "erfc": _erfc}
BINARY = {"pow": _pow}


def available(name, dtype):
    """Whether ``name`` (a graphc ScalarOp name) has an inline version for ``dtype``."""
    return (name in UNARY or name in BINARY) and str(dtype) in DTYPES


def _emitter(builder, dtype, *values):
    if str(dtype) not in DTYPES:
        raise TypeError(f"vecmath supports {DTYPES}, not {dtype!r}")
    m = _Emitter(builder, values[0].type)
    if m.dtype != str(dtype) or any(v.type != values[0].type for v in values):
        raise TypeError(f"vecmath: operands of types {[str(v.type) for v in values]} "
                        f"do not match dtype {dtype}")
    return m


def emit_unary(builder, name, x, dtype):
    """Emit ``name(x)`` at ``builder``'s position; returns the result value.
    Modules using it must end with ``finish_module`` (see there)."""
    if name not in UNARY:
        raise KeyError(f"vecmath has no unary function {name!r}; it has {sorted(UNARY)}")
    m = _emitter(builder, dtype, x)
    if name in OUT_OF_LINE:
        return _call_out_of_line(m, name, x)
    return UNARY[name](m, x)


def emit_binary(builder, name, x, y, dtype):
    """Emit ``name(x, y)`` at ``builder``'s position; returns the result value."""
    if name not in BINARY:
        raise KeyError(f"vecmath has no binary function {name!r}; it has {sorted(BINARY)}")
    return BINARY[name](_emitter(builder, dtype, x, y), x, y)


# ====================================================================== out-of-line functions
# sin/cos/tan branch on "some lane needs the full-range reduction", which the
# loop vectorizer cannot keep (it would if-convert the branch: both paths on
# every lane).  So each is one function per module on the target's native
# vector width (the *body*, not inlined: also one copy of its code however
# many times a kernel uses it), reached through a scalar function whose
# "vector-function-abi-variant" attribute tells the loop vectorizer which
# vector function computes it for VF lanes: the body, or a thin wrapper for
# narrower VFs (a loop mixing 64-bit values runs float32 at half width) that
# repeats its lanes into a call of the body.  Scalar calls (loop tails) run
# the body on a splat.  The vector functions are referenced only from that
# attribute, so ``finish_module`` lists them in ``llvm.compiler.used`` until
# the vectorizer has used them.

#: functions emitted out of line (they contain control flow)
OUT_OF_LINE = frozenset({"sin", "cos", "tan"})
_KEEP = "_graphc_vecmath_keep"


class _FunctionAttributes(ir.values.FunctionAttributes):
    """llvmlite's function attributes plus the LLVM ones it does not list
    (``willreturn``, string attributes ``"key"="value"``), written as given."""

    def add(self, name):
        if name in self._known:
            return super().add(name)
        return set.add(self, name)


@functools.lru_cache(maxsize=None)
def native_vector_bits():
    """Width of the host's widest float vector registers (what the loop
    vectorizer targets; part of the compile cache key via the CPU features)."""
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    if features.get("avx512f"):
        return 512
    if features.get("avx"):
        return 256
    return 128


def _host_feature(name):
    import llvmlite.binding as llvm
    return bool(llvm.get_host_cpu_features().get(name))


@functools.lru_cache(maxsize=None)
def host_has_fma():
    """Whether the host (the compile target) fuses multiply-adds: float32's
    first trig reduction tier needs a true FMA, a library call elsewhere."""
    return _host_feature("fma")


@functools.lru_cache(maxsize=None)
def host_has_scalef():
    """Whether ``llvm.ldexp`` is an instruction on the host (AVX-512's
    vscalef; elsewhere it is a call per element, slower than two multiplies)."""
    return _host_feature("avx512f")


def _native_lanes(dtype):
    return native_vector_bits() // (64 if dtype == "float64" else 32)


def _symbol(name, dtype, lanes=None):
    suffix = "f64" if dtype == "float64" else "f32"
    return f"graphc.vecmath.{name}.{'v%d' % lanes if lanes else ''}{suffix}"


def _define(module, symbol, ftype, attributes):
    """A ``linkonce_odr`` pure function ``ftype(ftype)`` (one copy survives
    linking kernels' modules; the toolchain makes it internal after)."""
    fn = ir.Function(module, ir.FunctionType(ftype, [ftype]), name=symbol)
    fn.linkage = "linkonce_odr"
    fn.attributes = _FunctionAttributes(("nounwind", "readnone", "willreturn") + attributes)
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def _body_function(module, name, dtype):
    """``name`` on a native-width vector: the one copy of its code."""
    lanes = _native_lanes(dtype)
    symbol = _symbol(name, dtype, lanes)
    fn = module.globals.get(symbol)
    if fn is None:
        ftype = ir.VectorType(ir.DoubleType() if dtype == "float64" else ir.FloatType(), lanes)
        fn, b = _define(module, symbol, ftype, ("noinline",))
        b.ret(UNARY[name](_Emitter(b, ftype), fn.args[0]))
    return fn


def _lane_indices(indices):
    return ir.Constant(ir.VectorType(ir.IntType(32), len(indices)), list(indices))


def _vector_call(b, name, x, dtype):
    """``name(x)`` for a vector x of any width, through the body: narrower
    vectors repeat their lanes, wider ones go a native width at a time."""
    body = _body_function(b.module, name, dtype)
    width, n = body.function_type.return_type.count, x.type.count
    if n <= width:
        y = b.call(body, [b.shuffle_vector(x, x, _lane_indices([i % n for i in range(width)]))])
        return y if n == width else b.shuffle_vector(y, y, _lane_indices(range(n)))
    out = ir.Constant(x.type, ir.Undefined)
    i32 = ir.IntType(32)
    for start in range(0, n, width):
        lanes = [min(start + i, n - 1) for i in range(width)]
        y = b.call(body, [b.shuffle_vector(x, x, _lane_indices(lanes))])
        for i in range(start, min(start + width, n)):
            out = b.insert_element(out, b.extract_element(y, ir.Constant(i32, i - start)),
                                   ir.Constant(i32, i))
    return out


def _variant_function(module, name, dtype, lanes):
    """The vector function the vectorizer calls for VF = ``lanes``."""
    if lanes == _native_lanes(dtype):
        return _body_function(module, name, dtype)
    symbol = _symbol(name, dtype, lanes)
    fn = module.globals.get(symbol)
    if fn is None:
        scalar = ir.DoubleType() if dtype == "float64" else ir.FloatType()
        fn, b = _define(module, symbol, ir.VectorType(scalar, lanes), ())
        b.ret(_vector_call(b, name, fn.args[0], dtype))
    return fn


def _scalar_function(module, name, dtype):
    symbol = _symbol(name, dtype)
    fn = module.globals.get(symbol)
    if fn is not None:
        return fn
    scalar = ir.DoubleType() if dtype == "float64" else ir.FloatType()
    variants = []
    lanes = 2
    while lanes <= _native_lanes(dtype):
        variant = _variant_function(module, name, dtype, lanes)
        variants.append(f"_ZGV_LLVM_N{lanes}v_{symbol}({variant.name})")
        module.__dict__.setdefault(_KEEP, []).append(variant)
        lanes *= 2
    # noinline: inlined before vectorization, the call (and its mapping) would vanish
    mapping = '"vector-function-abi-variant"="%s"' % ",".join(variants)
    fn, b = _define(module, symbol, scalar, ("noinline", mapping))
    x = fn.args[0]
    i32 = ir.IntType(32)
    single = b.insert_element(ir.Constant(ir.VectorType(scalar, 1), ir.Undefined), x,
                              ir.Constant(i32, 0))
    y = _vector_call(b, name, single, dtype)
    b.ret(b.extract_element(y, ir.Constant(i32, 0)))
    return fn


def _call_out_of_line(m, name, x):
    if m.lanes:
        return _vector_call(m.b, name, x, m.dtype)
    return m.b.call(_scalar_function(m.module, name, m.dtype), [x])


def finish_module(module):
    """Keep the vector functions that only a vectorizer mapping refers to
    (``llvm.compiler.used``); call once, after the module's last emission."""
    keep = getattr(module, _KEEP, ())
    if not keep:
        return
    typ = ir.ArrayType(ir.PointerType(), len(keep))
    used = ir.GlobalVariable(module, typ, name="llvm.compiler.used")
    used.linkage = "appending"
    used.section = "llvm.metadata"
    used.initializer = ir.Constant(typ, list(keep))
    setattr(module, _KEEP, [])


# ====================================================================== coefficient fits
def _derive_coefficients():
    """Recompute ``_COEFFS`` (needs mpmath): Chebyshev fits of the functions
    documented above ``_COEFFS``, printed as Python literals."""
    import mpmath as mp
    mp.mp.dps = 60

    def removable(fn, limit):
        return lambda v: fn(v) if v else mp.mpf(limit)

    def log_q(z):
        s = mp.sqrt(z)
        return (2 * mp.atanh(s) - 2 * s - 2 * s ** 3 / 3) / s ** 5

    def erfc_h(t):
        x = 2 / t - 2
        return mp.log(mp.erfc(x) / t) + x * x

    zlog = ((mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)) ** 2
    quarter_pi_sq = (mp.pi / 4) ** 2
    fits = {
        "exp": (removable(lambda r: (mp.exp(r) - 1 - r) / r ** 2, 0.5), [-mp.log(2) / 2, mp.log(2) / 2]),
        "log": (removable(log_q, 0.4), [0, zlog]),
        "sin": (removable(lambda z: (mp.sin(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5, -1 / 6.0),
                [0, quarter_pi_sq]),
        "cos": (removable(lambda z: (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z ** 2, 1 / 24.0),
                [0, quarter_pi_sq]),
        "erf": (removable(lambda z: mp.erf(mp.sqrt(z)) / mp.sqrt(z), 2 / mp.sqrt(mp.pi)),
                [0, mp.mpf(ERF_SMALL) ** 2]),
    }
    for (key, dtype), size in _FIT_SIZES.items():
        if key == "erfc":
            lo, hi = (mp.mpf(v) for v in _ERFC_T_RANGE[dtype])
            center, halfwidth = (lo + hi) / 2, (hi - lo) / 2
            fn, interval = (lambda u, c=center, w=halfwidth: erfc_h(c + w * u)), [-1, 1]
        else:
            fn, interval = fits[key]
        coeffs, err = mp.chebyfit(fn, interval, size, error=True)
        print(f"    ({key!r}, {dtype!r}): ({', '.join(repr(float(v)) for v in coeffs)}),"
              f"  # fit error {float(err):.2g}")


def _derive_two_over_pi():
    """floor(2/pi * 2**_TWO_OVER_PI_BITS) as hex, from mpmath (the _TWO_OVER_PI literal)."""
    import mpmath as mp
    with mp.workprec(_TWO_OVER_PI_BITS + 64):
        return format(int(mp.floor(2 / mp.pi * mp.mpf(2) ** _TWO_OVER_PI_BITS)), "x")


def _trig_worst_cases(dtype, count=1):
    """The finite x of ``dtype`` whose x 2/pi is closest to an integer, one per
    exponent, closest first: ``count`` tuples (log2 distance, M, E), x = M 2**E.
    For each E the minimum of |M a - round(M a)|, a = frac(2**E 2/pi), over
    0 < M < 2**p (p = 24 or 53) is reached at the largest
    continued-fraction denominator of a below 2**p (best approximations), so
    this covers every finite input.  Needs mpmath."""
    import mpmath as mp
    p, emax = (24, 127 - 23) if str(dtype) == "float32" else (53, 1023 - 52)
    found = []
    with mp.workprec(_TWO_OVER_PI_BITS + 200):
        two_over_pi = 2 / mp.pi
        for e in range(-p, emax + 1):
            a = mp.frac(two_over_pi * mp.mpf(2) ** e)
            k_prev, k, best, rest = 1, 0, 1, a       # continued-fraction denominators
            while True:
                digit = int(mp.floor(rest))
                k_prev, k = k, digit * k + k_prev
                if k >= 2 ** p:
                    break
                best = max(best, k)
                if rest == digit:
                    break
                rest = 1 / (rest - digit)
            if best * 2.0 ** e < 0.75:       # below pi/4 there is no reduction
                continue
            dist = abs(best * a - mp.nint(best * a))
            found.append((float(mp.log(dist, 2)), best, e))
    return sorted(found)[:count]


if __name__ == "__main__":
    _derive_coefficients()
    print("_TWO_OVER_PI =", _derive_two_over_pi())
