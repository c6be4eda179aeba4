"""`model.init_from`: start a network from a trained run's layers, matched by name.

Copying happens after the spec's own seeded initialization, so a layer that is
not copied (new, or re-initialized because its shape changed, like an output
layer with another number of classes) gets exactly the values a fresh run of
this spec would give it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Normalizer
from ..did_you_mean import unknown_word
from ..errors import BuildError
from ..nn.network import Network
from ..runs import rundir
from ..runs.checkpoint import Checkpoint, load_checkpoint
from ..spec.schema import InitFromSpec
from ..train.freezing import covers

COPIED, REINITIALIZED, NEW = "copied", "re-initialized", "new"
RUN_SUFFIX = re.compile(r"-(\d{8}-\d{6})(?:-(\d+))?$")


@dataclass
class Source:
    """The checkpoint a run starts from, and where it was found."""

    run: Path
    path: Path
    checkpoint: Checkpoint

    def layer_names(self) -> list[str]:
        return sorted({key.rsplit("/", 1)[0] for key in self.checkpoint.params})


def resolve_run(run: str) -> Path:
    """A run directory as given, else the newest `NAME-<timestamp>` run for `runs/NAME`."""
    path = Path(run)
    if path.is_dir():
        return path
    found = []
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            match = RUN_SUFFIX.search(candidate.name)
            if candidate.is_dir() and match and candidate.name[: match.start()] == path.name:
                found.append(((match.group(1), int(match.group(2) or 0)), candidate))
    if not found:
        raise BuildError("model.init_from.run", f"{run}: no such run directory (and no run named {path.name}-<time> in {path.parent})")
    return max(found)[1]


def load_source(init: InitFromSpec) -> Source:
    run = resolve_run(init.run)
    path = rundir.checkpoint_path(run, init.checkpoint)
    return Source(run, path, load_checkpoint(path))


def source_normalizer(source: Source, input_shape: tuple[int, ...]) -> Normalizer:
    """The source run's input normalization, which must fit this data's inputs."""
    normalizer = Normalizer.from_state(source.checkpoint.normalizer)
    for stats in (normalizer.shift, normalizer.divisor):
        if stats.ndim and stats.shape != tuple(input_shape):
            raise BuildError("data.normalize.from", f"{source.run} normalizes inputs of shape {stats.shape}, this data's "
                             f"are {tuple(input_shape)}; set data.normalize.from: fit")
    return normalizer


def copy_layers(init: InitFromSpec, source: Source, net: Network) -> dict[str, str]:
    """Copy parameters and state into ``net``; return each parameter layer's fate (copied, re-initialized, new)."""
    params, state = source.checkpoint.params, source.checkpoint.state
    mine = _layer_tensors(net)
    if init.layers is None:
        chosen = [name for name, keys in mine.items() if all(_same_shape(key, net, params) for key in keys)]
    else:
        chosen = _listed(init.layers, mine, source, net)
    fates = {}
    for name in mine:
        if name in chosen:
            fates[name] = COPIED
        else:
            fates[name] = REINITIALIZED if any(key.rsplit("/", 1)[0] == name for key in params) else NEW
    tensors, arrays = net.tensors(), net.state()
    for name in chosen:
        for key in mine[name]:
            tensors[key][...] = params[key]
        for key, target in arrays.items():
            if key.rsplit("/", 1)[0] == name and key in state:
                target[...] = state[key]
    return fates


def _listed(names: list[str], mine: dict[str, list[str]], source: Source, net: Network) -> list[str]:
    """The layers ``names`` cover; each must exist on both sides and match in shape."""
    sources = source.layer_names()
    chosen = []
    for j, name in enumerate(names):
        key = f"model.init_from.layers[{j}]"
        here = [layer for layer in mine if covers(name, layer)]
        if not here:
            raise BuildError(key, unknown_word(name, "layer with parameters in this model", list(mine)))
        if not any(covers(name, layer) for layer in sources):
            raise BuildError(key, f"{source.run} has no layer '{name}'; " + unknown_word(name, "layer of that run", sources).split("; ", 1)[1])
        for layer in here:
            for tensor in mine[layer]:
                if not _same_shape(tensor, net, source.checkpoint.params):
                    theirs = source.checkpoint.params.get(tensor)
                    what = "missing" if theirs is None else f"shape {tuple(np.shape(theirs))}"
                    raise BuildError(key, f"cannot copy {tensor}: shape {net.tensors()[tensor].shape} here, {what} in {source.run}; "
                                          "leave it out of init_from.layers to re-initialize it")
        chosen += [layer for layer in here if layer not in chosen]
    return chosen


def _layer_tensors(net: Network) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in net.slots:
        out.setdefault(slot.layer.name, []).append(slot.key)
    return out


def _same_shape(key: str, net: Network, params: dict) -> bool:
    return key in params and tuple(np.shape(params[key])) == net.tensors()[key].shape
