"""The words the plot options choose from, apart from the figure code so the CLI can offer them
as choices without importing any of it."""

from enum import StrEnum


class Per(StrEnum):
    """The x axis of learning curves: epochs, or optimizer steps (with the mini-batch cost)."""

    epoch = "epoch"
    step = "step"


class Normalize(StrEnum):
    """A confusion matrix as counts, or as fractions of each true or each predicted class."""

    none = "none"
    true = "true"
    pred = "pred"
