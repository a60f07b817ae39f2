"""The README's main job runs end to end and learns."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_digits_learns_and_prints_graph():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "examples/train_digits.py", "--epochs", "8"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    curve = [float(m) for m in re.findall(r"^\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out,
                                          re.M)]
    assert len(curve) == 8
    assert curve[-1] > curve[0]
    acc = float(re.search(r"final test accuracy: ([\d.]+)", out).group(1))
    assert acc > 0.9
    # the compiled training graph is printed in debugprint's tree format
    graph = out.split("compiled training function")[1]
    assert "[id A]" in graph and " |" in graph and "W_hidden" in graph
