#!/usr/bin/env python
"""Benchmark: the MNIST MLP 784-256-128-10 in nnctl, PyTorch (default and fused Adam) and scikit-learn.

Usage (from the repository root, in the venv with the ``bench`` extra installed):

    python bench/mlp_mnist.py                       # verify, then B=128, Adam, 5 epochs, 3 repeats
    python bench/mlp_mnist.py --batch-sizes 64,128,256 --repeats 5 --json bench/results/mlp.json
    python bench/mlp_mnist.py --verify-only         # only the nnctl-vs-PyTorch equivalence check
    python bench/mlp_mnist.py --profile 25          # cProfile one epoch of nnctl's Trainer

Every system trains the network of configs/mnist-mlp.yaml on the same 60,000
MNIST training images (nnctl's prepared float32 arrays, scaled /255), with the
same batch size, optimizer, learning rate, epoch count and thread count.  Every
timed run (system × repeat) and the verification run in a fresh subprocess
(this script with ``--worker SYSTEM``); the parent only orchestrates, alternating
the systems across repeats.  Throughput counts the training steps only (forward
+ backward + update, plus the per-epoch shuffle); nnctl's per-epoch evaluation
and checkpointing run but are timed separately.  See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.threads import pin_threads, threads_from_argv  # noqa: E402  (must come before numpy: it pins the thread counts)

CONFIG = "configs/mnist-mlp.yaml"
pin_threads(threads_from_argv(sys.argv[1:]), CONFIG)

import time  # noqa: E402
import warnings  # noqa: E402

from common import harness  # noqa: E402
from common.bench import Bench  # noqa: E402
from common.workload import accuracy  # noqa: E402

HIDDEN = (256, 128)
N_CLASSES = 10


# ====================================================================== PyTorch: nn.Sequential of Linear/ReLU


def build_torch(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
                         nn.Linear(HIDDEN[1], N_CLASSES))


def torch_params(model) -> dict:
    linears = [m for m in model if hasattr(m, "weight")]
    return {f"dense{i + 1}/{k}": getattr(lin, attr) for i, lin in enumerate(linears)
            for k, attr in (("W", "weight"), ("b", "bias"))}


def same_layout(key, array):
    """Dense W is (out, in) in both; nnctl's b is a column (out, 1), PyTorch's a vector (reshaped on copy)."""
    return array


def flatten(x):
    return x.reshape(len(x), -1)


# ====================================================================== scikit-learn


def run_sklearn(bench, run, spec, args) -> dict:
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    train, test = run.data["train"], run.data["test"]
    dtype = np.float64 if args.sklearn_float64 else np.float32
    x = flatten(train.x).astype(dtype, copy=False)
    xt = flatten(test.x).astype(dtype, copy=False)
    common_args = dict(hidden_layer_sizes=HIDDEN, activation="relu", alpha=0.0, batch_size=spec.train.batch_size,
                       learning_rate_init=spec.train.learning_rate, max_iter=spec.train.epochs, shuffle=True,
                       tol=0.0, n_iter_no_change=10**9, random_state=spec.seed)
    if spec.train.optimizer.name == "adam":
        clf = MLPClassifier(solver="adam", **common_args)
    else:
        clf = MLPClassifier(solver="sgd", momentum=0.0, nesterovs_momentum=False, learning_rate="constant", **common_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(x, train.labels)
        elapsed = time.perf_counter() - t0
    pred = clf.predict(xt)
    return {"epoch_times": [elapsed], "accuracy": accuracy(np.asarray(pred), test.labels),
            "dtype": str(clf.coefs_[0].dtype), "iterations": clf.n_iter_}


def add_arguments(p) -> list[str]:
    p.add_argument("--sklearn-float64", action="store_true", help="give scikit-learn float64 inputs (its dtype follows X)")
    return ["sklearn_float64"]


def note(name: str, s: dict) -> str:
    return f"trains in {s['dtype']}, alpha=0" if name == "sklearn" else ""


BENCH = Bench(
    name="mlp_mnist",
    title=f"MNIST MLP 784-{HIDDEN[0]}-{HIDDEN[1]}-{N_CLASSES}, ReLU, softmax CE",
    script=Path(__file__).resolve(),
    config=CONFIG,
    build_torch=build_torch,
    torch_params=torch_params,
    to_torch=same_layout,
    to_nnctl=same_layout,
    torch_input=flatten,
    epochs=5,
    extra_systems={"sklearn": run_sklearn},
    add_arguments=add_arguments,
    note=note,
)

if __name__ == "__main__":
    sys.exit(harness.main(BENCH, __doc__.split("\n\n")[0]))
