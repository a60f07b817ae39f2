"""Pause Python's cyclic garbage collector around graph-sized work.

Building, differentiating or compiling a 10^5-node graph allocates hundreds
of thousands of long-lived objects; each allocation burst triggers a full
collection that walks all of them, which made compilation several times
slower.  Graph objects hold no reference cycles that need collecting during
such a pass, so the collector is paused for its duration and restored after
(and left alone if the user had disabled it).
"""

import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
