"""`nnctl gradcheck`: prove backpropagation right for a spec or a run (exit 1 if not)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..orchestration.gradcheck import DropoutDuringCheck, GradcheckSettings, gradcheck_run, run_parts
from ..orchestration.start import prepare_run
from ..spec import load_spec
from .common import EXIT_CHECK_FAILED, fail, print_json, stdout, user_errors

STYLE = {"pass": "green", "warn": "yellow", "unresolved": "yellow", "fail": "bold red"}


def gradcheck(
    target: Path = typer.Argument(..., metavar="SPEC_OR_RUN", help="A spec file, or a run directory to check its latest parameters."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    examples: int = typer.Option(16, "--examples", min=1, help="Training examples in the checked batch."),
    eps: float = typer.Option(1e-7, "--eps", min=1e-12, help="Step of the two-sided difference."),
    warn: float = typer.Option(1e-7, "--warn", help="Relative difference above which to warn."),
    fail_at: float = typer.Option(1e-5, "--fail", help="Relative difference above which a tensor fails."),
    max_checks: int | None = typer.Option(None, "--max-checks", min=1, help="Check at most K sampled coordinates per tensor."),
    after_steps: int = typer.Option(0, "--after-steps", min=0, help="Train S steps before checking."),
    seed: int = typer.Option(0, "--seed", help="Seed for the example and coordinate samples."),
    dropout: DropoutDuringCheck = typer.Option(DropoutDuringCheck.off, "--dropout", help="off, or fixed: one mask drawn once and reused."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
):
    """Compare backprop's gradient with two-sided differences of J, per parameter tensor."""
    if warn > fail_at:
        raise fail(f"--warn {warn} is above --fail {fail_at}")
    with user_errors(str(target) if target.is_file() else None, overrides):
        if target.is_dir():
            parts = run_parts(target)
        else:
            parts = prepare_run(load_spec(target, overrides))
        settings = GradcheckSettings(examples, eps, max_checks, after_steps, seed, dropout)
        report = gradcheck_run(parts, settings)
    rows = [(t, t.verdict(warn, fail_at)) for t in report.tensors]
    overall = report.verdict(warn, fail_at)
    failed = any(v == "fail" for _, v in rows) or overall == "fail"
    if as_json:
        print_json({
            "target": str(target), "examples": examples, "eps": eps, "warn": warn, "fail": fail_at,
            "difference": report.difference, "verdict": "fail" if failed else overall, "kinks": report.kinks,
            "frozen": report.frozen,
            "tensors": [{"tensor": t.key, "difference": t.difference, "verdict": v, "checked": t.checked,
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
    table = Table(title=f"gradient check of {target}")
    for column in ("tensor", "checked", "relative difference", "verdict"):
        table.add_column(column, justify="right" if column in ("checked", "relative difference") else "left")
    for t, v in rows:
        checked = f"{t.checked}/{t.size} sampled" if t.sampled else str(t.checked)
        table.add_row(t.key, checked, f"{t.difference:.2e}", f"[{STYLE[v]}]{v}[/]")
    table.add_row("overall", str(sum(t.checked for t, _ in rows)), f"{report.difference:.2e}", f"[{STYLE[overall]}]{overall}[/]")
    stdout.print(table)
    if report.frozen:
        stdout.print(f"note: only trainable tensors were checked; {len(report.frozen)} frozen tensor(s) were not "
                     f"({', '.join(report.frozen)})", markup=False)
    for t, v in rows:
        if v == "fail":
            stdout.print(f"{t.key}: worst coordinates (index, analytic, numerical):", markup=False)
            for i, a, n in t.worst:
                stdout.print(f"  [{i}] {a:.8e} {n:.8e}", markup=False)
    if report.kinks:
        stdout.print(f"note: {report.kinks} pre-activations lie within --eps of a ReLU kink, where two-sided "
                     "differences are unreliable (e.g. zero biases on blank pixels); if a tensor fails, "
                     "rerun with --after-steps 10", markup=False)
    if any(v == "unresolved" for _, v in rows):
        stdout.print("unresolved: the gradients are smaller than the rounding noise of the two-sided "
                     "difference at this --eps; try a larger --eps (e.g. 1e-4) or --after-steps", markup=False)
    if failed:
        stdout.print("[bold red]FAIL[/]: backpropagation disagrees with the numerical gradient")
