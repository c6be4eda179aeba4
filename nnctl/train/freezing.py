"""Which parameters train when: `trainable: false`, `model.freeze`, `train.unfreeze` and `lr_scale`.

Each layer gets a stage (0: trains from the start, k: unfrozen by the k-th
`train.unfreeze` entry, None: never trains) and a learning-rate multiplier; the
network lays θ out by stage from them. A name covers the layer and its parts
(`conv1` also means `conv1.bn`; `res1` its whole body), as a person reads a block.
"""

from __future__ import annotations

from ..did_you_mean import unknown_word
from ..errors import BuildError
from ..nn.layers import Layer
from ..spec.schema import Spec


def covers(name: str, layer_name: str) -> bool:
    return layer_name == name or layer_name.startswith(name + ".")


def apply_layer_settings(layers: list[Layer], layer_spec) -> None:
    """A layer spec's own `trainable` and `lr_scale`, for every layer its block built."""
    trainable, scale = getattr(layer_spec, "trainable", True), getattr(layer_spec, "lr_scale", 1.0)
    for layer in layers:
        for inner in layer.walk():
            if not trainable:
                inner.stage = None
            inner.lr_scale *= scale


def named_layers(all_layers: list[Layer], name: str, key: str, what: str = "layer") -> list[Layer]:
    """The layers with parameters that ``name`` covers; a BuildError at ``key`` when there are none."""
    hits = [layer for layer in all_layers if covers(name, layer.name)]
    if not hits:
        raise BuildError(key, unknown_word(name, what, [layer.name for layer in all_layers]))
    weighted = [layer for layer in hits if layer.param_shapes()]
    if not weighted:
        raise BuildError(key, f"'{name}' has no parameters to freeze or train")
    return weighted


def stages_due(spec: Spec, epoch: int) -> int:
    """How many stages train during ``epoch`` (1-based): stage 0 plus every unfreeze with after_epochs < epoch."""
    return 1 + sum(stage.after_epochs < epoch for stage in spec.train.unfreeze)


def assign_stages(spec: Spec, all_layers: list[Layer]) -> None:
    """Apply `model.freeze` and the `train.unfreeze` stages, then refuse a network with nothing to train."""
    for j, name in enumerate(spec.model.freeze):
        for layer in named_layers(all_layers, name, f"model.freeze[{j}]"):
            layer.stage = None
    for k, stage in enumerate(spec.train.unfreeze, start=1):
        for j, name in enumerate(stage.layers):
            key = f"train.unfreeze[{k - 1}].layers[{j}]"
            hits = named_layers(all_layers, name, key)
            if all(layer.stage is not None for layer in hits):
                raise BuildError(key, f"'{name}' is not frozen (freeze it with trainable: false or model.freeze first)")
            for layer in hits:
                if layer.stage is None:
                    layer.stage, layer.lr_scale = k, layer.lr_scale * stage.lr_scale
    weighted = [layer for layer in all_layers if layer.param_shapes()]
    if weighted and all(layer.stage != 0 for layer in weighted):
        key = "model.freeze" if spec.model.freeze else "model.layers"
        raise BuildError(key, "every layer is frozen, so nothing would train; leave at least one layer trainable")
