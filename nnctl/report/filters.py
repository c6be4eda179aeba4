"""The filters of a convolution layer as images, one tile per filter and input channel.

The weights come from the checkpoint's ``/params/<layer>/W`` (fH, fW, C_in, C_out),
so any layer named by kind (conv1, conv2, res1.conv1, ...) can be shown.
"""

from __future__ import annotations

import numpy as np

from ..did_you_mean import did_you_mean
from ..errors import PlotError
from ..orchestration.model import LoadedModel
from .figures import DIVERGING, new_figure

MAX_FILTERS, MAX_CHANNELS = 64, 16


def conv_layers(model: LoadedModel) -> list[str]:
    """Names of the layers whose weights are 4-D convolution kernels, in network order."""
    return [key.rsplit("/", 1)[0] for key, value in model.net.tensors().items() if key.endswith("/W") and value.ndim == 4]


def conv_weights(model: LoadedModel, layer: str) -> np.ndarray:
    names = conv_layers(model)
    if layer not in names:
        run = model.path.parent
        if not names:
            raise PlotError(f"{run}: --layer {layer}: this network has no convolution layers")
        raise PlotError(f"{run}: --layer {layer}: no such convolution layer; {did_you_mean(layer, names)}this network has {', '.join(names)}")
    return np.asarray(model.net.tensors()[f"{layer}/W"], dtype=np.float64)


def filters_figure(model: LoadedModel, layer: str):
    weights = conv_weights(model, layer)
    fh, fw, c_in, c_out = weights.shape
    filters, channels = min(c_out, MAX_FILTERS), min(c_in, MAX_CHANNELS)
    if channels == 1:  # one tile per filter, in a near-square grid
        cols = int(np.ceil(np.sqrt(filters)))
        grid_shape, tiles = (int(np.ceil(filters / cols)), cols), [(f, 0) for f in range(filters)]
    else:  # a row per filter, a column per input channel
        grid_shape, tiles = (filters, channels), [(f, c) for f in range(filters) for c in range(channels)]
    rows, cols = grid_shape
    tile = min(0.9, 9.0 / max(rows, cols))
    fig = new_figure(max(tile * cols + 1.6, 6.0), max(tile * rows + 1.0, 3.0))  # room for the title and caption
    axes = fig.subplots(rows, cols, squeeze=False)
    limit = float(np.abs(weights).max()) or 1.0
    image = None
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, (f, c) in zip(axes.ravel(), tiles):
        image = ax.imshow(weights[:, :, c, f], cmap=DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
        if channels == 1:
            ax.set_title(str(f + 1), fontsize="x-small")
    for ax in axes.ravel()[len(tiles):]:
        ax.set_axis_off()
    if channels > 1:
        for c in range(channels):
            axes[-1, c].set_xlabel(f"in {c + 1}", fontsize="x-small")
        for f in range(filters):
            axes[f, 0].set_ylabel(f"{f + 1}", fontsize="x-small", rotation=0, labelpad=8)
        fig.supxlabel("input channel")
        fig.supylabel("filter")
    else:
        fig.supxlabel(f"{fh}×{fw} kernels, one per filter", fontsize="small")
    shown = "" if (filters, channels) == (c_out, c_in) else f" (first {filters} of {c_out} filters, {channels} of {c_in} channels)"
    fig.colorbar(image, ax=axes, label="weight value", shrink=0.8)
    fig.suptitle(f"Filters of {layer}: {model.path.parent.name}, {model.path.name}{shown}")
    return fig
