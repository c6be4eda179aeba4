"""A spec's data as its run trains on it: the data's splits, then the training share.

``strategy.train_fraction`` (what a learning curve varies) keeps a nested,
stratified share of the training rows; dev, test and train-dev never move, so
every point of a curve is judged on the same rows. The share is drawn from the
data seed (``data.split.seed``, else ``seed``) on a stream of its own, and the
run's data record holds the rows kept, so every reader sees the same share.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..data import load_data
from ..data.folds import Folds, fold_splits, make_folds
from ..data.load import LoadedData, check_classes, data_seed
from ..data.relabel import changes_within
from ..data.subset import nested_share
from ..errors import BuildError
from ..spec import Spec
from ..spec.schema.search import CvSpec

SHARE_SPAWN_KEY = 0x5A4E  # the share's own stream, apart from the data's (0xDA7A) and training's children


def load_run_data(spec: Spec, datasets_dir: Path) -> LoadedData:
    loaded = load_data(spec.data, spec.seed, datasets_dir, spec.label_task())
    fraction = spec.strategy.train_fraction
    if fraction >= 1:
        return loaded
    splits = loaded.splits
    rng = np.random.default_rng(np.random.SeedSequence(data_seed(spec.data, spec.seed), spawn_key=(SHARE_SPAWN_KEY,)))
    stratify = splits.task == "classification" and spec.data.split.stratify
    train = nested_share(splits.train, fraction, stratify, rng)
    corrections = dict(loaded.corrections)
    if "train" in corrections:  # labels corrected in training rows (relabel.train) that the share left out
        corrections["train"] = changes_within(corrections["train"], train)
    return dataclasses.replace(loaded, splits=dataclasses.replace(splits, train=train), corrections=corrections)



def deal_folds(spec: Spec, cv: CvSpec, datasets_dir: Path) -> Folds:
    """The spec's training pool (train + dev) dealt into folds, from its data seed.

    Missing-value fills and target standardization are fitted on the spec's training split when the data
    loads, before any fold exists: a fold run would then be filled from its own held-out rows, so they are
    refused here until they can be fitted per fold."""
    fitted = [key for key, used in (("data.missing", spec.data.missing is not None and spec.data.missing.strategy != "drop_rows"),
                                    ("data.normalize_target", spec.data.normalize_target != "none")) if used]
    if fitted:
        raise BuildError(fitted[0], "is fitted on the training split before the folds are dealt, so each fold run would "
                                    "see its held-out rows; not available with cross-validation yet")
    splits = load_run_data(spec, datasets_dir).splits
    return make_folds(splits, cv.folds, cv.repeats, cv.stratify, data_seed(spec.data, spec.seed))


def fold_data(spec: Spec, datasets_dir: Path, folds: Folds | None, index: int | None) -> LoadedData:
    """What fold run ``index`` of ``folds`` trains and is judged on; ``index`` None: the whole pool (a refit)."""
    loaded = load_run_data(spec, datasets_dir)
    splits, corrections = fold_splits(loaded.splits, loaded.corrections, folds, index)
    if index is not None:  # a fold's training rows are checked as a training split is (one class only is refused)
        check_classes(splits, f"fold run {index}")
    return LoadedData(splits, corrections)
