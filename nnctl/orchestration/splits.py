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
from ..data.load import LoadedData, data_seed
from ..data.relabel import Changes
from ..data.subset import nested_share
from ..spec import Spec

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
        corrections["train"] = _kept(corrections["train"], train)
    return dataclasses.replace(loaded, splits=dataclasses.replace(splits, train=train), corrections=corrections)


def _kept(changes: Changes, data) -> Changes:
    kept = set(zip(data.parts().tolist(), data.source_rows().tolist()))
    mask = np.array([(p, r) in kept for p, r in zip(changes.part.tolist(), changes.row.tolist())], dtype=bool)
    return Changes(changes.part[mask], changes.row[mask], changes.old[mask], changes.new[mask])
