"""The words commands pick orchestration's behaviour with, importable without NumPy or h5py.

CLI signatures use these enums, and `nnctl --help` reads every signature; keeping
them apart from model.py and gradcheck.py keeps the help from loading the core.
"""

from __future__ import annotations

from enum import StrEnum


class Split(StrEnum):
    """The splits a run's data is divided into (``--split``)."""

    train = "train"
    dev = "dev"
    test = "test"
    train_dev = "train_dev"


SPLITS = tuple(Split)


# gradcheck's defaults (see gradcheck.py), which `nnctl gradcheck --help` shows.
CHECKS_PER_TENSOR = 30
JITTER = 1e-3


class DropoutDuringCheck(StrEnum):
    """What dropout does while J is evaluated: nothing, or one mask drawn once and reused."""

    off = "off"
    fixed = "fixed"
