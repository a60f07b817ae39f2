"""Run the WORKLOADS.md benchmarks: graphc beside NumPy-eager and any peer
(PyTensor, JAX, PyTorch) that is importable, plus the machine references
(memory bandwidth, BLAS peak) and W7 (compile time, cold and warm cache).

    python benchmarks/run.py [--quick] [--only W1,W3] [--backend llvm] [--json FILE]

Each figure is the median of >= 5 timed calls after 3 warm-up calls.  Before
timing, every workload's graphc result is checked against NumPy-eager.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graphc  # noqa: E402
from graphc.compile.mode import get_mode  # noqa: E402
from workloads import MISSING, WORKLOADS  # noqa: E402

WARMUP = 3
UNIT_SCALE = {"ms": 1e3, "us": 1e6, "s": 1.0}


def median_time(fn, repeats):
    """Median seconds per call over ``repeats`` timed calls after warm-up."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def default_backend():
    """'llvm' when this build has it, else the NumPy reference backend."""
    try:
        get_mode("llvm")
        return "llvm"
    except ValueError:
        return "python"


def machine_references(repeats):
    src = np.random.default_rng(0).standard_normal(1 << 24).astype("float32")
    dst = np.empty_like(src)
    t_copy = median_time(lambda: np.copyto(dst, src), repeats)
    a = np.random.default_rng(1).standard_normal((1024, 1024)).astype("float32")
    t_mm = median_time(lambda: a @ a, repeats)
    return {"bandwidth_GBps": 2 * src.nbytes / t_copy / 1e9,
            "blas_peak_GFLOPs": 2 * 1024 ** 3 / t_mm / 1e9}


def run_case(case, backend, repeats):
    """Time graphc, NumPy-eager and the peers of one workload."""
    scale = UNIT_SCALE[case.unit]
    graphc_step = case.make_graphc(backend)
    numpy_step = case.make_numpy()
    got, want = np.asarray(graphc_step()), np.asarray(numpy_step())
    if not np.allclose(got, want, rtol=case.rtol, atol=case.atol, equal_nan=True):
        raise AssertionError(f"{case.name}: graphc ({backend}) and NumPy-eager disagree: max "
                             f"abs difference {np.max(np.abs(got - want))}")
    row = {"workload": case.name, "what": case.what, "unit": case.unit,
           "graphc": median_time(graphc_step, repeats) * scale,
           "numpy": median_time(numpy_step, repeats) * scale, "peers": {}}
    for name, factory in case.peers.items():
        try:
            step = factory()
            np.testing.assert_allclose(np.asarray(step()), want, rtol=1e-3, atol=1e-4)
            row["peers"][name] = median_time(step, repeats) * scale
        except Exception as exc:  # noqa: BLE001 - a broken peer install must not stop the run
            row["peers"][name] = f"failed: {type(exc).__name__}: {exc}"[:80]
    if case.bytes_moved:
        row["graphc_GBps"] = case.bytes_moved / (row["graphc"] / scale) / 1e9
        row["numpy_GBps"] = case.bytes_moved / (row["numpy"] / scale) / 1e9
    return row


W7_SCRIPT = """
import sys, time
t0 = time.perf_counter()
sys.path[:0] = {paths!r}
from workloads import build_w3_function
build_w3_function({backend!r})
print(time.perf_counter() - t0)
"""


def compile_time(backend, repeats):
    """W7: seconds to import graphc and build the W3 train function in a fresh
    process, with an empty compile cache (cold) and with that cache (warm)."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = W7_SCRIPT.format(paths=[os.path.dirname(here), here], backend=backend)

    def one(compiledir):
        env = dict(os.environ, GRAPHC_FLAGS=f"compiledir={compiledir}")
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1])

    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="graphc-w7-") as cache:
            cold.append(one(cache))
            warm.append(one(cache))
    return {"workload": "W7", "what": "build W3 train fn, fresh process", "unit": "s",
            "cold": statistics.median(cold), "warm": statistics.median(warm)}


def format_table(refs, rows, backend):
    lines = [f"L1 memory bandwidth (np.copyto f32[2**24], read+write): "
             f"{refs['bandwidth_GBps']:.1f} GB/s",
             f"L2 BLAS peak (f32 1024^3 matmul): {refs['blas_peak_GFLOPs']:.1f} GFLOP/s", ""]
    peers = sorted({p for r in rows for p in r.get("peers", {})})
    header = ["id", "workload", "unit", f"graphc[{backend}]", "numpy", "graphc/numpy"] + peers
    table = [header]
    for r in rows:
        if "skipped" in r:
            table.append([r["workload"], r["skipped"], "", "", "", ""] + [""] * len(peers))
        elif r["workload"] == "W7":
            table.append(["W7", r["what"], "s", f"cold {r['cold']:.2f}", f"warm {r['warm']:.2f}",
                          ""] + [""] * len(peers))
        else:
            extra = ""
            if "graphc_GBps" in r:
                extra = f" ({r['graphc_GBps']:.1f} vs {r['numpy_GBps']:.1f} GB/s)"
            cells = [r["workload"], r["what"], r["unit"], f"{r['graphc']:.3f}",
                     f"{r['numpy']:.3f}", f"{r['graphc'] / r['numpy']:.2f}{extra}"]
            for p in peers:
                v = r["peers"].get(p, "n/a")
                cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
            table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer repeats (a smoke run, not for quoting)")
    parser.add_argument("--only", help="comma-separated workload ids, e.g. W1,W3,W7")
    parser.add_argument("--backend", help="graphc mode (default: llvm if built, else python)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (>= 5)")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()
    get_mode(backend)  # an unknown backend fails here, with the list of modes
    repeats = max(5, args.repeats or (5 if args.quick else 10))
    known = list(WORKLOADS) + list(MISSING) + ["W7"]
    only = args.only.split(",") if args.only else known
    unknown = [w for w in only if w not in known]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; known: {known}")

    refs = machine_references(repeats)
    rows = []
    for wid in known:
        if wid not in only:
            continue
        if wid in MISSING:
            op, present = MISSING[wid]
            if not present():
                rows.append({"workload": wid, "skipped": f"skipped: graphc has no {op} yet"})
                continue
        try:
            if wid == "W7":
                rows.append(compile_time(backend, 3 if args.quick else 5))
            else:
                rows.append(run_case(WORKLOADS[wid](args.quick), backend, repeats))
        except Exception as exc:  # noqa: BLE001 - report it and go on with the others
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
            rows.append({"workload": wid, "skipped": f"FAILED {type(exc).__name__}: {msg}"[:100]})
        print(f"  done {wid}", file=sys.stderr, flush=True)

    machine = {"platform": platform.platform(), "python": platform.python_version(),
               "numpy": np.__version__, "cpus": os.cpu_count(), "graphc_backend": backend,
               "quick": args.quick, "repeats": repeats}
    print(format_table(refs, rows, backend))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "references": refs, "results": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
