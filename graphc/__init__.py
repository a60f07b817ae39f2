"""graphc: a Theano-style symbolic computation-graph compiler.

    import graphc
    import graphc.tensor as T
    x = T.dmatrix('x')
    f = graphc.function([x], T.exp(x).sum())
"""

__version__ = "0.1.0"

from . import backends  # noqa: F401  (registers backends; llvm is imported on first use)
from .config import config
from . import tensor  # noqa: F401
from .compile import Function, In, Mode, Out, SharedVariable, function, shared
from .gradient import disconnected_grad, grad, grad_clip, zero_grad
from .tensor.shared_randomstreams import RandomStreams
from . import gradient, printing  # noqa: F401
from . import persist  # noqa: F401  (save/load; makes shared variables picklable)

__all__ = ["config", "function", "shared", "grad", "In", "Out", "Mode", "RandomStreams",
           "printing", "gradient", "tensor", "disconnected_grad", "zero_grad", "grad_clip",
           "SharedVariable", "Function"]
