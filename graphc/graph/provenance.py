"""Where in the user's code a node was created.

Every Apply records the innermost frames of the caller that lie outside the
graphc package, so that an error raised much later (at compile or run time)
can point at the line the user wrote.
"""

import linecache
import os
import sys

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


def _is_internal(filename):
    return filename.startswith(_PACKAGE_DIR) or filename.startswith("<frozen")


def user_trace(limit=3):
    """The innermost ``limit`` frames of user code that led here (innermost first)."""
    frame = sys._getframe(1)
    trace = []
    while frame is not None and len(trace) < limit:
        code = frame.f_code
        if not _is_internal(code.co_filename):
            trace.append(SourceLocation(code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return trace


def format_trace(trace):
    if not trace:
        return "  (created inside graphc, no user frame recorded)"
    return "\n".join("  " + str(loc).replace("\n", "\n  ") for loc in trace)
