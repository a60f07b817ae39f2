"""Per-node wall-time accounting for ``function(..., profile=True)``, and
compile-time phases that any layer (rewrites, code generation, LLVM, the
compile cache) records into while a function is being built."""

import collections
import contextlib
import contextvars
import time


class CompileStats:
    """Seconds per compile phase and event counters (e.g. cache hits) of one
    ``function()`` build."""

    def __init__(self):
        self.phases = collections.defaultdict(float)
        self.counters = collections.Counter()

    def __repr__(self):
        phases = ", ".join(f"{k}={v * 1e3:.2f}ms" for k, v in self.phases.items())
        return f"CompileStats({phases}; {dict(self.counters)})"


_current_compile = contextvars.ContextVar("graphc_compile_stats", default=None)


@contextlib.contextmanager
def collecting_compile_stats(stats):
    """Make ``stats`` the target of ``compile_phase``/``count_event`` inside."""
    token = _current_compile.set(stats)
    try:
        yield stats
    finally:
        _current_compile.reset(token)


@contextlib.contextmanager
def compile_phase(name):
    """Time the enclosed block as compile phase ``name`` (nested phases are
    counted in both; a no-op outside a function build)."""
    stats = _current_compile.get()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if stats is not None:
            stats.phases[name] += time.perf_counter() - t0


def count_event(name, n=1):
    """Count a compile event (``"cache_hit"``, ``"cache_miss"``...)."""
    stats = _current_compile.get()
    if stats is not None:
        stats.counters[name] += n


class ProfileStats:
    """Accumulated call count, per-node and per-op-type times."""

    def __init__(self, name=None):
        self.name = name
        self.calls = 0
        self.call_time = 0.0
        self.node_time = collections.defaultdict(float)
        self.compile_time = 0.0

    def record(self, node, seconds):
        self.node_time[node] += seconds

    def op_time(self):
        totals = collections.defaultdict(float)
        for node, t in self.node_time.items():
            totals[type(node.op).__name__] += t
        return dict(totals)

    def summary(self, file=None, n_nodes=20):
        import sys

        file = file or sys.stdout
        print(f"Function profiling: {self.name or '<unnamed>'}", file=file)
        print(f"  calls: {self.calls}  total call time: {self.call_time:.6f}s  "
              f"compile time: {self.compile_time:.6f}s", file=file)
        total = sum(self.node_time.values()) or 1.0
        print("  <% time> <sec> <op type>", file=file)
        for op, t in sorted(self.op_time().items(), key=lambda kv: -kv[1]):
            print(f"  {100 * t / total:6.1f}% {t:.6f}s {op}", file=file)
        print("  <% time> <sec> <node>", file=file)
        ranked = sorted(self.node_time.items(), key=lambda kv: -kv[1])[:n_nodes]
        for node, t in ranked:
            print(f"  {100 * t / total:6.1f}% {t:.6f}s {node}", file=file)
