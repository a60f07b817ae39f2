"""Backends: python (NumPy reference); llvm and cuda lower the same schedule."""

from . import python  # noqa: F401  registers the reference backend
from .base import Backend, get_backend, register_backend

try:
    from . import llvm  # noqa: F401  registers the LLVM CPU backend
except ImportError:  # no llvmlite: mode='llvm' reports the backend unavailable
    pass
