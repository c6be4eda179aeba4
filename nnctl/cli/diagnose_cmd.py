"""`nnctl diagnose`: the notes' bias/variance/mismatch report of a run, or a learning curve of a spec."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..runs.names import CheckpointName
from ..strategy.decomposition import DEFAULT_TOLERANCE, GAP_LABELS
from .common import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, fail, print_json, real_run, stderr, stdout, user_errors
from .tables import print_table

if TYPE_CHECKING:
    from ..strategy.diagnosis import Diagnosis
    from ..strategy.learning_curve import LearningCurve

LEVEL_NAMES = {"human": "human-level (Bayes proxy)", "train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}


def diagnose(
    target: Path = typer.Argument(..., metavar="RUN|SPEC", help="A run directory, or a spec file with --learning-curve.", callback=real_run),
    human_error: float | None = typer.Option(None, "--human-error", help="Human-level error, the Bayes proxy (e.g. 0.01)."),
    with_test: bool = typer.Option(False, "--with-test", help="Also read the test split (keep it for the final estimate)."),
    fail_over: list[str] = typer.Option([], "--fail-over", help="Exit 1 if a gap or error exceeds VALUE (e.g. variance=0.02)."),
    tolerance: float = typer.Option(DEFAULT_TOLERANCE, "--tolerance", help="Gaps below this are not problems."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    weights: str | None = typer.Option(None, "--weights", help="Class weights for a weighted error, e.g. 'cat=1,unacceptable=10'."),
    group_by: str | None = typer.Option(None, "--group-by", help="CSV column whose values group the errors."),
    threshold: float | None = typer.Option(None, "--threshold", help="Class-1 threshold of a sigmoid output (default 0.5)."),
    learning_curve: str | None = typer.Option(None, "--learning-curve", help="Train SPEC on these shares of train, e.g. 0.1,0.25,0.5,1."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the learning curve's folder is created."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value for the learning curve (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
):
    """Which gap to work on next: avoidable bias, variance, data mismatch; exit 1 when a --fail-over bar is missed."""
    from ..spec import load_spec
    from ..strategy.diagnosis import check_gates, diagnose_run, parse_gates
    from ..strategy.learning_curve import parse_fractions, train_curve
    from ..strategy.scoring import parse_weights

    with user_errors():
        gates = parse_gates(fail_over)
    if learning_curve is not None:
        if target.is_dir():
            raise fail(f"{target}: --learning-curve trains a SPEC file; this is a run directory")
        with user_errors(str(target), overrides):
            fractions = parse_fractions(learning_curve)
            spec = load_spec(target, overrides)
            try:
                curve = train_curve(spec, fractions, runs_dir, human_error, tolerance,
                                    lambda line: stderr.print(line, markup=False, soft_wrap=True))
            except KeyboardInterrupt:
                raise fail("interrupted; the shares trained so far are in the curve folder's curve.json", EXIT_INTERRUPTED) from None
        print_json(curve.to_dict()) if as_json else _print_curve(curve)
        return
    if overrides:
        raise fail("--set changes a spec; it goes with --learning-curve")
    with user_errors():
        parsed_weights = parse_weights(weights) if weights is not None else None
        result = diagnose_run(target, human_error, with_test, which=which, tolerance=tolerance, threshold=threshold,
                              weights=parsed_weights, group_by=group_by)
        missed = check_gates(result, gates)
    for warning in result.decomposition.warnings:
        stderr.print(f"nnctl: warning: {warning}", markup=False, soft_wrap=True)
    if as_json:
        print_json({**result.to_dict(), "passed": not missed, "missed": missed})
    else:
        _print_diagnosis(result)
    if missed:
        raise fail("missed the bar: " + "; ".join(missed), EXIT_CHECK_FAILED)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _plain(value: float | None) -> str:
    """A regression's error level or gap (MSE, MAE...): a number in the targets' units."""
    return "n/a" if value is None else f"{value:.4g}"


def _print_diagnosis(result: Diagnosis) -> None:
    from rich.table import Table

    d = result.decomposition
    rate = d.levels["train"].rate  # else a regression's MSE/MAE: plain numbers, no binomial interval
    shown = _pct if rate else _plain
    table = Table(title=f"{result.run} ({result.checkpoint}, {result.metric.replace('_', ' ')})")
    columns = (("level", "left"), (result.metric.replace("_", " "), "right")) + ((("95 % interval", "right"),) if rate else ())
    for column, justify in (*columns, ("examples", "right")):
        table.add_column(column, justify=justify)
    for name, level in d.levels.items():
        bounds = level.interval
        label = LEVEL_NAMES[name] if name != "human" or d.human_given else "Bayes error (taken as 0)"
        interval = [f"{shown(bounds[0])} – {shown(bounds[1])}" if bounds else ""] if rate else []
        table.add_row(label, shown(level.error), *interval, "" if level.examples is None else str(level.examples))
    print_table(table)
    gaps = Table(title="gaps")
    for column, justify in (("gap", "left"), ("value", "right"), ("between", "left"), ("", "left")):
        gaps.add_column(column, justify=justify)
    for name, gap in d.gaps.items():
        flags = ", ".join(flag for flag, on in (("problem", gap.problem), ("largest", name in d.dominant),
                                                 ("within noise", gap.within_noise)) if on)
        gaps.add_row(GAP_LABELS[name], shown(gap.value), " → ".join(n.replace("_", "-") for n in gap.between), flags)
    print_table(gaps)
    for name, split in result.splits.items():
        if split["groups"]:
            _print_groups(f"{name} error by {result.options.group_by}", split["groups"], split["metrics"]["group_mean_error"])
    stdout.print(f"verdict: {d.verdict}")
    for note in d.notes:
        stdout.print(f"note: {note}", markup=False)
    if result.remedies:
        heading = "try, in this order" if d.problems else "if better is still needed, the largest gap suggests"
        stdout.print(f"{heading}:")
        for i, remedy in enumerate(result.remedies, 1):
            now = f" (now: {remedy.now})" if remedy.now else ""
            stdout.print(f"  {i}. [{GAP_LABELS[remedy.gap]}] {remedy.action} — {remedy.key}{now}", markup=False)


def _print_groups(title: str, groups: dict[str, dict], mean: float) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("group")
    table.add_column("error", justify="right")
    table.add_column("examples", justify="right")
    for name, group in groups.items():
        table.add_row(name, _pct(group["error"]), str(group["examples"]))
    table.add_row("mean of groups", _pct(mean), "")
    print_table(table)


def _print_curve(curve: LearningCurve) -> None:
    from rich.table import Table

    table = Table(title=f"learning curve in {curve.folder}")
    stopped = any(p.stop_reason != "completed" for p in curve.points)
    for column in ("share", "train examples", "train error", "dev error", "dev − train") + (("stopped",) if stopped else ()):
        table.add_column(column, justify="right")
    for p in curve.points:
        cells = [f"{p.fraction:g}", str(p.train_examples), _pct(p.train_error), _pct(p.dev_error), _pct(p.dev_error - p.train_error)]
        table.add_row(*cells, *((p.stop_reason,) if stopped else ()))
    print_table(table)
    for line in curve.reading:
        stdout.print(f"reading: {line}", markup=False)
