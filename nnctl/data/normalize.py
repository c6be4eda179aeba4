"""Input normalization fitted on the training split and replayed everywhere else.

Every method is stored as x̂ = (x − shift) / divisor with per-feature arrays
(over axis 0, so an image gets one value per pixel and channel): standardize
uses μ and σ, minmax the minimum and range, scale 0 and the constant, none 0 and 1.
Keeping only these arrays lets a checkpoint restore the transform exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import DataError
from .moments import RunningMoments
from .rows import blocks

METHODS = ("standardize", "minmax", "scale", "none")


class Normalizer:
    def __init__(self, method: str = "none", shift: np.ndarray | float = 0.0, divisor: np.ndarray | float = 1.0):
        self._set(method, shift, divisor)

    def _set(self, method: str, shift, divisor) -> None:
        if method not in METHODS:
            raise DataError(f"unknown normalization method '{method}' (known: {', '.join(METHODS)})")
        self.method = method
        self.shift = np.asarray(shift, dtype=np.float64)
        self.divisor = np.asarray(divisor, dtype=np.float64)

    def fit(self, x_train, method: str, scale: float = 255.0) -> Normalizer:
        """Compute the statistics from training rows only; constant features get σ (or range) 1.

        An array is reduced in float64 blocks in row order, carrying the running
        sum into each block, so μ and σ are bit for bit those of one float64 pass
        without a float64 copy of the data. Rows still on disk (anything with
        ``blocks()``, such as DiskRows) are read once (``fit_streaming``).
        """
        if method not in ("standardize", "minmax"):
            return self._fit_constant(method, scale)
        if not isinstance(x_train, np.ndarray):  # rows on disk (DiskRows, a streamed split): blocks as stored
            return self.fit_streaming((block for _, block in x_train.blocks()), method)
        if method == "standardize":
            shift = _sequential_sum(x_train, None) / len(x_train)
            divisor = np.sqrt(_sequential_sum(x_train, shift) / len(x_train))
        elif method == "minmax":
            shift, high = _extremes(block for _, block in blocks(x_train))
            divisor = high - shift
        self._set(method, shift, np.where(divisor == 0, 1.0, divisor))
        return self

    def fit_streaming(self, chunks: Iterable[np.ndarray], method: str = "standardize") -> Normalizer:
        """Fit from blocks of training rows seen once (Chan's parallel merge, float64 accumulators)."""
        moments = RunningMoments()
        for chunk in chunks:
            moments.update(chunk)
        if moments.count == 0:
            raise DataError("no training rows to fit the normalizer on")
        if method == "standardize":
            shift, divisor = moments.mean, moments.std
        else:
            shift, divisor = moments.min, moments.max - moments.min
        self._set(method, shift, np.where(divisor == 0, 1.0, divisor))
        return self

    def _fit_constant(self, method: str, scale: float) -> Normalizer:
        self._set(method, np.float64(0.0), np.float64(scale if method == "scale" else 1.0))
        return self

    def apply(self, x, dtype=np.float64, out: np.ndarray | None = None) -> np.ndarray:
        """(x − shift) / divisor computed in float64 blocks and stored as ``dtype``.

        ``out`` may be ``x`` itself (normalizing in place) or any array of x's shape.
        """
        out = np.empty(x.shape, dtype=dtype) if out is None else out
        for positions, block in blocks(x):
            out[positions] = self.transform_block(block)
        return out

    def transform_block(self, block: np.ndarray) -> np.ndarray:
        """One block's (x − shift) / divisor in float64 (a new array)."""
        scratch = np.subtract(block, self.shift, dtype=np.float64)
        scratch /= self.divisor
        return scratch

    def state(self) -> dict[str, np.ndarray | str]:
        """The arrays a checkpoint stores; the method name is bytes so HDF5 can hold it."""
        return {"method": np.array(self.method.encode()), "shift": self.shift.copy(), "divisor": self.divisor.copy()}

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        """Rebuild from ``state()``, also as read back from HDF5 (str, bytes or 0-d arrays)."""
        method = np.asarray(state["method"]).item()
        method = method.decode() if isinstance(method, bytes) else str(method)
        return cls(method, state["shift"], state["divisor"])


def _sequential_sum(x: np.ndarray, center: np.ndarray | None) -> np.ndarray:
    """Σ over rows of x (or of (x − center)²) in float64, block by block in row order.

    NumPy reduces axis 0 row after row, so adding the running total into each
    block's first row continues exactly the sum one float64 pass would make.
    """
    total = None
    for _, block in blocks(x):
        piece = np.asarray(block, dtype=np.float64) if center is None else np.subtract(block, center, dtype=np.float64)
        if center is not None:
            np.multiply(piece, piece, out=piece)
        elif piece is block:
            piece = piece.copy()
        if total is not None:
            piece[0] += total
        total = piece.sum(axis=0)
    return total


def _extremes(chunks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    low = high = None
    for chunk in chunks:
        lo, hi = chunk.min(axis=0), chunk.max(axis=0)
        low = lo if low is None else np.minimum(low, lo)
        high = hi if high is None else np.maximum(high, hi)
    return low.astype(np.float64), high.astype(np.float64)
