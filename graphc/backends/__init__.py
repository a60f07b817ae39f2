"""Backends: python (NumPy reference); llvm and cuda lower the same schedule.

The llvm backend is registered here but imported on first use: it pulls in
llvmlite (a ~180 MB shared library) and the code generator, which
``import graphc`` must not pay for (see ``tests/test_startup_cost.py``).
"""

from importlib.util import find_spec

from . import python  # noqa: F401  registers the reference backend
from .base import Backend, get_backend, register_backend


def _llvm_backend():
    """The LLVM CPU backend, imported on first use."""
    from .llvm import LLVMBackend

    return LLVMBackend()


# Without llvmlite the backend is not offered (mode='llvm' reports it
# unavailable; the default modes fall back to python with a warning).  Any
# other import error of the backend surfaces when it is first used.
if find_spec("llvmlite") is not None:
    register_backend("llvm", _llvm_backend)
