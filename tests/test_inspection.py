"""Inspecting compiled functions: debugprint of optimized graphs (fused
kernels, GEMMs, in-place marks, updates), pydotprint pictures that parse
back, before/after pairs, and the compile report."""

import re
import shutil

import numpy as np
import pytest

from helpers import parse_debugprint

import graphc
import graphc.tensor as T
from graphc import printing
from graphc.backends import register_backend
from graphc.backends.base import Backend
from graphc.compile.mode import Mode
from graphc.graph.basic import Apply
from graphc.graph.op import Op
from graphc.ops.elemwise import Elemwise
from graphc.ops.kernel import KernelOp

from graphs import kernel_graph, mlp_train_graph



def canonical_ids(text):
    """The text with ids renamed in order of first appearance, so goldens do
    not depend on how ids are numbered."""
    names = {}

    def rename(m):
        return "[id " + names.setdefault(m.group(1), f"#{len(names)}") + "]"

    return re.sub(r"\[id ([A-Z]+)\]", rename, text)


def check_tree(rows):
    """Nesting is well formed; a node's subtree is printed only the first
    time its id appears."""
    first_seen = {}
    for k, (depth, label, ident, rest) in enumerate(rows):
        assert k == 0 or depth <= rows[k - 1][0] + 1
        has_children = k + 1 < len(rows) and rows[k + 1][0] == depth + 1
        node_label = re.sub(r"\.\d+$", "", label)  # outputs of one node share its id
        if ident in first_seen:
            assert first_seen[ident] == node_label
            assert not has_children, f"subtree of {label} [id {ident}] printed twice"
        else:
            first_seen[ident] = node_label


# ------------------------------------------------------------------ debugprint

def test_debugprint_golden_kernels_and_inplace_ignoring_ids():
    inputs, outputs, _ = kernel_graph()
    text = canonical_ids(printing.debugprint(outputs, file="str"))
    assert text == "\n".join([
        "Kernel{(float64(i0) * i1) + -0.0; minimum(exp(i1), inf),inplace={1: 1}}.0 [id #0] ''"
        " d={1: [1]}",
        " |m [id #1]",
        " |dot [id #2] ''",
        " | |Alloc [id #3] ''",
        " | | |1.0 [id #4]",
        " | | |2 [id #5]",
        " | | |1 [id #6]",
        " | |Subtensor{newaxis,::} [id #7] ''",
        " | | |w [id #8]",
        "Kernel{(float64(i0) * i1) + -0.0; minimum(exp(i1), inf),inplace={1: 1}}.1 [id #0] ''"
        " d={1: [1]}",
        "Kernel{maximum(((float64(i0) * i1) + -0.0), nan) -> sum[1]} [id #9] ''",
        " |m [id #1]",
        " |w [id #8]",
    ])


def test_debugprint_golden_with_types_and_names():
    x = T.dvector("x")
    h = T.exp(x)
    h.name = "h"
    y = (h + h) * 2.0
    text = canonical_ids(printing.debugprint(y, file="str", print_type=True))
    vec = "<TensorType(float64, (?,))>"
    assert text.splitlines() == [
        f"Elemwise{{mul,no_inplace}} [id #0] {vec} ''",
        f" |Elemwise{{add,no_inplace}} [id #1] {vec} ''",
        f" | |Elemwise{{exp,no_inplace}} [id #2] {vec} 'h'",
        f" | | |x [id #3] {vec}",
        f" | |Elemwise{{exp,no_inplace}} [id #2] {vec} 'h'",
        " |DimShuffle{x} [id #4] <TensorType(float64, (1,))> ''",
        " | |2.0 [id #5] <TensorType(float64, ())>",
    ]


class LabelledOp(Op):
    """An op that names itself for printers (as a GEMM shows alpha/beta)."""

    __props__ = ("alpha", "beta")
    destroy_map = {0: [2]}
    view_map = {}

    def __init__(self, alpha, beta):
        self.alpha, self.beta = alpha, beta

    def debug_label(self):
        return f"Scaled{{{self.alpha}*A@B + {self.beta}*C}}"

    def make_node(self, a, b, c):
        return Apply(self, [a, b, c], [c.type()])

    def perform(self, node, inputs):
        a, b, c = inputs
        return (self.alpha * a @ b + self.beta * c,)


def test_debugprint_uses_the_op_hooks():
    a, b, c = T.dmatrices("a", "b", "c")
    out = LabelledOp(2.0, 0.5)(a, b, c)
    rows = parse_debugprint(printing.debugprint(out, file="str"))
    assert rows[0][1] == "Scaled{2.0*A@B + 0.5*C}"
    assert rows[0][3] == " '' d={0: [2]}"
    assert "v=" not in rows[0][3]
    views = printing.debugprint(T.dmatrix("m").T, file="str", print_view_map=True)
    assert "d=" not in views  # DimShuffle overwrites nothing


def test_debugprint_compiled_mlp(mode):
    inputs, outputs, updates = mlp_train_graph(dropout=False)
    f = graphc.function(inputs, outputs, updates=updates, mode=mode, name="train")
    rows = parse_debugprint(printing.debugprint(f, file="str"))
    check_tree(rows)
    roots = [r for r in rows if r[0] == 0]
    assert len(roots) == len(outputs) + len(updates)
    for root, (var, _) in zip(roots[len(outputs):], updates):
        assert root[3].endswith(f"-> update of {var.name}")
    # each scheduled node appears with its position; in-place nodes are marked
    schedule = f.maker.fgraph.toposort()
    positions = {}
    for depth, label, ident, rest in rows:
        m = re.search(r"'(?: d=\{[^}]*\})?\s+(\d+)", rest)
        if m:
            positions.setdefault(int(m.group(1)), (label, rest))
    assert set(positions) == set(range(len(schedule)))
    for k, node in enumerate(schedule):
        label, rest = positions[k]
        assert label.startswith(printing.op_label(node.op))
        assert ("d={" in rest) == bool(getattr(node.op, "destroy_map", None))
        if isinstance(node.op, KernelOp):  # fused kernels show their expression
            assert node.op.kernel.expression(0) in label


def test_debugprint_inputs_printed_once_per_id():
    x = T.dvector("x")
    s = T.sin(x)
    y = s * s + s
    rows = parse_debugprint(printing.debugprint(y, file="str"))
    check_tree(rows)
    assert sum(1 for r in rows if r[1] == "x") == 1


# ------------------------------------------------------------------ pydotprint

def read_dot(text):
    """A small reader for the Graphviz text pydotprint writes: nodes with
    their attributes, edges, and the cluster each node is in."""
    nodes, edges, cluster = {}, [], None
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r"subgraph (\w+) \{$", line):
            cluster = m.group(1)
        elif line == "}":
            cluster = None
        elif m := re.match(r'^(\w+) -> (\w+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;$', line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        elif (m := re.match(r"^(\w+) \[(.*)\];$", line)) and m.group(1) not in (
                "node", "edge", "graph"):
            attrs = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]+)', m.group(2)))
            nodes[m.group(1)] = dict({k: v.strip('"') for k, v in attrs.items()},
                                     cluster=cluster)
    return nodes, edges


def kinds(nodes):
    counts = {}
    for attrs in nodes.values():
        counts[attrs["kind"]] = counts.get(attrs["kind"], 0) + 1
    return counts


def test_dot_of_a_variable_parses_back(tmp_path):
    x = T.dvector("x")
    W = graphc.shared(np.eye(2), "W")
    y = T.tanh(T.dot(W, x)) + 1.0
    path = printing.pydotprint(y, outfile=str(tmp_path / "g.dot"))
    nodes, edges = read_dot(open(path).read())
    assert kinds(nodes) == {"input": 1, "shared": 1, "constant": 1, "op": 4, "output": 1}
    labels = {a["label"] for a in nodes.values()}
    assert {"x", "W", "dot"} <= labels
    assert len(edges) == 2 + 1 + 1 + 2 + 1  # dot, tanh, DimShuffle, add, output
    styles = {a["kind"]: a["fillcolor"] for a in nodes.values()}
    assert styles == {k: printing.NODE_STYLE[k][1] for k in styles}
    # the networkx graph it was written from has the same size
    g = printing.to_networkx(y)
    assert g.number_of_nodes() == len(nodes) and g.number_of_edges() == len(edges)


def test_dot_before_and_after_optimization(tmp_path, mode):
    inputs, outputs, updates = mlp_train_graph(dropout=False)
    f = graphc.function(inputs, outputs, updates=updates, mode=mode)
    path = printing.pydotprint(f, outfile=str(tmp_path / "both.dot"), graph="both")
    nodes, edges = read_dot(open(path).read())
    before = {k: a for k, a in nodes.items() if k.startswith("before_")}
    after = {k: a for k, a in nodes.items() if k.startswith("after_")}
    assert len(before) + len(after) == len(nodes)
    assert len({a["cluster"] for a in before.values()}) == 1
    assert len({a["cluster"] for a in after.values()}) == 1
    original = printing.original_graph(f)
    n_before = kinds(before)
    n_after = kinds(after)
    assert n_before["op"] + n_before.get("kernel", 0) == len(original.toposort()) == \
        f.maker.fgraph.rewrite_report.nodes_before
    assert n_after["op"] + n_after.get("kernel", 0) == len(f.maker.fgraph.toposort())
    assert n_after.get("kernel", 0) == sum(isinstance(n.op, KernelOp)
                                           for n in f.maker.fgraph.toposort())
    assert n_before["output"] == n_after["output"] == len(outputs) + len(updates)
    assert n_before["shared"] == n_after["shared"] == 4
    update_labels = sorted(a["label"] for a in after.values() if a["kind"] == "output")[-4:]
    assert update_labels == sorted(f"update of {p.name}" for p, _ in updates)
    # each half alone is what graph='original' / 'optimized' draws
    single = read_dot(printing.networkx_to_dot(printing.to_networkx(f, graph="original")))[0]
    assert len(single) == len(before)


def test_svg_is_rendered_when_graphviz_is_installed(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    x = T.dvector("x")
    path = printing.pydotprint(T.exp(x) * 2, outfile=str(tmp_path / "g.svg"))
    text = open(path).read()
    assert "<svg" in text and "exp" in text


def test_images_without_graphviz_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    x = T.dvector("x")
    with pytest.raises(printing.GraphvizNotFoundError, match="apt-get install graphviz"):
        printing.pydotprint(T.exp(x), outfile=str(tmp_path / "g.png"))
    # .dot text still works
    assert printing.pydotprint(T.exp(x), outfile=str(tmp_path / "g.dot")).endswith(".dot")


def test_pydotprint_rejects_other_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot draw"):
        printing.pydotprint([3], outfile=str(tmp_path / "g.dot"))
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x))
    with pytest.raises(ValueError, match="graph must be"):
        printing.pydotprint(f, outfile=str(tmp_path / "g.dot"), graph="sideways")


# ------------------------------------------------------------------ report

def test_report_of_the_mlp(mode):
    inputs, outputs, updates = mlp_train_graph(dropout=False)
    f = graphc.function(inputs, outputs, updates=updates, mode=mode, name="train")
    rep = f.report()
    assert isinstance(rep, printing.FunctionReport)
    rewrite_report = f.maker.fgraph.rewrite_report
    assert rep.fired == rewrite_report.fired
    assert rep.before["nodes"] == rewrite_report.nodes_before
    assert rep.after["nodes"] == rewrite_report.nodes_after == len(f.maker.fgraph.toposort())
    assert rep.before["fused kernels"] == 0
    assert rep.after["fused kernels"] == sum(isinstance(n.op, KernelOp)
                                             for n in f.maker.fgraph.toposort())
    text = str(rep)
    for name, n, _ in rewrite_report.passes:
        assert re.search(rf"^\s+{name}\s+{n}\s+[\d.]+ ms$", text, re.M)
    node_lines = [l for l in text.splitlines() if re.match(r"^\s+\d+\s+\S", l)]
    assert len(node_lines) == len(f.maker.fgraph.toposort())
    assert "fell back" in text
    if rep.sources:  # a code-generating backend: each kernel's source is shown
        assert all(str(info.source).strip() in text for info in rep.sources)
    else:  # the python backend generates no code
        assert "Generated source: none" in text


class _CodegenBackend(Backend):
    """A stand-in for a code-generating backend: elementwise nodes get a
    thunk with generated source, everything else falls back to NumPy."""

    name = "report_codegen"

    def make_thunk(self, node):
        if isinstance(node.op, Elemwise):
            def thunk(inputs, node=node):
                return node.op.perform(node, inputs)

            thunk.source = f"define void @{node.op.scalar_op.name}_kernel(ptr %out) {{\n  ret void\n}}"
            return thunk
        return self.perform_thunk(node)


register_backend("report_codegen", _CodegenBackend)


def test_report_shows_backends_fallbacks_and_source():
    x = T.dmatrix("x")
    f = graphc.function([x], T.exp(x).sum(axis=0), mode=Mode("report_codegen", optimizer=None))
    out = f(np.ones((2, 2)))
    np.testing.assert_allclose(out, [2 * np.e, 2 * np.e])
    rep = printing.function_report(f)
    by_op = {type(info.node.op).__name__: info for info in rep.nodes}
    assert by_op["Elemwise"].backend == "report_codegen" and not by_op["Elemwise"].fallback
    assert by_op["Reduce"].fallback and by_op["Reduce"].backend == "numpy (fallback)"
    assert [info.node for info in rep.fallbacks] == f.runner.fallbacks
    text = str(rep)
    assert "Nodes (1 fell back to NumPy):" in text
    assert "define void @exp_kernel(ptr %out)" in text
    assert re.search(r"--- node 0: Elemwise\{exp,no_inplace\} \(source\)", text)


def test_report_lists_blas_nodes_as_blas_not_as_fallbacks():
    # Gemm runs in OpenBLAS by design: the report says so and does not count
    # it among the nodes that fell back to NumPy
    x = T.dmatrix("x")
    w = graphc.shared(np.ones((3, 2)), name="w")
    f = graphc.function([x], T.nnet.relu(T.dot(x, w) + 1.0), mode=Mode("report_codegen"))
    np.testing.assert_allclose(f(np.ones((4, 3))), np.full((4, 2), 4.0))
    rep = printing.function_report(f)
    blas = [info for info in rep.nodes if type(info.node.op).__name__ == "Gemm"]
    assert blas and all(info.backend == "BLAS" and not info.fallback for info in blas)
    assert all(type(n.op).__name__ != "Gemm" for n in f.runner.fallbacks)


def test_report_language_from_the_thunk_or_backend(capsys):
    class LLVMish(_CodegenBackend):
        name = "llvm_report_test"

    register_backend("llvm_report_test", LLVMish)
    x = T.dvector("x")
    f = graphc.function([x], T.exp(x), mode=Mode("llvm_report_test", optimizer=None))
    printing.function_report(f, file=__import__("sys").stdout)
    assert "(LLVM IR)" not in capsys.readouterr().out  # the name only resembles 'llvm'
    rep = printing.function_report(f)
    rep.nodes[0].language = "CUDA C"
    assert "(CUDA C)" in str(rep)


def test_report_rejects_non_functions():
    with pytest.raises(TypeError, match="compiled function"):
        printing.function_report(T.dvector("x"))
