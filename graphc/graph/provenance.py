"""Where in the user's code a node was created.

Every Apply records the innermost frames of the caller that lie outside the
graphc package, so that an error raised much later (at compile or run time)
can point at the line the user wrote.
"""

import linecache
import os
import sys
import threading

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SourceLocation:
    """One user frame: file, line number, function name; the text is read lazily."""

    __slots__ = ("filename", "lineno", "function")

    def __init__(self, filename, lineno, function):
        self.filename = filename
        self.lineno = lineno
        self.function = function

    @property
    def line(self):
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self):
        text = self.line
        where = f'File "{self.filename}", line {self.lineno}, in {self.function}'
        return f"{where}\n    {text}" if text else where

    def __repr__(self):
        return f"SourceLocation({self.filename!r}, {self.lineno})"


def _library_dirs():
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(os.path.join(d, "") for d in dirs if d))


_LIBRARY_DIRS = _library_dirs()


def _is_internal(filename):
    return filename.startswith(_PACKAGE_DIR) or filename.startswith("<frozen")


_INTERNAL, _LIBRARY, _USER = 0, 1, 2
#: per thread: the trace ``user_trace`` returns while ``pinned_user_trace`` is active
_PINNED = threading.local()
_KIND = {}  # filename -> one of the above (computed once per file)


def _kind(filename):
    kind = _KIND.get(filename)
    if kind is None:
        kind = _INTERNAL if _is_internal(filename) else (
            _LIBRARY if filename.startswith(_LIBRARY_DIRS) else _USER)
        _KIND[filename] = kind
    return kind


def user_trace(limit=None):
    """The innermost ``limit`` (default ``config.traceback_limit``) frames of
    user code that led here (innermost first).

    Frames of graphc itself are skipped.  Once a user frame is found, the walk
    stops at the first frame of an installed library or the standard library
    (a test runner, a notebook kernel): those frames only add noise.
    """
    if limit is None:
        pinned = getattr(_PINNED, "trace", None)
        if pinned is not None:
            return list(pinned)
        from ..config import config

        limit = config.traceback_limit
    frame = sys._getframe(1)
    trace = []
    while frame is not None and len(trace) < limit:
        code = frame.f_code
        filename = code.co_filename
        kind = _KIND.get(filename)
        if kind is None:
            kind = _kind(filename)
        if kind:
            if trace and kind == _LIBRARY:
                break
            trace.append(SourceLocation(filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return trace


class pinned_user_trace:
    """Within ``with pinned_user_trace():``, ``user_trace()`` in this thread
    returns the trace of the code that entered.

    For graph-sized internal work (the optimizer builds ~0.6 nodes per graph
    node): every frame between the entry and a node's creation is graphc's
    own, so the walk would find the same user frames each time; it is done
    once instead of once per node.  (A class, not a generator: a contextlib
    frame would be recorded as the caller.)  Re-entrant: the outer pin stays.
    """

    def __enter__(self):
        self._outer = getattr(_PINNED, "trace", None)
        if self._outer is None:
            _PINNED.trace = user_trace()
        return self

    def __exit__(self, *exc):
        _PINNED.trace = self._outer
        return False


def format_trace(trace):
    if not trace:
        return "  (created inside graphc, no user frame recorded)"
    return "\n".join("  " + str(loc).replace("\n", "\n  ") for loc in trace)
