"""The on-disk cache of compiled kernels: a second process reuses it, a
corrupt or truncated entry is detected and rebuilt, concurrent writers are
safe, and compilation phases are reported."""

import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import graphc  # noqa: E402
import graphc.tensor as T  # noqa: E402
from graphc.backends.llvm.jit import ObjectCache  # noqa: E402
from graphc.compile.profile import CompileStats, collecting_compile_stats  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Compiles one function in a fresh process; prints its compile counters and
# checks its values.  The kernel text is unique to these tests (the constant).
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import graphc, graphc.tensor as T
    x = T.fvector("x")
    f = graphc.function([x], T.tanh(x) * 1.2345678 + T.exp(-x * x), mode="llvm")
    v = np.linspace(-3, 3, 1001, dtype="float32")
    ok = np.allclose(f(v), np.tanh(v) * np.float32(1.2345678) + np.exp(-v * v), rtol=1e-5)
    print(json.dumps({"counters": dict(f.maker.compile_stats.counters), "ok": bool(ok),
                      "phases": sorted(f.maker.compile_stats.phases)}))
""")


def _spawn(cache_dir):
    env = dict(os.environ, GRAPHC_FLAGS=f"compiledir={cache_dir}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"]
    return result


def _entries(cache_dir):
    return glob.glob(os.path.join(str(cache_dir), "llvm", "*.o"))


def test_second_process_reuses_cache(tmp_path):
    first = _result(_spawn(tmp_path))
    assert first["counters"].get("cache_miss", 0) >= 1
    assert {"codegen", "llvm_compile", "cache_load"} <= set(first["phases"])
    assert _entries(tmp_path)
    second = _result(_spawn(tmp_path))
    assert second["counters"].get("cache_hit", 0) == first["counters"]["cache_miss"]
    assert second["counters"].get("cache_miss", 0) == 0
    assert "llvm_compile" not in second["phases"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_entry_is_rebuilt(tmp_path, damage):
    _result(_spawn(tmp_path))
    entries = _entries(tmp_path)
    for path in entries:
        with open(path, "rb") as f:
            blob = f.read()
        if damage == "truncate":
            blob = blob[:len(blob) // 2]
        elif damage == "flip":
            blob = blob[:-10] + bytes([blob[-10] ^ 0xFF]) + blob[-9:]
        elif damage == "empty":
            blob = b""
        else:
            blob = os.urandom(len(blob))
        with open(path, "wb") as f:
            f.write(blob)
    rebuilt = _result(_spawn(tmp_path))
    assert rebuilt["counters"].get("cache_corrupt", 0) == len(entries)
    assert rebuilt["counters"].get("cache_miss", 0) == len(entries)
    again = _result(_spawn(tmp_path))  # the rebuilt entries are good
    assert again["counters"].get("cache_miss", 0) == 0
    assert again["counters"].get("cache_corrupt", 0) == 0


def test_concurrent_writers(tmp_path):
    procs = [_spawn(tmp_path) for _ in range(3)]
    results = [_result(p) for p in procs]
    assert all(r["ok"] for r in results)
    assert not glob.glob(os.path.join(str(tmp_path), "llvm", "*.tmp"))
    after = _result(_spawn(tmp_path))
    assert after["counters"].get("cache_miss", 0) == 0
    assert after["counters"].get("cache_corrupt", 0) == 0


def test_object_cache_roundtrip_and_validation(tmp_path):
    cache = ObjectCache(str(tmp_path))
    assert cache.read("k" * 64) is None  # absent: a miss, not an error
    cache.write("k" * 64, b"payload bytes")
    assert cache.read("k" * 64) == b"payload bytes"
    with open(cache.path("k" * 64), "r+b") as f:
        f.truncate(20)
    stats = CompileStats()
    with collecting_compile_stats(stats):
        assert cache.read("k" * 64) is None
    assert stats.counters["cache_corrupt"] == 1


def test_unwritable_cache_warns_and_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    graphc.config.compiledir = str(blocker)  # restored by the conftest fixture
    x = T.dvector("x")
    with pytest.warns(RuntimeWarning, match="compile cache"):
        f = graphc.function([x], T.cosh(x) * 0.987654321, mode="llvm")
    np.testing.assert_allclose(f(np.arange(3.0)), np.cosh(np.arange(3.0)) * 0.987654321)
