"""Compile an inner graph (used by ops that evaluate a subgraph at run time)."""

from ..backends import get_backend
from ..graph.fg import FunctionGraph
from .runner import Runner


def compile_inner(inputs, outputs, backend="python"):
    """A callable mapping input values (positional) to a list of output values."""
    runner = Runner(FunctionGraph(inputs, outputs), get_backend(backend))
    return lambda *values: runner.run(values)
