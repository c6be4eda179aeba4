"""`nnctl spec check|show|schema`: validate, resolve and describe experiment specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..report.values import count, human
from .common import print_json, stderr, stdout, user_errors
from .tables import print_table
from .work_progress import busy

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(help="Validate, resolve and describe experiment specs.", no_args_is_help=True)


@app.command()
def check(
    spec_file: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    data: bool = typer.Option(False, "--data", help="Also read the data and check its shapes and classes against the model (no training)."),
):
    """Validate a spec; exit 0 when valid, 2 with a located message when not."""
    from ..spec import load_spec

    with user_errors(str(spec_file), overrides):
        spec = load_spec(spec_file, overrides)
        parts = None
        if data:  # imported only here: a plain check never loads NumPy or h5py
            from ..orchestration.start import prepare_run

            parts = prepare_run(spec)
    if parts is None:
        stdout.print(f"{spec_file}: ok")
        return
    splits = parts.splits
    sizes = ", ".join(f"{name} {len(split)}" for name, split in splits.named().items())
    listed = f"{', '.join(splits.class_names[:10])}{', ...' if len(splits.class_names) > 10 else ''}"
    classes = {"classification": f"{count(len(splits.class_names), 'class', 'classes')} ({listed})",
               "multilabel": f"{count(len(splits.class_names), 'binary task')} ({listed})"}.get(
        splits.task, f"regression, {count(parts.net.output_shape[0], 'target')}")
    stdout.print(f"{spec_file}: ok: {sizes} examples, input shape {human(tuple(parts.net.input_shape), 'shape')}, {classes}", markup=False)


@app.command()
def show(
    spec_file: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    layers: bool = typer.Option(
        True, "--layers/--no-layers", help="Load the data and list each layer's output shape and the memory estimate on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved spec as JSON."),
):
    """Print the resolved spec, every default filled in, as YAML on stdout (a spec you can save and
    train); the layer shapes and the memory estimate go to stderr."""
    from ..orchestration.start import prepare_run
    from ..spec import load_spec, spec_to_yaml

    with user_errors(str(spec_file), overrides), busy("loading the data to size the layers"):
        spec = load_spec(spec_file, overrides)
        parts = prepare_run(spec, initialize=False) if layers else None
    if as_json:
        print_json(spec.model_dump(mode="json"))
        return
    stdout.print(spec_to_yaml(spec), markup=False, end="")
    if parts is not None:
        from ..train.batches import batch_size_note

        if parts.splits.schema is not None:
            facts = parts.splits.schema.describe()
            stderr.print("input contract: " + "; ".join(f"{key} {human(value, key)}" for key, value in facts.items()),
                         markup=False, highlight=False, soft_wrap=True)
        print_table(layer_table(parts.net, spec, parts.transfer), stderr)
        stderr.print(batch_size_note(spec.train.batch_size, len(parts.splits.train)), markup=False, highlight=False, soft_wrap=True)
        stderr.print(memory_line(spec, parts.net, len(parts.splits.train)), markup=False, highlight=False, soft_wrap=True)
    from ..nn.kernels.choice import describe

    stderr.print(describe(spec.train.kernels), markup=False, highlight=False, soft_wrap=True)


def layer_table(net, spec, transfer: dict[str, str]) -> Table:
    """Each layer's output shape and parameters, whether they train (and from when), and with
    `init_from` whether they are copied, re-initialized or new; trainable and frozen totals."""
    from rich.table import Table

    table = Table(title="layers")
    columns = ["layer", "output shape", "parameters", "training"] + (["init_from"] if transfer else [])
    for column in columns:
        table.add_column(column, justify="right" if column == "parameters" else "left")
    table.add_row("input", str(net.input_shape), "", "", *([""] if transfer else []))
    sizes: dict[str, int] = {}
    for slot in net.slots:
        sizes[slot.layer.name] = sizes.get(slot.layer.name, 0) + slot.size
    for layer, shape in zip(net.layers, net.shapes[1:]):
        weighted = [inner for inner in layer.walk() if inner.name in sizes]
        count = sum(sizes[inner.name] for inner in weighted)
        training = _joined(_training(inner.stage, spec) for inner in weighted)
        fate = _joined(transfer.get(inner.name, "") for inner in weighted)
        table.add_row(layer.name, str(shape), f"{count:,}" if count else "", training, *([fate] if transfer else []))
    frozen = net.theta.size - net.stages[-1].end
    later = net.stages[-1].end - net.n_trainable
    table.add_row("total", "", f"{net.theta.size:,}", "", *([""] if transfer else []))
    table.add_row("trainable", "", f"{net.n_trainable:,}", "from the start", *([""] if transfer else []))
    if later:
        table.add_row("unfrozen later", "", f"{later:,}", "train.unfreeze", *([""] if transfer else []))
    table.add_row("frozen", "", f"{frozen:,}", "", *([""] if transfer else []))
    return table


def _training(stage: int | None, spec) -> str:
    if stage is None:
        return "frozen"
    return "yes" if stage == 0 else f"from epoch {spec.train.unfreeze[stage - 1].after_epochs + 1}"


def _joined(values) -> str:
    """One word for a block whose parts agree, else each distinct word once."""
    return ", ".join(dict.fromkeys(v for v in values if v))


def memory_line(spec, net, examples: int) -> str:
    """The pre-flight estimate: what training holds for parameters, optimizer moments and one mini-batch."""
    from ..memory import human_bytes
    from ..train.build import training_batch
    from ..train.memory import Footprint

    batch = training_batch(spec, examples)
    per = f"at a full batch of {batch}" if spec.train.batch_size == "full" else f"at batch {batch}"
    need = Footprint.of(net.layers, net.shapes[1:]).bytes(batch, net.dtype.itemsize, spec.train.optimizer.name)
    return f"training memory: about {human_bytes(need)} {per} (parameters, gradients, optimizer moments, activations)"


@app.command()
def schema():
    """Print the spec's JSON Schema (for editor completion and validation)."""
    from ..spec import json_schema

    stdout.print(json.dumps(json_schema(), indent=2), markup=False)
