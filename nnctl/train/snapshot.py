"""A training state kept in memory until it is written: the best epoch's, the last good epoch's.

Writing a checkpoint costs file system work (build, seal, fsync, rename); copying
θ, the optimizer moments and the RNG states into memory costs a few passes over
arrays the optimizer passes over every step anyway. So the trainer copies at
each epoch's end and writes on a time budget. The copies go into buffers the
snapshot owns and reuses, reallocated only when a fine-tuning stage grows the
optimizer: no allocation per epoch.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..runs.checkpoint import Checkpoint


class Snapshot:
    """The latest Checkpoint given to ``take``, copied so that training on does not change it."""

    def __init__(self):
        self.checkpoint: Checkpoint | None = None
        self._buffers: dict[tuple[str, str], np.ndarray] = {}

    def take(self, ckpt: Checkpoint) -> Checkpoint:
        """Copy ``ckpt``'s arrays (its other fields are fresh objects already, or never change)."""
        self.checkpoint = replace(
            ckpt,
            params=self._copy("params", ckpt.params),
            state=self._copy("state", ckpt.state),
            optimizer=self._copy("optimizer", ckpt.optimizer),
        )
        return self.checkpoint

    def _copy(self, group: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, value in arrays.items():
            buffer = self._buffers.get((group, name))
            if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
                buffer = self._buffers[(group, name)] = np.empty_like(value)
            np.copyto(buffer, value)
            out[name] = buffer
        return out
