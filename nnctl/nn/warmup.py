"""Run every kernel once on a tiny network, so that compiled kernels are compiled (the first time on a
machine) or loaded from numba's cache before training starts, not during its first steps."""

from __future__ import annotations

import numpy as np

from . import kernels
from .conv import AvgPool, Conv2D, MaxPool
from .layers import Activate, Dense, Flatten
from .losses import make_loss
from .network import Network
from .optimizers import OPTIMIZERS

# Hyperparameters for the warm-up steps only: any valid values take the same compiled code.
_HYPER = {"gd": {}, "momentum": {"beta": 0.9, "dampened": True, "nesterov": True}, "rmsprop": {"beta": 0.9, "epsilon": 1e-8},
          "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.1}}


def warm_up(dtype) -> None:
    """One training step of each optimizer, and an inference pass, through every kernel in ``dtype``."""
    # (8, 8, 1) → (1, 1, 2); the 2×2 poolings p and v tile their maps (the 2×2 kernels), q and r take the general ones.
    layers = [Conv2D("c", 2, 3, padding="same"), MaxPool("p", 2), Activate("a", "relu"), Conv2D("d", 2, 2),
              MaxPool("q", 2, 1), Activate("l", "leaky_relu"), MaxPool("r", 1), AvgPool("v", 2), Flatten("f"),
              Dense("o", 3)]
    net = Network(layers, make_loss("auto", "softmax"), (8, 8, 1), dtype)
    net.initialize(np.random.default_rng(0))
    x = np.linspace(-1, 1, 128, dtype=dtype).reshape(2, 8, 8, 1)
    y = np.eye(3, dtype=dtype)[[0, 2]]
    shuffled = np.array([1, 0], dtype=np.intp)  # a mini-batch's rows, as an epoch's permutation gives them
    kernels.active().take_rows(x, shuffled, np.empty_like(x))
    kernels.active().take_rows(y, shuffled, np.empty_like(y))
    net.predict(x)
    with np.errstate(all="ignore"):
        for name, optimizer in OPTIMIZERS.items():
            opt = optimizer(net.n_trainable, net.dtype, net.penalized_ranges(), **_HYPER[name])
            for scales in (None, np.ones(net.n_trainable, dtype)):  # without and with per-layer rate scales
                opt.lr_scale = scales
                net.loss_and_grad(x, y, l2=0.1, l1=0.1)
                opt.step(net.trainable_theta, net.trainable_grad, 0.01)
