"""`nnctl spec check|show|schema`: validate, resolve and describe experiment specs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..orchestration.start import prepare_run
from ..spec import json_schema, load_spec, spec_to_yaml
from ..train.memory import Footprint, human_bytes
from .common import print_json, stdout, user_errors

app = typer.Typer(help="Validate, resolve and describe experiment specs.", no_args_is_help=True)


@app.command()
def check(
    spec_file: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    data: bool = typer.Option(False, "--data", help="Also read the data and check its shapes and classes against the model (no training)."),
):
    """Validate a spec; exit 0 when valid, 2 with a located message when not."""
    with user_errors(str(spec_file), overrides):
        spec = load_spec(spec_file, overrides)
        parts = prepare_run(spec) if data else None
    if parts is None:
        stdout.print(f"{spec_file}: ok")
        return
    splits = parts.splits
    sizes = ", ".join(f"{name} {len(split)}" for name, split in splits.named().items())
    classes = f"{len(splits.class_names)} classes ({', '.join(splits.class_names[:10])}{', ...' if len(splits.class_names) > 10 else ''})" \
        if splits.task == "classification" else f"regression, {parts.net.output_shape[0]} targets"
    stdout.print(f"{spec_file}: ok: {sizes} examples, input shape {tuple(parts.net.input_shape)}, {classes}", markup=False)


@app.command()
def show(
    spec_file: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value."),
    layers: bool = typer.Option(True, "--layers/--no-layers", help="Load the data and list each layer's output shape."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved spec as JSON."),
):
    """Print the resolved spec with every default filled in, and the layer shapes."""
    with user_errors(str(spec_file), overrides):
        spec = load_spec(spec_file, overrides)
        net = prepare_run(spec).net if layers else None
    if as_json:
        print_json(spec.model_dump(mode="json"))
        return
    stdout.print(spec_to_yaml(spec), markup=False, end="")
    if net is not None:
        stdout.print(layer_table(net))
        stdout.print(memory_line(spec, net))


def layer_table(net) -> Table:
    table = Table(title="layers")
    for column in ("layer", "output shape", "parameters"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    table.add_row("input", str(net.input_shape), "")
    sizes: dict[str, int] = {}
    for slot in net.slots:
        sizes[slot.layer.name] = sizes.get(slot.layer.name, 0) + slot.size
    for layer, shape in zip(net.layers, net.shapes[1:]):
        count = sum(sizes.get(inner.name, 0) for inner in layer.walk())
        table.add_row(layer.name, str(shape), f"{count:,}" if count else "")
    table.add_row("total", "", f"{net.theta.size:,}")
    return table


def memory_line(spec, net) -> str:
    """The pre-flight estimate: what training holds for parameters, optimizer moments and one mini-batch."""
    batch = spec.train.batch_size
    per = "per example (full batch)" if batch == "full" else f"at batch {batch}"
    need = Footprint.of(net.layers, net.shapes[1:]).bytes(1 if batch == "full" else batch, net.dtype.itemsize, spec.train.optimizer.name)
    return f"training memory: about {human_bytes(need)} {per} (parameters, gradients, optimizer moments, activations)"


@app.command()
def schema():
    """Print the spec's JSON Schema (for editor completion and validation)."""
    stdout.print(json.dumps(json_schema(), indent=2), markup=False)
