"""The notes' error decomposition (docs/explanation/algorithms.md#error-decomposition): which gap to work on next.

Levels: human-level error h (the Bayes proxy), then train, train-dev, dev and
test error. Gaps between neighbours:

    avoidable bias  = train − h
    variance        = train-dev − train      (no train-dev split: dev − train)
    data mismatch   = dev − train-dev
    dev overfitting = test − dev

A gap is a *problem* when it reaches ``tolerance`` and at least half of the
largest gap: (train, dev) = (15 %, 16 %) is high bias only, (15 %, 30 %) is
both, (0.5 %, 1 %) neither. Everything here is arithmetic on numbers; nothing
reads a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .confidence import wilson_interval

DEFAULT_TOLERANCE = 0.01
PROBLEM_SHARE = 0.5  # a gap under half the largest one is not where the work goes
EPS = 1e-12  # differences of rounded percentages (0.16 - 0.15) land a hair off their decimal value
GAP_LABELS = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfitting": "overfitting to dev",
}


@dataclass
class Level:
    """One error level; ``examples`` None for a number given by the user (human-level), which has no interval."""

    name: str
    error: float
    examples: int | None = None
    effective: float | None = None  # Kish's effective size of a weighted error (None: unweighted, = examples)
    rate: bool = True  # an error rate (with a Wilson interval); False: a regression error such as MSE (no interval)

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.examples is None or not self.rate:
            return None
        return wilson_interval(self.error, self.effective if self.effective is not None else self.examples)

    def contains(self, value: float) -> bool:
        bounds = self.interval
        return bounds is not None and bounds[0] <= value <= bounds[1]

    def to_dict(self) -> dict:
        bounds = self.interval
        return {"error": self.error, "examples": self.examples, "effective_examples": self.effective,
                "ci95": list(bounds) if bounds else None}


@dataclass
class Gap:
    name: str
    value: float | None  # None: cannot be estimated from these levels
    between: tuple[str, str]
    within_noise: bool = False  # one level lies inside the other's 95 % interval
    problem: bool = False

    def to_dict(self) -> dict:
        return {"value": self.value, "between": list(self.between), "within_noise": self.within_noise, "problem": self.problem}


@dataclass
class Decomposition:
    levels: dict[str, Level]
    human_given: bool
    tolerance: float
    gaps: dict[str, Gap]
    dominant: list[str]  # the largest gap(s); ties are all named
    problems: list[str]  # largest first
    verdict: str
    notes: list[str] = field(default_factory=list)  # the notes' special cases, part of the report
    warnings: list[str] = field(default_factory=list)  # gaps too small to tell from sampling noise

    @property
    def focus(self) -> list[str]:
        """The gaps to act on, largest first: the problems, else the largest gap (if better is still wanted)."""
        return self.problems or self.dominant

    def to_dict(self) -> dict:
        return {
            "levels": {name: level.to_dict() for name, level in self.levels.items()},
            "human_error_given": self.human_given,
            "tolerance": self.tolerance,
            "gaps": {name: gap.to_dict() for name, gap in self.gaps.items()},
            "dominant": self.dominant,
            "problems": self.problems,
            "focus": self.focus,
            "verdict": self.verdict,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def decompose(train: Level, dev: Level, human_error: float | None = None, train_dev: Level | None = None,
              test: Level | None = None, tolerance: float = DEFAULT_TOLERANCE) -> Decomposition:
    """The gaps, which of them are problems, the verdict and the notes' special cases.

    Levels that are not rates (a regression's MSE) are compared the same way, shown as plain numbers."""
    notes, warnings = [], []
    shown = _percent if train.rate else _plain
    human = Level("human", 0.0 if human_error is None else float(human_error), rate=train.rate)
    if human_error is None:
        notes.append("no human-level error given: Bayes error taken as 0 (give --human-error or strategy.human_error)")
    levels = {"human": human, "train": train} | ({"train_dev": train_dev} if train_dev else {}) | {"dev": dev}
    levels |= {"test": test} if test else {}

    gaps = {"avoidable_bias": _gap("avoidable_bias", human, train)}
    if train.error < human.error - EPS:
        gaps["avoidable_bias"].value = None
        notes.append(f"train error {shown(train.error)} is below human-level {shown(human.error)}: avoidable bias can no "
                     "longer be estimated (Bayes error may be lower than the human level, or the model fits the "
                     "training set too closely)")
    if train_dev is not None:
        gaps["variance"] = _gap("variance", train, train_dev)
        gaps["data_mismatch"] = _gap("data_mismatch", train_dev, dev)
    else:
        gaps["variance"] = _gap("variance", train, dev)
        notes.append("no train-dev split: variance is dev − train and includes any data mismatch "
                     "(set data.split.train_dev to tell them apart)")
    if test is not None:
        gaps["dev_overfitting"] = _gap("dev_overfitting", dev, test)

    sized = {name: gap.value for name, gap in gaps.items() if gap.value is not None}
    largest = max(sized.values(), default=0.0)
    dominant = [name for name, value in sized.items() if largest > EPS and value >= largest - EPS]
    floor = max(tolerance, PROBLEM_SHARE * largest) - EPS
    problems = sorted((name for name, value in sized.items() if value >= floor and value > EPS), key=lambda n: -sized[n])
    for name in problems:
        gaps[name].problem = True
    for name, gap in gaps.items():
        if gap.value is None:
            continue
        lower, upper = gap.between
        if gap.within_noise:
            warnings.append(f"{GAP_LABELS[name]} ({shown(gap.value)}) is within the 95 % confidence interval of "
                            f"{' and '.join(_interval_text(levels[n]) for n in gap.between if levels[n].interval)}: "
                            "too few examples to tell it from noise")
        elif gap.value < -EPS:
            hint = " (the dev distribution looks easier than the training one)" if name == "data_mismatch" else ""
            notes.append(f"{GAP_LABELS[name]} is negative ({shown(gap.value)}): {_label(upper)} error is below "
                         f"{_label(lower)} error{hint}")
    return Decomposition(levels, human_error is not None, tolerance, gaps, dominant, problems,
                         _verdict(problems, gaps, shown(tolerance)), notes, warnings)


def _gap(name: str, lower: Level, upper: Level) -> Gap:
    noise = lower.contains(upper.error) or upper.contains(lower.error)
    return Gap(name, upper.error - lower.error, (lower.name, upper.name), within_noise=noise)


def _verdict(problems: list[str], gaps: dict[str, Gap], tolerance: str) -> str:
    if problems:
        return "high " + " and ".join(GAP_LABELS[name] for name in problems)
    measured = [GAP_LABELS[name] for name, gap in gaps.items() if gap.value is not None]
    return f"no gap reaches {tolerance}: low " + " and low ".join(measured)


def _percent(value: float) -> str:
    return f"{100 * value:.4g} %"


def _plain(value: float) -> str:
    return f"{value:.4g}"


def _interval_text(level: Level) -> str:
    low, high = level.interval
    return f"{_label(level.name)} [{_percent(low)}, {_percent(high)}]"


def _label(level: str) -> str:
    return level.replace("_", "-")
