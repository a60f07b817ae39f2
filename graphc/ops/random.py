"""Random sampling with a counter-based generator (Philox4x32-10).

The generator state is a uint64 vector ``[key, counter]`` held in a shared
variable; a RandomOp is a pure function from (state, size, params) to
(new state, sample), and ``RandomStreams`` makes the new state the shared
variable's default update.  Philox needs only integer multiply and xor, so
every backend can reproduce the same bits from the same seed.
"""

import numpy as np

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.type import TensorType
from ..tensor.var import as_tensor_variable
from .elemwise import _describe

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)


def philox4x32(counters, key):
    """Philox4x32-10 on a (n, 4) uint64 array of 32-bit counter words."""
    c0, c1, c2, c3 = (counters[:, i].copy() for i in range(4))
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for _ in range(10):
        p0, p1 = _M0 * c0, _M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return np.stack([c0, c1, c2, c3], axis=1)


def random_words(state, nwords):
    """``nwords`` uint32 words from state [key, counter]; returns (words, new state)."""
    key, counter = int(state[0]), int(state[1])
    nblocks = -(-nwords // 4)
    idx = np.arange(counter, counter + nblocks, dtype=np.uint64)
    counters = np.zeros((nblocks, 4), dtype=np.uint64)
    counters[:, 0] = idx & _MASK
    counters[:, 1] = idx >> np.uint64(32)
    words = philox4x32(counters, key).reshape(-1)[:nwords]
    new_state = np.array([key, counter + nblocks], dtype=np.uint64)
    return words, new_state


def uniform01(state, n, dtype):
    """n uniform floats in [0, 1): 24 random bits for float32, 53 for float64."""
    if np.dtype(dtype) == np.float32:
        words, state = random_words(state, n)
        return ((words >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)), state
    words, state = random_words(state, 2 * n)
    hi, lo = words[0::2] >> np.uint64(5), words[1::2] >> np.uint64(6)
    return ((hi * np.uint64(1 << 26) + lo).astype(np.float64) * 2.0 ** -53), state


def seed_state(seed):
    """A fresh generator state; equal seeds give equal streams."""
    mixed = philox4x32(np.array([[seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, 0x5EED, 0]],
                                dtype=np.uint64), 0x243F6A8885A308D3)[0]
    return np.array([int(mixed[0]) | (int(mixed[1]) << 32), 0], dtype=np.uint64)


def _sample(dist, state, size, params, dtype):
    n = int(np.prod(size))
    if dist == "uniform":
        low, high = params
        u, state = uniform01(state, n, _float(dtype))
        out = (low + (high - low) * u.reshape(size)).astype(dtype)
        if out.dtype.kind == "f":  # rounding can reach ``high``: keep [low, high)
            lo, hi = np.asarray(low).astype(out.dtype), np.asarray(high).astype(out.dtype)
            out = np.where((out >= hi) & (hi > lo), np.nextafter(hi, lo), out).astype(dtype)
        return out, state
    if dist == "normal":
        avg, std = params
        m = n + (n & 1)
        u, state = uniform01(state, m, _float(dtype))
        u1, u2 = 1.0 - u[0::2], u[1::2]  # u1 in (0, 1]: log is finite
        r = np.sqrt(-2.0 * np.log(u1))
        z = np.empty(m, dtype=u.dtype)
        z[0::2] = r * np.cos(2 * np.pi * u2)
        z[1::2] = r * np.sin(2 * np.pi * u2)
        return (avg + std * z[:n].reshape(size)).astype(dtype), state
    if dist == "binomial":
        trials, p = params
        trials = np.broadcast_to(trials, size)
        t_max = int(trials.max()) if n else 0
        u, state = uniform01(state, n * t_max, np.float64)
        hits = u.reshape(tuple(size) + (t_max,)) < np.broadcast_to(p, size)[..., None]
        hits &= np.arange(t_max) < trials[..., None]
        return hits.sum(axis=-1).astype(dtype), state
    if dist == "integers":
        low, high = params
        u, state = uniform01(state, n, np.float64)
        low_b, high_b = np.broadcast_to(low, size), np.broadcast_to(high, size)
        return (low_b + np.floor(u.reshape(size) * (high_b - low_b + 1))).astype(dtype), state
    if dist == "choice":
        a, p = params
        u, state = uniform01(state, n, np.float64)
        if p.size:
            cdf = np.cumsum(p / p.sum())
            idx = np.searchsorted(cdf, u, side="right").clip(0, len(cdf) - 1)
        else:
            idx = np.floor(u * int(a)).astype(np.int64)
        return idx.reshape(size).astype(dtype), state
    if dist == "permutation":
        (count,) = params
        rows = n
        u, state = uniform01(state, rows * int(count), np.float64)
        perm = np.argsort(u.reshape(rows, int(count)), axis=1, kind="stable")
        return perm.reshape(tuple(size) + (int(count),)).astype(dtype), state
    raise ValueError(f"unknown distribution {dist!r}")


def _float(dtype):
    return np.float32 if np.dtype(dtype) == np.float32 else np.float64


class RandomOp(Op):
    """(state, size, *params) -> (new state, sample of ``dist``)."""

    __props__ = ("dist", "dtype")

    def __init__(self, dist, dtype):
        self.dist = dist
        self.dtype = np.dtype(dtype).name

    def __str__(self):
        return f"RandomOp{{{self.dist}, {self.dtype}}}"

    def make_node(self, state, size, *params):
        from .shape import static_entries

        state = as_tensor_variable(state)
        size = as_tensor_variable(size)
        if state.dtype != "uint64" or state.ndim != 1:
            raise TypeError(f"random state must be a uint64 vector, got {_describe(state)}")
        if size.ndim != 1 or size.type.numpy_dtype.kind not in "iu":
            raise TypeError(f"random size must be an integer vector, got {_describe(size)}")
        params = [as_tensor_variable(p) for p in params]
        n = size.type.shape[0]
        if n is None:
            raise ValueError("the number of dimensions of a random sample must be known")
        shape = tuple(static_entries(size, n))
        if self.dist == "permutation":
            shape += (None,)
        sample = TensorType(self.dtype, shape=shape).make_variable()
        return Apply(self, [state, size] + params, [state.type.make_variable(), sample])

    def perform(self, node, inputs):
        state, size, *params = inputs
        sample, new_state = _sample(self.dist, state, tuple(int(s) for s in size), params,
                                    self.dtype)
        return new_state, np.asarray(sample)

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)

    def connection_pattern(self, node):
        return [[False, False]] * len(node.inputs)

    def do_constant_folding(self, node):
        return False
