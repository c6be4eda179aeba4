"""Learning curves as a diagnosis: train a spec on growing shares of its training split.

Each share is an ordinary run (its spec says ``strategy.train_fraction``), all
of them in one ``runs/<name>-curve-<timestamp>/`` folder with a curve.json
summary. The shares are nested and stratified; dev rows and every training
seed stream stay the same, so only the amount of training data changes.
Reading (docs/explanation/algorithms.md#learning-curves): a dev−train gap that closes as data grows says
more data helps; train error that stays well above human level says bias,
which more data will not fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import StrategyError
from ..orchestration.model import all_splits, load_model, split_data
from ..orchestration.start import start_run
from ..runs import rundir
from ..runs.atomic import atomic_write_json
from ..spec import Spec
from ..train.loop import stop_on_signals
from .decomposition import DEFAULT_TOLERANCE, EPS, PROBLEM_SHARE
from .diagnosis import check_human_error
from .evaluation import Options, score_split

CURVE_FILE = "curve.json"


@dataclass
class CurvePoint:
    fraction: float
    train_examples: int
    run: str
    stop_reason: str
    train_error: float
    dev_error: float


@dataclass
class LearningCurve:
    folder: str
    human_error: float | None
    tolerance: float
    points: list[CurvePoint]
    reading: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"folder": self.folder, "human_error": self.human_error, "tolerance": self.tolerance,
                "points": [asdict(point) for point in self.points], "reading": self.reading}


def parse_fractions(text: str) -> list[float]:
    """``'0.1,0.25,0.5,1'`` → increasing distinct shares in (0, 1]."""
    try:
        fractions = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fractions = []
    if not fractions or any(not 0 < f <= 1 for f in fractions) or sorted(set(fractions)) != fractions:
        raise StrategyError(f"--learning-curve {text}: expected increasing shares of the training split in (0, 1], e.g. 0.1,0.25,0.5,1")
    return fractions


def train_curve(spec: Spec, fractions: list[float], runs_dir: Path, human_error: float | None = None,
                tolerance: float = DEFAULT_TOLERANCE, progress: Callable[[str], None] = lambda message: None) -> LearningCurve:
    """Train one run per share, measure train and dev error of each run's best checkpoint, read the curve."""
    check_human_error(human_error, "--human-error")
    human = spec.strategy.human_error if human_error is None else human_error
    folder = rundir.create_run_dir(Path(runs_dir), f"{spec.name}-curve")
    curve = LearningCurve(str(folder), human, tolerance, [])
    for fraction in fractions:
        share = spec.model_copy(update={
            "name": f"{spec.name}-f{fraction:g}",
            "strategy": spec.strategy.model_copy(update={"train_fraction": fraction}),
        })
        trainer = start_run(share, folder)
        progress(f"training on {fraction:g} of the training split ({len(trainer.data['train'])} examples) in {trainer.run_dir}")
        with stop_on_signals(trainer):
            result = trainer.run()
        if result.stop_reason == "interrupted":
            raise KeyboardInterrupt
        curve.points.append(_measure(result.run_dir, fraction, result.stop_reason))
        atomic_write_json(folder / CURVE_FILE, curve.to_dict())
    curve.reading = read_curve(curve.points, human or 0.0, tolerance)
    atomic_write_json(folder / CURVE_FILE, curve.to_dict())
    return curve


def _measure(run: Path, fraction: float, stop_reason: str) -> CurvePoint:
    model = load_model(run, "best")
    if model.checkpoint.task != "classification":
        raise StrategyError(f"a learning curve of error rates needs a (single-label) classification spec; this one is {model.checkpoint.task}")
    options, loaded, errors = Options(), all_splits(model), {}
    for split in ("train", "dev"):
        data = split_data(model, split, loaded)
        errors[split] = (len(data), score_split(model, data, options)[1].metrics["error"])
    return CurvePoint(fraction, errors["train"][0], str(run), stop_reason, errors["train"][1], errors["dev"][1])


def read_curve(points: list[CurvePoint], human: float, tolerance: float) -> list[str]:
    """The notes' reading of train/dev error against training-set size."""
    first, last = points[0], points[-1]
    gap_first, gap_last = first.dev_error - first.train_error, last.dev_error - last.train_error
    bias = last.train_error - human
    floor = max(tolerance, PROBLEM_SHARE * max(gap_last, bias)) - EPS  # the decomposition's rule for a problem
    reading = []
    if gap_last >= floor and len(points) > 1:
        if gap_last < gap_first:
            reading.append(f"the dev−train gap closes as the training set grows ({_pct(gap_first)} at "
                           f"{first.train_examples} examples → {_pct(gap_last)} at {last.train_examples}): more data should help")
        else:
            reading.append(f"the dev−train gap does not close with more data ({_pct(gap_first)} → {_pct(gap_last)}): "
                           "regularize or change the model rather than wait for more data")
    elif gap_last >= floor:
        reading.append(f"dev error is {_pct(gap_last)} above train error: variance (give several shares to see whether data helps)")
    if bias >= floor:
        reading.append(f"train error stays {_pct(bias)} above human-level at full size: avoidable bias, which more data "
                       "alone will not fix (a bigger network, longer training, a better optimizer)"
                       + (" — both curves are high" if gap_last < bias else ""))
    if not reading:
        reading.append(f"train and dev error meet within {_pct(tolerance)} of human-level: low bias and low variance")
    return reading


def _pct(value: float) -> str:
    return f"{100 * value:.3g} %"
