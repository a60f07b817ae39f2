"""Graph rewrites run by function() before a backend sees the graph.

The pipeline (position, pass, tags) is in ``pipeline.table()``:
0 merge, 1 constant_fold; more passes register themselves as they land.
"""

from . import constant_fold, merge  # noqa: F401  (register the passes)
from .engine import LEVELS, GraphRewrite, RewriteReport, optimize, pipeline
