"""Global configuration, Theano style: ``graphc.config.floatX`` and friends.

Values come from defaults, then from the ``GRAPHC_FLAGS`` environment variable
(``GRAPHC_FLAGS='floatX=float32,device=cpu'``), then from assignments in user
code.  Unknown flags are an error, so a typo never silently does nothing.
"""

import os

from . import __version__ as _VERSION  # set before graphc/__init__ imports this module

# graphc's version names the default compile cache, so that an upgrade never
# loads kernels compiled by another version (the cache keys guard this too).
_DEFAULT_CACHE = os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
    "graphc",
    _VERSION,
)


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError(f"must be one of {allowed}, got {value!r}")
        return value

    return check


def _bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


_FLAGS = {
    # name: (default, validator, doc)
    "floatX": ("float64", _choice("float64", "float32"),
               "dtype of T.matrix() & co. and of graphc-created float tensors"),
    "device": ("cpu", _choice("cpu", "cuda"), "default device for compiled functions"),
    "mode": ("FAST_RUN", str, "default compilation mode"),
    "compiledir": (_DEFAULT_CACHE, str,
                   "directory of the on-disk cache of compiled kernels"),
    "on_unused_input": ("raise", _choice("raise", "warn", "ignore"),
                        "what function() does with an input no output depends on"),
    "compute_test_value": ("off", _choice("off"), "kept for Theano compatibility"),
    "traceback_limit": (8, int, "frames of user code kept for each node"),
    "exception_verbosity": ("low", _choice("low", "high"), "detail in runtime errors"),
    "strict_broadcast": (True, _bool,
                         "optimize functions assuming that only dims of static size 1 "
                         "broadcast, falling back to the NumPy-broadcasting graph on the "
                         "first call that broadcasts another dim; False: NumPy graph only"),
}


def _suggest(name):
    import difflib

    lower = {k.lower(): k for k in _FLAGS}
    if name.lower() in lower:
        return f" (did you mean {lower[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, list(_FLAGS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Config:
    """Attribute-style access to the flags; assignment validates."""

    def __init__(self, environ_flags=""):
        object.__setattr__(self, "_values", {k: v[0] for k, v in _FLAGS.items()})
        for item in filter(None, (s.strip() for s in environ_flags.split(","))):
            if "=" not in item:
                raise ValueError(f"GRAPHC_FLAGS={environ_flags!r}: entry {item!r} is not of "
                                 "the form name=value")
            key, value = (part.strip() for part in item.split("=", 1))
            if key not in _FLAGS:
                raise ValueError(f"GRAPHC_FLAGS={environ_flags!r}: unknown flag {key!r}"
                                 f"{_suggest(key)}; known flags: {sorted(_FLAGS)}")
            try:
                setattr(self, key, value)
            except ValueError as exc:
                raise ValueError(f"GRAPHC_FLAGS={environ_flags!r}: {exc}") from None

    def __getattr__(self, name):
        if name.startswith("__"):  # copy/pickle probe dunders: plain AttributeError
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"graphc.config has no flag {name!r}{_suggest(name)}; "
                                 f"known flags: {sorted(_FLAGS)}") from None

    def __setattr__(self, name, value):
        if name not in _FLAGS:
            raise AttributeError(f"graphc.config has no flag {name!r}{_suggest(name)}; "
                                 f"known flags: {sorted(_FLAGS)}")
        try:
            self._values[name] = _FLAGS[name][1](value)
        except ValueError as exc:
            raise ValueError(f"config.{name}: {exc}") from None

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"Config({items})"


config = Config(os.environ.get("GRAPHC_FLAGS", ""))
