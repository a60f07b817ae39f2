"""Graph IR: Variables, Apply nodes, Ops, traversal and provenance."""

from .basic import Apply, Constant, Variable
from .op import Op
from .traversal import ancestors, clone_graph, graph_inputs, toposort
from .type import Type
