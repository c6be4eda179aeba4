"""Train/dev/test(/train_dev) splits and the ``limit`` subset, stratified and seeded.

Rows are put in an order (class by class, shuffled within each class, when
stratifying; a plain permutation otherwise) and dealt to the splits by a fixed
interleaved pattern with exact totals. Every class is a contiguous stretch of
that order, so each class is shared out in the split proportions (within a row
or two of its ideal share per split) while the totals stay exact.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .errors import DataError

PARTS = ("train", "dev", "test", "train_dev")
TOLERANCE = 1e-9


def split(pool: Dataset, own_test: Dataset | None, split_spec, task: str, rng: np.random.Generator):
    """Return train, dev, test, train_dev (None unless requested).

    Values are fractions summing to 1, or row counts when all are whole numbers
    totalling more than 1 (rows beyond the counts are left out). A source's own
    test set replaces ``test``: the pool then goes to the other splits, fractions
    renormalized among them.
    """
    wanted = {name: float(getattr(split_spec, name)) for name in PARTS}
    requested = {name: wanted[name] > 0 for name in PARTS} | {"train": True}
    if own_test is not None:
        wanted["test"] = 0.0
    counts = all(v == int(v) for v in wanted.values()) and sum(wanted.values()) > 1
    given = ", ".join(f"{name}: {getattr(split_spec, name):g}" for name in PARTS)
    if not counts and any(v > 1 for v in wanted.values()):
        raise DataError(f"data.split mixes row counts and fractions ({given}); give all counts or all fractions")
    if not counts and own_test is None and abs(sum(wanted.values()) - 1.0) > TOLERANCE:
        raise DataError(f"data.split fractions sum to {sum(wanted.values()):g}, not 1 ({given})")
    sizes = _counts(wanted, len(pool)) if counts else _shares(wanted, len(pool))
    parts = dict(zip(PARTS, deal(pool, sizes, task == "classification" and split_spec.stratify, rng)))
    if own_test is not None:
        parts["test"], requested["test"] = own_test, True
    for name in PARTS:
        if requested[name] and len(parts[name]) == 0:
            raise DataError(f"the {name} split is empty ({len(pool)} examples to share); give it a larger share or more data")
    return parts["train"], parts["dev"], parts["test"], parts["train_dev"] if requested["train_dev"] else None


def limit(pool: Dataset, n: int, stratify: bool, rng: np.random.Generator) -> Dataset:
    """A subset of n rows (the whole pool if it is smaller), in class proportions when stratifying."""
    if n >= len(pool):
        return pool
    return deal(pool, [n, len(pool) - n], stratify, rng)[0]


def deal(pool: Dataset, sizes: list[int], stratify: bool, rng: np.random.Generator) -> list[Dataset]:
    """Share the rows out into parts of exactly ``sizes`` (summing to len(pool)), each part shuffled."""
    m = len(pool)
    order = np.lexsort((rng.random(m), pool.y)) if stratify else rng.permutation(m)
    labels = pattern(sizes)  # once, not per part: parts already dealt stay in memory meanwhile
    return [pool.take(rng.permutation(order[labels == k])) for k in range(len(sizes))]


def pattern(sizes: list[int]) -> np.ndarray:
    """Part labels for positions 0..Σsizes-1, part k taking its j-th row near position (j + ½)·m/size_k.

    Every prefix of the pattern stays within about a row of each part's
    proportional share, so any stretch of it (one class) is within about two.
    """
    keys, at = np.empty(sum(sizes)), 0
    for n in sizes:  # (j + ½)/n filled in place: one float64 array, not a temporary per part
        part = keys[at:at + n]
        part[:] = np.arange(n)
        part += 0.5
        part /= n
        at += n
    labels = np.repeat(np.arange(len(sizes), dtype=np.int8), sizes)  # a handful of parts: one byte a row
    return labels[np.argsort(keys, kind="stable")]


def _shares(fractions: dict[str, float], m: int) -> list[int]:
    """Largest-remainder rounding of the (renormalized) fractions of m rows."""
    total = sum(fractions.values())
    if total <= 0:
        raise DataError("data.split gives no rows to train, dev or train_dev")
    ideal = np.array([fractions[name] / total * m for name in PARTS])
    sizes = np.floor(ideal).astype(int)
    for k in np.argsort(-(ideal - sizes), kind="stable")[: m - sizes.sum()]:
        sizes[k] += 1
    return sizes.tolist()


def _counts(counts: dict[str, float], m: int) -> list[int]:
    """Row counts plus a final part for the rows left out."""
    sizes = [int(counts[name]) for name in PARTS]
    if sum(sizes) > m:
        raise DataError(f"data.split asks for {sum(sizes)} rows but the data has {m}")
    return sizes + [m - sum(sizes)]
