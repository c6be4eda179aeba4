"""One self-contained HTML page per search: summary, ranked trials, per-parameter plots, best-so-far,
parallel coordinates. Same page machinery as the run report (`page.py`): inline SVG, no JavaScript."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

from ..runs.status import TrialStatus
from .page import Section, figure_block, render_page, table, write_page
from .parallel import parallel_svg
from .tune_figures import best_so_far_figure, parameters_figure
from .tune_view import ParameterAxis, TrialPoint, TuneView
from .values import human

STATUS_ORDER = tuple(TrialStatus)


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _sampled(axis: ParameterAxis) -> str:
    """How a parameter was searched, as a person writes it: ``log-uniform, 0.0001 – 1``, ``choice of 32, full`` or,
    when a choice is itself a mapping written with commas, ``choice of name: gd; name: momentum, beta: 0.9``."""
    if axis.categorical:
        joiner = "; " if any(isinstance(choice, dict) for choice in axis.choices) else ", "
        return "choice of " + joiner.join(map(axis.format, axis.choices))
    low, high = axis.bounds
    return f"{axis.kind.replace('_', '-')}, {human(low)} – {human(high)}"


def _run_link(run: str, tune_dir: Path) -> str:
    """A trial's run directory relative to the tune directory (where the page is), as the user would cd to it."""
    return os.path.relpath(run, tune_dir) if run else ""


def summary_section(view: TuneView, tune_dir: Path) -> Section:
    counts = Counter(t.status for t in view.trials)
    by_status = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in STATUS_ORDER if counts[s])
    unmet = sum(1 for t in view.trials if t.outcome == "unsatisfied")
    rows = [["search", view.name], ["metric", view.metric_label], ["goal", view.goal], ["method", view.method],
            ["trials", f"{len(view.trials)} of {view.trials_planned} started: {by_status}"
                       + (f"; {unmet} finished without meeting the satisfy conditions" if unmet else "")],
            ["ranked", f"{len(view.ranked)} (finished and meeting every satisfy condition)"]]
    rows += [[f"satisfy {name}", condition] for name, condition in view.satisfy.items()]
    rows += [[f"searched {a.path}", _sampled(a)] for a in view.parameters]
    best = view.best
    if view.folds:
        rows.append(["cross-validation", f"{view.folds}: a trial's value is its mean over its fold runs ± the "
                                         "standard error of that mean"])
    if best is None:
        rows.append(["best", "none yet: no trial has finished meeting every satisfy condition"])
    else:
        rows += [["best trial", f"{best.index}: {view.metric} {_mean_se(best)} at epoch {best.best_epoch} "
                                f"of {best.epochs}"],
                 *[[f"best {a.path}", a.format(best.params[a.path])] for a in view.parameters],
                 ["best run", _run_link(best.run, tune_dir)]]
    if view.folds and best is not None:
        rows.append(["within one SE of the best", ", ".join(f"trial {i}" for i in view.within_one_se)])
    if view.chosen is not None and best is not None and view.chosen != best.index:
        pick = view.trial(view.chosen)
        rows.append(["chosen (one-SE rule)", f"trial {pick.index}: the fewest parameters ({pick.parameters}) within one SE "
                                             f"of the best; {view.metric} {_mean_se(pick)}"])
    if view.refit:
        rows.append(["refit", view.refit])
    return Section("summary", "Search summary", table(None, rows))


def _mean_se(trial: TrialPoint) -> str:
    return _value(trial.value) + ("" if trial.se is None else f" ± {trial.se:.2g}")


def trials_section(view: TuneView, tune_dir: Path) -> Section:
    """Every trial: the ranked ones best first with their rank, then the others by index with why they are not ranked."""
    rank = {index: r for r, index in enumerate(view.ranked, start=1)}
    ordered = [view.trial(i) for i in view.ranked] + [t for t in view.trials if t.index not in rank]
    header = ["rank", "trial", "status", f"{view.metric} mean ± SE" if view.folds else view.metric,
              *(["≤ 1 SE", "parameters"] if view.folds else []), "best epoch / epochs",
              *[a.path for a in view.parameters], *[f"{name} {cond}" for name, cond in view.satisfy.items()]]
    rows = []
    for t in ordered:
        status = t.status.replace("_", " ") + (" (unmet satisfy)" if t.outcome == "unsatisfied" else "")
        status += f": {t.message}" if t.message else ""
        cv_cells = ["yes" if t.index in view.within_one_se else "", _value(t.parameters)] if view.folds else []
        rows.append([str(rank.get(t.index, "—")), str(t.index), status, _mean_se(t), *cv_cells,
                     f"{'—' if t.best_epoch is None else t.best_epoch} / {t.epochs}",
                     *[a.format(t.params[a.path]) for a in view.parameters],
                     *[_value(t.satisfied.get(name)) for name in view.satisfy]])
    example = next((t for t in ordered if t.run), None)
    run = "" if example is None else _run_link(example.run, tune_dir) + ("/fold-0" if view.folds else "")
    what = "first fold run" if view.folds else "run directory"
    where = "" if example is None else (f" Each trial's {what} is named after its index: trial {example.index}'s is "
                                        f"<code>{html.escape(run)}</code>, beside this page "
                                        "(<code>nnctl report</code> it for its own page).")
    note = f"<p>Ranked: finished trials meeting every satisfy condition, best first; then the rest by index.{where}</p>"
    if view.folds:
        note += ("<p>Ranked on the mean over the fold runs. Trials within one standard error of the best are not "
                 "told apart by these folds: prefer the simplest of them.</p>")
    return Section("trials", "Trials", note + table(header, rows))


def parameters_section(view: TuneView) -> Section:
    caption = (f"{view.metric} of each trial against each hyperparameter, on the scale it was sampled on "
               "(log axes for log-sampled ranges; 1 − β for momentum-like ones); the star is the best trial.")
    return Section("parameters", "Metric against each hyperparameter", figure_block(parameters_figure(view), "tune-params", caption))


def progress_section(view: TuneView) -> Section:
    caption = (f"Each trial's {view.metric} by index, and the best ranked value among the trials up to it "
               f"({view.goal}).")
    return Section("progress", "Best so far", figure_block(best_so_far_figure(view), "tune-progress", caption))


def parallel_section(view: TuneView) -> Section:
    caption = ("One axis per hyperparameter on its sampling scale, then the metric; one line per trial, coloured "
               "by its metric (brightest: best). Hover a line for its trial.")
    return Section("parallel", "Parallel coordinates",
                   f"<figure>{parallel_svg(view)}<figcaption>{html.escape(caption)}</figcaption></figure>")


def tune_report_html(view: TuneView, tune_dir: Path) -> str:
    return render_page(f"nnctl search report: {view.name}", [
        summary_section(view, tune_dir), trials_section(view, tune_dir), parameters_section(view),
        progress_section(view), parallel_section(view)])


def write_tune_report(view: TuneView, tune_dir: Path, out: Path | None = None) -> Path:
    """Write the search's page to ``out`` (default TUNE_DIR/report.html), replacing it atomically."""
    return write_page(tune_dir, out, lambda: tune_report_html(view, Path(tune_dir)))
