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


# W7 in a fresh process: (a) ``import graphc``, then (b) the build -- graph
# construction, gradient and ``graphc.function`` -- timed apart; the initial
# weights are drawn in between (NumPy work, not compilation).
W7_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import graphc
t1 = time.perf_counter()
sys.path[:0] = {paths!r}
from workloads import build_w3_function, w3_params
params = w3_params()
t2 = time.perf_counter()
build_w3_function({backend!r}, params=params)
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""

#: W7's figures, per run: seconds of each part
W7_PARTS = ("import", "build", "total", "process")


def compile_time(backend, repeats):
    """W7: seconds to import graphc and to build the W3 train function in a
    fresh process, with an empty compile cache (cold: a new ``compiledir``
    per run) and again with that cache (warm); medians of ``repeats`` runs.

    Python's bytecode is cached, as for any installed package: the runs use
    a private ``PYTHONPYCACHEPREFIX``, filled by one untimed run first.
    Without it (``PYTHONDONTWRITEBYTECODE``) each process would compile
    graphc's ~60 modules from source (~0.1 s), a cost of the environment,
    not of graphc."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    script = W7_SCRIPT.format(paths=[root, here], backend=backend)
    with tempfile.TemporaryDirectory(prefix="graphc-w7-pyc-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=pycache,
                   PYTHONPATH=root + os.pathsep + env.get("PYTHONPATH", ""))

        def one(compiledir):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", script], check=True, text=True,
                                 capture_output=True,
                                 env=dict(env, GRAPHC_FLAGS=f"compiledir={compiledir}"))
            process = time.perf_counter() - t0
            imported, build = map(float, out.stdout.split()[-2:])
            return {"import": imported, "build": build, "total": imported + build,
                    "process": process}

        runs = {"cold": [], "warm": []}
        with tempfile.TemporaryDirectory(prefix="graphc-w7-") as cache:
            one(cache)  # untimed: fills the bytecode cache
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="graphc-w7-") as cache:
                runs["cold"].append(one(cache))
                runs["warm"].append(one(cache))
    row = {"workload": "W7", "what": "build W3 train fn, fresh process", "unit": "s",
           "repeats": repeats}
    for state, figures in runs.items():
        row[state] = {part: statistics.median(f[part] for f in figures) for part in W7_PARTS}
    return row


def format_w7(r):
    """W7's own table: each part of a fresh process's time, cold and warm."""
    lines = [f"W7: build the W3 train function in a fresh process, seconds, median of "
             f"{r['repeats']} (build = graph + grad + graphc.function; total = import + build; "
             "process = wall time of the whole process, interpreter start included)"]
    table = [["cache", "import graphc", "build", "total", "process"]]
    for state in ("cold", "warm"):
        table.append([state] + [f"{r[state][part]:.3f}" for part in W7_PARTS])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines)


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
            continue  # its own table, below
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
    for r in rows:
        if r["workload"] == "W7" and "skipped" not in r:
            lines += ["", format_w7(r)]
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
