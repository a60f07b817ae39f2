"""Graph rewrites run by function() before a backend sees the graph.

The pipeline (position, pass, tags) is in ``pipeline.table()``:
0 merge, 1 constant_fold; more passes register themselves as they land.
"""

from . import constant_fold, merge  # noqa: F401  (register the passes)
from . import specialize  # noqa: F401  (30 gemm, 31 gemm_epilogue)
from . import canonicalize, stability  # noqa: F401  (10 canonicalize, 20 stability)
from . import fusion, memory  # noqa: F401  (50 elemwise_fusion, 110 memory_plan)
from .engine import LEVELS, GraphRewrite, RewriteReport, optimize, pipeline
