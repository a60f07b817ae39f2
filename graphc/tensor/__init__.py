"""``import graphc.tensor as T``: Theano's tensor namespace."""

from . import nnet, shared_randomstreams
from .basic import *  # noqa: F401,F403  constructors and shape functions
from .math import *  # noqa: F401,F403  elementwise, reductions, linear algebra
from .math import abs, all, any, max, min, pow, round, sum  # noqa: F401  (shadow builtins here only)
from .subtensor import inc_subtensor, set_subtensor, take
from .type import TensorType
from .var import TensorConstant, TensorVariable, as_tensor_variable, constant

as_tensor = as_tensor_variable


def __getattr__(name):
    # grad & co. live in graphc.gradient, which imports this package.
    if name in ("grad", "jacobian", "hessian", "Rop", "Lop"):
        from .. import gradient

        return getattr(gradient, name)
    if name == "signal":
        import importlib

        return importlib.import_module(".signal", __name__)
    raise AttributeError(f"module 'graphc.tensor' has no attribute {name!r}")
