"""Inspect the MLP train step: the graph before and after optimization, the
compile report, a profile of a few hundred steps, pictures, and saving /
pickling the trained function.  docs/inspection.md shows its output.

    python examples/inspect_mlp.py [--out DIR] [--steps N]

Writes DIR/mlp_before_after.dot (the train step before and after
optimization), with Graphviz also DIR/mlp_train_step.svg and
DIR/mlp_predict_before_after.svg, and DIR/mlp.json + DIR/mlp.npz and
DIR/train_step.pkl.
"""

import argparse
import os
import pickle
import time

import numpy as np
from sklearn.datasets import load_digits

import graphc
import graphc.tensor as T
from graphc import persist, printing


def build(n_hidden=32, lr=0.1, seed=0):
    """The train step of examples/train_digits.py, compiled with profiling,
    and a prediction function."""
    rng = np.random.default_rng(seed)
    floatX = graphc.config.floatX
    x = T.matrix("x")
    y = T.ivector("y")
    W1 = graphc.shared((rng.standard_normal((64, n_hidden)) * np.sqrt(2 / 64)).astype(floatX),
                       "W1")
    b1 = graphc.shared(np.zeros(n_hidden, floatX), "b1")
    W2 = graphc.shared((rng.standard_normal((n_hidden, 10)) * np.sqrt(2 / n_hidden))
                       .astype(floatX), "W2")
    b2 = graphc.shared(np.zeros(10, floatX), "b2")
    hidden = T.nnet.relu(T.dot(x, W1) + b1)
    hidden.name = "hidden"  # printers show named intermediates by name
    p_y = T.nnet.softmax(T.dot(hidden, W2) + b2)
    p_y.name = "p_y"
    loss = T.nnet.categorical_crossentropy(p_y, y).mean()
    loss.name = "loss"
    params = [W1, b1, W2, b2]
    updates = [(p, p - lr * g) for p, g in zip(params, graphc.grad(loss, params))]
    train = graphc.function([x, y], loss, updates=updates, name="train_step", profile=True)
    predict = graphc.function([x], T.argmax(p_y, axis=1), name="predict")
    return train, predict, loss, p_y


def section(title):
    print(f"\n===== {title} =====")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="inspect_out")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    digits = load_digits()
    X = (digits.data / 16.0).astype(graphc.config.floatX)
    Y = digits.target.astype("int32")
    train, predict, loss, p_y = build()

    section("pprint")
    print("p_y  =", printing.pprint(p_y))
    print("loss =", printing.pprint(loss))

    section("debugprint(loss): the user's graph, before optimization")
    printing.debugprint(loss)

    section("debugprint(train): the compiled graph")
    printing.debugprint(train)

    section("train.report()")
    print(train.report())

    rng = np.random.default_rng(0)
    for _ in range(args.steps):
        batch = rng.integers(0, len(X), 64)
        train(X[batch], Y[batch])
    section(f"train.profile.summary() after {args.steps} steps")
    train.profile.summary(n_nodes=12, n_ops=10)

    section("pictures")
    dot = printing.pydotprint(train, outfile=os.path.join(args.out, "mlp_before_after.dot"),
                              graph="both")
    print("wrote", dot)
    try:
        for path, obj, which in [("mlp_train_step.svg", train, "optimized"),
                                 ("mlp_predict_before_after.svg", predict, "both")]:
            print("wrote", printing.pydotprint(obj, outfile=os.path.join(args.out, path),
                                               graph=which))
    except printing.GraphvizNotFoundError as exc:
        print(exc)

    section("persistence")
    json_path, npz_path = persist.save(os.path.join(args.out, "mlp.json"), p_y)
    restored = persist.load(json_path)
    predict2 = graphc.function(restored.inputs, T.argmax(restored.outputs[0], axis=1))
    same = np.array_equal(predict2(X), predict(X))
    print(f"saved {json_path} + {npz_path}; reloaded predictions identical: {same}")
    pkl = os.path.join(args.out, "train_step.pkl")
    with open(pkl, "wb") as fh:
        pickle.dump(train, fh)
    t0 = time.perf_counter()
    with open(pkl, "rb") as fh:
        train2 = pickle.load(fh)
    t_load = time.perf_counter() - t0
    batch = rng.integers(0, len(X), 64)
    a, b = train(X[batch], Y[batch]), train2(X[batch], Y[batch])
    print(f"pickled {pkl} ({os.path.getsize(pkl)} bytes), unpickled + recompiled in "
          f"{t_load * 1e3:.1f} ms; next step's loss identical: {bool(a == b)}")
    print(f"accuracy on all digits: {np.mean(predict(X) == Y):.3f}")


if __name__ == "__main__":
    main()
