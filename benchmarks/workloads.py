"""The workloads of /work/shared/bench/WORKLOADS.md, each as: a graphc build,
a hand-written NumPy-eager version of the same math (forward AND backward for
the train steps) and, when importable, JAX / PyTorch / PyTensor versions.

Every builder returns a ``Case``: ``make_graphc(mode)`` and ``make_numpy()``
each give a step callable (train steps keep their parameters as state and
update them, as a training loop does), ``peers`` maps a system name to such a
factory.  The first call of each step starts from the same parameters, so
its result (the first output) is what the correctness check compares.
"""

import importlib.util

import numpy as np

import graphc
import graphc.tensor as T

N_ELEMWISE = 1 << 24


class Case:
    def __init__(self, name, what, make_graphc, make_numpy, unit, peers=None, bytes_moved=None,
                 rtol=1e-5, atol=1e-6):
        self.name, self.what, self.unit = name, what, unit
        self.make_graphc, self.make_numpy = make_graphc, make_numpy
        self.peers = peers or {}
        self.bytes_moved = bytes_moved
        self.rtol, self.atol = rtol, atol


def available(module):
    return importlib.util.find_spec(module) is not None


# -------------------------------------------------------------- W1 / W1b

def _elemwise_case(name, what, graph_fn, numpy_fn, torch_fn, jax_fn, quick):
    n = N_ELEMWISE >> 4 if quick else N_ELEMWISE
    x_val = np.random.default_rng(0).standard_normal(n).astype("float32")

    def make_graphc(mode):
        x = T.fvector("x")
        f = graphc.function([x], graph_fn(x), mode=mode)
        return lambda: f(x_val)

    peers = {}
    if available("torch"):
        def torch_compiled():
            import torch

            fn = torch.compile(torch_fn)
            xt = torch.from_numpy(x_val)
            return lambda: fn(xt).numpy()
        peers["torch.compile"] = torch_compiled
    if available("jax"):
        def jax_jit():
            import jax

            fn = jax.jit(jax_fn)
            xj = jax.numpy.asarray(x_val)
            return lambda: np.asarray(fn(xj).block_until_ready())
        peers["jax.jit"] = jax_jit
    if available("pytensor"):
        def pytensor_fn():
            import pytensor
            import pytensor.tensor as pt

            x = pt.fvector("x")
            f = pytensor.function([x], graph_fn(x, pt))
            return lambda: f(x_val)
        peers["pytensor"] = pytensor_fn
    return Case(name, what, make_graphc, lambda: lambda: numpy_fn(x_val), "ms", peers,
                bytes_moved=8 * n, rtol=1e-5, atol=1e-6)


def w1(quick):
    def graph(x, t=T):
        return t.exp(-x * x) * t.sin(x) + t.tanh(x) / (1 + abs(x))

    def numpy_fn(x):
        return np.exp(-x * x) * np.sin(x) + np.tanh(x) / (1 + np.abs(x))

    def torch_fn(x):
        import torch

        return torch.exp(-x * x) * torch.sin(x) + torch.tanh(x) / (1 + torch.abs(x))

    def jax_fn(x):
        import jax.numpy as jnp

        return jnp.exp(-x * x) * jnp.sin(x) + jnp.tanh(x) / (1 + jnp.abs(x))

    return _elemwise_case("W1", "exp(-x*x)*sin(x) + tanh(x)/(1+|x|), f32[2**24]", graph,
                          numpy_fn, torch_fn, jax_fn, quick)


def w1b(quick):
    def graph(x, t=T):
        return (x * 2 + 1) * (x - 3) / (x * x + 1)

    return _elemwise_case("W1b", "(x*2+1)*(x-3)/(x*x+1), f32[2**24]", graph, graph, graph,
                          graph, quick)


# --------------------------------------------------------------------- W2

def w2(quick):
    """Ketkar listing 4-10: float64 logistic regression step."""
    rng = np.random.default_rng(0)
    n, d = 1000, 100
    X_val = rng.standard_normal((n, d))
    y_val = rng.integers(0, 2, size=n).astype("float64")
    w0, b0 = rng.standard_normal(d), 0.0
    lr = 0.1

    def make_graphc(mode):
        X, y = T.dmatrix("X"), T.dvector("y")
        w, b = graphc.shared(w0.copy(), name="w"), graphc.shared(b0, name="b")
        p = 1 / (1 + T.exp(-T.dot(X, w) - b))
        xent = -y * T.log(p) - (1 - y) * T.log(1 - p)
        loss = xent.mean() + 0.01 * (w ** 2).sum()
        gw, gb = T.grad(loss, [w, b])
        f = graphc.function([X, y], [p, loss], updates=[(w, w - lr * gw), (b, b - lr * gb)],
                            mode=mode)
        return lambda: f(X_val, y_val)[0]

    def make_numpy():
        state = {"w": w0.copy(), "b": b0}

        def step():
            w, b = state["w"], state["b"]
            p = 1 / (1 + np.exp(-(X_val @ w) - b))
            state["loss"] = np.mean(-y_val * np.log(p) - (1 - y_val) * np.log(1 - p)) + \
                0.01 * np.sum(w * w)
            g = (p - y_val) / n  # d loss / d (X.w + b)
            state["w"] = w - lr * (X_val.T @ g + 0.02 * w)
            state["b"] = b - lr * g.sum()
            return p
        return step

    peers = {}
    if available("jax"):
        def jax_step():
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)
            Xj, yj = jnp.asarray(X_val), jnp.asarray(y_val)

            def loss(w, b):
                p = 1 / (1 + jnp.exp(-(Xj @ w) - b))
                xent = -yj * jnp.log(p) - (1 - yj) * jnp.log(1 - p)
                return xent.mean() + 0.01 * jnp.sum(w ** 2), p

            @jax.jit
            def step(w, b):
                (_, p), (gw, gb) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(w, b)
                return w - lr * gw, b - lr * gb, p

            state = {"w": jnp.asarray(w0), "b": jnp.asarray(b0)}

            def run():
                state["w"], state["b"], p = step(state["w"], state["b"])
                return np.asarray(p.block_until_ready())
            return run
        peers["jax.jit"] = jax_step
    if available("torch"):
        def torch_step():
            import torch

            Xt, yt = torch.from_numpy(X_val), torch.from_numpy(y_val)
            w = torch.tensor(w0, requires_grad=True)
            b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)

            def run():
                p = 1 / (1 + torch.exp(-(Xt @ w) - b))
                xent = -yt * torch.log(p) - (1 - yt) * torch.log(1 - p)
                loss = xent.mean() + 0.01 * (w ** 2).sum()
                w.grad = b.grad = None
                loss.backward()
                with torch.no_grad():
                    w.sub_(lr * w.grad)
                    b.sub_(lr * b.grad)
                return p.detach().numpy()
            return run
        peers["torch"] = torch_step
    return Case("W2", "logreg step, f64 X 1000x100, SGD", make_graphc, make_numpy, "us",
                peers, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------- W3 / W4

def _mlp_params(sizes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((a, b)).astype(dtype) * np.sqrt(2.0 / a).astype(dtype),
             np.zeros(b, dtype)) for a, b in zip(sizes[:-1], sizes[1:])]


W3_SIZES = [784, 512, 256, 10]


def w3_params():
    """The initial W3 weights (W7 draws them before timing the build)."""
    return _mlp_params(W3_SIZES, "float32")


def build_w3_function(mode=None, batch=256, params=None):
    """The W3 train step as a graphc function (also what W7 compiles);
    ``params``: initial weights (default ``w3_params()``)."""
    params = w3_params() if params is None else params
    X, y = T.fmatrix("X"), T.ivector("y")
    shared, h = [], X
    for i, (W0, b0) in enumerate(params):
        W, b = graphc.shared(W0.copy(), name=f"W{i}"), graphc.shared(b0.copy(), name=f"b{i}")
        shared += [W, b]
        z = T.dot(h, W) + b
        h = T.nnet.relu(z) if i < len(params) - 1 else z
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y))
    grads = T.grad(loss, shared)
    lr = np.float32(0.1)
    f = graphc.function([X, y], loss, updates=[(p, p - lr * g) for p, g in zip(shared, grads)],
                        mode=mode)
    return f, shared, params


def w3(quick):
    batch = 64 if quick else 256
    rng = np.random.default_rng(0)
    X_val = rng.standard_normal((batch, W3_SIZES[0])).astype("float32")
    y_val = rng.integers(0, W3_SIZES[-1], size=batch).astype("int32")

    def make_graphc(mode):
        f = build_w3_function(mode, batch)[0]
        return lambda: f(X_val, y_val)

    def make_numpy():
        ws = _mlp_params(W3_SIZES, "float32")
        return lambda: _numpy_mlp_step(ws, X_val, y_val, batch)

    peers = {}
    if available("jax"):
        def jax_step():
            import jax
            import jax.numpy as jnp

            Xj, yj = jnp.asarray(X_val), jnp.asarray(y_val)

            def loss(params):
                h = Xj
                for i, (W, b) in enumerate(params):
                    h = h @ W + b
                    h = jax.nn.relu(h) if i < len(params) - 1 else h
                logp = jax.nn.log_softmax(h)
                return -jnp.mean(logp[jnp.arange(batch), yj])

            @jax.jit
            def step(params):
                value, grads = jax.value_and_grad(loss)(params)
                return [(W - 0.1 * gW, b - 0.1 * gb)
                        for (W, b), (gW, gb) in zip(params, grads)], value

            state = {"params": [(jnp.asarray(W), jnp.asarray(b))
                                for W, b in _mlp_params(W3_SIZES, "float32")]}

            def run():
                state["params"], value = step(state["params"])
                return np.asarray(value.block_until_ready())
            return run
        peers["jax.jit"] = jax_step
    if available("torch"):
        def torch_step():
            import torch

            Xt, yt = torch.from_numpy(X_val), torch.from_numpy(y_val).long()
            params = [(torch.from_numpy(W).requires_grad_(), torch.from_numpy(b).requires_grad_())
                      for W, b in _mlp_params(W3_SIZES, "float32")]
            flat = [p for pair in params for p in pair]

            def run():
                h = Xt
                for i, (W, b) in enumerate(params):
                    h = torch.addmm(b, h, W)
                    h = torch.relu(h) if i < len(params) - 1 else h
                loss = torch.nn.functional.cross_entropy(h, yt)
                for p in flat:
                    p.grad = None
                loss.backward()
                with torch.no_grad():
                    for p in flat:
                        p.sub_(0.1 * p.grad)
                return loss.detach().numpy()
            return run
        peers["torch"] = torch_step
    return Case("W3", f"MLP train step f32 batch {batch} 784-512-256-10", make_graphc,
                make_numpy, "ms", peers, rtol=1e-4, atol=1e-5)


def _numpy_mlp_step(ws, X_val, y_val, batch):
    """One SGD step of the relu MLP in NumPy (forward, softmax CE, backward)."""
    acts, h = [X_val], X_val
    for i, (W, b) in enumerate(ws):
        z = h @ W + b
        h = np.maximum(z, 0) if i < len(ws) - 1 else z
        acts.append(h)
    z = h - h.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(batch), y_val]))
    g = p
    g[np.arange(batch), y_val] -= 1
    g /= batch
    lr = np.float32(0.1)
    for i in range(len(ws) - 1, -1, -1):
        W, b = ws[i]
        gW, gb = acts[i].T @ g, g.sum(axis=0)
        if i:
            g = (g @ W.T) * (acts[i] > 0)
        W -= lr * gW
        b -= lr * gb
    return np.float32(loss)


def w4(quick):
    sizes = [512, 256, 128, 2]
    params = _mlp_params(sizes, "float32")
    x_val = np.random.default_rng(0).standard_normal((1, 512)).astype("float32")

    def make_graphc(mode):
        x, h = T.fmatrix("x"), None
        h = x
        for i, (W, b) in enumerate(params):
            h = T.dot(h, graphc.shared(W)) + graphc.shared(b)
            h = T.nnet.relu(h) if i < len(params) - 1 else h
        f = graphc.function([x], h, mode=mode)
        return lambda: f(x_val)

    def numpy_step():
        h = x_val
        for i, (W, b) in enumerate(params):
            h = h @ W + b
            h = np.maximum(h, 0) if i < len(params) - 1 else h
        return h

    make_numpy = lambda: numpy_step  # noqa: E731

    peers = {}
    if available("torch"):
        def torch_eager():
            import torch

            layers = [(torch.from_numpy(W), torch.from_numpy(b)) for W, b in params]
            xt = torch.from_numpy(x_val)

            def run():
                with torch.no_grad():
                    h = xt
                    for i, (W, b) in enumerate(layers):
                        h = torch.addmm(b, h, W)
                        h = torch.relu(h) if i < len(layers) - 1 else h
                    return h.numpy()
            return run
        peers["torch"] = torch_eager
    if available("jax"):
        def jax_forward():
            import jax
            import jax.numpy as jnp

            layers = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
            xj = jnp.asarray(x_val)

            @jax.jit
            def forward(h):
                for i, (W, b) in enumerate(layers):
                    h = h @ W + b
                    h = jax.nn.relu(h) if i < len(layers) - 1 else h
                return h
            return lambda: np.asarray(forward(xj).block_until_ready())
        peers["jax.jit"] = jax_forward
    return Case("W4", "MLP forward f32 batch 1 512-256-128-2", make_graphc, make_numpy, "us",
                peers, rtol=1e-5, atol=1e-5)


WORKLOADS = {"W1": w1, "W1b": w1b, "W2": w2, "W3": w3, "W4": w4}

#: workloads whose ops graphc lacks so far (reported as skipped)
MISSING = {
    "W5": ("conv2d", lambda: hasattr(T.nnet, "conv2d")),
    "W6": ("scan", lambda: hasattr(graphc, "scan")),
}
