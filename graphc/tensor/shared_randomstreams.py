"""Theano's ``RandomStreams``: symbolic random variables whose generator
state lives in shared variables and advances on every call of a function."""

import numpy as np

from ..config import config
from ..ops.random import RandomOp, seed_state
from ..ops.shape import as_shape_vector
from .var import as_tensor_variable


class RandomStreams:
    """A factory of random variables seeded from one ``seed``.

    Each variable it creates owns a generator state (a shared variable) whose
    default update is the advanced state, so every call of a compiled
    function draws new numbers; ``seed(s)`` restarts all of them.
    """

    def __init__(self, seed=None):
        self.state_updates = []
        self.default_instance_seed = 12345 if seed is None else int(seed)
        self._seed_gen = np.random.SeedSequence(self.default_instance_seed)

    def seed(self, seed=None):
        """Reset every stream to the state derived from ``seed``."""
        seed = self.default_instance_seed if seed is None else int(seed)
        self._seed_gen = np.random.SeedSequence(seed)
        for state, _ in self.state_updates:
            state.set_value(self._next_state(), borrow=True)

    def _next_state(self):
        return seed_state(int(self._seed_gen.spawn(1)[0].generate_state(1, np.uint64)[0]))

    def gen(self, dist, size, params, dtype, ndim=None):
        from ..compile.sharedvalue import shared

        if size is None or (isinstance(size, (list, tuple)) and len(size) == 0 and params):
            bshape = np.broadcast_shapes(*[np.shape(np.asarray(p)) for p in params
                                           if not hasattr(p, "type")])
            size = bshape
        size = as_shape_vector(tuple(size) if isinstance(size, (list, tuple)) else size)
        if ndim is not None and size.type.shape[0] not in (None, ndim):
            raise ValueError(f"ndim={ndim} does not match size of length {size.type.shape[0]}")
        state = shared(self._next_state(), name=f"rng_state_{dist}")
        new_state, sample = RandomOp(dist, dtype).make_node(state, size, *params).outputs
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        sample.rng = state
        return sample

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform floats in [low, high)."""
        return self.gen("uniform", size, [low, high], dtype or config.floatX, ndim)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal samples with mean ``avg`` and standard deviation ``std``."""
        return self.gen("normal", size, [avg, std], dtype or config.floatX, ndim)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64"):
        """Numbers of successes in ``n`` trials of probability ``p``."""
        return self.gen("binomial", size, [n, p], dtype, ndim)

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64"):
        """Integers uniform in [low, high] (inclusive, as Theano)."""
        return self.gen("integers", size, [low, high], dtype, ndim)

    def choice(self, size=(), a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Indices drawn from range(a), uniformly or with probabilities ``p``."""
        if not replace:
            raise NotImplementedError("choice(replace=False): use permutation()[:k] instead")
        p = np.zeros(0) if p is None else p
        return self.gen("choice", size, [a, as_tensor_variable(p)], dtype, ndim)

    def permutation(self, size=(), n=1, ndim=None, dtype="int64"):
        """Random permutations of range(n); the result has one more axis than size."""
        return self.gen("permutation", size, [n], dtype, ndim)
