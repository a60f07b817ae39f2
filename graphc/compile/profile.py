"""Per-node wall-time accounting for ``function(..., profile=True)``, and
compile-time phases that any layer (rewrites, code generation, LLVM, the
compile cache) records into while a function is being built.

The runner reports to a ``ProfileStats`` through three calls: ``begin_call``
(storage filled with the inputs), ``record(node, seconds)`` after each thunk
and ``record_live(storage, slots)`` with the storage slots that changed
(outputs written, buffers freed), from which the peak bytes of live
buffers of a call are tracked incrementally.
"""

import collections
import contextlib
import contextvars
import io
import sys
import time

import numpy as np


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


def _buffer(value):
    """(key, bytes) of the memory block that ``value`` lives in: views count
    as the array they view, so aliases are counted once."""
    if isinstance(value, np.ndarray):
        base = value
        while isinstance(base.base, np.ndarray):
            base = base.base
        return id(base), base.nbytes
    if isinstance(value, np.generic):
        return id(value), value.nbytes
    return None


class _LiveBuffers:
    """Bytes of the distinct buffers held by storage slots, kept up to date
    slot by slot (a reference count per buffer) so the cost per node is the
    number of slots it touched, not the size of the storage."""

    def __init__(self, storage):
        self.slot_buffer = {}
        self.refs = collections.Counter()
        self.sizes = {}
        self.bytes = 0
        self.peak = 0
        self.update(storage, range(len(storage)))

    def update(self, storage, slots):
        for s in slots:
            old = self.slot_buffer.pop(s, None)
            if old is not None:
                self.refs[old] -= 1
                if not self.refs[old]:
                    del self.refs[old]
                    self.bytes -= self.sizes.pop(old)
            buf = _buffer(storage[s])
            if buf is not None:
                key, nbytes = buf
                self.slot_buffer[s] = key
                if not self.refs[key]:
                    self.sizes[key] = nbytes
                    self.bytes += nbytes
                    # outputs are listed before the slots freed after a node:
                    # the peak is when both are alive
                    self.peak = max(self.peak, self.bytes)
                self.refs[key] += 1


class ProfileStats:
    """What ``function(..., profile=True)`` measured over the calls so far:
    call count and time, time per node (Apply), per op and per op class,
    the peak bytes of live buffers in a call, and (from the build) compile
    time per phase, compile events such as cache hits, and each rewrite's
    time.  ``summary()`` prints it as sorted tables, like Theano's
    ProfileStats."""

    def __init__(self, name=None, compile_stats=None, rewrite_report=None):
        self.name = name
        self.calls = 0
        self.call_time = 0.0
        self.node_time = collections.defaultdict(float)
        self.node_calls = collections.Counter()
        self.compile_time = 0.0
        self.compile_stats = compile_stats
        self.rewrite_report = rewrite_report
        #: which variant of the graph runs (set by the Function)
        self.broadcasting = None
        self.peak_bytes = 0
        self._live = None

    # -------------------------------------------------------- runner hooks
    def begin_call(self, storage):
        self._live = _LiveBuffers(storage)
        self.peak_bytes = max(self.peak_bytes, self._live.peak)

    def record(self, node, seconds):
        self.node_time[node] += seconds
        self.node_calls[node] += 1

    def record_live(self, storage, slots):
        if self._live is None:
            self._live = _LiveBuffers(storage)
        else:
            self._live.update(storage, slots)
        self.peak_bytes = max(self.peak_bytes, self._live.peak)

    # -------------------------------------------------------- aggregates
    @property
    def node_total(self):
        """Seconds spent inside thunks, all nodes and calls."""
        return sum(self.node_time.values())

    @property
    def overhead(self):
        """Call time outside the thunks: input checks, the runner's loop,
        committing updates, profiling itself."""
        return max(self.call_time - self.node_total, 0.0)

    def _grouped(self, key):
        """{key(node): (seconds, thunk calls, number of nodes)}."""
        groups = {}
        for node, t in self.node_time.items():
            k = key(node)
            sec, calls, n = groups.get(k, (0.0, 0, 0))
            groups[k] = (sec + t, calls + self.node_calls[node], n + 1)
        return groups

    def op_time(self):
        """Seconds per op class name (``Elemwise``, ``Dot``, ``KernelOp``...)."""
        return {k: v[0] for k, v in self._grouped(lambda n: type(n.op).__name__).items()}

    def op_instance_time(self):
        """Seconds per distinct op (``Elemwise{exp,no_inplace}``, ``Sum{axis=[1]}``...)."""
        return {k: v[0] for k, v in self._grouped(lambda n: str(n.op)).items()}

    # -------------------------------------------------------- report
    def summary(self, file=None, n_nodes=20, n_ops=20):
        """Print the sorted tables to ``file`` (stdout); ``file="str"`` returns
        the text instead."""
        out = io.StringIO()
        self._write_summary(out, n_nodes, n_ops)
        text = out.getvalue()
        if file == "str":
            return text
        (file or sys.stdout).write(text)
        return None

    def _write_summary(self, out, n_nodes, n_ops):
        def w(line=""):
            out.write(line + "\n")

        calls = self.calls
        node_total = self.node_total
        w("Function profiling")
        w("==================")
        w(f"  Message: {self.name or '<unnamed>'}")
        if self.broadcasting:
            w(f"  Broadcasting: {self.broadcasting}")
        w(f"  Time in {calls} calls to Function.__call__: {self.call_time:.6e}s"
          + (f" ({self.call_time / calls * 1e6:.1f} us/call)" if calls else ""))
        if self.call_time:
            w(f"  Time in thunks: {node_total:.6e}s ({100 * node_total / self.call_time:.1f}%)")
            w(f"  Time outside thunks (input checks, runner loop, updates, profiling): "
              f"{self.overhead:.6e}s ({100 * self.overhead / self.call_time:.1f}%)")
        w(f"  Peak memory of a call (bytes of live buffers): {self.peak_bytes} "
          f"({_human_bytes(self.peak_bytes)})")
        w(f"  Total compile time: {self.compile_time:.6e}s")
        if self.compile_stats is not None:
            for phase, t in sorted(self.compile_stats.phases.items(), key=lambda kv: -kv[1]):
                w(f"    {phase:<24} {t:.6e}s")
            for event, n in sorted(self.compile_stats.counters.items()):
                w(f"    {event:<24} {n}")
        if self.rewrite_report is not None:
            w(f"  Rewrites: {self.rewrite_report.nodes_before} nodes before, "
              f"{self.rewrite_report.nodes_after} after")
            for name, n, t in sorted(self.rewrite_report.passes, key=lambda p: -p[2]):
                w(f"    {name:<24} {t:.6e}s  fired {n}")
        w()
        self._write_table(out, "Class", lambda n: type(n.op).__name__, n_ops, "<#apply>",
                          "<Class name>")
        self._write_table(out, "Ops", lambda n: str(n.op), n_ops, "<#apply>", "<Op name>")
        self._write_table(out, "Apply", lambda n: n, n_nodes, "<id>", "<Apply name>")

    def _write_table(self, out, title, key, limit, count_header, name_header):
        total = self.node_total or 1.0
        groups = self._grouped(key)
        ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])
        out.write(f"{title}\n{'-' * len(title)}\n")
        out.write(f"<% time> <sum %> <apply time> <time per call> <#call> {count_header} "
                  f"{name_header}\n")
        order = {}
        if title == "Apply":
            order = {node: i for i, node in enumerate(self.node_time)}
        cumulative = 0.0
        for k, (sec, calls, n) in ranked[:limit]:
            cumulative += sec
            per_call = sec / calls if calls else 0.0
            third = order.get(k, "") if title == "Apply" else n
            out.write(f"  {100 * sec / total:6.1f}%  {100 * cumulative / total:6.1f}%  "
                      f"{sec:.3e}s  {per_call:.3e}s  {calls:>6}  {third!s:>4}  {k}\n")
        if len(ranked) > limit:
            rest = sum(v[0] for _, v in ranked[limit:])
            out.write(f"  ... (remaining {len(ranked) - limit} {title.lower()} entries take "
                      f"{100 * rest / total:.1f}% of the time)\n")
        out.write("\n")


def _human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0
    return f"{n} B"
