"""How OpenBLAS's idle threads wait between matrix products, chosen per network before NumPy loads OpenBLAS.

After each multi-threaded product, OpenBLAS's worker threads spin for about 2²⁸
cycles (~0.1 s) before they sleep, so during training they never sleep.  A
convolutional network spends the time between its products in data movement
(patch copies, pooling, slice-adds) that nnctl runs on two threads, one per half
of the batch (``nn/conv.py``), and a spinning worker takes the second core from
that helper: a product followed by a max-pool's forward and backward took
1.70 ms with spinning workers against 0.44 + 0.70 ms apart, and 1.21 ms with
workers that sleep after 2¹⁶ cycles (~25 µs).  On LeNet-5's training loop that
was 0.57× → 0.67× PyTorch (``bench/results/lenet_mnist-thread-timeout-ab.txt``).
A dense network runs its products back to back, where waking a sleeping worker
costs more than spinning (``bench/results/mlp_mnist-thread-timeout-ab.txt``), so it
keeps OpenBLAS's default.  OpenBLAS reads the variable once, when it loads: this
must run before NumPy is imported, and a value the user set is left alone.
"""

from __future__ import annotations

import os
import sys

from ..spec.schema import ModelSpec

TIMEOUT_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
SPLIT_TIMEOUT = "16"  # for networks that split batches: log₂ of the cycles a worker spins before it sleeps (4–30)
_SPLIT_LAYERS = ("conv2d", "maxpool")  # the layers whose data movement runs on the helper thread


def splits_batches(model: ModelSpec) -> bool:
    """True when some layer (a residual block's body included) may run its data movement on two threads:
    a convolution, or a max-pool whose windows tile the map, on batches (or evaluation chunks) of 32 rows or more."""
    def kinds(layers):
        for layer in layers:
            yield layer.type
            yield from kinds(getattr(layer, "layers", ()))

    return any(kind in _SPLIT_LAYERS for kind in kinds(model.layers))


def blas_environment(model: ModelSpec, environ=os.environ) -> dict[str, str]:
    """The OpenBLAS variables this network trains best with, minus any the user has set."""
    if TIMEOUT_VARIABLE in environ or not splits_batches(model):
        return {}
    return {TIMEOUT_VARIABLE: SPLIT_TIMEOUT}


def prepare_blas(model: ModelSpec) -> bool:
    """Set ``blas_environment`` in this process; False when NumPy (and so OpenBLAS) is already loaded."""
    if "numpy" in sys.modules:
        return False
    os.environ.update(blas_environment(model))
    return True
