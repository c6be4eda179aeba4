#!/usr/bin/env python
"""Each memory-bound kernel of LeNet-5's and the MLP's training step alone: the NumPy reference against
the compiled kernels, on the step's own shapes (B=128, float32).

Usage (from the repository root, in the venv with the ``fast`` extra installed):

    python bench/kernels.py                 # 2 threads, best of 200 calls per kernel
    python bench/kernels.py --threads 1 --calls 500

Both implementations run in this one process, alternating call by call, and each
figure is the *minimum* over the calls: on a shared machine that is the closest
reading of a kernel's own cost (a mean would measure the other jobs). The layers are
the real ones (nnctl/nn/conv.py, layers.py, losses.py, optimizers.py), switched with
``kernels.using``. See docs/explanation/kernels.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.threads import DEFAULT_THREADS, pin_threads, threads_from_argv  # noqa: E402  (must come before numpy: it pins the thread counts)

pin_threads(threads_from_argv(sys.argv[1:]))

import numpy as np  # noqa: E402
from common.machine import cpu_line, machine_info  # noqa: E402
from common.tables import table  # noqa: E402

from nnctl.nn import kernels  # noqa: E402
from nnctl.nn.conv import Conv2D, MaxPool  # noqa: E402
from nnctl.nn.layers import Activate  # noqa: E402
from nnctl.nn.losses import make_loss  # noqa: E402
from nnctl.nn.optimizers import make_optimizer  # noqa: E402

B = 128
ADAM = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}


def bound(layer, shape, rng):
    """``layer`` built for ``shape`` with parameters bound, as a Network would do it."""
    layer.build(shape)
    for key, pshape in layer.param_shapes().items():
        layer.params[key] = rng.standard_normal(pshape).astype(np.float32) * 0.1
        layer.grads[key] = np.zeros(pshape, np.float32)
    return layer


def conv2_band(conv):
    """The band passes of a convolution's step alone: T built from W (forward), dW gathered from dT (backward)."""
    active = kernels.active()
    active.spread_band(conv.params["W"], conv._band, conv.block, conv._buffers["banded"])
    active.sum_band(conv._buffers["d_banded"], conv._band, conv.block, conv.grads["W"])


def cases(rng):
    """(name, prepare, call): ``prepare()`` runs once per implementation (forward passes backward needs)."""
    x1 = rng.random((B, 28, 28, 6), dtype=np.float32)
    pool1 = MaxPool("pool1", 2)
    pool1.build((28, 28, 6))
    dy1 = rng.standard_normal((B, 14, 14, 6)).astype(np.float32)
    images = rng.random((B, 28, 28, 1), dtype=np.float32)
    conv1 = Conv2D("conv1", 6, 5, padding="same")
    conv1.input_gradient = False  # the network's first layer: blocks sized for its GEMM alone, as in training
    conv1 = bound(conv1, (28, 28, 1), rng)
    x2 = rng.random((B, 14, 14, 6), dtype=np.float32)
    conv2 = bound(Conv2D("conv2", 16, 5), (14, 14, 6), rng)
    dz2 = rng.standard_normal((B, 10, 10, 16)).astype(np.float32)
    h = rng.standard_normal((B, 256)).astype(np.float32)
    relu = Activate("relu", "relu")
    z = rng.standard_normal((B, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, B)]
    loss = make_loss("auto", "softmax")
    out = np.empty_like(z)
    hb = rng.standard_normal((1, 256)).astype(np.float32)
    db = np.empty_like(hb)
    images_flat = rng.random((60_000, 784), dtype=np.float32)
    order, batch_rows, taken = rng.permutation(60_000), iter(range(10**9)), np.empty((B, 784), np.float32)

    def take_batch():  # a new batch of rows each call: they come from memory, as in an epoch
        k = next(batch_rows) % (60_000 // B)
        kernels.active().take_rows(images_flat, order[k * B:(k + 1) * B], taken)

    theta = {n: rng.standard_normal(n).astype(np.float32) for n in (61_706, 235_146)}
    grads = {n: rng.standard_normal(n).astype(np.float32) * 1e-3 for n in theta}
    optimizers = {}

    def adam_step(n):
        if n not in optimizers:
            optimizers[n] = make_optimizer("adam", n, np.float32, 0, **ADAM)
        optimizers[n].step(theta[n], grads[n], 1e-3)

    return [
        ("max-pool 2×2 forward (128, 28, 28, 6), training", None, lambda: pool1.forward(x1, True)),
        ("max-pool 2×2 backward", lambda: pool1.forward(x1, True), lambda: pool1.backward(dy1)),
        ("conv1 5×5 same: patch gather + GEMM (forward)", None, lambda: conv1.forward(images, True)),
        ("conv2 5×5: backward (GEMMs + scatter-add)", lambda: conv2.forward(x2, True), lambda: conv2.backward(dz2)),
        ("conv2: T's band from W, then dW from dT's band", lambda: (conv2.forward(x2, True), conv2.backward(dz2)),
         lambda: conv2_band(conv2)),
        ("ReLU forward (128, 256)", None, lambda: relu.forward(h, True)),
        ("ReLU backward (mask · dy)", lambda: relu.forward(h, True), lambda: relu.backward(h)),
        ("softmax-CE gradient (128, 10)", None, lambda: loss.grad(z, y, out=out)),
        ("softmax-CE cost (128, 10)", None, lambda: loss.cost(z, y)),
        ("dense bias add, (128, 256)", None, lambda: kernels.active().add_bias(h, hb)),
        ("dense bias gradient, (128, 256)", None, lambda: kernels.active().bias_gradient(h, db)),
        ("mini-batch rows: 128 of 60,000 × 784 from memory", None, take_batch),
        ("Adam step, LeNet-5's θ (61,706)", None, lambda: adam_step(61_706)),
        ("Adam step, the MLP's θ (235,146)", None, lambda: adam_step(235_146)),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    kernels.select("compiled", np.float32)  # compiled (or loaded) before timing
    rows = []
    for name, prepare, call in cases(rng):
        best = {}
        for impl in ("numpy", "compiled"):
            with kernels.using(impl):
                if prepare:
                    prepare()
                for _ in range(5):
                    call()
        for _ in range(args.calls):
            for impl in ("numpy", "compiled"):
                with kernels.using(impl):
                    if prepare:
                        prepare()
                    t0 = time.perf_counter()
                    call()
                    best[impl] = min(best.get(impl, float("inf")), time.perf_counter() - t0)
        rows.append([name, f"{1e3 * best['numpy']:.3f}", f"{1e3 * best['compiled']:.3f}", f"{best['numpy'] / best['compiled']:.1f}×"])
    print(f"machine: {cpu_line(machine_info())}; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"each kernel alone, B={B}, float32, {args.threads} threads, best of {args.calls} calls, implementations alternating")
    print(table(["kernel (the real layer's call)", "numpy ms", "compiled ms", "speed-up"], rows, right={1, 2, 3}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
