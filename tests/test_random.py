"""RandomStreams and the Philox4x32-10 generator behind it (graphc/ops/random.py):
known-answer vectors, reproducibility, state advance and reset, shapes,
dtypes and statistics of every distribution, symbolic sizes, one sample per
call for a variable used twice, and no gradient into the generator state."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc
import graphc.tensor as T
from graphc.gradient import DisconnectedInputError
from graphc.ops import random as grandom
from graphc.tensor.shared_randomstreams import RandomStreams

ROOT = Path(__file__).resolve().parents[1]
N = 100_000


def _mean_ok(x, mean, std, k=5.0):
    """|sample mean - mean| within k standard errors."""
    se = std / np.sqrt(x.size)
    assert abs(x.mean() - mean) < k * se, (x.mean(), mean, se)


def _std_ok(x, std, k=5.0):
    # the standard error of the sample std is about std / sqrt(2 n) (normal data);
    # doubled for the non-normal distributions below
    se = 2 * std / np.sqrt(2 * x.size)
    assert abs(x.std() - std) < k * se, (x.std(), std, se)


# ---------------------------------------------------------------- Philox KAT

@pytest.mark.parametrize("counter, key, expected", [
    # Random123 kat_vectors, philox4x32 10 rounds
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
])
def test_philox4x32_10_known_answers(counter, key, expected):
    key64 = key[0] | (key[1] << 32)  # graphc packs key word 0 in the low half
    out = grandom.philox4x32(np.array([counter], dtype=np.uint64), key64)
    assert out.dtype == np.uint64
    assert [int(v) for v in out[0]] == expected


def test_philox_blocks_are_independent_and_state_advances():
    state = grandom.seed_state(5)
    words, new = grandom.random_words(state, 10)  # 3 blocks of 4 words
    assert words.shape == (10,) and (words <= 0xFFFFFFFF).all()
    assert int(new[0]) == int(state[0]) and int(new[1]) == int(state[1]) + 3
    # the same words come from the counters one by one
    more, _ = grandom.random_words(state, 12)
    np.testing.assert_array_equal(words, more[:10])
    tail, _ = grandom.random_words(np.array([state[0], state[1] + 2], dtype=np.uint64), 4)
    np.testing.assert_array_equal(more[8:], tail)


def test_uniform01_resolution():
    state = grandom.seed_state(9)
    u32, _ = grandom.uniform01(state, 1000, np.float32)
    u64, _ = grandom.uniform01(state, 1000, np.float64)
    assert u32.dtype == np.float32 and u64.dtype == np.float64
    assert (u32 >= 0).all() and (u32 < 1).all() and (u64 >= 0).all() and (u64 < 1).all()
    # 24 and 53 random bits
    np.testing.assert_array_equal(u32 * 2.0 ** 24, np.floor(u32 * 2.0 ** 24))
    np.testing.assert_array_equal(u64 * 2.0 ** 53, np.floor(u64 * 2.0 ** 53))
    assert len(np.unique(u64 * 2.0 ** 53 % 2 ** 21)) > 900  # low bits are used


# -------------------------------------------------------- reproducibility

def _draws(seed, mode):
    r = RandomStreams(seed=seed)
    a = r.normal((2, 3))
    b = r.uniform((4,))
    f = graphc.function([], [a, b], mode=mode)
    return [f() for _ in range(3)]


def test_same_seed_same_numbers_in_separate_functions(mode):
    one, two = _draws(42, mode), _draws(42, mode)
    for x, y in zip(one, two):
        for p, q in zip(x, y):
            np.testing.assert_array_equal(p, q)
    other = _draws(43, mode)
    assert not np.array_equal(one[0][0], other[0][0])


def test_same_seed_same_numbers_in_another_process(mode):
    code = textwrap.dedent(f"""
        import json, graphc
        from graphc.tensor.shared_randomstreams import RandomStreams
        r = RandomStreams(seed=42)
        a = r.normal((2, 3))
        b = r.uniform((4,))
        f = graphc.function([], [a, b], mode={mode!r})
        print(json.dumps([[v.tolist() for v in f()] for _ in range(3)]))
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "")
                                                        .split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    ours = [[v.tolist() for v in call] for call in _draws(42, mode)]
    assert theirs == ours  # bit for bit


def test_each_call_draws_new_numbers(mode):
    r = RandomStreams(seed=1)
    x = r.normal((5,))
    state = x.rng
    before = state.get_value()
    f = graphc.function([], x, mode=mode)
    draws = [f() for _ in range(4)]
    assert len({tuple(d) for d in draws}) == 4
    assert not np.array_equal(state.get_value(), before)  # the state is a default update


def test_seed_resets_the_streams(mode):
    r = RandomStreams(seed=7)
    a, b = r.normal((3,)), r.uniform((2, 2))
    f = graphc.function([], [a, b], mode=mode)
    first, second = f(), f()
    r.seed(7)
    again = f()
    for p, q in zip(first, again):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(first[0], second[0])
    r.seed()  # back to the constructor's seed
    np.testing.assert_array_equal(f()[0], first[0])
    r.seed(8)
    eight = f()
    assert not np.array_equal(eight[0], first[0])
    # seed(s) gives the same numbers as a fresh RandomStreams(s) built the same way
    r8 = RandomStreams(seed=8)
    f8 = graphc.function([], [r8.normal((3,)), r8.uniform((2, 2))], mode=mode)
    for p, q in zip(eight, f8()):
        np.testing.assert_array_equal(p, q)


def test_functions_sharing_a_variable_share_its_stream(mode):
    r = RandomStreams(seed=3)
    x = r.uniform((4,))
    f1 = graphc.function([], x, mode=mode)
    f2 = graphc.function([], x * 1, mode=mode)
    a1, a2 = f1(), f1()
    r.seed(3)
    b1, b2 = f1(), f2()
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_distinct_variables_draw_distinct_streams(mode):
    r = RandomStreams(seed=11)
    f = graphc.function([], [r.uniform((6,)), r.uniform((6,))], mode=mode)
    a, b = f()
    assert not np.array_equal(a, b)


# ------------------------------------------------- shapes, dtypes, stats

def test_default_dtypes_follow_floatx(mode):
    r = RandomStreams(seed=2)
    assert r.normal((2,)).dtype == graphc.config.floatX == "float64"
    assert r.uniform((2,)).dtype == "float64"
    graphc.config.floatX = "float32"
    n, u = r.normal((2, 3)), r.uniform((4,))
    assert n.dtype == "float32" and u.dtype == "float32"
    f = graphc.function([], [n, u], mode=mode)
    nv, uv = f()
    assert nv.dtype == np.float32 and nv.shape == (2, 3)
    assert uv.dtype == np.float32 and uv.shape == (4,)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dtype, mode):
    r = RandomStreams(seed=21)
    f = graphc.function([], [r.normal((N,), dtype=dtype),
                             r.normal((200, 500), avg=3.0, std=2.0, dtype=dtype)], mode=mode)
    z, y = f()
    assert z.dtype == np.dtype(dtype) and z.shape == (N,)
    assert y.dtype == np.dtype(dtype) and y.shape == (200, 500)
    _mean_ok(z, 0.0, 1.0)
    _std_ok(z, 1.0)
    _mean_ok(y, 3.0, 2.0)
    _std_ok(y, 2.0)
    assert np.isfinite(z).all()
    # tails: about 4.55% beyond 2 sigma, 0.27% beyond 3 sigma
    assert abs((np.abs(z) > 2).mean() - 0.0455) < 5 * np.sqrt(0.0455 * 0.9545 / N)
    assert abs((np.abs(z) > 3).mean() - 0.0027) < 5 * np.sqrt(0.0027 * 0.9973 / N)
    # odd sizes: the Box-Muller pair is cut correctly
    g = graphc.function([], r.normal((3, 5), dtype=dtype), mode=mode)
    assert g().shape == (3, 5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_range_and_statistics(dtype, mode):
    r = RandomStreams(seed=22)
    f = graphc.function([], [r.uniform((N,), dtype=dtype),
                             r.uniform((N,), low=-2.0, high=5.0, dtype=dtype)], mode=mode)
    u, v = f()
    assert u.dtype == np.dtype(dtype) and v.dtype == np.dtype(dtype)
    assert u.min() >= 0 and u.max() < 1
    assert v.min() >= -2 and v.max() < 5
    _mean_ok(u, 0.5, np.sqrt(1 / 12))
    _std_ok(u, np.sqrt(1 / 12))
    _mean_ok(v, 1.5, 7 / np.sqrt(12))
    _std_ok(v, 7 / np.sqrt(12))
    # roughly flat: each tenth holds about a tenth
    counts = np.histogram(u, bins=10, range=(0, 1))[0] / N
    assert np.all(np.abs(counts - 0.1) < 5 * np.sqrt(0.1 * 0.9 / N))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_never_returns_high_even_after_rounding(dtype, monkeypatch):
    # the largest uniform01 value, 1 - 2**-24 (or 2**-53), scaled into [2, 5)
    # rounds to 5.0 in float32/float64; the sample must stay below high
    orig = grandom.uniform01

    def top(state, n, dt):
        u, state = orig(state, n, dt)
        eps = 2.0 ** -24 if np.dtype(dt) == np.float32 else 2.0 ** -53
        return np.full_like(u, 1 - eps), state

    monkeypatch.setattr(grandom, "uniform01", top)
    state = grandom.seed_state(0)
    for low, high in [(2.0, 5.0), (0.0, 1.0), (-1.0, 0.0), (-3.0, 1e6)]:
        s, _ = grandom._sample("uniform", state, (4,), [np.asarray(low), np.asarray(high)],
                               dtype)
        assert s.dtype == np.dtype(dtype)
        assert (s < np.asarray(high).astype(dtype)).all() and (s >= low).all(), (low, high, s)
    # low == high: the only value is low
    s, _ = grandom._sample("uniform", state, (2,), [np.asarray(3.0), np.asarray(3.0)], dtype)
    np.testing.assert_array_equal(s, [3.0, 3.0])


def test_binomial(mode):
    r = RandomStreams(seed=23)
    b1 = r.binomial((N,), n=1, p=0.3)
    b10 = r.binomial((400, 250), n=10, p=0.25)
    assert b1.dtype == "int64"
    f = graphc.function([], [b1, b10], mode=mode)
    x, y = f()
    assert x.dtype == np.int64 and x.shape == (N,)
    assert set(np.unique(x)) <= {0, 1}
    _mean_ok(x, 0.3, np.sqrt(0.3 * 0.7))
    assert y.shape == (400, 250) and y.min() >= 0 and y.max() <= 10
    _mean_ok(y, 2.5, np.sqrt(10 * 0.25 * 0.75))
    _std_ok(y, np.sqrt(10 * 0.25 * 0.75))
    # dtype argument, and p at the extremes
    g = graphc.function([], [r.binomial((100,), p=0.0, dtype="int8"),
                             r.binomial((100,), p=1.0, dtype="float32")], mode=mode)
    zero, one = g()
    assert zero.dtype == np.int8 and (zero == 0).all()
    assert one.dtype == np.float32 and (one == 1).all()


def test_random_integers_inclusive(mode):
    r = RandomStreams(seed=24)
    x = r.random_integers((N,), low=-2, high=4)
    assert x.dtype == "int64"
    v = graphc.function([], x, mode=mode)()
    assert v.dtype == np.int64 and v.shape == (N,)
    assert v.min() == -2 and v.max() == 4  # both ends are reachable
    freq = np.bincount(v + 2, minlength=7) / N
    assert np.all(np.abs(freq - 1 / 7) < 5 * np.sqrt((1 / 7) * (6 / 7) / N))


def test_choice(mode):
    r = RandomStreams(seed=25)
    uniform = r.choice((N,), a=5)
    weighted = r.choice((N,), a=3, p=[0.1, 0.2, 0.7])
    small = r.choice((2, 3), a=4)
    f = graphc.function([], [uniform, weighted, small], mode=mode)
    u, w, s = f()
    assert u.dtype == np.int64 and s.shape == (2, 3)
    assert set(np.unique(u)) == set(range(5))
    freq = np.bincount(u, minlength=5) / N
    assert np.all(np.abs(freq - 0.2) < 5 * np.sqrt(0.2 * 0.8 / N))
    assert set(np.unique(w)) <= {0, 1, 2}
    fw = np.bincount(w, minlength=3) / N
    for got, p in zip(fw, [0.1, 0.2, 0.7]):
        assert abs(got - p) < 5 * np.sqrt(p * (1 - p) / N)
    with pytest.raises(NotImplementedError):
        r.choice((3,), a=5, replace=False)


def test_permutation(mode):
    r = RandomStreams(seed=26)
    p = r.permutation((20000,), n=6)
    one = r.permutation(n=5)
    f = graphc.function([], [p, one], mode=mode)
    rows, single = f()
    assert rows.shape == (20000, 6) and rows.dtype == np.int64
    np.testing.assert_array_equal(np.sort(rows, axis=1), np.tile(np.arange(6), (20000, 1)))
    np.testing.assert_array_equal(np.sort(single), np.arange(5))
    # every value equally likely in every position
    for pos in range(6):
        freq = np.bincount(rows[:, pos], minlength=6) / len(rows)
        assert np.all(np.abs(freq - 1 / 6) < 5 * np.sqrt((1 / 6) * (5 / 6) / len(rows)))
    assert len({tuple(row) for row in rows[:200]}) > 100  # not one permutation repeated


# ------------------------------------------------------------ graph usage

def test_symbolic_size(mode):
    r = RandomStreams(seed=31)
    x = T.dmatrix('x')
    u = r.uniform(size=x.shape)
    f = graphc.function([x], x + u, mode=mode)
    for shape in [(2, 4), (5, 1), (1, 7)]:
        out = f(np.zeros(shape))
        assert out.shape == shape and (out >= 0).all() and (out < 1).all()
    n = r.normal(size=(x.shape[0], 3))
    assert n.ndim == 2
    g = graphc.function([x], n, mode=mode)
    assert g(np.zeros((6, 2))).shape == (6, 3)


def test_ndim_must_match_size():
    r = RandomStreams(seed=32)
    with pytest.raises(ValueError):
        r.normal((2, 3), ndim=3)


def test_variable_used_twice_gives_one_sample_per_call(mode):
    r = RandomStreams(seed=33)
    z = r.normal((4,))
    f = graphc.function([], [z, z * 2, z - z], mode=mode)
    a, b, c = f()
    np.testing.assert_array_equal(b, 2 * a)
    np.testing.assert_array_equal(c, np.zeros(4))
    a2, _, _ = f()
    assert not np.array_equal(a, a2)


def test_no_gradient_into_the_random_state(mode):
    r = RandomStreams(seed=34)
    w = graphc.shared(np.ones(3), 'w')
    z = r.normal((3,))
    cost = (w * z).sum()
    g = T.grad(cost, w)
    # the sample is a constant for the gradient, and it is the same sample
    f = graphc.function([], [z, g], mode=mode)
    zv, gv = f()
    np.testing.assert_array_equal(gv, zv)
    # the state advanced exactly as for one plain draw
    plain = RandomStreams(seed=34)
    pz = plain.normal((3,))
    graphc.function([], pz, mode=mode)()
    np.testing.assert_array_equal(z.rng.get_value(), pz.rng.get_value())
    # nothing flows into the state: the uint64 state gets a zero gradient
    gs = T.grad(cost, z.rng)
    np.testing.assert_array_equal(graphc.function([], gs, mode=mode)(), np.zeros(2))
    # ... nor through the sampler into its parameters
    mu = graphc.shared(1.0, 'mu')
    y = r.normal((3,), avg=mu)
    try:
        gmu = T.grad(y.sum(), mu)
    except (DisconnectedInputError, graphc.gradient.NullTypeGradError):
        pass
    else:
        assert graphc.function([], gmu, mode=mode)() == 0.0


def test_updates_from_a_random_training_step(mode):
    # a dropout-like step: the mask is redrawn each call, the update uses it
    r = RandomStreams(seed=35)
    w = graphc.shared(np.zeros(1000), 'w')
    mask = r.binomial((1000,), p=0.5, dtype='float64')
    step = graphc.function([], mask, updates=[(w, w + mask)], mode=mode)
    masks = [step() for _ in range(5)]
    np.testing.assert_array_equal(w.get_value(), np.sum(masks, axis=0))
    assert not np.array_equal(masks[0], masks[1])
