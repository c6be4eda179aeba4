"""`nnctl export`: a trained run as an ONNX model or as plain arrays with a JSON layer graph."""

from __future__ import annotations

from pathlib import Path

import typer

from ..export.choices import ExportFormat
from ..runs.names import CheckpointName
from .common import EXIT_CHECK_FAILED, fail, print_json, real_run, user_errors
from .tables import print_table


def export(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/.", callback=real_run),
    fmt: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="onnx, or npz (arrays plus a JSON layer graph)."),
    out: Path | None = typer.Option(None, "--out", help="The file to write (default RUN/model.onnx or RUN/model.npz)."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    opset: int | None = typer.Option(None, "--opset", min=1, metavar="N", help="ONNX opset version (default 17)."),
    verify: int | None = typer.Option(None, "--verify", min=1, metavar="N",
                                      help="Check N dev examples in onnxruntime against nnctl's predictions."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
):
    """Export a run's model to ONNX (input normalization inside the graph) or to plain NumPy arrays."""
    from ..export.run import export_run
    from ..runs.atomic import atomic_write_bytes
    from ..runs.outputs import output_file

    with user_errors():
        if out is not None:
            output_file(out, "--out", (f".{fmt}",))
        exported = export_run(run, fmt, which, opset, verify or 0)
    if out is None:
        from ..runs.rundir import resolve_run

        out = resolve_run(run) / f"model.{fmt}"  # in the run it came from, beside its checkpoints
    check = exported.verification
    written = check is None or check.passed
    if written:
        with user_errors():  # an unwritable folder or a full disk: one line, the old file intact
            atomic_write_bytes(out, exported.data)
    _report(run, fmt, out, exported, written, as_json)
    if written:
        from ..loggers.mlflow import upload_artifact

        with user_errors():
            upload_artifact(run, out)  # a run mirrored to MLflow gets its exported model there too
    if not written:
        raise fail(f"verification failed (max difference {check.max_difference:.3g} > {check.tolerance:g}, "
                   f"{check.label_mismatches} label mismatches); {out} not written", EXIT_CHECK_FAILED)


def _report(run: Path, fmt: str, out: Path, exported, written: bool, as_json: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    graph, check = exported.description.graph, exported.verification
    result = {
        "run": str(run), "checkpoint": str(exported.checkpoint), "epoch": graph["provenance"]["epoch"],
        "format": fmt, "out": str(out), "written": written, "bytes": len(exported.data), "opset": exported.opset,
        "output_kind": graph["output"]["kind"], "layers": len(graph["layers"]),
        "verify": check.as_dict() if check else None,
    }
    if as_json:
        print_json(result)
        return
    table = Table(title=f"export of {run} ({exported.checkpoint.name}, epoch {result['epoch']})")
    table.add_column("")
    table.add_column("value")
    table.add_row("file", f"{out} ({len(exported.data):,} bytes)" if written else f"{out} (not written)")
    table.add_row("format", fmt if exported.opset is None else f"onnx, opset {exported.opset}")
    table.add_row("outputs", "outputs" if graph["output"]["kind"] == "regression" else f"probabilities, label ({graph['output']['kind']})")
    if check:
        verdict = Text("ok", style="green") if check.passed else Text("FAIL", style="bold red")
        table.add_row("verify", Text(f"{check.examples} dev examples: max difference {check.max_difference:.2e} "
                                     f"(tolerance {check.tolerance:g}), {check.label_mismatches} label mismatches, "
                                     f"{check.ties} near ties ") + verdict)
    print_table(table)
