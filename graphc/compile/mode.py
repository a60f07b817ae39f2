"""Modes: which backend runs a function and how much it is optimized.

The default modes (``mode=None``, ``'FAST_RUN'``, ``'FAST_COMPILE'``,
``config.mode``) run on the LLVM backend on CPU; ``mode='python'`` picks
the NumPy reference backend."""

import warnings

from ..config import config

#: mode name -> (backend, optimization level)
_MODES = {
    "python": ("python", "FAST_RUN"),
    "llvm": ("llvm", "FAST_RUN"),
    "FAST_RUN": (None, "FAST_RUN"),
    "FAST_COMPILE": (None, "FAST_COMPILE"),
}


#: the backend of the default modes per device (``None``: see ``cpu_backend``)
_DEVICE_BACKEND = {"cpu": None, "cuda": "cuda"}

_cpu_backend = None


def cpu_backend():
    """The default CPU backend: ``llvm``, or ``python`` (with a warning, once
    per process) when llvmlite is missing or its LLVM fails to start."""
    global _cpu_backend
    if _cpu_backend is None:
        try:
            from ..backends.llvm import LLVMBackend

            LLVMBackend()  # starts LLVM, checks NumPy's array layout
            _cpu_backend = "llvm"
        except Exception as exc:  # any failure: the reference backend still works
            warnings.warn(f"graphc: the llvm backend is unavailable ({type(exc).__name__}: "
                          f"{exc}); compiled functions run on the NumPy reference backend "
                          "(mode='python'), which is slower", RuntimeWarning, stacklevel=3)
            _cpu_backend = "python"
    return _cpu_backend


class Mode:
    """A (backend, optimizer level) pair; ``Mode('python')`` or a mode name.
    Without a backend: the device's default (on CPU ``cpu_backend()``).
    ``strict_broadcast`` (default ``config.strict_broadcast``): first compile
    the graph specialized for the strict broadcasting rule, with the
    NumPy-broadcasting graph as a guarded fallback; False compiles only the
    NumPy-broadcasting graph."""

    def __init__(self, backend=None, optimizer="FAST_RUN", strict_broadcast=None):
        self.backend = backend or _DEVICE_BACKEND[config.device] or cpu_backend()
        self.optimizer = optimizer
        self.strict_broadcast = config.strict_broadcast if strict_broadcast is None \
            else bool(strict_broadcast)

    def __repr__(self):
        return (f"Mode(backend={self.backend!r}, optimizer={self.optimizer!r}, "
                f"strict_broadcast={self.strict_broadcast!r})")


def get_mode(mode):
    if isinstance(mode, Mode):
        return mode
    name = mode if mode is not None else config.mode
    if name in _MODES:
        backend, level = _MODES[name]
        return Mode(backend, level)
    if name == "cuda":
        raise ValueError(f"mode {name!r}: the {name} backend is not part of this build yet; "
                         "use mode='python' (the NumPy reference backend)")
    raise ValueError(f"unknown mode {name!r}; known modes: {sorted(_MODES)}")
