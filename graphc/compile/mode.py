"""Modes: which backend runs a function and how much it is optimized."""

from ..config import config

#: mode name -> (backend, optimization level)
_MODES = {
    "python": ("python", "FAST_RUN"),
    "llvm": ("llvm", "FAST_RUN"),
    "FAST_RUN": (None, "FAST_RUN"),
    "FAST_COMPILE": (None, "FAST_COMPILE"),
}


# The CPU default stays the NumPy reference backend: mode='llvm' passes the
# whole suite, but two tests (test_rewrite merge, test_rewrite_property)
# compare the default mode with the python backend bit for bit, which
# vectorized transcendentals (a few ulp from NumPy's) cannot give.
_DEVICE_BACKEND = {"cpu": "python", "cuda": "cuda"}


class Mode:
    """A (backend, optimizer level) pair; ``Mode('python')`` or a mode name."""

    def __init__(self, backend=None, optimizer="FAST_RUN"):
        self.backend = backend or _DEVICE_BACKEND[config.device]
        self.optimizer = optimizer

    def __repr__(self):
        return f"Mode(backend={self.backend!r}, optimizer={self.optimizer!r})"


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
