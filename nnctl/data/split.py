"""Train/dev/test(/train_dev) splits and the ``limit`` subset, stratified and seeded.

Rows are put in an order (class by class, shuffled within each class, when
stratifying; a plain permutation otherwise) and dealt to the splits by a fixed
interleaved pattern with exact totals. Every class is a contiguous stretch of
that order, so each class is shared out in the split proportions (within a row
or two of its ideal share per split) while the totals stay exact.
"""

from __future__ import annotations

import numpy as np

from ..errors import BuildError
from ..spec.schema.data import are_counts, share_problem
from .dataset import Dataset

PARTS = ("train", "dev", "test", "train_dev")


def split(pool: Dataset, given: dict[str, Dataset], split_spec, task: str, rng: np.random.Generator, key: str = "data.split"):
    """Return train, dev, test, train_dev (None unless requested).

    Values are fractions summing to 1, or row counts when all are whole numbers
    totalling more than 1 (rows beyond the counts are left out). Splits in
    ``given`` (a source's own test set, a dev file, rows named by an index
    file) replace their share: the pool then goes to the other splits,
    fractions renormalized among them.
    """
    shares = {name: 0.0 if name in given else float(getattr(split_spec, name)) for name in PARTS}
    parts = share_out(pool, shares, task == "classification" and split_spec.stratify, rng, key, renormalize=bool(given))
    parts.update(given)
    requested = {name for name in PARTS if shares[name] > 0 or name in given} | {"train"}
    for name in requested:
        if len(parts[name]) == 0:
            raise BuildError(f"{key}.{name}", f"the {name} split is empty ({len(pool)} examples to share); give it a larger share or more data")
    return parts["train"], parts["dev"], parts["test"], parts["train_dev"] if "train_dev" in requested else None


def share_out(pool: Dataset, shares: dict[str, float], stratify: bool, rng: np.random.Generator, key: str,
              renormalize: bool = False) -> dict[str, Dataset]:
    """Deal the pool into the named parts by fractions (summing to 1, or any sum when ``renormalize``) or row counts."""
    problem = share_problem(shares, renormalize)
    if problem:
        raise BuildError(key, problem)
    sizes = _counts(shares, len(pool), key) if are_counts(shares) else _shares(shares, len(pool), key)
    return dict(zip(shares, deal(pool, sizes, stratify, rng)))


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


def _shares(fractions: dict[str, float], m: int, key: str) -> list[int]:
    """Largest-remainder rounding of the (renormalized) fractions of m rows."""
    total = sum(fractions.values())
    if total <= 0:
        raise BuildError(key, f"gives no rows to {', '.join(fractions)}")
    ideal = np.array([value / total * m for value in fractions.values()])
    sizes = np.floor(ideal).astype(int)
    for k in np.argsort(-(ideal - sizes), kind="stable")[: m - sizes.sum()]:
        sizes[k] += 1
    return sizes.tolist()


def _counts(counts: dict[str, float], m: int, key: str) -> list[int]:
    """Row counts plus a final part for the rows left out."""
    sizes = [int(value) for value in counts.values()]
    if sum(sizes) > m:
        raise BuildError(key, f"asks for {sum(sizes)} rows but the data has {m}")
    return sizes + [m - sum(sizes)]
