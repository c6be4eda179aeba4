"""Input normalization fitted on the training split and replayed everywhere else.

Every method is stored as x̂ = (x − shift) / divisor with per-feature arrays
(over axis 0, so an image gets one value per pixel and channel): standardize
uses μ and σ, minmax the minimum and range, scale 0 and the constant, none 0 and 1.
Keeping only these arrays lets a checkpoint restore the transform exactly.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

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

    def fit(self, x_train: np.ndarray, method: str, scale: float = 255.0) -> Normalizer:
        """Compute the statistics from training rows only; constant features get σ (or range) 1."""
        x = np.asarray(x_train, dtype=np.float64)
        if method == "standardize":
            shift, divisor = x.mean(axis=0), x.std(axis=0)
        elif method == "minmax":
            shift = x.min(axis=0)
            divisor = x.max(axis=0) - shift
        else:
            shift, divisor = np.float64(0.0), np.float64(scale if method == "scale" else 1.0)
        self._set(method, shift, np.where(divisor == 0, 1.0, divisor))
        return self

    def apply(self, x: np.ndarray, dtype=np.float64) -> np.ndarray:
        """A new array (x − shift) / divisor, computed in float64 and returned as ``dtype``.

        Row blocks of ~1 MB keep the float64 intermediates in cache (no full-size float64
        temporaries: MNIST's would be 376 MB each); every value is the same as in one pass.
        """
        x = np.asarray(x)
        out = np.empty(x.shape, dtype=dtype)
        step = max(1, (1 << 17) // max(1, int(np.prod(x.shape[1:]))))
        for i in range(0, len(x), step):
            out[i:i + step] = (x[i:i + step].astype(np.float64) - self.shift) / self.divisor
        return out

    def state(self) -> dict[str, np.ndarray | str]:
        """The arrays a checkpoint stores; the method name is bytes so HDF5 can hold it."""
        return {"method": np.array(self.method.encode()), "shift": self.shift.copy(), "divisor": self.divisor.copy()}

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        """Rebuild from ``state()``, also as read back from HDF5 (str, bytes or 0-d arrays)."""
        method = np.asarray(state["method"]).item()
        method = method.decode() if isinstance(method, bytes) else str(method)
        return cls(method, state["shift"], state["divisor"])
