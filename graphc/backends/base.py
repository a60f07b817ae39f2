"""The backend interface: turn each scheduled node into a thunk.

A thunk is a callable from the node's input values (a list of NumPy arrays)
to its output values (a tuple).  A backend that cannot lower a node returns
the NumPy ``perform`` thunk for it and records that it fell back.
"""


class Backend:
    """Lower the nodes of a FunctionGraph's schedule to thunks."""

    name = "base"

    def make_thunk(self, node):
        raise NotImplementedError

    def perform_thunk(self, node):
        """The reference implementation of ``node`` (NumPy ``perform``)."""
        perform = node.op.perform

        def thunk(inputs):
            return perform(node, inputs)

        thunk.fallback = True
        return thunk


_BACKENDS = {}


def register_backend(name, factory):
    _BACKENDS[name] = factory


def get_backend(name):
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise ValueError(
            f"unknown or unavailable backend {name!r}; available: {sorted(_BACKENDS)}") from None
