"""The BLAS floor of the train/inference workloads: how long the matrix
products alone take (each one BLAS call, through NumPy, on the same data
shapes), beside the whole NumPy-eager step and graphc's step, all in one run.

A compiler can fuse and remove the elementwise passes, not the products; so
``floor / numpy`` is the best ratio any system calling this BLAS can reach
on a workload, and says whether an issue's ratio target is reachable:

    python benchmarks/floors.py [--repeats N]

Products per workload (the NumPy-eager versions in workloads.py make exactly
these calls):
  W2: X @ w and X.T @ g, float64, X 1000x100 (two GEMVs);
  W3: 3 forward GEMMs + 5 backward GEMMs (the first layer's input gradient is
      not needed), float32, batch 256, 784-512-256-10;
  W4: three batch-1 products, float32, 512-256-128-2.

Two floors: "BLAS products" calls each product through NumPy from Python
(what NumPy-eager itself pays), "from machine code" calls the same CBLAS
routines graphc's compiled Gemms call, from a loop of generated machine code
(no Python, no NumPy dispatch between the calls): the least any system
calling this BLAS can spend on the products.
"""

import argparse
import os
import statistics
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import W3_SIZES, w2, w3, w4  # noqa: E402


def per_call(fn, repeats, number):
    """Median microseconds per call of ``fn`` (``repeats`` timings of ``number`` calls)."""
    fn()
    times = timeit.repeat(fn, number=number, repeat=repeats)
    return statistics.median(times) / number * 1e6


def w2_products():
    rng = np.random.default_rng(0)
    X, w, g = rng.standard_normal((1000, 100)), rng.standard_normal(100), rng.standard_normal(1000)
    return lambda: (X @ w, X.T @ g)


def w3_products(batch=256):
    rng = np.random.default_rng(0)
    sizes = W3_SIZES
    Ws = [rng.standard_normal((a, b)).astype("float32") for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [rng.standard_normal((batch, a)).astype("float32") for a in sizes]

    def run():
        for h, W in zip(acts[:-1], Ws):       # forward: h @ W
            h @ W
        for i in range(len(Ws) - 1, -1, -1):  # backward: acts.T @ g, g @ W.T
            g = acts[i + 1]
            acts[i].T @ g
            if i:
                g @ Ws[i].T
    return run


def w4_products():
    rng = np.random.default_rng(0)
    sizes = [512, 256, 128, 2]
    Ws = [rng.standard_normal((a, b)).astype("float32") for a, b in zip(sizes[:-1], sizes[1:])]
    hs = [rng.standard_normal((1, a)).astype("float32") for a in sizes[:-1]]
    return lambda: [h @ W for h, W in zip(hs, Ws)]


# ----------------------------------------------- products from machine code

def _gemv(dtype, trans, rows, cols):
    """A row-major CBLAS ?gemv call y = op(M) @ x, M rows x cols (alpha 1,
    beta 0); its three arrays (M, x, y) come in order in ``arrays``."""
    return ("gemv", dtype, (trans, rows, cols))


def _gemm(dtype, trans_a, trans_b, m, n, k, lda, ldb, ldc):
    """A row-major CBLAS ?gemm call C = op(A) @ op(B) (arrays A, B, C)."""
    return ("gemm", dtype, (trans_a, trans_b, m, n, k, lda, ldb, ldc))


def machine_code_floor(calls, arrays, repeats, number):
    """Median microseconds of one pass over ``calls`` (CBLAS calls on
    ``arrays``' data), run ``number`` times in a loop of generated code
    called once through ctypes; None without a CBLAS binding."""
    import ctypes

    from graphc.backends import blas
    from graphc.backends.llvm import gemm as compiled_gemm
    from graphc.backends.llvm.jit import toolchain

    found = blas.cblas()
    if found is None or not compiled_gemm.register_symbols(found):
        return None
    integer = f"i{found.int_bits}"
    ftype = {"float32": "float", "float64": "double"}
    declarations, body = {}, []
    for k, (routine, dtype, ints) in enumerate(calls):
        name = compiled_gemm.cblas_symbol(routine, dtype, found.int_bits)
        ft = ftype[dtype]
        if routine == "gemv":
            trans, rows, cols = ints
            params = f"i32, i32, {integer}, {integer}, {ft}, ptr, {integer}, ptr, " \
                     f"{integer}, {ft}, ptr, {integer}"
            m_, x, y = 3 * k, 3 * k + 1, 3 * k + 2
            args = (f"i32 101, i32 {112 if trans else 111}, {integer} {rows}, {integer} {cols}, "
                    f"{ft} 1.0, ptr %p{m_}, {integer} {cols}, ptr %p{x}, {integer} 1, {ft} 0.0, "
                    f"ptr %p{y}, {integer} 1")
        else:
            trans_a, trans_b, m, n, kk, lda, ldb, ldc = ints
            params = f"i32, i32, i32, {integer}, {integer}, {integer}, {ft}, ptr, {integer}, " \
                     f"ptr, {integer}, {ft}, ptr, {integer}"
            a, b, c = 3 * k, 3 * k + 1, 3 * k + 2
            args = (f"i32 101, i32 {112 if trans_a else 111}, i32 {112 if trans_b else 111}, "
                    f"{integer} {m}, {integer} {n}, {integer} {kk}, {ft} 1.0, ptr %p{a}, "
                    f"{integer} {lda}, ptr %p{b}, {integer} {ldb}, {ft} 0.0, ptr %p{c}, "
                    f"{integer} {ldc}")
        declarations[name] = f"declare void @{name}({params})"
        body.append(f"  call void @{name}({args})")
    loads = "".join(f"  %a{j} = getelementptr ptr, ptr %ptrs, i64 {j}\n"
                    f"  %p{j} = load ptr, ptr %a{j}\n" for j in range(3 * len(calls)))
    calls_ir = "\n".join(body)
    text = "\n".join(declarations.values()) + f"""
define void @graphc_floor_loop(i64 %reps, ptr %ptrs) {{
entry:
{loads}  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
{calls_ir}
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %reps
  br i1 %more, label %loop, label %done
done:
  ret void
}}
"""
    address = toolchain().load_support(text, "graphc_floor_loop")
    loop = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)(address)
    pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    loop(1, pointers)  # warm up
    times = timeit.repeat(lambda: loop(number, pointers), number=1, repeat=repeats)
    return statistics.median(times) / number * 1e6


def w2_machine_code(repeats, number):
    rng = np.random.default_rng(0)
    X, w, g = rng.standard_normal((1000, 100)), rng.standard_normal(100), rng.standard_normal(1000)
    z, gw = np.empty(1000), np.empty(100)
    calls = [_gemv("float64", False, 1000, 100),   # z = X @ w
             _gemv("float64", True, 1000, 100)]    # gw = X.T @ g
    return machine_code_floor(calls, [X, w, z, X, g, gw], repeats, number)


def w3_machine_code(repeats, number, batch=256):
    rng = np.random.default_rng(0)
    sizes = W3_SIZES
    Ws = [rng.standard_normal((a, b)).astype("float32") for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [rng.standard_normal((batch, a)).astype("float32") for a in sizes]
    calls, arrays = [], []
    for h, W in zip(acts[:-1], Ws):  # forward: h @ W
        a, b = W.shape
        calls.append(_gemm("float32", False, False, batch, b, a, a, b, b))
        arrays += [h, W, np.empty((batch, b), "float32")]
    for i in range(len(Ws) - 1, -1, -1):
        a, b = Ws[i].shape
        g = acts[i + 1]
        # acts[i].T @ g: (a x batch) @ (batch x b)
        calls.append(_gemm("float32", True, False, a, b, batch, a, b, b))
        arrays += [acts[i], g, np.empty((a, b), "float32")]
        if i:  # g @ W.T: (batch x b) @ (b x a)
            calls.append(_gemm("float32", False, True, batch, a, b, b, b, a))
            arrays += [g, Ws[i], np.empty((batch, a), "float32")]
    return machine_code_floor(calls, arrays, repeats, number)


def w4_machine_code(repeats, number):
    rng = np.random.default_rng(0)
    sizes = [512, 256, 128, 2]
    calls, arrays = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):  # h @ W = W.T @ h
        calls.append(_gemv("float32", True, a, b))
        arrays += [rng.standard_normal((a, b)).astype("float32"),
                   rng.standard_normal(a).astype("float32"), np.empty(b, "float32")]
    return machine_code_floor(calls, arrays, repeats, number)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for name, case, products, raw, number in [
            ("W2", w2(False), w2_products(), w2_machine_code, 300),
            ("W3", w3(False), w3_products(), w3_machine_code, 5),
            ("W4", w4(False), w4_products(), w4_machine_code, 2000)]:
        floor = per_call(products, args.repeats, number)
        machine = raw(args.repeats, number)
        numpy_t = per_call(case.make_numpy(), args.repeats, number)
        graphc_t = per_call(case.make_graphc(None), args.repeats, number)
        rows.append((name, floor, machine, numpy_t, graphc_t))
    print(f"{'id':<4}{'BLAS products us':>18}{'from machine code':>19}{'numpy us':>11}"
          f"{'graphc us':>11}{'floor/numpy':>13}{'machine/numpy':>15}{'graphc/numpy':>14}")
    for name, floor, machine, numpy_t, graphc_t in rows:
        machine_text = f"{machine:>19.1f}" if machine is not None else f"{'n/a':>19}"
        machine_ratio = f"{machine / numpy_t:>15.2f}" if machine is not None else f"{'n/a':>15}"
        print(f"{name:<4}{floor:>18.1f}{machine_text}{numpy_t:>11.1f}{graphc_t:>11.1f}"
              f"{floor / numpy_t:>13.2f}{machine_ratio}{graphc_t / numpy_t:>14.2f}")


if __name__ == "__main__":
    main()
