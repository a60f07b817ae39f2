"""printing.debugprint (Theano's `` |`` tree), pprint (one-line math with
minimal parentheses) and pydotprint."""

import io
import re

import numpy as np
import pytest

from helpers import parse_debugprint

import graphc
import graphc.tensor as T
from graphc import printing



# ------------------------------------------------------------------ debugprint

def test_debugprint_variable_structure():
    x = T.dvector("x")
    y = T.dvector("y")
    s = x + y
    out = T.exp(s) * s
    text = printing.debugprint(out, file="str")
    rows = parse_debugprint(text)
    depths = [r[0] for r in rows]
    labels = [r[1] for r in rows]
    assert depths == [0, 1, 2, 3, 3, 1]
    assert "mul" in labels[0] and "exp" in labels[1] and "add" in labels[2]
    assert labels[3] == "x" and labels[4] == "y"
    assert "add" in labels[5]
    # the repeated subgraph is printed once, then referenced by the same id
    assert rows[5][2] == rows[2][2]
    ids = [r[2] for r in rows[:5]]
    assert len(set(ids)) == 5
    # exact prefixes
    lines = text.splitlines()
    assert lines[0].startswith("Elemwise")
    assert lines[1].startswith(" |Elemwise")
    assert lines[2].startswith(" | |Elemwise")
    assert lines[3].startswith(" | | |x [id ")
    assert lines[4].startswith(" | | |y [id ")
    assert lines[5].startswith(" |Elemwise")
    # an apply line carries the (empty) name in quotes; leaves do not
    assert rows[0][3].strip() == "''"
    assert rows[3][3] == ""


def test_debugprint_ids_are_letters_in_order():
    a = T.dscalar("a")
    b = T.dscalar("b")
    text = printing.debugprint(a * b + a, file="str")
    assert [r[2] for r in parse_debugprint(text)] == ["A", "B", "C", "D", "C"]


def test_debugprint_named_output_and_constant():
    x = T.dmatrix("x")
    y = (x * 2.0).sum()
    y.name = "total"
    rows = parse_debugprint(printing.debugprint(y, file="str"))
    assert rows[0][3].strip() == "'total'"
    labels = [r[1] for r in rows]
    assert "x" in labels
    assert any("2.0" in lab for lab in labels)


def test_debugprint_list_shares_ids():
    x = T.dvector("x")
    h = T.tanh(x)
    a = h + 1
    b = h * 2
    text = printing.debugprint([a, b], file="str")
    rows = parse_debugprint(text)
    roots = [r for r in rows if r[0] == 0]
    assert len(roots) == 2
    tanh_at = [i for i, r in enumerate(rows) if "tanh" in r[1]]
    assert len(tanh_at) == 2 and rows[tanh_at[0]][2] == rows[tanh_at[1]][2]
    # the first occurrence shows its input, the second does not repeat it
    assert rows[tanh_at[0] + 1][1] == "x" and rows[tanh_at[0] + 1][0] == 2
    second = tanh_at[1]
    assert second + 1 == len(rows) or rows[second + 1][0] <= rows[second][0]
    assert sum(1 for r in rows if r[1] == "x") == 1


def test_debugprint_print_type():
    x = T.fvector("x")
    text = printing.debugprint(T.exp(x), file="str", print_type=True)
    lines = text.splitlines()
    assert "float32" in lines[0] and "float32" in lines[1]
    assert "<TensorType(float32, (?,))>" in lines[1]
    assert "float32" not in printing.debugprint(T.exp(x), file="str")


def test_debugprint_to_file_and_stdout(capsys):
    x = T.dscalar("x")
    buf = io.StringIO()
    assert printing.debugprint(x + 1, file=buf) is buf
    assert "add" in buf.getvalue()
    printing.debugprint(x + 1)
    assert "add" in capsys.readouterr().out


def test_debugprint_depth_limit():
    x = T.dscalar("x")
    y = T.exp(T.sin(T.cos(x)))
    rows = parse_debugprint(printing.debugprint(y, file="str", depth=2))
    assert [r[0] for r in rows] == [0, 1]


def test_debugprint_multi_output_index():
    srng = graphc.RandomStreams(seed=1)
    u = srng.uniform((2,))  # the sample output of a (state, sample) op
    rows = parse_debugprint(printing.debugprint(u * 2, file="str"))
    assert rows[1][0] == 1 and rows[1][1].endswith(".1")
    assert any(r[1].startswith("rng_state") for r in rows)


def test_debugprint_compiled_function_shows_updates(mode):
    x = T.dvector("x")
    W = graphc.shared(np.zeros(3), "W")
    c = graphc.shared(0.0, "count")
    f = graphc.function([x], T.sum(W * x), updates=[(W, W + x), (c, c + 1)], mode=mode)
    text = printing.debugprint(f, file="str")
    rows = parse_debugprint(text)
    roots = [(i, r) for i, r in enumerate(rows) if r[0] == 0]
    assert len(roots) == 3  # the output and two updates
    assert "update of" not in roots[0][1][3]
    assert roots[1][1][3].endswith("-> update of W")
    assert roots[2][1][3].endswith("-> update of count")
    # compiled graphs show each node's position in the schedule
    n_nodes = len(f.maker.fgraph.toposort())
    positions = set()
    for depth, label, ident, rest in rows:
        m = re.search(r"''\s+(\d+)", rest)
        if m:
            positions.add(int(m.group(1)))
    assert positions == set(range(n_nodes))
    # W appears once under the output and once (by id) under its update
    w_rows = [r for r in rows if r[1] == "W"]
    assert len({r[2] for r in w_rows}) == 1


def test_debugprint_function_with_leaf_update(mode):
    a = graphc.shared(1.0, "a")
    b = graphc.shared(2.0, "b")
    f = graphc.function([], [], updates=[(a, b), (b, a)], mode=mode)
    lines = printing.debugprint(f, file="str").splitlines()
    assert lines[0].startswith("b [id ") and lines[0].endswith("-> update of a")
    assert lines[1].startswith("a [id ") and lines[1].endswith("-> update of b")


def test_debugprint_id_styles_and_stop_on_name():
    x = T.dvector("x")
    h = T.exp(x)
    h.name = "h"
    y = h + h
    ints = printing.debugprint(y, file="str", ids="int").splitlines()
    assert ints[0].endswith("[id 0] ''") and "[id 1] 'h'" in ints[1]
    plain = printing.debugprint(y, file="str", ids="").splitlines()
    assert "[id" not in "".join(plain)
    assert plain[1].startswith(" |") and "exp" in plain[1] and plain[1].endswith(" 'h'")
    stopped = printing.debugprint(y, file="str", stop_on_name=True).splitlines()
    assert not any(line.lstrip(" |").startswith("x ") for line in stopped)
    with pytest.raises(ValueError):
        printing.debugprint(y, file="str", ids="roman")


def test_debugprint_rejects_other_objects():
    with pytest.raises(TypeError):
        printing.debugprint(42, file="str")


# ------------------------------------------------------------------ pprint

@pytest.fixture
def abcde():
    return T.dscalars("a", "b", "c", "d", "e")


def test_pprint_spec_example(abcde):
    a, b, c, d, e = abcde
    assert printing.pprint(((a - b) + c) * d / e) == "(a - b + c) * d / e"


@pytest.mark.parametrize("build, expected", [
    (lambda a, b, c, d, e: a - (b - c), "a - (b - c)"),
    (lambda a, b, c, d, e: (a - b) - c, "a - b - c"),
    (lambda a, b, c, d, e: a + (b - c), "a + (b - c)"),
    (lambda a, b, c, d, e: a / (b * c), "a / (b * c)"),
    (lambda a, b, c, d, e: (a * b) / c, "a * b / c"),
    (lambda a, b, c, d, e: a * (b / c), "a * (b / c)"),
    (lambda a, b, c, d, e: a * (b + c), "a * (b + c)"),
    (lambda a, b, c, d, e: a * b + c * d, "a * b + c * d"),
    (lambda a, b, c, d, e: a + b + c + d, "a + b + c + d"),
    (lambda a, b, c, d, e: a // (b * c), "a // (b * c)"),
    (lambda a, b, c, d, e: a * (b // c), "a * (b // c)"),
    (lambda a, b, c, d, e: a % (b + c), "a % (b + c)"),
    (lambda a, b, c, d, e: -a, "-a"),
    (lambda a, b, c, d, e: -(a + b), "-(a + b)"),
    (lambda a, b, c, d, e: -(a * b), "-(a * b)"),
    (lambda a, b, c, d, e: -(-a), "-(-a)"),
    (lambda a, b, c, d, e: -a * b, "-a * b"),
    (lambda a, b, c, d, e: -(a ** b), "-a ** b"),
    (lambda a, b, c, d, e: (-a) ** b, "(-a) ** b"),
    (lambda a, b, c, d, e: a ** b ** c, "a ** b ** c"),
    (lambda a, b, c, d, e: (a ** b) ** c, "(a ** b) ** c"),
    (lambda a, b, c, d, e: a ** (b * c), "a ** (b * c)"),
    (lambda a, b, c, d, e: (a * b) ** c, "(a * b) ** c"),
    (lambda a, b, c, d, e: a ** -b, "a ** -b"),
    (lambda a, b, c, d, e: T.exp(a + b), "exp(a + b)"),
    (lambda a, b, c, d, e: T.exp(a) * T.log(b), "exp(a) * log(b)"),
    (lambda a, b, c, d, e: T.maximum(a, b - c), "maximum(a, b - c)"),
    (lambda a, b, c, d, e: abs(a - b), "abs(a - b)"),
    (lambda a, b, c, d, e: (a < b) & (c > d), "(a < b) & (c > d)"),
    (lambda a, b, c, d, e: T.lt(a + b, c), "a + b < c"),
])
def test_pprint_forms(abcde, build, expected):
    assert printing.pprint(build(*abcde)) == expected


def test_pprint_strings_evaluate_to_the_same_values(abcde, mode):
    """The printed form, read back as Python, computes what the graph computes."""
    a, b, c, d, e = abcde
    exprs = [((a - b) + c) * d / e, a - (b - c) * (d + e), (a * b) ** (c - d), -(a - b) ** c,
             a / (b / (c / d)), (a - b) - (c - (d - e)), -(-a * (b + -c)), a ** b ** c / d,
             T.exp(a - b) * (c + d) ** -e, a * (b // c) + a % (d * e)]
    vals = dict(a=1.7, b=0.6, c=1.3, d=2.9, e=0.45)
    env = dict(vals, exp=np.exp, log=np.log)
    for expr in exprs:
        text = printing.pprint(expr)
        expected = graphc.function([a, b, c, d, e], expr, mode=mode,
                                   on_unused_input="ignore")(*vals.values())
        got = eval(text, {"__builtins__": {}}, env)  # noqa: S307 (our own output)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=text)


def test_pprint_constants_names_and_broadcast(abcde):
    a, b = abcde[:2]
    assert printing.pprint(a * 2.0 + 1.0) == "a * 2.0 + 1.0"
    x = T.dmatrix("x")
    v = T.dvector("v")
    assert printing.pprint(x + v) == "x + v"  # broadcasting is implicit
    s = a + b
    s.name = "s"
    assert printing.pprint(s * a) == "s * a"
    assert printing.pprint(s) == "a + b"  # the printed variable itself is expanded


def test_pprint_indexing_transpose_and_list(abcde):
    x = T.dmatrix("x")
    i = T.lscalar("i")
    assert printing.pprint(x[i]) == "x[i]"
    assert printing.pprint(x[1:3, ::2]) == "x[1:3, ::2]"
    assert printing.pprint(x[:, i]) == "x[:, i]"
    assert printing.pprint(x.T) == "x.T"
    assert printing.pprint((x + 1.0).T) == "(x + 1.0).T"
    a, b = abcde[:2]
    assert printing.pprint([a + b, a * b]) == ["a + b", "a * b"]
    assert printing.pp is printing.pprint


def test_pprint_other_ops_print_as_calls():
    x = T.dmatrix("x")
    v = T.dvector("v")
    assert printing.pprint(T.dot(x, v)) == "dot(x, v)"
    text = printing.pprint(T.sum(x * 2.0))
    assert text.endswith("(x * 2.0)") and "Sum" in text


def test_pprint_max_depth(abcde):
    a, b, c, d, e = abcde
    expr = ((a + b) * c - d) / e
    assert printing.pprint(expr, max_depth=2) == "(... - d) / e"
    assert printing.pprint(expr) == "((a + b) * c - d) / e"


# ------------------------------------------------------------------ pydotprint

def test_pydotprint_dot_file(tmp_path, mode):
    x = T.dvector("x")
    W = graphc.shared(np.eye(2), "W")
    y = T.tanh(T.dot(W, x))
    path = printing.pydotprint(y, outfile=str(tmp_path / "g.dot"))
    text = open(path).read()
    assert text.startswith("digraph")
    assert '"x"' in text and '"W"' in text and "tanh" in text and "->" in text
    f = graphc.function([x], y, mode=mode)
    path = printing.pydotprint(f, outfile=str(tmp_path / "f.dot"))
    assert "tanh" in open(path).read()
