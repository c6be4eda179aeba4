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
from ..literal import clipped
from .atomic import atomic_h5
from .identity import check_belongs
from .seal import open_sealed

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
    if not isinstance(f[name], h5py.Group):
        raise ValueError(f"/{name} is not a group")

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            out[path] = value.decode() if isinstance(value, bytes) else value

    f[name].visititems(visit)
    return out


def _groups(ckpt: Checkpoint) -> dict[str, dict[str, np.ndarray]]:
    return {"params": ckpt.params, "state": ckpt.state, "optimizer": ckpt.optimizer, "normalizer": ckpt.normalizer}


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    with atomic_h5(path) as f:
        for name, arrays in _groups(ckpt).items():
            _write_group(f, name, arrays)
        f["optimizer"].attrs["t"] = ckpt.optimizer_t
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


class _Attributes:
    """Typed reads of a checkpoint's attributes, each failure naming the attribute."""

    def __init__(self, attrs, path: Path):
        self.attrs, self.path = attrs, path

    def raw(self, name: str):
        if name not in self.attrs:
            raise CheckpointError(f"{self.path}: damaged checkpoint: attribute '{name}' is missing")
        return self.attrs[name]

    def integer(self, name: str, source=None) -> int:
        value = self.raw(name) if source is None else source
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
            raise CheckpointError(f"{self.path}: damaged checkpoint: attribute '{name}' is {value!r}, not a count")
        return int(value)

    def text(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            raise CheckpointError(f"{self.path}: damaged checkpoint: attribute '{name}' is not text")
        return value

    def json(self, name: str, kind: type):
        try:
            value = json.loads(self.text(name))
        except json.JSONDecodeError:
            raise CheckpointError(f"{self.path}: damaged checkpoint: attribute '{name}' is not valid JSON") from None
        if not isinstance(value, kind):
            raise CheckpointError(f"{self.path}: damaged checkpoint: attribute '{name}' is not a JSON {kind.__name__}")
        return value


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint, refusing (CheckpointError) anything unreadable, incomplete, altered or another run's."""
    ckpt = _read_sealed(Path(path), _read)
    check_belongs(path, ckpt.progress.get("run_id"), CheckpointError)
    return ckpt


def read_progress(path: Path) -> tuple[dict, int, int]:
    """(progress, epoch, batch) of a checkpoint, sealed and checked as `load_checkpoint` reads them, without
    parsing its tensors: what a listing of many runs (some of large networks) needs."""
    progress, epoch, batch = _read_sealed(Path(path), _read_position)
    check_belongs(path, progress.get("run_id"), CheckpointError)
    return progress, epoch, batch


def _read_sealed(path: Path, read):
    """``read(file, path)`` on the checkpoint once its seal matches; damage inside it is a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with open_sealed(path, CheckpointError) as f:
            return read(f, path)
    except (KeyError, ValueError, TypeError) as err:  # h5py's own errors for damaged objects inside a readable file
        raise CheckpointError(f"{path}: damaged checkpoint ({_first_line(err)})") from None


def _read_position(f: h5py.File, path: Path) -> tuple[dict, int, int]:
    a = _checked_version(f, path)
    return _checked_progress(a.json("progress", dict), path), a.integer("epoch"), a.integer("batch")


def _checked_version(f: h5py.File, path: Path) -> _Attributes:
    """The file's attributes, once its format version is one this nnctl reads."""
    a = _Attributes(f.attrs, path)
    version = a.raw("format_version")
    if not isinstance(version, (int, np.integer)) or int(version) != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {version!r} is not supported (expected {FORMAT_VERSION})")
    return a


def _read(f: h5py.File, path: Path) -> Checkpoint:
    a = _checked_version(f, path)
    groups = {name: _read_group(f, name) for name in ("params", "state", "optimizer", "normalizer")}
    if "optimizer" not in f or "t" not in f["optimizer"].attrs:
        raise CheckpointError(f"{path}: damaged checkpoint: the optimizer's step count (/optimizer attribute t) is missing")
    return Checkpoint(
        params=groups["params"],
        state=groups["state"],
        optimizer=groups["optimizer"],
        optimizer_t=a.integer("optimizer t", f["optimizer"].attrs["t"]),
        normalizer=groups["normalizer"],
        spec_yaml=a.text("spec"),
        task=a.text("task"),
        class_names=a.json("class_names", list),
        input_shape=a.json("input_shape", list),
        epoch=a.integer("epoch"),
        step=a.integer("step"),
        batch=a.integer("batch"),
        rng=a.json("rng", dict),
        progress=_checked_progress(a.json("progress", dict), path),
    )


NUMBER, COUNT, TEXT, NOTHING = (float, int), (int,), (str,), (type(None),)
PROGRESS_FIELDS = {"best": (dict,), "stop_reason": TEXT + NOTHING, "run_id": TEXT, "metric_steps": COUNT,
                   "metric_epochs": COUNT}
BEST_FIELDS = {"metric": TEXT + NOTHING, "value": NUMBER + NOTHING, "epoch": COUNT + NOTHING}


def _checked_progress(progress: dict, path: Path) -> dict:
    """The progress record with the fields that listings, reports and resuming read of the kinds they expect
    (each may be absent): a hand-edited ``best: "x"`` is damage, not a crash in whatever shows it."""
    _check_fields(progress, PROGRESS_FIELDS, "progress", path)
    _check_fields(progress.get("best", {}), BEST_FIELDS, "progress.best", path)
    return progress


def _check_fields(record: dict, kinds: dict[str, tuple[type, ...]], where: str, path: Path) -> None:
    for key, allowed in kinds.items():
        value = record.get(key)
        negative_count = allowed[0] is int and isinstance(value, int) and value < 0
        if key in record and (isinstance(value, bool) or not isinstance(value, allowed) or negative_count):
            raise CheckpointError(f"{path}: damaged checkpoint: attribute 'progress': {where}.{key} is "
                                  f"{clipped(json.dumps(value), 40)}, not {_KIND_NAMES[allowed[0]]}")


_KIND_NAMES = {dict: "a JSON object", str: "text", int: "a count", float: "a number"}


def spec_source(path: Path) -> str:
    """How errors in a checkpoint's stored spec name where it came from (its attribute, not any spec.yaml)."""
    return f"{path} (attribute 'spec')"


def check_group(path: Path, group: str, stored: dict[str, np.ndarray], expected: dict[str, tuple]) -> None:
    """A checkpoint group holds exactly the float tensors expected, each with its exact shape.

    Without this a missing tensor would leave that layer's fresh random weights
    in place and be used silently.
    """
    missing = sorted(set(expected) - set(stored))
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint: /{group}/{missing[0]} is missing ({len(missing)} missing in all)")
    extra = sorted(set(stored) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: damaged checkpoint: /{group}/{extra[0]} does not belong to this run's network")
    for key, shape in expected.items():
        value = np.asarray(stored[key])
        if value.shape != tuple(shape) or value.dtype.kind != "f":
            raise CheckpointError(
                f"{path}: damaged checkpoint: /{group}/{key} is {value.dtype} {value.shape}, expected floats {tuple(shape)}")


def check_finite(path: Path, group: str, stored: dict[str, np.ndarray]) -> None:
    """A model's tensors hold no NaN or infinity: the trainer never writes such a state (a divergence keeps the
    last good one), so one that does was damaged or edited, and is no model to evaluate or continue."""
    for key, value in stored.items():
        bad = np.count_nonzero(~np.isfinite(value))
        if bad:
            raise CheckpointError(f"{path}: damaged checkpoint: /{group}/{key} holds {bad:,} NaN or infinite "
                                  f"value{'s' if bad > 1 else ''}")


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]
