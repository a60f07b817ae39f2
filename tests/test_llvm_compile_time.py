"""What keeps the LLVM backend's compile time down, checked on the code it
emits and on what lands in the cache: all kernels of a function compile as
one module (one object file, one cache entry, references for reuse from other
functions), a warm cache builds no IR, the per-call entry is compiled without
optimization, the strided path is a buffered loop around the vectorized row
(no second copy of the arithmetic), and code is shared between kernels alike.
Also: the strided buffered path gives the reference values across chunk
boundaries and in place, and the default CPU backend is llvm with a fallback."""

import functools
import glob
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import llvmlite.binding as llvm  # noqa: E402

import graphc  # noqa: E402
import graphc.tensor as T  # noqa: E402
from graphc.backends.llvm import LLVMBackend, codegen, runtime  # noqa: E402
from graphc.backends.llvm import jit  # noqa: E402
from graphc.backends.llvm.jit import toolchain  # noqa: E402
from graphc.backends.llvm.scalar import NotLowerable  # noqa: E402
from graphc.compile.mode import Mode, get_mode  # noqa: E402
from graphc.compile.profile import CompileStats, collecting_compile_stats  # noqa: E402
from graphc.kernel.ir import (KConst, KInput, Kernel, KernelInput, Reduction,  # noqa: E402
                              apply_scalar, evaluate)
from graphc.ops import scalar as scal  # noqa: E402
from graphc.ops.kernel import KernelOp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The W3 train step (the W7 compile-time workload) in a fresh process: its
# compile counters and phases, the cache files, and the first loss.
W7_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {bench!r})
    from workloads import build_w3_function
    f = build_w3_function(mode="llvm", batch=8)[0]
    rng = np.random.default_rng(0)
    loss = f(rng.standard_normal((8, 784)).astype("float32"),
             rng.integers(0, 10, 8).astype("int32"))
    print(json.dumps({{"counters": dict(f.maker.compile_stats.counters),
                      "phases": sorted(f.maker.compile_stats.phases), "loss": float(loss)}}))
""")


def _run(script, cache_dir, extra_env=None):
    env = dict(os.environ, GRAPHC_FLAGS=f"compiledir={cache_dir}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _files(cache_dir, suffix):
    return glob.glob(os.path.join(str(cache_dir), "llvm", "*" + suffix))


def test_a_function_compiles_as_one_module_and_warm_loads_build_no_ir(tmp_path):
    script = W7_SCRIPT.format(bench=os.path.join(ROOT, "benchmarks"))
    cold, _ = _run(script, tmp_path)
    compiled = cold["counters"]["cache_miss"]
    assert compiled >= 2  # the MLP step has several distinct kernels...
    # ...in one object file per module group (LLVMBackend._load): the
    # elementwise kernels; the softmax-CE row loops (compiled without
    # unrolling); the Gemms calling CBLAS (backends/llvm/gemm.py)
    from graphc.backends import blas
    assert len(_files(tmp_path, ".o")) == (3 if blas.cblas() is not None else 2)
    assert len(_files(tmp_path, ".ref")) == compiled  # and a reference per kernel
    warm, _ = _run(script, tmp_path)
    assert warm["counters"].get("cache_hit") == compiled
    assert "cache_miss" not in warm["counters"]
    # no IR was built, parsed or optimized
    assert "codegen" not in warm["phases"] and "llvm_compile" not in warm["phases"]
    assert warm["loss"] == cold["loss"]


def test_kernels_cached_in_another_function_are_reused_through_references(tmp_path):
    both = textwrap.dedent("""
        import json, numpy as np, graphc, graphc.tensor as T
        x = T.dvector("x")
        f = graphc.function([x], [T.tanh(x) * 0.25 + 3.5, T.sqrt(abs(x)).sum()], mode="llvm")
        print(json.dumps({"counters": dict(f.maker.compile_stats.counters)}))
    """)
    one = textwrap.dedent("""
        import json, numpy as np, graphc, graphc.tensor as T
        x = T.dvector("x")
        f = graphc.function([x], T.tanh(x) * 0.25 + 3.5, mode="llvm")
        v = np.linspace(-2, 2, 9)
        assert np.allclose(f(v), np.tanh(v) * 0.25 + 3.5)
        print(json.dumps({"counters": dict(f.maker.compile_stats.counters)}))
    """)
    first, _ = _run(both, tmp_path)
    assert first["counters"]["cache_miss"] == 2
    # a function with only one of the two kernels: a different module key,
    # found through the kernel's reference without compiling
    second, _ = _run(one, tmp_path)
    assert second["counters"] == {"cache_hit": 1}
    assert len(_files(tmp_path, ".o")) == 1


def test_damaged_reference_is_detected_and_the_kernel_rebuilt(tmp_path):
    one = textwrap.dedent("""
        import json, numpy as np, graphc, graphc.tensor as T
        x = T.fvector("x")
        f = graphc.function([x], T.exp(x) * 0.8125 - 1.0, mode="llvm")
        assert np.allclose(f(np.ones(3, "float32")), np.exp(1.0) * 0.8125 - 1.0)
        print(json.dumps({"counters": dict(f.maker.compile_stats.counters)}))
    """)
    _run(one, tmp_path)
    for path in _files(tmp_path, ".o"):
        os.unlink(path)  # the module key misses: only the reference can help
    for path in _files(tmp_path, ".ref"):
        with open(path, "r+b") as f:
            f.truncate(10)
    again, _ = _run(one, tmp_path)
    assert again["counters"] == {"cache_corrupt": 1, "cache_miss": 1}


def test_a_fresh_toolchain_loads_from_disk_without_building_ir(tmp_path, rng):
    """Also: a kernel the code generator cannot lower is remembered as such."""
    graphc.config.compiledir = str(tmp_path)  # restored by the conftest fixture
    good = _kernel(1, [1, 1])

    def cannot_lower(symbol):
        raise NotLowerable("a kernel this test declares unlowerable")

    def must_not_build(symbol):
        raise AssertionError("IR built on a warm load")

    texts = ["test-only kernel text: not lowerable", good.text]
    first = jit.Toolchain()
    cold = CompileStats()
    with collecting_compile_stats(cold):
        bad, address = first.load([(texts[0], cannot_lower),
                                   (texts[1], functools.partial(codegen.build_module, good))])
    assert bad is None and address
    assert cold.counters["cache_miss"] == 1
    fresh = jit.Toolchain()  # a new engine: nothing in memory
    warm = CompileStats()
    with collecting_compile_stats(warm):
        bad, address = fresh.load([(t, must_not_build) for t in texts])
    assert bad is None and address
    assert dict(warm.counters) == {"cache_hit": 2}
    assert "codegen" not in warm.phases and "llvm_compile" not in warm.phases
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    np.testing.assert_allclose(runtime.make_thunk(good, address)([a, b])[0],
                               evaluate(good, [a, b])[0], rtol=1e-12)


# ------------------------------------------------------------ emitted code

def _kernel(ndim, ranks, bcast=None, reduce=None, dtype="float64"):
    specs = [KernelInput(dtype, r, None if bcast is None else bcast[k])
             for k, r in enumerate(ranks)]
    acc = KInput(0, dtype)
    for k in range(1, len(ranks)):
        acc = apply_scalar(scal.mul, apply_scalar(scal.add, acc, KInput(k, dtype)),
                           KConst(1.5, dtype))
    return Kernel(specs, [apply_scalar(scal.exp, acc)], ndim, reduce)


def _functions(module_text):
    return re.findall(r'^define [^@]*@"?([\w.]+)"?\(([^)]*)\)[^{]*', module_text, re.M)


def test_entry_is_unoptimized_and_rows_are_shared():
    text = str(codegen.build_module(_kernel(2, [2, 2]), "probe"))
    defs = re.findall(r'^define .*$', text, re.M)
    entry = [d for d in defs if '@"probe"(' in d]
    assert len(entry) == 1 and "optnone" in entry[0] and "noinline" in entry[0]
    names = [name for name, _ in _functions(text)]
    # one vectorized row (flat and nd paths share it), one buffered strided
    # row, the shared nd walker and the gather/scatter helpers
    assert sum(".row" in n for n in names) == 1
    assert "probe.strided" in names
    assert "graphc.nd.2.3" in names
    assert {"graphc.gather.8", "graphc.scatter.8"} <= set(names)
    # the strided row holds no arithmetic of its own
    strided = text[text.index('@"probe.strided"'):]
    strided = strided[:strided.index("\n}\n")]
    assert "exp" not in strided and " fmul " not in strided


def test_statically_unit_stride_kernels_have_no_strided_row():
    # every operand scalar along the inner axis: rows never stride
    text = str(codegen.build_module(_kernel(0, [0, 0]), "probe"))
    assert "probe.strided" not in text and "graphc.gather" not in text
    # a partially broadcast input can never be flat: no flat path is emitted
    k = _kernel(2, [2, 1])
    assert [n for n, _ in _functions(str(codegen.build_module(k, "probe")))
            if ".row" in n] == ["probe.row0"]


def test_kernels_of_one_function_share_helpers_after_linking(tmp_path):
    graphc.config.compiledir = str(tmp_path)  # restored by the conftest fixture
    tc = toolchain()
    kernels = [_kernel(2, [2, 2]), _kernel(2, [2, 2], dtype="float32"),
               _kernel(2, [2, 1])]
    keys = [tc.key(k.text) for k in kernels]
    texts = [str(codegen.build_module(k, jit._provisional_symbol(key)))
             for k, key in zip(kernels, keys)]
    module = tc._link("f" * 64, keys, texts)
    names = [f.name for f in module.functions if not f.is_declaration]
    assert names.count("graphc.nd.2.3") == 1  # one walker for the three kernels
    assert names.count("graphc.gather.8") == 1
    assert all(f.linkage != llvm.Linkage.linkonce_odr for f in module.functions)
    assert sum(n.startswith("graphc_" + "f" * 32) for n in names) == 3


# ------------------------------------------------------------ values

def _strided_view(rng, shape, dtype, specials=True):
    """A (rows every 2nd, columns every 3rd) view of ``shape``, values
    around 0.1, the first row starting with NaN, infinities and zeros."""
    base = (rng.standard_normal((shape[0] * 2, shape[1] * 3)) * 0.1).astype(dtype)
    if specials:
        base[0, :15:3] = [np.nan, np.inf, -np.inf, 0.0, -0.0]
    return base[::2, ::3]


@pytest.mark.parametrize("reduce", [None, Reduction("sum", (0,)), Reduction("max", (1,)),
                                    Reduction("sum", (0, 1))])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_buffered_strided_rows_across_chunks(rng, reduce, dtype):
    # rows longer than the chunk, so each row takes several gather/compute/
    # scatter rounds, with NaN and infinities among the values
    shape = (3, 3 * codegen.MAX_CHUNK + 17)
    kernel = _kernel(2, [2, 2, 1], dtype=dtype, reduce=reduce)
    a, b = _strided_view(rng, shape, dtype), _strided_view(rng, shape, dtype, specials=False)
    c = (rng.standard_normal(shape[1] * 2) * 0.1).astype(dtype)[::2]
    arrays = [a, b, c]
    assert not any(v.flags.c_contiguous for v in arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = evaluate(kernel, arrays)[0]
        backend = LLVMBackend()
        actual = runtime.make_thunk(kernel, backend.compile(kernel))(arrays)[0]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=rtol, equal_nan=True)


@pytest.mark.parametrize("dtype", ["bool", "int8", "float16", "uint32"])
def test_buffered_rows_for_every_item_size(rng, dtype):
    x, y = KInput(0, dtype), KInput(1, dtype)
    kernel = Kernel([KernelInput(dtype, 2), KernelInput(dtype, 2)],
                    [apply_scalar(scal.maximum, x, y), apply_scalar(scal.eq, x, y)], 2)
    a = (rng.standard_normal((5, 2500)) * 50).astype(dtype)
    b = (rng.standard_normal((2500, 5)) * 50).astype(dtype)
    arrays = [a[:, ::-1], b.T]
    backend = LLVMBackend()
    actual = runtime.make_thunk(kernel, backend.compile(kernel))(arrays)
    for got, want in zip(actual, evaluate(kernel, arrays)):
        np.testing.assert_array_equal(got, want)


def test_in_place_output_over_a_strided_input(rng):
    x = KInput(0, "float64")
    kernel = Kernel([KernelInput("float64", 2)],
                    [apply_scalar(scal.sin, apply_scalar(scal.mul, x, KConst(2.0, "float64")))],
                    2)
    backend = LLVMBackend()
    address = backend.compile(kernel, inplace=[(0, 0)])
    thunk = runtime.make_thunk(kernel, address, inplace=[(0, 0)])
    base = rng.standard_normal((4, 6000))
    view = base[:, ::2]  # writeable, not contiguous, shares nothing else
    expected = np.sin(view * 2.0)
    untouched = base[:, 1::2].copy()
    (out,) = thunk([view])
    assert out is view  # computed in place...
    np.testing.assert_allclose(base[:, ::2], expected, rtol=1e-12)  # ...through the view
    np.testing.assert_array_equal(base[:, 1::2], untouched)  # and nothing else written


# ------------------------------------------------------------ default mode

def test_default_modes_use_llvm(rng):
    x = T.dvector("x")
    for mode in (None, "FAST_RUN", "FAST_COMPILE"):
        f = graphc.function([x], T.exp(x) + 1, mode=mode)
        assert f.maker.mode.backend == "llvm"
        if mode != "FAST_COMPILE":  # FAST_COMPILE does not fuse
            assert any(isinstance(n.op, KernelOp) for n in f.maker.fgraph.toposort())
        assert not f.runner.fallbacks
        v = rng.standard_normal(5)
        np.testing.assert_array_max_ulp(f(v), np.exp(v) + 1, maxulp=8)
    assert get_mode("python").backend == "python"
    assert Mode("python").backend == "python"


def test_without_llvmlite_the_default_falls_back_to_python_with_a_warning(tmp_path):
    script = textwrap.dedent("""
        import json, sys, warnings
        sys.modules["llvmlite"] = None  # as if llvmlite were not installed
        import numpy as np
        import graphc, graphc.tensor as T
        x = T.dvector("x")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = graphc.function([x], T.exp(x) + 1)
        v = np.arange(3.0)
        print(json.dumps({"backend": f.maker.mode.backend,
                          "ok": bool(np.array_equal(f(v), np.exp(v) + 1)),
                          "warnings": [str(w.message) for w in caught]}))
    """)
    result, _ = _run(script, tmp_path)
    assert result["backend"] == "python" and result["ok"]
    assert any("llvm backend is unavailable" in w for w in result["warnings"])


def test_code_compiled_without_unrolling_has_its_own_cache_key(tmp_path):
    # the same kernel text built unrolled and not is two cache entries (and
    # two machine codes): a warm cache never hands one for the other
    graphc.config.compiledir = str(tmp_path)  # restored by the conftest fixture
    x = T.fvector("x")
    node = graphc.function([x], T.exp(x) * 2.0, mode="llvm").maker.fgraph.toposort()[0]
    plan = LLVMBackend()._plan(node)
    tc = toolchain()
    stats = CompileStats()
    with collecting_compile_stats(stats):
        unrolled = tc.load([(plan.text + " (test)", plan.build)])
        rolled = tc.load([(plan.text + " (test)", plan.build)], unroll=False)
        again = tc.load([(plan.text + " (test)", plan.build)], unroll=False)
    assert stats.counters["cache_miss"] == 2 and rolled == again and rolled != unrolled
    thunk = runtime.make_thunk(plan.kernel, rolled[0], plan.positions, plan.inplace)
    v = np.linspace(-3, 3, 1001, dtype="float32")
    np.testing.assert_allclose(thunk([v])[0], np.exp(v) * 2.0, rtol=2e-6)
