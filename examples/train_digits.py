"""graphc's main job: train an MLP on scikit-learn's bundled handwritten digits.

Theano-style from start to finish: symbolic inputs, a softmax cross-entropy
loss, gradients from graphc.grad, SGD through ``updates``.  Prints a
learning curve, the final test accuracy and the compiled training graph.

    python examples/train_digits.py [--epochs N] [--hidden H] [--lr LR]
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc
import graphc.tensor as T


def load_data(seed):
    digits = load_digits()
    X = (digits.data / 16.0).astype(graphc.config.floatX)  # 8x8 images, pixels 0..16
    y = digits.target.astype("int32")
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def init_layer(rng, n_in, n_out, name):
    scale = np.sqrt(2.0 / n_in)  # He initialisation for ReLU layers
    W = graphc.shared((rng.standard_normal((n_in, n_out)) * scale).astype(graphc.config.floatX),
                      name=f"W_{name}")
    b = graphc.shared(np.zeros(n_out, dtype=graphc.config.floatX), name=f"b_{name}")
    return W, b


def build(n_in, n_hidden, n_classes, lr, l2, seed):
    rng = np.random.default_rng(seed)
    x = T.matrix("x")
    y = T.ivector("y")
    W1, b1 = init_layer(rng, n_in, n_hidden, "hidden")
    W2, b2 = init_layer(rng, n_hidden, n_classes, "out")
    params = [W1, b1, W2, b2]

    hidden = T.nnet.relu(T.dot(x, W1) + b1)
    p_y = T.nnet.softmax(T.dot(hidden, W2) + b2)
    nll = T.nnet.categorical_crossentropy(p_y, y).mean()
    loss = nll + l2 * (T.sum(W1 ** 2) + T.sum(W2 ** 2))
    prediction = T.argmax(p_y, axis=1)
    accuracy = T.mean(T.eq(prediction, y))

    grads = graphc.grad(loss, params)
    updates = [(p, p - lr * g) for p, g in zip(params, grads)]
    train = graphc.function([x, y], [loss, accuracy], updates=updates, name="train_step")
    evaluate = graphc.function([x, y], [nll, accuracy], name="evaluate")
    return train, evaluate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X_train, X_test, y_train, y_test = load_data(args.seed)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of "
          f"{X_train.shape[1]} pixels, 10 classes")
    t0 = time.perf_counter()
    train, evaluate = build(X_train.shape[1], args.hidden, 10, args.lr, args.l2, args.seed)
    print(f"compiled train and evaluate functions in {time.perf_counter() - t0:.2f} s\n")

    order_rng = np.random.default_rng(args.seed)
    print(f"{'epoch':>5} {'train loss':>11} {'train acc':>10} {'test loss':>10} {'test acc':>9}  curve")
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = order_rng.permutation(len(X_train))
        losses, accs = [], []
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            loss, acc = train(X_train[batch], y_train[batch])
            losses.append(float(loss))
            accs.append(float(acc))
        test_loss, test_acc = evaluate(X_test, y_test)
        bar = "#" * int(round(40 * float(test_acc)))
        print(f"{epoch:5d} {np.mean(losses):11.4f} {np.mean(accs):10.3f} "
              f"{float(test_loss):10.4f} {float(test_acc):9.3f}  {bar}", flush=True)
    elapsed = time.perf_counter() - t0
    test_loss, test_acc = evaluate(X_test, y_test)
    print(f"\ntrained {args.epochs} epochs in {elapsed:.1f} s")
    print(f"final test accuracy: {float(test_acc):.4f}")
    print("\ncompiled training function (graphc.printing.debugprint):")
    graphc.printing.debugprint(train)


if __name__ == "__main__":
    main()
