"""What a fresh process pays before and while building its first function
(W7): ``import graphc`` loads no backend, no llvmlite and none of the
optional heavy libraries; the llvm backend loads on first use; a warm cache
makes a fresh process compile no LLVM at all, the runtime's call trampolines
included (``Toolchain.load_support``), and a damaged trampoline object is
detected and rebuilt."""

import glob
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: modules ``import graphc`` must not load: the llvm backend and llvmlite
#: (~25 ms, loaded by the first compiled function), the optional libraries
#: (networkx for graph export, sympy/scipy for a few scalar ops) and the
#: standard modules only some features need
DEFERRED = ["graphc.backends.llvm", "llvmlite", "llvmlite.binding", "llvmlite.ir",
            "networkx", "sympy", "scipy", "scipy.special", "concurrent.futures",
            "subprocess", "json", "ctypes.util"]


def _run(script, cache_dir, extra_env=None):
    env = dict(os.environ, GRAPHC_FLAGS=f"compiledir={cache_dir}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_graphc_loads_no_backend_and_no_optional_library(tmp_path):
    loaded = _run(f"""
        import sys
        import graphc
        import graphc.tensor as T
        graphc.printing, graphc.gradient, graphc.function, graphc.shared  # the public API
        loaded = [m for m in {DEFERRED!r} if m in sys.modules]
        import json
        print(json.dumps(loaded))
    """, tmp_path)
    assert loaded == []


def test_python_mode_never_loads_llvm_and_the_default_mode_does(tmp_path):
    result = _run("""
        import json, sys
        import numpy as np
        import graphc, graphc.tensor as T
        x = T.dvector("x")
        f = graphc.function([x], T.exp(x) + 1, mode="python")
        ok = bool(np.array_equal(f(np.arange(3.0)), np.exp(np.arange(3.0)) + 1))
        after_python = "llvmlite" in sys.modules
        g = graphc.function([x], T.exp(x) + 1)
        print(json.dumps({"ok": ok, "after_python": after_python,
                          "backend": g.maker.mode.backend,
                          "after_default": "graphc.backends.llvm" in sys.modules}))
    """, tmp_path)
    assert result == {"ok": True, "after_python": False, "backend": "llvm",
                      "after_default": True}


def test_without_llvmlite_mode_llvm_is_reported_unavailable(tmp_path):
    message = _run("""
        import json, sys
        sys.modules["llvmlite"] = None  # as if llvmlite were not installed
        import graphc, graphc.tensor as T
        x = T.dvector("x")
        try:
            graphc.function([x], x + 1, mode="llvm")
        except ValueError as exc:
            print(json.dumps(str(exc)))
    """, tmp_path)
    assert "'llvm'" in message and "unavailable" in message and "'python'" in message


# Compiles a two-kernel function with different operand counts (two
# trampolines) in a fresh process; prints what it compiled and loaded.
TRAMPOLINE_SCRIPT = """
    import json
    import numpy as np
    import graphc, graphc.tensor as T
    from graphc.backends.llvm import runtime
    x, y = T.dvector("x"), T.dvector("y")
    f = graphc.function([x, y], [T.exp(x) * 0.421875 + y, T.tanh(x * 0.703125).sum()],
                        mode="llvm")
    v = np.linspace(-1, 1, 7)
    a, b = f(v, v)
    ok = bool(np.allclose(a, np.exp(v) * 0.421875 + v)
              and np.isclose(b, np.tanh(v * 0.703125).sum()))
    stats = f.maker.compile_stats
    print(json.dumps({"ok": ok, "phases": sorted(stats.phases),
                      "counters": dict(stats.counters),
                      "trampolines": sorted(runtime._TRAMPOLINES._addresses)}))
"""


def _support_files(cache_dir):
    return glob.glob(os.path.join(str(cache_dir), "llvm", "*.rt"))


def test_warm_process_compiles_no_trampoline_and_damaged_ones_are_rebuilt(tmp_path):
    pytest.importorskip("llvmlite")
    cold = _run(TRAMPOLINE_SCRIPT, tmp_path)
    assert cold["ok"] and cold["trampolines"] == [2, 3]
    assert "llvm_compile" in cold["phases"]
    support = _support_files(tmp_path)
    assert len(support) == 2  # one object per operand count, beside the kernels' module
    warm = _run(TRAMPOLINE_SCRIPT, tmp_path)
    assert warm["ok"] and warm["trampolines"] == [2, 3]
    assert "llvm_compile" not in warm["phases"] and "codegen" not in warm["phases"]
    assert "cache_miss" not in warm["counters"]
    with open(support[0], "r+b") as fh:  # damage one: detected, rebuilt, counted
        fh.seek(-5, os.SEEK_END)
        fh.write(b"\xff\x00\xff\x00\xff")
    damaged = _run(TRAMPOLINE_SCRIPT, tmp_path)
    assert damaged["ok"] and damaged["counters"] == {"cache_hit": 2, "cache_corrupt": 1}
    assert "llvm_compile" in damaged["phases"]
    again = _run(TRAMPOLINE_SCRIPT, tmp_path)
    assert again["counters"] == {"cache_hit": 2} and "llvm_compile" not in again["phases"]
