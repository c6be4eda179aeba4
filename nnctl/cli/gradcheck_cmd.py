"""`nnctl gradcheck`: prove backpropagation right for a spec or a run (exit 1 if not)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..orchestration.choices import CHECKS_PER_TENSOR, JITTER, DropoutDuringCheck
from .common import EXIT_CHECK_FAILED, fail, print_json, real_run, stdout, user_errors
from .tables import print_table
from .work_progress import busy, counting

STYLE = {"pass": "green", "warn": "yellow", "unresolved": "yellow", "kinked": "yellow", "fail": "bold red"}


def parse_max_checks(text: str) -> int | None:
    """``all`` (every coordinate: None) or a positive count per tensor."""
    if text.strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise fail(f"--max-checks {text}: expected a positive number of coordinates per tensor, or 'all'")
    return count


def gradcheck(
    target: Path = typer.Argument(..., metavar="SPEC_OR_RUN", callback=real_run,
                                  help="A spec file, or a run directory to check its latest parameters."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    examples: int = typer.Option(16, "--examples", min=1, help="Training examples in the checked batch."),
    eps: float = typer.Option(1e-7, "--eps", min=1e-12, help="Step of the two-sided difference."),
    warn: float = typer.Option(1e-7, "--warn", help="Relative difference above which to warn."),
    fail_at: float = typer.Option(1e-5, "--fail", help="Relative difference above which a tensor fails."),
    max_checks: str = typer.Option(
        str(CHECKS_PER_TENSOR), "--max-checks", metavar="K|all",
        help="Coordinates sampled per tensor (smaller tensors: all of them), or all: every coordinate."),
    after_steps: int = typer.Option(0, "--after-steps", min=0, help="Train S steps before checking."),
    seed: int = typer.Option(0, "--seed", help="Seed for the example and coordinate samples."),
    dropout: DropoutDuringCheck = typer.Option(DropoutDuringCheck.off, "--dropout", help="off, or fixed: one mask drawn once and reused."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
):
    """Compare backprop's gradient with two-sided differences of J, per parameter tensor."""
    from ..orchestration.gradcheck import GradcheckSettings, gradcheck_run, run_parts
    from ..orchestration.start import prepare_run
    from ..spec import load_spec

    if warn > fail_at:
        raise fail(f"--warn {warn} is above --fail {fail_at}")
    checks = parse_max_checks(max_checks)
    with user_errors(str(target) if target.is_file() else None, overrides):
        with busy("loading the data"):
            parts = run_parts(target) if target.is_dir() else prepare_run(load_spec(target, overrides))
        settings = GradcheckSettings(examples, eps, checks, after_steps, seed, dropout)
        coordinates = sum(slot.size if checks is None else min(slot.size, checks) for slot in parts.net.trainable_slots())
        with counting("gradcheck", coordinates, "coordinates") as advance:
            report = gradcheck_run(parts, settings, lambda tensor, done, total: advance(tensor, done == total))
    rows = [(t, t.verdict(warn, fail_at)) for t in report.tensors]
    overall = report.verdict(warn, fail_at)
    failed = any(v == "fail" for _, v in rows) or overall == "fail"
    if as_json:
        print_json({
            "target": str(target), "examples": examples, "eps": eps, "warn": warn, "fail": fail_at,
            "difference": report.difference, "verdict": "fail" if failed else overall, "kinks": report.kinks,
            "max_checks": checks, "inputs_jittered": report.jittered, "frozen": report.frozen,
            "tensors": [{"tensor": t.key, "difference": t.difference, "verdict": v, "checked": t.checked, "kinked": t.kinked,
                         "error": t.error, "resolution": t.resolution,
                         "size": t.size, "sampled": t.sampled,
                         "worst": [{"index": i, "analytic": a, "numerical": n} for i, a, n in t.worst]}
                        for t, v in rows],
        })
    else:
        _print_report(target, report, rows, overall, failed)
    if failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_report(target, report, rows, overall, failed) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"gradient check of {target}")
    for column in ("tensor", "checked", "relative difference", "verdict"):
        table.add_column(column, justify="right" if column in ("checked", "relative difference") else "left")
    for t, v in rows:
        checked = f"{t.checked}/{t.size} sampled" if t.sampled else str(t.checked)
        if t.kinked:
            checked += f" (+{t.kinked} kinked)"
        table.add_row(t.key, checked, f"{t.difference:.2e}", Text(v, style=STYLE[v]))
    table.add_row("overall", str(sum(t.checked for t, _ in rows)), f"{report.difference:.2e}", Text(overall, style=STYLE[overall]))
    print_table(table)
    if report.frozen:
        stdout.print(f"note: only trainable tensors were checked; {len(report.frozen)} frozen tensor(s) were not "
                     f"({', '.join(report.frozen)})", markup=False)
    for t, v in rows:
        if v == "fail":
            stdout.print(f"{t.key}: worst coordinates (index, analytic, numerical):", markup=False)
            for i, a, n in t.worst:
                stdout.print(f"  [{i}] {a:.8e} {n:.8e}", markup=False)
    kinked = sum(t.kinked for t, _ in rows)
    if report.jittered:
        stdout.print("note: the checked inputs held ReLU inputs exactly at zero (zero biases on blank pixels); "
                     f"they were moved off the kink by Gaussian noise of {JITTER:g}", markup=False)
    if kinked:
        stdout.print(f"note: {kinked} coordinates were left out: θ ± eps put a ReLU input on both sides of zero "
                     "(or moved a max-pool's maximum), where a difference quotient is no derivative", markup=False)
    if any(v == "unresolved" for _, v in rows):
        stdout.print("unresolved: the gradients are smaller than the rounding noise of the two-sided "
                     "difference at this --eps; try a larger --eps (e.g. 1e-4) or --after-steps", markup=False)
    if failed:
        stdout.print(Text("FAIL", style="bold red"), ": backpropagation disagrees with the numerical gradient", sep="")
