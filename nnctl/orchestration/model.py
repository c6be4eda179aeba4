"""A trained run back from disk: its network, normalizer and data, for `eval`, `predict` and the workflows.

Readers of a run's data go through `split_data`, so they all see the rows the
run was trained and evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import DataError, Dataset, Normalizer, Splits
from ..data.load import warn_unseen_classes
from ..data.schema import InputSchema, ids_of_rows
from ..errors import MissingSplitError
from ..nn.network import Network
from ..runs import rundir
from ..runs.checkpoint import Checkpoint, load_checkpoint, spec_source
from ..spec import Spec, parse_spec
from ..train.build import build_network
from ..train.loop import make_streams
from .checkpoints import load_into, stored_normalizer
from .choices import SPLITS
from .choices import Split as Split  # re-exported: the enum lives apart so that `nnctl --help` needs no NumPy
from .datasets import default_datasets_dir
from .run_data import run_schema, run_splits


@dataclass
class LoadedModel:
    spec: Spec
    net: Network
    normalizer: Normalizer
    checkpoint: Checkpoint
    path: Path
    schema: InputSchema | None = None  # the run's input contract (None: a run made before runs recorded one)

    def fit_inputs(self, x: np.ndarray, source: Path) -> np.ndarray:
        """``x`` in the network's input shape; rows holding the same number of values
        (images flattened into CSV rows) are reshaped, anything else is a DataError."""
        expected = tuple(self.net.input_shape)
        if x.shape[1:] == expected:
            return x
        if int(np.prod(x.shape[1:])) != int(np.prod(expected)):
            raise DataError(f"{source}: inputs have shape {x.shape[1:]}, the model expects {expected}")
        return x.reshape((len(x),) + expected)


def load_model(run_dir: Path, which: str = rundir.CheckpointName.best) -> LoadedModel:
    """The network of a run as saved in its best (default), latest or initial checkpoint."""
    path = rundir.checkpoint_path(run_dir, which)
    ckpt = load_checkpoint(path)
    spec = parse_spec(ckpt.spec_yaml, spec_source(path))
    net = build_network(spec, tuple(ckpt.input_shape), make_streams(spec.seed)["dropout"])
    load_into(net, ckpt, path)
    return LoadedModel(spec, net, stored_normalizer(ckpt, path), ckpt, path, run_schema(path.parent))


def all_splits(model: LoadedModel) -> Splits:
    """All of the run's splits at once, as recorded, for readers that need more than one."""
    return run_splits(model.path.parent, model.spec, default_datasets_dir())


def split_ids(model: LoadedModel, splits: Splits, data: Dataset) -> dict[str, np.ndarray]:
    """The run's id columns (``id_columns`` of its CSV source) for each example of ``data``: name → text; {} without ids."""
    if model.schema is None or not model.schema.ids:
        return {}
    return ids_of_rows(model.schema, splits.parts, data.parts(), data.source_rows())


def split_data(model: LoadedModel, split: str, splits: Splits | None = None) -> Dataset:
    """The raw (un-normalized) examples of one of the run's splits: train, dev, test or train_dev.

    The rows are the ones the run recorded (``rows``/``part`` say where each
    came from); data files that changed since training are refused. Pass
    ``splits`` (from `all_splits`) to pick from data already loaded.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
    splits = splits or all_splits(model)
    chosen = getattr(splits, split)
    if chosen is None or len(chosen) == 0:
        raise MissingSplitError(f"the run has no {split} split (see data.split in its spec)")
    warn_unseen_classes(splits, split)
    return chosen
