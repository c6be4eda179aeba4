#!/usr/bin/env python
"""Benchmark: LeNet-5 (configs/mnist-lenet5.yaml) on MNIST in nnctl and PyTorch (default and fused Adam).

Usage (from the repository root, in the venv with the ``bench`` extra installed):

    python bench/lenet_mnist.py                     # verify, then B=128, Adam, 2 epochs, 3 repeats
    python bench/lenet_mnist.py --json bench/results/lenet.json
    python bench/lenet_mnist.py --verify-only       # only the nnctl-vs-PyTorch equivalence check
    python bench/lenet_mnist.py --profile 25        # cProfile one epoch of nnctl's Trainer

The network: conv 6@5×5 'same' + ReLU, maxpool 2, conv 16@5×5 'valid' + ReLU,
maxpool 2, dense 120 ReLU, 84 ReLU, 10 softmax; float32.  nnctl trains the
config's network and optimizer (not its learning-rate schedule or augmentation)
through its real Trainer on NHWC maps; PyTorch runs the same
network in its native NCHW layout, starting from nnctl's initial weights
converted to PyTorch's layouts.  The protocol (one fresh process per timed run,
alternating systems, paired ratios) is the shared harness's (bench/common/), as
for bench/mlp_mnist.py.  See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.threads import pin_threads, threads_from_argv  # noqa: E402  (must come before numpy: it pins the thread counts)

CONFIG = "configs/mnist-lenet5.yaml"
pin_threads(threads_from_argv(sys.argv[1:]), CONFIG)

from common import harness  # noqa: E402
from common.bench import Bench  # noqa: E402

FLAT_HWC = (5, 5, 16)  # the map the first dense layer sees: 5×5, 16 channels
DENSE = (120, 84, 10)


def build_torch(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(FLAT_HWC[0] * FLAT_HWC[1] * FLAT_HWC[2], DENSE[0]), nn.ReLU(),
        nn.Linear(DENSE[0], DENSE[1]), nn.ReLU(),
        nn.Linear(DENSE[1], DENSE[2]),
    )


def torch_params(model) -> dict:
    """nnctl numbers layers by kind (conv1, conv2, dense1, ...); PyTorch's Sequential also holds the activations."""
    convs = [m for m in model if m.__class__.__name__ == "Conv2d"]
    linears = [m for m in model if m.__class__.__name__ == "Linear"]
    named = {"conv1": convs[0], "conv2": convs[1], "dense1": linears[0], "dense2": linears[1], "dense3": linears[2]}
    return {f"{name}/{k}": getattr(mod, attr) for name, mod in named.items() for k, attr in (("W", "weight"), ("b", "bias"))}


def to_torch(key: str, a):
    """nnctl → PyTorch: conv W (fH, fW, C_in, C_out) → (C_out, C_in, fH, fW); the first dense layer's
    columns from nnctl's NHWC flattening order (h, w, c) to PyTorch's NCHW order (c, h, w)."""
    if key.startswith("conv") and key.endswith("/W"):
        return a.transpose(3, 2, 0, 1)
    if key == "dense1/W":
        return a.reshape(len(a), *FLAT_HWC).transpose(0, 3, 1, 2).reshape(len(a), -1)
    return a  # other dense W are (out, in) in both; biases are reshaped on copy


def to_nnctl(key: str, a):
    """The inverse of ``to_torch``."""
    if key.startswith("conv") and key.endswith("/W"):
        return a.transpose(2, 3, 1, 0)
    if key == "dense1/W":
        h, w, c = FLAT_HWC
        return a.reshape(len(a), c, h, w).transpose(0, 2, 3, 1).reshape(len(a), -1)
    return a


def nchw(x):
    """nnctl's NHWC images (m, 28, 28, 1) as PyTorch's NCHW (m, 1, 28, 28); with one channel this moves no data."""
    import numpy as np

    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


BENCH = Bench(
    name="lenet_mnist",
    title="MNIST LeNet-5 (conv 6@5×5 same, pool, conv 16@5×5, pool, 120, 84, 10)",
    script=Path(__file__).resolve(),
    config=CONFIG,
    build_torch=build_torch,
    torch_params=torch_params,
    to_torch=to_torch,
    to_nnctl=to_nnctl,
    torch_input=nchw,
    epochs=2,
    warmup_steps=50,
)

if __name__ == "__main__":
    sys.exit(harness.main(BENCH, __doc__.split("\n\n")[0]))
