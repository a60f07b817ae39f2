"""Per-node wall-time accounting for ``function(..., profile=True)``."""

import collections


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
