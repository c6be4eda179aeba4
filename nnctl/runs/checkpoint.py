"""The checkpoint format (initial.h5, checkpoint.h5, best.h5).

Layout, readable with h5py or h5dump and no nnctl installed:

    /params/<layer>/<name>     trainable tensors (e.g. /params/dense1/W)
    /state/<layer>/<name>      non-trained arrays (batch-norm running statistics)
    /optimizer/<moment>        flat optimizer moments in θ's layout; attribute t
    /normalizer/<name>         input normalization statistics fitted on train
    attributes                 format_version, nnctl_version, epoch, step, batch,
                               rng (JSON bit-generator states), spec (YAML text),
                               class_names, input_shape and progress (JSON), task

No pickle anywhere: everything is an array, a number or a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import CheckpointError
from .atomic import atomic_h5

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    state: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer_t: int = 0
    normalizer: dict[str, np.ndarray] = field(default_factory=dict)
    spec_yaml: str = ""
    task: str = "classification"
    class_names: list[str] = field(default_factory=list)
    input_shape: list[int] = field(default_factory=list)  # per example, e.g. [8, 8, 1]
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    batch: int = 0  # mini-batches done in the current (unfinished) epoch
    rng: dict[str, dict] = field(default_factory=dict)
    progress: dict = field(default_factory=dict)  # early stopping, best metric, metric-log lengths


def _write_group(f: h5py.File, name: str, arrays: dict[str, np.ndarray]) -> None:
    group = f.create_group(name)
    for key, value in arrays.items():
        group.create_dataset(key, data=np.asarray(value))


def _read_group(f: h5py.File, name: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if name not in f:
        return out

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            out[path] = value.decode() if isinstance(value, bytes) else value

    f[name].visititems(visit)
    return out


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    with atomic_h5(path) as f:
        _write_group(f, "params", ckpt.params)
        _write_group(f, "state", ckpt.state)
        _write_group(f, "optimizer", ckpt.optimizer)
        f["optimizer"].attrs["t"] = ckpt.optimizer_t
        _write_group(f, "normalizer", ckpt.normalizer)
        attrs = f.attrs
        attrs["format_version"] = FORMAT_VERSION
        attrs["nnctl_version"] = __version__
        attrs["spec"] = ckpt.spec_yaml
        attrs["task"] = ckpt.task
        attrs["class_names"] = json.dumps(ckpt.class_names)
        attrs["input_shape"] = json.dumps(ckpt.input_shape)
        attrs["epoch"], attrs["step"], attrs["batch"] = ckpt.epoch, ckpt.step, ckpt.batch
        attrs["rng"] = json.dumps(ckpt.rng)
        attrs["progress"] = json.dumps(ckpt.progress)


def load_checkpoint(path: Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise CheckpointError(f"{path}: checkpoint format {version} is not supported (expected {FORMAT_VERSION})")
            a = f.attrs
            return Checkpoint(
                params=_read_group(f, "params"),
                state=_read_group(f, "state"),
                optimizer=_read_group(f, "optimizer"),
                optimizer_t=int(f["optimizer"].attrs["t"]),
                normalizer=_read_group(f, "normalizer"),
                spec_yaml=str(a["spec"]),
                task=str(a["task"]),
                class_names=json.loads(a["class_names"]),
                input_shape=json.loads(a["input_shape"]),
                epoch=int(a["epoch"]),
                step=int(a["step"]),
                batch=int(a["batch"]),
                rng=json.loads(a["rng"]),
                progress=json.loads(a["progress"]),
            )
    except (OSError, KeyError) as err:
        raise CheckpointError(f"{path}: not a readable nnctl checkpoint ({err})") from None
