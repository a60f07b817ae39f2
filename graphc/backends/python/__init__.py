"""The NumPy reference backend: every node runs its ``perform``.

It defines graphc's semantics; the generated-code backends are tested
against it.
"""

from ..base import Backend, register_backend


class PythonBackend(Backend):
    name = "python"

    def make_thunk(self, node):
        return self.perform_thunk(node)


register_backend("python", PythonBackend)
