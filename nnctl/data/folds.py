"""k-fold cross-validation of a training pool (train + dev; test and train-dev never move).

Each repeat orders the pool's rows (class by class, shuffled within each class,
when stratifying; a plain permutation otherwise) and deals row p of that order
to fold p mod k. Fold sizes then differ by at most one row, and so does each
class's count between folds. Repeat r draws from its own stream, spawned from
the data seed under ``FOLDS_SPAWN_KEY``, so the folds are a function of the
data seed alone: every trial of a search is judged on the same folds.

A fold run is an ordinary run whose training split is the pool without the
fold and whose dev split is the fold: its normalizer (and anything else fitted
on training rows) never sees the rows it is judged on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dataset import Dataset, Splits, concat
from .errors import DataError
from .relabel import Changes, changes_within

FOLDS_SPAWN_KEY = 0xF01D  # apart from the data's streams (0xDA7A) and the learning-curve share (0x5A4E)


def assign_folds(y: np.ndarray, k: int, repeats: int, stratify: bool, seed: int) -> np.ndarray:
    """The fold (0..k-1) of every pool row in each repeat: an int array of shape (repeats, m)."""
    m = len(y)
    if not 2 <= k <= m:
        raise DataError(f"cannot deal {m} pool rows into {k} folds (need 2 <= folds <= rows)")
    streams = np.random.SeedSequence(seed, spawn_key=(FOLDS_SPAWN_KEY,)).spawn(repeats)
    folds = np.empty((repeats, m), dtype=np.int64)
    for r, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        order = np.lexsort((rng.random(m), y)) if stratify else rng.permutation(m)
        folds[r, order] = np.arange(m) % k
    return folds


@dataclass
class Folds:
    """The folds of a pool, as recorded in a search (or cv) directory: which rows, and which fold each is in.

    Fold run ``index`` (0..k·repeats-1) is fold ``index % k`` of repeat ``index // k``."""

    k: int
    repeats: int
    stratify: bool
    seed: int
    parts: list[str]  # the SHA-256 of each data part the pool's rows come from
    part: np.ndarray  # (m,) each pool row's part number ...
    row: np.ndarray  # (m,) ... and row within that part, in pool order
    fold: np.ndarray  # (repeats, m)

    @property
    def runs(self) -> int:
        return self.k * self.repeats

    def held_out(self, index: int) -> np.ndarray:
        """Boolean mask over the pool: the rows fold run ``index`` is judged on (and never trained on)."""
        if not 0 <= index < self.runs:
            raise DataError(f"fold run {index} is outside the {self.runs} fold runs ({self.k} folds × {self.repeats} repeats)")
        return self.fold[index // self.k] == index % self.k

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "repeats": self.repeats, "stratify": self.stratify, "seed": self.seed, "parts": self.parts,
                "part": self.part.tolist(), "row": self.row.tolist(), "fold": self.fold.tolist()}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Folds:
        """Read a recorded dict back, refusing anything that is not a consistent set of folds."""
        try:
            k, repeats, m = int(data["k"]), int(data["repeats"]), len(data["row"])
            folds = cls(k, repeats, bool(data["stratify"]), int(data["seed"]), [str(p) for p in data["parts"]],
                        np.asarray(data["part"], dtype=np.int64), np.asarray(data["row"], dtype=np.int64),
                        np.asarray(data["fold"], dtype=np.int64).reshape(repeats, m))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{where}: not a folds record ({type(err).__name__}: {err}; edited by hand?)") from None
        if len(folds.part) != m or folds.fold.min(initial=0) < 0 or folds.fold.max(initial=0) >= k or k < 2:
            raise DataError(f"{where}: inconsistent folds record (edited by hand?)")
        return folds


def make_folds(splits: Splits, k: int, repeats: int, stratify: bool, seed: int) -> Folds:
    """Deal the pool of ``splits`` (train + dev) into ``k`` folds, ``repeats`` times."""
    pool = pool_of(splits)
    stratify = stratify and splits.task == "classification"
    fold = assign_folds(pool.y, k, repeats, stratify, seed)
    return Folds(k, repeats, stratify, seed, [p.sha256 for p in splits.parts], pool.parts(), pool.source_rows(), fold)


def pool_of(splits: Splits) -> Dataset:
    """Every row a model may learn from or be chosen on: train then dev."""
    return concat([splits.train, splits.dev])


def fold_splits(splits: Splits, corrections: dict[str, Changes], folds: Folds | None,
                index: int | None) -> tuple[Splits, dict[str, Changes]]:
    """Fold run ``index``'s splits (train: the pool without the fold, dev: the fold), or, for ``index`` None, the
    whole pool as training rows with no dev split (a refit). Test and train-dev stay as they were; label
    corrections follow their rows."""
    pool = pool_of(splits)
    if folds is not None:
        check_same_pool(folds, splits, pool)
    held_out = np.zeros(len(pool), dtype=bool) if index is None else folds.held_out(index)
    train, dev = pool.take(np.flatnonzero(~held_out)), pool.take(np.flatnonzero(held_out))
    pooled = [corrections[name] for name in ("train", "dev") if name in corrections]
    moved = {name: value for name, value in corrections.items() if name not in ("train", "dev")}
    if pooled:
        both = Changes(*(np.concatenate([getattr(c, f.name) for c in pooled]) for f in dataclasses.fields(Changes)))
        moved.update({"train": changes_within(both, train), "dev": changes_within(both, dev)})
    return dataclasses.replace(splits, train=train, dev=dev), moved


def check_same_pool(folds: Folds, splits: Splits, pool: Dataset) -> None:
    """The folds were dealt from these very rows of these very bytes, or the data changed since."""
    parts = [p.sha256 for p in splits.parts]
    if parts != folds.parts:
        raise DataError(f"the data changed since the folds were dealt (part fingerprints {[p[:12] for p in parts]}, "
                        f"recorded {[p[:12] for p in folds.parts]}); start a new search")
    if not (np.array_equal(pool.parts(), folds.part) and np.array_equal(pool.source_rows(), folds.row)):
        raise DataError("the training pool (train + dev) differs from the one the folds were dealt from "
                        "(another split or seed); start a new search")
