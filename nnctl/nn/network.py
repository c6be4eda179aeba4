"""A sequential network whose parameters live in one flat vector θ.

Every trainable tensor is a view into ``theta`` and its gradient a view into
``grad`` with the same layout, so an optimizer updates all parameters with a
few whole-vector operations, gradient checking perturbs ``theta[i]`` directly,
and a checkpoint is θ plus its layout.  Trainable tensors come first (stage by
stage, see ``Network``) and frozen ones last, so optimizers update the prefix
``theta[:n_trainable]``; within a stage the penalized tensors (weights) come first,
so L1/L2 and weight decay act on one contiguous slice per stage.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from . import kernels
from .layers import Dropout, Flatten, Layer
from .losses import Loss

# Inference runs in chunks this size: larger ones gain nothing for dense layers (the MNIST MLP
# evaluated 60,000 images in 0.149 s at 256 rows, 0.140–0.153 s at 1,024–8,192) and push
# convolutions' patch matrices out of cache (LeNet-5: 0.90 s at 256, 1.48 s at 4,096);
# `bench/*.py --eval-chunks` measures it.
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


@dataclass(frozen=True)
class Stage:
    """One group of tensors that becomes trainable together: θ[start:end], weights in θ[start:penalized_end]."""

    start: int
    penalized_end: int
    end: int


def _stage_rank(layer: Layer) -> float:
    return math.inf if layer.stage is None else layer.stage


def _first_training(layers: list[Layer], n_stages: int) -> int:
    """The first layer holding parameters that train while ``n_stages`` stages are active."""
    def trains(layer):
        return any(inner.trainable and not inner.children() and inner.stage is not None and inner.stage < n_stages
                   for inner in layer.walk())

    return next((i for i, layer in enumerate(layers) if trains(layer)), len(layers))


class Network:
    """Layers plus the flat θ/dθ they are bound to.

    Each layer carries ``stage``: 0 trains from the start, k ≥ 1 is unfrozen by the
    k-th fine-tuning stage, None never trains. θ is laid out stage by stage, weights
    first within each, frozen tensors last, so the trainable tensors are always the
    prefix ``θ[:n_trainable]`` and an optimizer never sees a frozen entry.
    """

    def __init__(self, layers: list[Layer], loss: Loss, input_shape: tuple[int, ...], dtype=np.float32):
        self.layers, self.loss, self.input_shape, self.dtype = layers, loss, tuple(input_shape), np.dtype(dtype)
        first = _first_training(layers, 1)  # planned before build (see _plan_backprop)
        if first < len(layers):
            layers[first].input_gradient = False
        self.shapes = [self.input_shape]
        for layer in layers:
            self.shapes.append(tuple(layer.build(self.shapes[-1])))
        self.output_shape = self.shapes[-1]
        declared = [
            (layer, name, tuple(shape), name in layer.penalized)
            for layer in self.all_layers()
            for name, shape in layer.param_shapes().items()
        ]
        # stable: by stage, penalized first within a stage, layer order kept
        declared.sort(key=lambda entry: (_stage_rank(entry[0]), not entry[3]))
        n_stages = 1 + max((layer.stage for layer, *_ in declared if layer.stage is not None), default=0)
        bounds = {k: [None, None, None] for k in range(n_stages)}
        self.slots: list[Slot] = []
        offset = 0
        for layer, name, shape, penalized in declared:
            if layer.stage is not None:
                bound = bounds[layer.stage]
                bound[0] = offset if bound[0] is None else bound[0]
                if penalized:
                    bound[1] = offset + int(np.prod(shape))
            self.slots.append(Slot(f"{layer.name}/{name}", layer, name, offset, shape))
            offset += int(np.prod(shape))
            if layer.stage is not None:
                bounds[layer.stage][2] = offset
        self.stages: list[Stage] = []
        end = 0
        for k in range(n_stages):
            start, pen_end, stage_end = bounds[k]
            start = end if start is None else start
            end = start if stage_end is None else stage_end
            self.stages.append(Stage(start, start if pen_end is None else pen_end, end))
        self.n_penalized = self.stages[0].penalized_end - self.stages[0].start
        self.theta = np.zeros(offset, dtype=self.dtype)
        self.grad = np.zeros(offset, dtype=self.dtype)
        self._bind()
        self.activate(1)

    def _bind(self):
        for slot in self.slots:
            end = slot.offset + slot.size
            slot.layer.params[slot.param] = self.theta[slot.offset:end].reshape(slot.shape)
            slot.layer.grads[slot.param] = self.grad[slot.offset:end].reshape(slot.shape)

    # ------------------------------------------------------------ trainable stages

    def activate(self, n_stages: int) -> None:
        """Make the first ``n_stages`` stages trainable (the others stay frozen) and re-plan backprop."""
        self.active_stages = n_stages
        self.n_trainable = self.stages[n_stages - 1].end
        self.trainable_theta = self.theta[: self.n_trainable]
        self.trainable_grad = self.grad[: self.n_trainable]
        self._penalized = [(stage.start, stage.penalized_end) for stage in self.stages[:n_stages]]
        for slot in self.slots:
            slot.layer.frozen = slot.layer.stage is None or slot.layer.stage >= n_stages
        self._plan_backprop()

    def penalized_ranges(self) -> list[tuple[int, int]]:
        """The trainable weights' ranges of θ: L1/L2 and weight decay act on these only."""
        return list(self._penalized)

    def trainable_slots(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.offset < self.n_trainable]

    def _plan_backprop(self) -> None:
        """Backprop ends at the first layer with trainable parameters: what comes before it
        (frozen layers, a flatten, input dropout) needs no gradient, and that layer's dx would be
        a wasted matrix product. That layer is told, so it can plan without the dX machinery."""
        self.first_trainable = _first_training(self.layers, self.active_stages)
        for i, layer in enumerate(self.layers):
            wanted = i != self.first_trainable
            if layer.input_gradient != wanted:
                layer.input_gradient = wanted
                self._rebuild(i)

    def _rebuild(self, i: int) -> None:
        """Build layer i again for its new plan, keeping its state (batch-norm running statistics)."""
        layer = self.layers[i]
        saved = {(inner, key): arr.copy() for inner in layer.walk() for key, arr in inner.statistics.items()}
        layer.build(self.shapes[i])
        for (inner, key), arr in saved.items():
            inner.statistics[key][...] = arr
        for inner in layer.walk():
            inner._buffers.clear()

    def prefix_is_fixed(self) -> bool:
        """Whether the layers before the first trainable one compute a fixed function of the input
        while training (no dropout; their batch norms are frozen and use running statistics)."""
        return not any(
            isinstance(inner, Dropout) and inner.mode != "off"
            for layer in self.layers[: self.first_trainable]
            for inner in layer.walk()
        )

    def prefix_only_reshapes(self) -> bool:
        """Whether the layers before the first trainable one only reshape their input (the Flatten
        before a first dense layer): caching their outputs would copy the training set for nothing."""
        return all(isinstance(layer, Flatten) for layer in self.layers[: self.first_trainable])

    def features(self, x: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """The input of the first trainable layer for every row of ``x`` (the frozen prefix's output)."""
        def prefix(chunk):
            for layer in self.layers[: self.first_trainable]:
                chunk = layer.forward(chunk, False)
            return chunk

        parts = [prefix(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else x[:0]

    def lr_scales(self) -> np.ndarray | None:
        """Per-entry learning-rate multipliers of the trainable prefix, or None when all are 1."""
        if all(slot.layer.lr_scale == 1 for slot in self.trainable_slots()):
            return None
        scales = np.ones(self.n_trainable, dtype=self.dtype)
        for slot in self.trainable_slots():
            scales[slot.offset:slot.offset + slot.size] = slot.layer.lr_scale
        return scales

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
        clone.activate(self.active_stages)  # the trainable views onto the new θ and dθ
        return clone

    def set_dropout_mode(self, mode: str) -> None:
        """"on" while training, "fixed" to reuse one mask, "off" to disable."""
        for layer in self.all_layers():
            if isinstance(layer, Dropout):
                layer.mode = mode

    # ------------------------------------------------------------ computation

    def forward(self, x: np.ndarray, training: bool = False, start: int = 0, watch=None) -> np.ndarray:
        """Logits Z[L]; with training=True the result is a reused buffer.

        ``start`` > 0 takes ``x`` as the input of layer ``start`` (see ``features``). ``watch(i, out)``,
        when given, sees each layer's output as it is made (the trainer's health record)."""
        for i in range(start, len(self.layers)):
            x = self.layers[i].forward(x, training)
            if watch is not None:
                watch(i, x)
        return x

    def predict(self, x: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Output activations A[L] in inference mode, in chunks to bound memory."""
        parts = [self.loss.output(self.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.empty((0,) + self.output_shape, self.dtype)

    def penalty(self, m: int, l2: float = 0.0, l1: float = 0.0) -> float:
        """λ2/(2m)·Σ‖W‖² + λ1/(2m)·Σ|W| over the trainable weights (frozen ones are constants of J)."""
        if not (l2 or l1):
            return 0.0
        total = 0.0
        for lo, hi in self._penalized:
            w = self.theta[lo:hi]
            total += l2 * np.dot(w, w) + l1 * np.abs(w).sum(dtype=np.float64)
        return float(total / (2 * m))

    def objective(self, x, y, l2: float = 0.0, l1: float = 0.0) -> float:
        """The full cost J (data loss plus penalties) in training mode, without gradients."""
        return self.loss.cost(self.forward(x, training=True), y) + self.penalty(len(x), l2, l1)

    def switches(self) -> list[np.ndarray]:
        """The discrete choices (ReLU sides, max-pool argmaxes) of the last training-mode forward pass."""
        return [choice for layer in self.all_layers() for choice in layer.switches()]

    def loss_and_grad(self, x, y, l2: float = 0.0, l1: float = 0.0, start: int = 0, watch=None) -> float:
        """Forward and backward on one batch: fills the trainable part of ``grad`` and returns J.

        ``start`` > 0: ``x`` holds the frozen prefix's outputs (``features``), not raw inputs; ``watch``:
        see ``forward``."""
        z = self.forward(x, training=True, start=start, watch=watch)
        cost = self.loss.cost(z, y) + self.penalty(len(x), l2, l1)
        d = self.loss.grad(z, y, out=self._dz_buffer(z))
        for i in range(len(self.layers) - 1, self.first_trainable - 1, -1):
            d = self.layers[i].backward(d, need_dx=i > self.first_trainable)
        if l2 or l1:
            m = len(x)
            kernels.active().add_penalty_gradient(self.theta, self.grad, [slice(lo, hi) for lo, hi in self._penalized], l2 / m, l1 / (2 * m))
        return cost

    def _dz_buffer(self, z):
        buf = getattr(self, "_dz", None)
        if buf is None or buf.shape != z.shape or buf.dtype != z.dtype:
            buf = self._dz = np.empty_like(z)
        return buf
