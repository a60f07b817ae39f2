"""Lowering of the scalar ops of ``graphc.ops.scalar`` to LLVM IR.

One function per op family, looked up by op name in ``_LOWER``; each gets the
register values of the arguments, the dtypes the op computes in (the kernel IR
already inserted the casts) and the result dtype, and reproduces the NumPy
semantics of ``ScalarOp.impl`` bit for bit where NumPy defines them: NaN/inf
propagation, signed zeros, wrap-around integer arithmetic, integer division
and remainder by zero (0), ``INT_MIN // -1``, floor-division and remainder of
floats (NumPy's ``npy_divmod``), mixed signed/unsigned comparisons, float16
computed in float32 and rounded back, and x86's float->int conversion outside
the defined range.

Transcendentals go through one dispatch point, ``ScalarLowering.math``: the
inline vectorizable versions of ``vecmath`` where it covers a function, else
an LLVM intrinsic, else the C math library.
"""

import math

import numpy as np
from llvmlite import ir

from ...ops import scalar as scal
from .types import F32, F64, HALF, I1, I32, I64, bits, kind, value_type


class NotLowerable(Exception):
    """The backend has no lowering for this scalar op/dtype combination."""


def _vecmath():
    """The inline vector-math module, when it is part of this build."""
    try:
        from . import vecmath
    except ImportError:
        return None
    return vecmath


#: unary math function -> LLVM intrinsic stem (suffixed .f32/.f64)
_INTRINSICS = {"exp": "llvm.exp", "exp2": "llvm.exp2", "log": "llvm.log", "log2": "llvm.log2",
               "log10": "llvm.log10", "sin": "llvm.sin", "cos": "llvm.cos",
               "sqrt": "llvm.sqrt", "fabs": "llvm.fabs", "floor": "llvm.floor",
               "ceil": "llvm.ceil", "trunc": "llvm.trunc", "roundeven": "llvm.roundeven"}
#: unary math function -> C math library name (float32: with an 'f' suffix)
_LIBM = {"expm1": "expm1", "log1p": "log1p", "tan": "tan", "arcsin": "asin",
         "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
         "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "erf": "erf",
         "erfc": "erfc", "gamma": "tgamma", "gammaln": "lgamma"}
#: names vecmath may cover: the ops above plus the composite ones built here
MATH_FUNCTIONS = frozenset(_INTRINSICS) | frozenset(_LIBM) | {"psi", "sigmoid", "softplus"}

NEG_INT_POWER_STATUS = 1
STATUS_MESSAGES = {NEG_INT_POWER_STATUS: "Integers to negative integer powers are not allowed."}


def _suffix(t):
    return {HALF: "f16", F32: "f32", F64: "f64"}[t]


class ScalarLowering:
    """Emits scalar ops with ``builder`` into ``module``.

    ``status_ptr`` (an ``i32*``) receives a nonzero code when a NumPy error
    condition is met (integer to a negative power); the caller raises it."""

    def __init__(self, module, builder, status_ptr=None):
        self.module = module
        self.builder = builder
        self.status_ptr = status_ptr

    # ------------------------------------------------------------ helpers
    def _declare(self, name, ret, args, pure=True):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
            if pure:
                fn.attributes.add("nounwind")
                fn.attributes.add("readnone")  # upgraded to memory(none) by the parser
        return fn

    def intrinsic(self, stem, x, *more):
        t = x.type
        fn = self._declare(f"{stem}.{_suffix(t)}", t, [t] * (1 + len(more)))
        return self.builder.call(fn, [x, *more])

    def libm(self, name, t, *args):
        cname = name + ("f" if t == F32 else "")
        return self.builder.call(self._declare(cname, t, [t] * len(args)), list(args))

    def fconst(self, value, t):
        return ir.Constant(t, float(value))

    def math(self, name, x, dtype):
        """Unary math function ``name`` of float register ``x`` (float32/64)."""
        vm = _vecmath()
        if vm is not None and vm.available(name, dtype):
            return vm.emit_unary(self.builder, name, x, dtype)
        if name in _INTRINSICS:
            return self.intrinsic(_INTRINSICS[name], x)
        if name in _LIBM and name != "gammaln":
            return self.libm(_LIBM[name], x.type, x)
        if name == "gammaln":  # scipy: gammaln(-inf) = -inf (C's lgamma gives +inf)
            b = self.builder
            r = self.libm(_LIBM[name], x.type, x)
            minus_inf = self.fconst(-math.inf, x.type)
            return b.select(b.fcmp_ordered("==", x, minus_inf), minus_inf, r)
        composite = getattr(self, f"_math_{name}", None)
        if composite is None:
            raise NotLowerable(f"no lowering for math function {name}")
        return composite(x, dtype)

    def pow(self, x, y, dtype):
        """Float ``x ** y`` (C99 ``pow``)."""
        vm = _vecmath()
        if vm is not None and vm.available("pow", dtype):
            return vm.emit_binary(self.builder, "pow", x, y, dtype)
        return self.intrinsic("llvm.pow", x, y)

    def copysign(self, mag, sign):
        return self.intrinsic("llvm.copysign", mag, sign)

    def isnan(self, x):
        return self.builder.fcmp_unordered("uno", x, x)

    # ------------------------------------------------------------ entry
    def lower(self, op, args, in_dtypes, out_dtype):
        """The register value of ``op(*args)``."""
        if isinstance(op, scal.Cast):
            return self.cast(args[0], in_dtypes[0], out_dtype)
        in_dtypes = [np.dtype(d).name for d in in_dtypes]
        out_dtype = np.dtype(out_dtype).name
        if "float16" in in_dtypes or out_dtype == "float16":
            # NumPy's half loops compute in float32 and round the result once.
            b = self.builder
            args = [b.fpext(a, F32) if d == "float16" else a for a, d in zip(args, in_dtypes)]
            if op.name in _TIES_FIRST_IN_HALF and in_dtypes[0] == "float16":
                # NumPy's half maximum/minimum/clip keep the first operand on
                # ties (a >= b), its float/double loops the second (a > b).
                res = _clip_or_extremum(self, op.name, args, "float32", ties_first=True)
                return b.fptrunc(res, HALF)
            in_dtypes = ["float32" if d == "float16" else d for d in in_dtypes]
            res = self.lower(op, args, in_dtypes,
                             "float32" if out_dtype == "float16" else out_dtype)
            return b.fptrunc(res, HALF) if out_dtype == "float16" else res
        fn = _LOWER.get(op.name)
        if fn is None:
            raise NotLowerable(f"scalar op {op.name} has no LLVM lowering")
        return fn(self, args, in_dtypes, out_dtype)

    # ------------------------------------------------------------ casts
    def cast(self, x, src, dst):
        """NumPy ``astype`` from ``src`` to ``dst``."""
        b = self.builder
        src, dst = np.dtype(src).name, np.dtype(dst).name
        if src == dst:
            return x
        sk, dk = kind(src), kind(dst)
        dt = value_type(dst)
        if dk == "b":
            if sk == "f":
                return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))  # NaN is True
            return b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
        if sk == "b":
            return b.uitofp(x, dt) if dk == "f" else b.zext(x, dt)
        if sk in "iu" and dk in "iu":
            sb, db = bits(src), bits(dst)
            if db < sb:
                return b.trunc(x, dt)
            if db > sb:
                return b.sext(x, dt) if sk == "i" else b.zext(x, dt)
            return x
        if sk in "iu":  # int -> float
            if dst == "float16":  # exact through float32 below 2**24; inf above 65520
                return b.fptrunc(self.cast(x, src, "float32"), HALF)
            return b.sitofp(x, dt) if sk == "i" else b.uitofp(x, dt)
        if dk == "f":  # float -> float
            if bits(dst) > bits(src):
                return b.fpext(x, dt)
            if src == "float64" and dst == "float16":
                return b.fptrunc(self._round_to_odd_f32(x), HALF)
            return b.fptrunc(x, dt)
        return self._float_to_int(x, src, dst)

    def _round_to_odd_f32(self, x):
        """double -> float rounded to odd: a second rounding to half is then
        the correctly rounded double -> half (NumPy's), without the
        ``__truncdfhf2`` runtime call LLVM would emit."""
        b = self.builder
        f = b.fptrunc(x, F32)
        back = b.fpext(f, F64)
        fabs = lambda v: self.intrinsic("llvm.fabs", v)  # noqa: E731
        inexact = b.fcmp_ordered("!=", back, x)  # false for NaN
        away = b.fcmp_ordered(">", fabs(back), fabs(x))
        fbits = b.bitcast(f, I32)
        toward_zero = b.select(away, b.sub(fbits, ir.Constant(I32, 1)), fbits)
        odd = b.or_(toward_zero, ir.Constant(I32, 1))
        return b.bitcast(b.select(inexact, odd, fbits), F32)

    def _cvtt(self, x, nbits):
        """x86 ``cvtt`` truncation to a signed ``nbits`` integer: NaN and
        out-of-range values give INT_MIN (what NumPy's C casts produce)."""
        b = self.builder
        t = ir.IntType(nbits)
        lim = float(2 ** (nbits - 1))
        ok = b.and_(b.fcmp_ordered("<", x, self.fconst(lim, x.type)),
                    b.fcmp_ordered(">=", x, self.fconst(-lim, x.type)))
        return b.select(ok, b.fptosi(x, t), ir.Constant(t, -(1 << (nbits - 1))))

    def _float_to_int(self, x, src, dst):
        b = self.builder
        if src == "float16":
            x = b.fpext(x, F32)
        dt = value_type(dst)
        n = bits(dst)
        if n < 32:
            return b.trunc(self._cvtt(x, 32), dt)
        if dst == "int32":
            return self._cvtt(x, 32)
        if dst in ("uint32", "int64"):
            v = self._cvtt(x, 64)
            return b.trunc(v, dt) if n == 32 else v
        # uint64: values >= 2**63 convert after subtracting 2**63
        big = self.fconst(2.0 ** 63, x.type)
        high = b.fcmp_ordered(">=", x, big)
        hi = b.xor(self._cvtt(b.fsub(x, big), 64), ir.Constant(I64, -(1 << 63)))
        return b.select(high, hi, self._cvtt(x, 64))

    # ------------------------------------------------------------ composites
    def _math_sigmoid(self, x, dtype):
        # 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: never overflows; NaN stays NaN.
        b = self.builder
        t = x.type
        one = self.fconst(1.0, t)
        neg_abs = b.fneg(self.intrinsic("llvm.fabs", x))
        e = self.math("exp", neg_abs, dtype)
        r = b.fdiv(one, b.fadd(one, e))
        return b.select(b.fcmp_ordered(">=", x, self.fconst(0.0, t)), r, b.fmul(e, r))

    def _math_softplus(self, x, dtype):
        # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)  (NumPy's logaddexp(0, x))
        b = self.builder
        t = x.type
        zero = self.fconst(0.0, t)
        pos = b.select(b.fcmp_ordered(">", x, zero), x, zero)
        e = self.math("exp", b.fneg(self.intrinsic("llvm.fabs", x)), dtype)
        return b.fadd(pos, self.math("log1p", e, dtype))

    def _math_psi(self, x, dtype):
        """Digamma: reflection below 0, ten guarded recurrence steps up to
        x >= 10, then the asymptotic series, whose first omitted term is then
        below 3e-14 (branch-free, so it vectorizes);
        poles and infinities as ``scipy.special.psi``."""
        b = self.builder
        t = x.type
        if t == F32:  # computed in double, as SciPy does
            return b.fptrunc(self._math_psi(b.fpext(x, F64), "float64"), F32)
        c = lambda v: self.fconst(v, t)  # noqa: E731
        neg = b.fcmp_ordered("<", x, c(0.0))
        pix = b.fmul(c(math.pi), x)
        refl = b.fdiv(c(-math.pi), self.libm("tan", t, pix))
        z = b.select(neg, b.fsub(c(1.0), x), x)
        acc = b.select(neg, refl, c(0.0))
        for _ in range(10):
            small = b.fcmp_ordered("<", z, c(10.0))
            acc = b.select(small, b.fsub(acc, b.fdiv(c(1.0), z)), acc)
            z = b.select(small, b.fadd(z, c(1.0)), z)
        f = b.fdiv(c(1.0), b.fmul(z, z))
        poly = c(1 / 132)
        poly = b.fsub(c(1 / 240), b.fmul(f, poly))
        for k in (252, 120, 12):
            poly = b.fsub(c(1 / k), b.fmul(f, poly))
        series = b.fsub(b.fsub(self.intrinsic("llvm.log", z), b.fdiv(c(0.5), z)),
                        b.fmul(f, poly))
        res = b.fadd(acc, series)
        # special points: +inf -> inf, -inf and negative integers -> nan, +-0 -> -+inf
        is_zero = b.fcmp_ordered("==", x, c(0.0))
        neg_int = b.and_(neg, b.fcmp_ordered("==", x, self.intrinsic("llvm.floor", x)))
        res = b.select(b.fcmp_ordered("==", x, c(math.inf)), c(math.inf), res)
        res = b.select(neg_int, c(math.nan), res)  # includes -inf
        return b.select(is_zero, self.copysign(c(math.inf), b.fneg(x)), res)


# ---------------------------------------------------------------- op table

def _arith(float_op, int_op, bool_op=None):
    def lower(ctx, args, in_dtypes, out_dtype):
        b = ctx.builder
        k = kind(in_dtypes[0])
        if k == "f":
            return getattr(b, float_op)(*args)
        if k == "b":
            if bool_op is None:
                raise NotLowerable(f"{float_op} on bool")
            return getattr(b, bool_op)(*args)
        return getattr(b, int_op)(*args)

    return lower


def _true_div(ctx, args, in_dtypes, out_dtype):
    if kind(in_dtypes[0]) != "f":
        raise NotLowerable("true_div of non-float arguments")
    return ctx.builder.fdiv(*args)


def _float_divmod(ctx, a, b_):
    """NumPy's ``npy_divmod`` (floor quotient, remainder) for floats, with the
    b == 0 results of ``npy_floor_divide``/``npy_remainder``."""
    b = ctx.builder
    t = a.type
    zero = ctx.fconst(0.0, t)
    one = ctx.fconst(1.0, t)
    mod = b.frem(a, b_)
    quot = b.fdiv(a, b_)
    div = b.fdiv(b.fsub(a, mod), b_)
    mod_nonzero = b.fcmp_unordered("!=", mod, zero)  # C truthiness: NaN is true
    adjust = b.and_(mod_nonzero, b.xor(b.fcmp_ordered("<", b_, zero),
                                       b.fcmp_ordered("<", mod, zero)))
    mod2 = b.select(mod_nonzero, b.select(adjust, b.fadd(mod, b_), mod),
                    ctx.copysign(zero, b_))
    div = b.select(adjust, b.fsub(div, one), div)
    floordiv = ctx.intrinsic("llvm.floor", div)
    floordiv = b.select(b.fcmp_ordered(">", b.fsub(div, floordiv), ctx.fconst(0.5, t)),
                        b.fadd(floordiv, one), floordiv)
    floordiv = b.select(b.fcmp_unordered("!=", div, zero), floordiv, ctx.copysign(zero, quot))
    b_zero = b.fcmp_ordered("==", b_, zero)
    return b.select(b_zero, quot, floordiv), b.select(b_zero, mod, mod2)


def _int_divmod(ctx, a, d, signed):
    """Floor quotient and remainder with NumPy's integer rules: x // 0 == 0,
    x % 0 == 0, INT_MIN // -1 == INT_MIN (no trap), remainder has the sign of d."""
    b = ctx.builder
    t = a.type
    zero, one = ir.Constant(t, 0), ir.Constant(t, 1)
    d_zero = b.icmp_unsigned("==", d, zero)
    if not signed:
        safe = b.select(d_zero, one, d)
        return (b.select(d_zero, zero, b.udiv(a, safe)),
                b.select(d_zero, zero, b.urem(a, safe)))
    d_m1 = b.icmp_signed("==", d, ir.Constant(t, -1))
    safe = b.select(b.or_(d_zero, d_m1), one, d)
    q = b.select(d_m1, b.sub(zero, a), b.sdiv(a, safe))
    r = b.srem(a, safe)  # 0 when d is -1
    adjust = b.and_(b.icmp_signed("!=", r, zero),
                    b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", d, zero)))
    q = b.select(adjust, b.sub(q, one), q)
    r = b.select(adjust, b.add(r, d), r)
    return b.select(d_zero, zero, q), b.select(d_zero, zero, r)


def _divmod_op(which):
    def lower(ctx, args, in_dtypes, out_dtype):
        k = kind(in_dtypes[0])
        if k == "f":
            return _float_divmod(ctx, *args)[which]
        if k == "b":
            raise NotLowerable("integer division of bools")
        return _int_divmod(ctx, *args, signed=(k == "i"))[which]

    return lower


def _pow(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    k = kind(in_dtypes[0])
    if k == "f":
        return ctx.pow(*args, in_dtypes[0])
    if k == "b":
        raise NotLowerable("pow of bools")
    base, exponent = args
    if k == "i" and ctx.status_ptr is not None:
        negative = b.icmp_signed("<", exponent, ir.Constant(exponent.type, 0))
        with b.if_then(negative, likely=False):
            b.store(ir.Constant(I32, NEG_INT_POWER_STATUS), ctx.status_ptr)
    return b.call(_ipow_function(ctx.module, base.type), [base, exponent])


def _ipow_function(module, t):
    """``ipow(base, exp)``: square-and-multiply with wrap-around (a negative
    exponent, flagged by the caller, gives a value that is never used)."""
    name = f"graphc.ipow.i{t.width}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(t, [t, t]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    base, exp = fn.args
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    zero, one = ir.Constant(t, 0), ir.Constant(t, 1)
    b.cbranch(b.icmp_unsigned("!=", exp, zero), loop, done)
    b.position_at_end(loop)
    acc = b.phi(t)
    cur = b.phi(t)
    e = b.phi(t)
    odd = b.icmp_unsigned("!=", b.and_(e, one), zero)
    acc_next = b.select(odd, b.mul(acc, cur), acc)
    cur_next = b.mul(cur, cur)
    e_next = b.lshr(e, one)
    b.cbranch(b.icmp_unsigned("!=", e_next, zero), loop, done)
    acc.add_incoming(one, entry)
    acc.add_incoming(acc_next, loop)
    cur.add_incoming(base, entry)
    cur.add_incoming(cur_next, loop)
    e.add_incoming(exp, entry)
    e.add_incoming(e_next, loop)
    b.position_at_end(done)
    res = b.phi(t)
    res.add_incoming(one, entry)
    res.add_incoming(acc_next, loop)
    b.ret(res)
    return fn


def _neg(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    (x,) = args
    if kind(in_dtypes[0]) == "f":
        return b.fneg(x)
    if kind(in_dtypes[0]) == "b":
        raise NotLowerable("negative of bool")
    return b.sub(ir.Constant(x.type, 0), x)


def _abs(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    (x,) = args
    k = kind(in_dtypes[0])
    if k == "f":
        return ctx.intrinsic("llvm.fabs", x)
    if k == "i":
        return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)),
                        b.sub(ir.Constant(x.type, 0), x), x)
    return x


def _sqr(ctx, args, in_dtypes, out_dtype):
    (x,) = args
    return _arith("fmul", "mul", "and_")(ctx, [x, x], in_dtypes * 2, out_dtype)


def _float_math(name):
    def lower(ctx, args, in_dtypes, out_dtype):
        if kind(in_dtypes[0]) != "f":
            raise NotLowerable(f"{name} of {in_dtypes[0]}")
        return ctx.math(name, args[0], in_dtypes[0])

    return lower


def _reciprocal(ctx, args, in_dtypes, out_dtype):
    (x,) = args
    if kind(in_dtypes[0]) != "f":
        raise NotLowerable("reciprocal of non-float")
    return ctx.builder.fdiv(ctx.fconst(1.0, x.type), x)


def _extremum(ctx, a, c, dtype, is_max, ties_first=False):
    """NumPy maximum/minimum: ``(a > c or isnan(a)) ? a : c`` (so NaN
    propagates from either side and ties return c, as NumPy does;
    ``ties_first``: ``>=``, NumPy's half-precision rule)."""
    b = ctx.builder
    k = kind(dtype)
    if k == "f":
        pred = (">" if is_max else "<") + ("=" if ties_first else "")
        pick_a = b.or_(b.fcmp_ordered(pred, a, c), ctx.isnan(a))
        return b.select(pick_a, a, c)
    if k == "b":
        return b.or_(a, c) if is_max else b.and_(a, c)
    cmp = b.icmp_signed if k == "i" else b.icmp_unsigned
    return b.select(cmp(">" if is_max else "<", a, c), a, c)


def _maximum(ctx, args, in_dtypes, out_dtype):
    return _extremum(ctx, *args, in_dtypes[0], True)


def _minimum(ctx, args, in_dtypes, out_dtype):
    return _extremum(ctx, *args, in_dtypes[0], False)


def _arctan2(ctx, args, in_dtypes, out_dtype):
    if kind(in_dtypes[0]) != "f":
        raise NotLowerable("arctan2 of non-float")
    return ctx.libm("atan2", args[0].type, *args)


def _ultra_fast_sigmoid(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    (x,) = args
    t = x.type
    c = lambda v: ctx.fconst(v, t)  # noqa: E731  (constants in x's dtype, as NumPy)
    h = b.fmul(c(0.5), x)
    a = ctx.intrinsic("llvm.fabs", h)
    near = b.fdiv(b.fmul(c(1.5), a), b.fadd(c(1.0), a))
    mid = b.fadd(c(0.935409070603099), b.fmul(c(0.0458812946797165), b.fsub(a, c(1.7))))
    z = b.select(b.fcmp_ordered("<", a, c(1.7)), near,
                 b.select(b.fcmp_ordered("<", a, c(3.0)), mid, c(0.99505475368673)))
    z = b.select(b.fcmp_ordered("<", h, c(0.0)), b.fneg(z), z)
    return b.fmul(c(0.5), b.fadd(z, c(1.0)))


def _sgn(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    (x,) = args
    t = x.type
    k = kind(in_dtypes[0])
    if k == "u":
        return b.zext(b.icmp_unsigned("!=", x, ir.Constant(t, 0)), t)
    if k == "i":
        zero = ir.Constant(t, 0)
        return b.select(b.icmp_signed(">", x, zero), ir.Constant(t, 1),
                        b.select(b.icmp_signed("<", x, zero), ir.Constant(t, -1), zero))
    if k == "b":
        raise NotLowerable("sign of bool")
    zero = ctx.fconst(0.0, t)
    return b.select(b.fcmp_ordered(">", x, zero), ctx.fconst(1.0, t),
                    b.select(b.fcmp_ordered("<", x, zero), ctx.fconst(-1.0, t),
                             b.select(b.fcmp_ordered("==", x, zero), zero, x)))


def _rounding(intrinsic):
    def lower(ctx, args, in_dtypes, out_dtype):
        (x,) = args
        if kind(in_dtypes[0]) != "f":  # NumPy 2: integers and bools round to themselves
            return x
        return ctx.math(intrinsic, x, in_dtypes[0])

    return lower


def _round_half_away(ctx, args, in_dtypes, out_dtype):
    b = ctx.builder
    (x,) = args
    if kind(in_dtypes[0]) != "f":
        return x
    half = ctx.fconst(0.5, x.type)
    up = ctx.intrinsic("llvm.floor", b.fadd(x, half))
    down = ctx.intrinsic("llvm.ceil", b.fsub(x, half))
    return b.select(b.fcmp_ordered(">=", x, ctx.fconst(0.0, x.type)), up, down)


def _isnan(ctx, args, in_dtypes, out_dtype):
    (x,) = args
    if kind(in_dtypes[0]) != "f":
        return ir.Constant(I1, 0)
    return ctx.isnan(x)


def _isinf(ctx, args, in_dtypes, out_dtype):
    (x,) = args
    if kind(in_dtypes[0]) != "f":
        return ir.Constant(I1, 0)
    return ctx.builder.fcmp_ordered("==", ctx.intrinsic("llvm.fabs", x),
                                    ctx.fconst(math.inf, x.type))


_FCMP = {"eq": ("ordered", "=="), "neq": ("unordered", "!="), "lt": ("ordered", "<"),
         "le": ("ordered", "<="), "gt": ("ordered", ">"), "ge": ("ordered", ">=")}
_ICMP = {"eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_MIRROR = {"eq": "eq", "neq": "neq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _compare(name):
    def lower(ctx, args, in_dtypes, out_dtype):
        b = ctx.builder
        x, y = args
        kx, ky = kind(in_dtypes[0]), kind(in_dtypes[1])
        if kx == "f":
            order, pred = _FCMP[name]
            return getattr(b, f"fcmp_{order}")(pred, x, y)
        if kx == ky or "b" in (kx, ky):
            cmp = b.icmp_signed if kx == "i" else b.icmp_unsigned
            return cmp(_ICMP[name], x, y)
        # signed vs unsigned (NumPy 2 compares int64 with uint64 exactly)
        pred = name
        if kx == "u":
            x, y, pred = y, x, _MIRROR[name]
        width = max(x.type.width, y.type.width)
        if x.type.width < width:
            x = b.sext(x, y.type)
        if y.type.width < width:
            y = b.zext(y, x.type)
        zero = ir.Constant(x.type, 0)
        x_neg = b.icmp_signed("<", x, zero)
        same = b.icmp_unsigned(_ICMP[pred], x, y)
        if pred in ("lt", "le", "neq"):
            return b.or_(x_neg, same)
        return b.and_(b.not_(x_neg), same)

    return lower


def _bitwise(method):
    def lower(ctx, args, in_dtypes, out_dtype):
        if kind(in_dtypes[0]) == "f":
            raise NotLowerable(f"bitwise {method} of floats")
        return getattr(ctx.builder, method)(*args)

    return lower


def _invert(ctx, args, in_dtypes, out_dtype):
    if kind(in_dtypes[0]) == "f":
        raise NotLowerable("invert of floats")
    return ctx.builder.not_(args[0])


def _switch(ctx, args, in_dtypes, out_dtype):
    return ctx.builder.select(*args)


def _clip(ctx, args, in_dtypes, out_dtype):
    return _clip_or_extremum(ctx, "clip", args, in_dtypes[0])


_TIES_FIRST_IN_HALF = ("maximum", "minimum", "clip")


def _clip_or_extremum(ctx, name, args, dtype, ties_first=False):
    if name == "clip":  # NumPy: minimum(maximum(x, lo), hi)
        x, lo, hi = args
        return _extremum(ctx, _extremum(ctx, x, lo, dtype, True, ties_first), hi, dtype, False,
                         ties_first)
    return _extremum(ctx, *args, dtype, name == "maximum", ties_first)


_LOWER = {
    "add": _arith("fadd", "add", "or_"),
    "sub": _arith("fsub", "sub"),
    "mul": _arith("fmul", "mul", "and_"),
    "true_div": _true_div,
    "int_div": _divmod_op(0),
    "mod": _divmod_op(1),
    "pow": _pow,
    "neg": _neg,
    "abs": _abs,
    "sqr": _sqr,
    "sqrt": _float_math("sqrt"),
    "reciprocal": _reciprocal,
    "maximum": _maximum,
    "minimum": _minimum,
    "identity": lambda ctx, args, i, o: args[0],
    "second": lambda ctx, args, i, o: args[1],
    "arctan2": _arctan2,
    "ultra_fast_sigmoid": _ultra_fast_sigmoid,
    "sgn": _sgn,
    "floor": _rounding("floor"),
    "ceil": _rounding("ceil"),
    "trunc": _rounding("trunc"),
    "round_half_to_even": _rounding("roundeven"),
    "round_half_away_from_zero": _round_half_away,
    "isnan": _isnan,
    "isinf": _isinf,
    "and": _bitwise("and_"),
    "or": _bitwise("or_"),
    "xor": _bitwise("xor"),
    "invert": _invert,
    "switch": _switch,
    "clip": _clip,
}
for _name in ("eq", "neq", "lt", "le", "gt", "ge"):
    _LOWER[_name] = _compare(_name)
for _name in ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
              "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
              "arctanh", "erf", "erfc", "gamma", "gammaln", "psi", "sigmoid", "softplus"):
    _LOWER[_name] = _float_math(_name)


def combine(ctx, kind_name, acc, value, dtype, reassoc):
    """One step of a kernel reduction: ``acc (+|*|max|min) value``.
    ``reassoc`` lets LLVM reorder float sums/products (vectorized reduction)."""
    b = ctx.builder
    dtype = np.dtype(dtype).name
    if dtype == "float16":
        r = combine(ctx, kind_name, b.fpext(acc, F32), b.fpext(value, F32), "float32", False)
        return b.fptrunc(r, HALF)
    k = kind(dtype)
    if kind_name in ("sum", "prod"):
        if k == "b":
            return (b.or_ if kind_name == "sum" else b.and_)(acc, value)
        if k == "f":
            op = b.fadd if kind_name == "sum" else b.fmul
            return op(acc, value, flags=("reassoc",) if reassoc else ())
        return (b.add if kind_name == "sum" else b.mul)(acc, value)
    return _extremum(ctx, acc, value, dtype, kind_name == "max")


def lowerable_ops():
    """Names of the scalar ops this module lowers (for tests and reports)."""
    return sorted(set(_LOWER) | {"Cast"})

