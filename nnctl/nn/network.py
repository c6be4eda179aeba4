"""A sequential network whose parameters live in one flat vector θ.

Every trainable tensor is a view into ``theta`` and its gradient a view into
``grad`` with the same layout, so an optimizer updates all parameters with a
few whole-vector operations, gradient checking perturbs ``theta[i]`` directly,
and a checkpoint is θ plus its layout.  The penalized tensors (weights) come
first, so L1/L2 and weight decay act on one contiguous slice ``theta[:n_penalized]``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .layers import Dropout, Layer
from .losses import Loss

# Inference runs in chunks this size: larger ones gain nothing for dense layers and
# push convolutions' patch matrices out of cache (LeNet-5 at 4096: 5× slower than at 256).
INFERENCE_BATCH = 256


@dataclass(frozen=True)
class Slot:
    """Where one parameter tensor sits in θ."""

    key: str  # "<layer>/<param>", also its HDF5 path under /params
    layer: Layer
    param: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


class Network:
    def __init__(self, layers: list[Layer], loss: Loss, input_shape: tuple[int, ...], dtype=np.float32):
        self.layers, self.loss, self.input_shape, self.dtype = layers, loss, tuple(input_shape), np.dtype(dtype)
        # Backprop ends at the first layer with parameters: what comes before it (a flatten,
        # input dropout) needs no gradient, and that layer's dX would be a wasted matrix product.
        self._first_trainable = next((i for i, layer in enumerate(layers) if layer.trainable), len(layers))
        if self._first_trainable < len(layers):
            layers[self._first_trainable].input_gradient = False
        self.shapes = [self.input_shape]
        for layer in layers:
            self.shapes.append(tuple(layer.build(self.shapes[-1])))
        self.output_shape = self.shapes[-1]
        declared = [
            (layer, name, tuple(shape), name in layer.penalized)
            for layer in self.all_layers()
            for name, shape in layer.param_shapes().items()
        ]
        declared.sort(key=lambda entry: not entry[3])  # stable: penalized first, layer order kept
        self.slots: list[Slot] = []
        self.n_penalized = offset = 0
        for layer, name, shape, penalized in declared:
            self.slots.append(Slot(f"{layer.name}/{name}", layer, name, offset, shape))
            offset += int(np.prod(shape))
            self.n_penalized += int(np.prod(shape)) if penalized else 0
        self.theta = np.zeros(offset, dtype=self.dtype)
        self.grad = np.zeros(offset, dtype=self.dtype)
        self._bind()

    def _bind(self):
        for slot in self.slots:
            end = slot.offset + slot.size
            slot.layer.params[slot.param] = self.theta[slot.offset:end].reshape(slot.shape)
            slot.layer.grads[slot.param] = self.grad[slot.offset:end].reshape(slot.shape)

    # ------------------------------------------------------------ parameters and state

    def all_layers(self):
        """Every layer, including those inside composite layers, in a fixed order."""
        for layer in self.layers:
            yield from layer.walk()

    def initialize(self, rng: np.random.Generator) -> None:
        for layer in self.all_layers():
            layer.initialize(rng)

    def tensors(self) -> dict[str, np.ndarray]:
        return {slot.key: slot.layer.params[slot.param] for slot in self.slots}

    def grad_tensors(self) -> dict[str, np.ndarray]:
        return {slot.key: slot.layer.grads[slot.param] for slot in self.slots}

    def load(self, params: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> None:
        """Copy saved tensors (keyed like ``tensors()``) and state into θ and the layers."""
        tensors = self.tensors()
        for key, value in params.items():
            tensors[key][...] = value
        self.load_state(state)

    def state(self) -> dict[str, np.ndarray]:
        """Non-trained arrays (batch-norm running statistics), keyed "<layer>/<name>"."""
        return {f"{layer.name}/{name}": arr for layer in self.all_layers() for name, arr in layer.statistics.items()}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        for key, target in self.state().items():
            target[...] = arrays[key]

    def with_dtype(self, dtype) -> Network:
        """An independent copy computing in ``dtype`` (gradient checking uses float64)."""
        clone = copy.deepcopy(self)
        clone.dtype = np.dtype(dtype)
        clone.theta = self.theta.astype(dtype)
        clone.grad = np.zeros_like(clone.theta)
        for layer in clone.all_layers():
            layer._buffers.clear()
        clone._bind()
        return clone

    def set_dropout_mode(self, mode: str) -> None:
        """"on" while training, "fixed" to reuse one mask, "off" to disable."""
        for layer in self.all_layers():
            if isinstance(layer, Dropout):
                layer.mode = mode

    # ------------------------------------------------------------ computation

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits Z[L]; with training=True the result is a reused buffer."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def predict(self, x: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Output activations A[L] in inference mode, in chunks to bound memory."""
        parts = [self.loss.output(self.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.empty((0,) + self.output_shape, self.dtype)

    def penalty(self, m: int, l2: float = 0.0, l1: float = 0.0) -> float:
        """λ2/(2m)·Σ‖W‖² + λ1/(2m)·Σ|W| over the penalized slice (weights only)."""
        if not (l2 or l1):
            return 0.0
        w = self.theta[: self.n_penalized]
        return float((l2 * np.dot(w, w) + l1 * np.abs(w).sum(dtype=np.float64)) / (2 * m))

    def objective(self, x, y, l2: float = 0.0, l1: float = 0.0) -> float:
        """The full cost J (data loss plus penalties) in training mode, without gradients."""
        return self.loss.cost(self.forward(x, training=True), y) + self.penalty(len(x), l2, l1)

    def loss_and_grad(self, x, y, l2: float = 0.0, l1: float = 0.0) -> float:
        """Forward and backward on one batch: fills ``grad`` and returns J."""
        z = self.forward(x, training=True)
        cost = self.loss.cost(z, y) + self.penalty(len(x), l2, l1)
        d = self.loss.grad(z, y, out=self._dz_buffer(z))
        for i in range(len(self.layers) - 1, self._first_trainable - 1, -1):
            d = self.layers[i].backward(d, need_dx=i > self._first_trainable)
        if l2 or l1:
            m, w, dw = len(x), self.theta[: self.n_penalized], self.grad[: self.n_penalized]
            if l2:
                dw += (l2 / m) * w
            if l1:
                dw += (l1 / (2 * m)) * np.sign(w)
        return cost

    def _dz_buffer(self, z):
        buf = getattr(self, "_dz", None)
        if buf is None or buf.shape != z.shape or buf.dtype != z.dtype:
            buf = self._dz = np.empty_like(z)
        return buf
