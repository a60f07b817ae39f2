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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for name, case, products, number in [("W2", w2(False), w2_products(), 300),
                                         ("W3", w3(False), w3_products(), 5),
                                         ("W4", w4(False), w4_products(), 2000)]:
        floor = per_call(products, args.repeats, number)
        numpy_t = per_call(case.make_numpy(), args.repeats, number)
        graphc_t = per_call(case.make_graphc(None), args.repeats, number)
        rows.append((name, floor, numpy_t, graphc_t))
    print(f"{'id':<4}{'BLAS products us':>18}{'numpy us':>11}{'graphc us':>11}"
          f"{'floor/numpy':>13}{'graphc/numpy':>14}")
    for name, floor, numpy_t, graphc_t in rows:
        print(f"{name:<4}{floor:>18.1f}{numpy_t:>11.1f}{graphc_t:>11.1f}"
              f"{floor / numpy_t:>13.2f}{graphc_t / numpy_t:>14.2f}")


if __name__ == "__main__":
    main()
