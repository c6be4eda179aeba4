"""A spec's splits as its run trains on them: the data's splits, then the training share.

``strategy.train_fraction`` (what a learning curve varies) keeps a nested,
stratified share of the training rows; dev, test and train-dev never move, so
every point of a curve is judged on the same rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..data import Splits, load_splits
from ..data.subset import nested_share
from ..spec import Spec

SHARE_SPAWN_KEY = 0x5A4E  # the share's own stream, apart from the data's (0xDA7A) and training's children


def load_run_splits(spec: Spec, datasets_dir: Path) -> Splits:
    splits = load_splits(spec.data, spec.seed, datasets_dir)
    fraction = spec.strategy.train_fraction
    if fraction >= 1:
        return splits
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(SHARE_SPAWN_KEY,)))
    stratify = splits.task == "classification" and spec.data.split.stratify
    return dataclasses.replace(splits, train=nested_share(splits.train, fraction, stratify, rng))
