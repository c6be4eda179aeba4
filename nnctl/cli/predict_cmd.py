"""`nnctl predict`: predictions of a trained run for new inputs, normalized as in training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import typer

from ..data import load_inference_input
from ..nn.metrics import predicted_classes
from ..orchestration.model import load_model
from ..runs.atomic import describe
from ..runs.rundir import CheckpointName
from .common import fail, user_errors


def predict(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/."),
    input_file: Path = typer.Argument(..., metavar="INPUT", help="Inputs: .npz (key x), .npy, .csv or .h5 (dataset x)."),
    out: Path | None = typer.Option(None, "--out", help="Write to this .csv or .npz instead of stdout."),
    proba: bool = typer.Option(False, "--proba", help="Output class probabilities (or raw outputs) too."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
):
    """Predict classes (or regression values) for each input row."""
    with user_errors():
        model = load_model(run, which)
        x = model.fit_inputs(load_inference_input(input_file), input_file)
        outputs = model.net.predict(model.normalizer.apply(x, dtype=model.net.dtype))
    header, columns = _columns(outputs, model.checkpoint.task, model.checkpoint.class_names, proba)
    if out is None:
        _write_csv(sys.stdout, header, columns)
        return
    if out.suffix not in (".csv", ".npz"):
        raise fail(f"--out {out}: expected a .csv or .npz file name")
    try:
        if out.suffix == ".npz":
            np.savez(out, **{name: np.asarray(col) for name, col in zip(header, columns)})
        else:
            with open(out, "w") as stream:
                _write_csv(stream, header, columns)
    except OSError as err:
        raise fail(f"--out {out}: cannot write ({describe(err)})") from None


def _write_csv(stream, header: list[str], columns: list) -> None:
    stream.write(",".join(header) + "\n")
    for row in zip(*columns):
        stream.write(",".join(v if isinstance(v, str) else f"{v:.6g}" for v in row) + "\n")


def _columns(outputs: np.ndarray, task: str, class_names: list[str], proba: bool):
    """Column names and values: the predicted class, then optionally one probability per class."""
    if task == "regression":
        return [f"y{j}" for j in range(outputs.shape[1])], list(outputs.T)
    classes = predicted_classes(outputs)
    header, columns = ["class"], [[class_names[c] for c in classes]]
    if proba:
        probs = np.hstack([1 - outputs, outputs]) if outputs.shape[1] == 1 else outputs
        header += [f"p_{name}" for name in class_names]
        columns += list(probs.T)
    return header, columns
