"""function(), shared variables, modes and the runner."""

from ..graph.shape_feature import RuntimeBroadcastAssumption
from .function import Function, In, MissingInputError, Out, UnusedInputError, function
from .mode import Mode, get_mode
from .sharedvalue import SharedVariable, shared
