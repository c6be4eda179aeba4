"""A checkpoint checked against the network it is loaded into, before anything uses it.

`load_checkpoint` already refuses unreadable files, missing or malformed
attributes and altered tensors; what only the orchestration can check is that
the file fits the network the spec builds: every tensor present, nothing
extra, exact shapes, finite values, a usable normalizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Normalizer
from ..errors import CheckpointError
from ..nn.network import Network
from ..runs.checkpoint import Checkpoint, check_finite, check_group


def check_network(ckpt: Checkpoint, path: Path, net: Network) -> None:
    """The checkpoint's parameters and state are exactly ``net``'s tensors, and finite."""
    check_group(path, "params", ckpt.params, {slot.key: slot.shape for slot in net.slots})
    check_group(path, "state", ckpt.state, {key: value.shape for key, value in net.state().items()})
    check_finite(path, "params", ckpt.params)
    check_finite(path, "state", ckpt.state)


def load_into(net: Network, ckpt: Checkpoint, path: Path) -> None:
    """Copy the checkpoint's parameters and state into ``net`` once they are checked to fit."""
    check_network(ckpt, path, net)
    net.load(ckpt.params, ckpt.state)


def stored_normalizer(ckpt: Checkpoint, path: Path) -> Normalizer:
    """The run's input normalization, refusing a missing or malformed one."""
    try:
        normalizer = Normalizer.from_state(ckpt.normalizer)
        np.broadcast_shapes(np.shape(normalizer.shift), np.shape(normalizer.divisor), tuple(ckpt.input_shape))
    except (KeyError, ValueError, TypeError, AttributeError):
        raise CheckpointError(f"{path}: damaged checkpoint: the input normalization (/normalizer) is missing or malformed") from None
    return normalizer


RNG_STREAMS = ("shuffle_epoch_start", "dropout", "augment")
PROGRESS_KEYS = {"best": dict, "metric_steps": int, "metric_epochs": int}


def check_resumable(ckpt: Checkpoint, path: Path) -> None:
    """The random streams and progress record a resumed run continues from are complete and well-formed."""
    for key, kind in PROGRESS_KEYS.items():
        if not isinstance(ckpt.progress.get(key), kind) or isinstance(ckpt.progress.get(key), bool):
            raise CheckpointError(f"{path}: damaged checkpoint: progress.{key} is missing or not a {kind.__name__}")
    for name in RNG_STREAMS:
        try:
            np.random.default_rng().bit_generator.state = ckpt.rng[name]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: damaged checkpoint: the '{name}' random stream state is missing or malformed") from None
