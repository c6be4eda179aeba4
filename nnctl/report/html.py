"""One self-contained HTML page per run: spec, data, metrics and pictures, readable offline in any browser.

Figures are inline SVG (text drawn as paths, images embedded as data: URIs), the
style sheet is inline, and there is no JavaScript: the file references nothing
outside itself. The page is a list of sections (`SECTIONS`), each a function of
the `ReportContext` returning a `Section` or None when it does not apply
(a boundary for non-2-D inputs, gradient checks that were not asked for); a new
section (e.g. a diagnosis of the run) is one more function in that list.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..data import Splits
from ..nn.gradcheck import GradcheckReport
from ..orchestration.gradcheck import GradcheckSettings, gradcheck_run, run_parts
from ..orchestration.model import SPLITS, LoadedModel, all_splits, load_model, split_data
from ..runs.rundir import resolve_run
from ..spec import spec_to_yaml
from ..train.evaluate import evaluate
from ..train.prepare import prepare_split
from .boundary import boundary_figure
from .confusion import confusion_figure
from .curves import CurveOptions, curves_figure
from .health import health_figure
from .history import RunHistory, load_history
from .page import Section, figure_block, render_page, table, write_page
from .predictions import SplitPredictions, predict_split
from .regression import fit_figure, fitted, residual_figure
from .values import facts, human

CLASS_COUNTS_UP_TO = 20  # classes; more would make the split table unreadable


@dataclass
class ReportContext:
    history: RunHistory
    model: LoadedModel
    splits: Splits
    split: str  # the split the confusion matrix and boundary show
    gradcheck: GradcheckReport | None = None
    diagnosis: dict | None = None  # `nnctl diagnose --json` of the run, made by the caller (report imports no peer workflow)

    @property
    def run(self) -> Path:
        return self.history.run

    @cached_property
    def predictions(self) -> SplitPredictions:
        return predict_split(self.model, self.split, "a confusion matrix", self.splits)

    def present_splits(self) -> list[str]:
        return [name for name in SPLITS if getattr(self.splits, name) is not None and len(getattr(self.splits, name))]


def load_context(run: Path, split: str | None = None, which: str = "best", gradcheck: GradcheckSettings | None = None,
                 diagnosis: dict | None = None) -> ReportContext:
    """Everything the report shows, read once: history, model, splits and (if asked) a gradient check.

    ``split`` (for the confusion matrix and boundary) defaults to dev, else test, else train.
    """
    run = resolve_run(run)  # runs/latest: the report names the run it points at
    history = load_history(run)
    model = load_model(run, which)
    splits = all_splits(model)
    if split is None:
        split = next(name for name in ("dev", "test", "train") if len(getattr(splits, name)))
    split_data(model, split, splits)  # an absent split is an error now, not halfway through the page
    checked = gradcheck_run(run_parts(run), gradcheck) if gradcheck is not None else None
    return ReportContext(history, model, splits, split, checked, diagnosis)


def overview_section(ctx: ReportContext) -> Section:
    h, best = ctx.history, ctx.history.best
    rows = [
        ["run", ctx.run.name], ["folder", str(ctx.run.parent)], ["epochs", str(h.n_epochs)],
        ["optimizer steps", f"{len(h.step_cost):,}"],
        ["stopped", h.stop_reason or "still running"], ["task", h.task],
        ["parameters", f"{int(ctx.model.net.theta.size):,}"], ["checkpoint shown", ctx.model.path.name],
    ]
    if best.get("epoch") is not None:
        rows.append([f"best {best['metric']}", f"{best['value']:.6g} at epoch {best['epoch']}"])
    return Section("overview", "Overview", table(None, rows))


def spec_section(ctx: ReportContext) -> Section:
    return Section("spec", "Resolved spec", f"<pre>{html.escape(spec_to_yaml(ctx.model.spec))}</pre>")


def data_section(ctx: ReportContext) -> Section:
    data, names = ctx.model.spec.data, ctx.splits.class_names
    known = facts(data.source, "source") if data.source is not None else []
    for i, use in enumerate(data.sources or []):
        known += facts(use, f"sources[{i}]")
    for key in ("limit", "split", "normalize", "relabel"):
        known += facts(getattr(data, key), key) if getattr(data, key) is not None else []
    known.append(("input shape", human(tuple(ctx.model.net.input_shape), "shape")))
    if ctx.splits.schema is not None:  # the input contract new files are read through
        known += [(f"input contract: {key}", human(value, key)) for key, value in ctx.splits.schema.describe().items()]
    header = ["split", "examples"]
    counts = ctx.history.task == "classification" and len(names) <= CLASS_COUNTS_UP_TO
    if counts:
        header += [f"class {name}" for name in names]
    rows = []
    for name in ctx.present_splits():
        part = getattr(ctx.splits, name)
        row = [name, str(len(part))]
        if counts:
            row += [str(int(c)) for c in np.bincount(part.y, minlength=len(names))]
        rows.append(row)
    return Section("data", "Data and splits", table(None, [list(row) for row in known]) + table(header, rows))


def metrics_section(ctx: ReportContext) -> Section:
    model = ctx.model
    n_classes = len(model.checkpoint.class_names)
    columns = {}
    for name in ctx.present_splits():
        prepared = prepare_split(split_data(model, name, ctx.splits), model.normalizer, model.checkpoint.task,
                                 model.net.output_shape[0], model.net.dtype)
        columns[name] = evaluate(model.net, prepared.x, prepared.targets, prepared.labels, n_classes)
    metrics = list(next(iter(columns.values())))
    rows = [[metric] + [f"{columns[split][metric]:.4f}" for split in columns] for metric in metrics]
    note = f"<p>{html.escape(model.path.name)} evaluated on every split (costs without the penalty).</p>"
    return Section("metrics", "Metrics", note + table(["metric"] + list(columns), rows))


def curves_section(ctx: ReportContext) -> Section:
    metrics = tuple(m for m in ("train_cost", "dev_cost", "train_accuracy", "dev_accuracy", "train_mse", "dev_mse")
                    if m in ctx.history.metrics)
    costs = tuple(m for m in metrics if m.endswith("_cost"))
    parts = [figure_block(curves_figure([ctx.history], CurveOptions(metrics=metrics)), "curves-epoch",
                     "Per-epoch metrics, the best epoch and the learning rate."),
             figure_block(curves_figure([ctx.history], CurveOptions(metrics=costs, per="step")), "curves-step",
                     "Mini-batch cost per optimizer step with its bias-corrected exponentially weighted average (β = 0.9).")]
    return Section("curves", "Learning curves", "".join(parts))


def health_section(ctx: ReportContext) -> Section | None:
    if not len(ctx.history.health):
        return None
    caption = ("Per-layer health every N steps (metrics.h5 /health): ‖dW‖ over the steps and across depth, the update "
               "ratio, activations, dead and saturated units, and the run's warnings (events.jsonl).")
    return Section("health", "Training health", figure_block(health_figure(ctx.history), "health", caption))


def confusion_section(ctx: ReportContext) -> Section | None:
    if ctx.history.task != "classification":
        return None
    fig = confusion_figure(ctx.predictions, ctx.model.checkpoint.class_names, ctx.run.name)
    caption = f"Rows: true class; columns: predicted class ({ctx.split} split)."
    return Section("confusion", "Confusion matrix", figure_block(fig, "confusion", caption))


def regression_section(ctx: ReportContext) -> Section | None:
    if ctx.history.task != "regression":
        return None
    found = fitted(ctx.model, ctx.split, ctx.splits)
    body = (figure_block(fit_figure(found, ctx.run.name), "fit", f"Predicted against actual values ({ctx.split} split); "
                         "a perfect model's points lie on the dashed line.")
            + figure_block(residual_figure(found, ctx.run.name), "residuals",
                           "Residuals against the prediction: a slope or a funnel is structure the model missed."))
    return Section("regression", "Predictions against targets", body)


def boundary_section(ctx: ReportContext) -> Section | None:
    if ctx.history.task != "classification" or tuple(ctx.model.net.input_shape) != (2,):
        return None
    fig = boundary_figure(ctx.model, ctx.predictions)
    caption = f"Predicted class on a grid in the original input coordinates; {ctx.split} examples over it."
    return Section("boundary", "Decision boundary", figure_block(fig, "boundary", caption))


def gradcheck_section(ctx: ReportContext) -> Section | None:
    report = ctx.gradcheck
    if report is None:
        return None
    rows = [[t.key, f"{t.checked}/{t.size}", f"{t.difference:.2e}", t.verdict()] for t in report.tensors]
    rows.append(["overall", str(sum(t.checked for t in report.tensors)), f"{report.difference:.2e}", report.verdict()])
    note = ("<p>Backpropagation against two-sided differences of J on the latest parameters (float64); "
            "relative difference ≤ 1e-7 passes, above 1e-5 fails.</p>")
    return Section("gradcheck", "Gradient check", note + table(["tensor", "checked", "relative difference", "verdict"], rows))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def _plain(value: float | None) -> str:
    """A regression's error level or gap (MSE, MAE...), in the targets' units."""
    return "—" if value is None else f"{value:.4g}"


def diagnosis_section(ctx: ReportContext) -> Section | None:
    """The notes' bias/variance/mismatch table, the verdict and the remedies, from `nnctl diagnose --json`."""
    found = ctx.diagnosis
    if found is None:
        return None
    shown = _plain if ctx.history.task == "regression" else _percent
    levels = [[name.replace("_", "-"), shown(level["error"]), "—" if level["examples"] is None else f"{level['examples']:,}",
               "—" if level["ci95"] is None else f"{shown(level['ci95'][0])} – {shown(level['ci95'][1])}"]
              for name, level in found["levels"].items()]
    gaps = [[name.replace("_", " "), shown(gap["value"]), " − ".join(reversed(gap["between"])),
             "problem" if gap["problem"] else ("within noise" if gap["within_noise"] else "")]
            for name, gap in found["gaps"].items()]
    remedies = [[r["gap"].replace("_", " "), r["action"], r["key"], r["now"] or ""] for r in found["remedies"]]
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in (*found["notes"], *found["warnings"]))
    body = (f"<p><strong>{html.escape(found['verdict'])}</strong></p>{notes}"
            + table(["level", found["metric"].replace("_", " "), "examples", "95 % interval"], levels)
            + table(["gap", "value", "difference", ""], gaps)
            + (table(["gap", "what to try", "spec key", "now"], remedies) if remedies else ""))
    return Section("diagnosis", "Diagnosis", body)


SECTIONS = (overview_section, data_section, metrics_section, diagnosis_section, curves_section, health_section, confusion_section,
            regression_section, boundary_section, gradcheck_section, spec_section)

def report_html(ctx: ReportContext) -> str:
    """The whole page for ``ctx``."""
    return render_page(f"nnctl report: {ctx.run.name}", [make(ctx) for make in SECTIONS])


def write_report(run: Path, out: Path | None = None, split: str | None = None, which: str = "best",
                 gradcheck: GradcheckSettings | None = None, diagnosis: dict | None = None) -> Path:
    """Write the report of ``run`` to ``out`` (default RUN/report.html), replacing it atomically."""
    return write_page(run, out, lambda: report_html(load_context(run, split, which, gradcheck, diagnosis)))
