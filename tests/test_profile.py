"""function(..., profile=True): per-node/per-op times that add up to the call
time, call counts, compile phases and rewrite times, peak live bytes."""

import re
import time

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.compile.mode import Mode
from graphc.compile.profile import ProfileStats, _LiveBuffers

UNOPTIMIZED = Mode("python", optimizer=None)


def heavy_function(mode, n=400):
    x = T.dmatrix("x")
    W = graphc.shared(np.random.default_rng(0).standard_normal((n, n)) / n, "W")
    y = T.tanh(T.dot(T.dot(x, W), W.T)).sum()
    return graphc.function([x], y, updates=[(W, W * 0.999)], mode=mode, profile=True,
                           name="heavy"), np.random.default_rng(1).standard_normal((n, n))


def test_profile_off_by_default(mode):
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x), mode=mode)
    assert f.profile is None
    f(np.ones(2))


def test_totals_add_up_to_the_measured_call_time(mode):
    f, xv = heavy_function(mode)
    calls = 9
    t0 = time.perf_counter()
    for _ in range(calls):
        f(xv)
    measured = time.perf_counter() - t0
    prof = f.profile
    assert prof.calls == calls
    # the profile's call time is the time of the calls (within 10%)...
    assert abs(prof.call_time - measured) <= 0.10 * measured
    # ... it splits exactly into time in thunks and time outside them ...
    assert prof.node_total + prof.overhead == pytest.approx(prof.call_time)
    # ... and on a graph dominated by its kernels nearly all of it is in thunks
    assert prof.node_total >= 0.9 * prof.call_time
    # per op class and per op sum to the per-node total
    assert sum(prof.op_time().values()) == pytest.approx(prof.node_total)
    assert sum(prof.op_instance_time().values()) == pytest.approx(prof.node_total)
    # every scheduled node ran once per call
    assert set(prof.node_calls.values()) == {calls}
    assert len(prof.node_time) == len(f.maker.fgraph.toposort())


def _table(text, title):
    """Rows (percent, seconds, calls, name) of one table of the summary."""
    block = text.split(f"\n{title}\n{'-' * len(title)}\n", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines()[1:]:
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+([\d.e+-]+)s\s+([\d.e+-]+)s\s+(\d+)\s+(\S+)\s+(.*)$",
                     line)
        if m:
            rows.append((float(m.group(1)), float(m.group(3)), int(m.group(5)), m.group(7)))
    return rows


def test_summary_tables_are_sorted_and_complete(mode):
    f, xv = heavy_function(mode, n=200)
    for _ in range(3):
        f(xv)
    text = f.profile.summary(file="str")
    assert "Message: heavy" in text
    assert "Time in 3 calls to Function.__call__" in text
    assert "Peak memory of a call (bytes of live buffers)" in text
    for title in ("Class", "Ops", "Apply"):
        rows = _table(text, title)
        assert rows, title
        times = [r[1] for r in rows]
        assert times == sorted(times, reverse=True)
        assert sum(r[0] for r in rows) == pytest.approx(100, abs=0.5)
    apply_rows = _table(text, "Apply")
    assert len(apply_rows) == len(f.maker.fgraph.toposort())
    assert all(r[2] == 3 for r in apply_rows)
    class_names = {r[3] for r in _table(text, "Class")}
    assert class_names == {type(n.op).__name__ for n in f.maker.fgraph.toposort()}


def test_summary_shows_compile_phases_and_rewrite_times(mode, capsys):
    f, xv = heavy_function(mode, n=20)
    f(xv)
    f.profile.summary()
    text = capsys.readouterr().out
    assert "Total compile time" in text
    for phase in f.maker.compile_stats.phases:
        assert re.search(rf"^\s+{phase}\s+[\d.e+-]+s$", text, re.M), phase
    for name, fired, _ in f.maker.fgraph.rewrite_report.passes:
        assert re.search(rf"^\s+{name}\s+[\d.e+-]+s\s+fired {fired}$", text, re.M), name
    assert f.profile.compile_time >= sum(
        t for k, t in f.maker.compile_stats.phases.items() if k in ("clone", "rewrite", "lower"))


def test_compile_events_are_listed():
    from graphc.compile.profile import CompileStats

    stats = CompileStats()
    stats.phases["llvm"] += 0.25
    stats.counters["cache_hit"] += 3
    prof = ProfileStats("p", compile_stats=stats)
    text = prof.summary(file="str")
    assert re.search(r"^\s+llvm\s+2.5", text, re.M)
    assert re.search(r"^\s+cache_hit\s+3$", text, re.M)


def test_peak_memory_counts_inputs_and_outputs():
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x), mode=UNOPTIMIZED, profile=True)
    f(np.ones(1000))
    assert f.profile.peak_bytes == 2 * 8000  # the input and the result
    f(np.ones(10))
    assert f.profile.peak_bytes == 2 * 8000  # the peak over all calls


def test_peak_memory_counts_a_view_once():
    x = T.dmatrix("x")
    f = graphc.function([x], T.exp(x.T), mode=UNOPTIMIZED, profile=True)
    f(np.ones((10, 20)))
    # x and x.T share one buffer; the result is a second one
    assert f.profile.peak_bytes == 2 * 1600


def test_live_buffers_track_frees_and_aliases():
    a = np.zeros(100)           # 800 bytes
    b = np.zeros(10)            # 80 bytes
    storage = [a, None, None]
    live = _LiveBuffers(storage)
    assert live.bytes == live.peak == 800
    storage[1] = a[::2]         # a view: no new buffer
    live.update(storage, [1])
    assert live.bytes == 800
    storage[2] = b
    storage[0] = None           # the output exists before the input is freed
    live.update(storage, [2, 0])
    assert live.bytes == 880 and live.peak == 880  # the view still holds a's buffer
    storage[1] = None
    live.update(storage, [1])
    assert live.bytes == 80 and live.peak == 880


def test_hooks_only_run_when_profiling(monkeypatch):
    calls = []
    monkeypatch.setattr(ProfileStats, "record_live", lambda self, s, slots: calls.append(slots))
    x = T.dvector("x")
    graphc.function([x], T.exp(x), mode=UNOPTIMIZED)(np.ones(2))
    assert calls == []
    graphc.function([x], T.exp(x), mode=UNOPTIMIZED, profile=True)(np.ones(2))
    assert len(calls) == 1
