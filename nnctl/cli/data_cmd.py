"""`nnctl data list|info|fetch`: what data is available, and the registry's downloads."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import print_facts, print_json, stdout, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_source
from .tables import print_table

app = typer.Typer(help="List, describe, fetch and convert data sets.", no_args_is_help=True)


@app.command(name="list")
def list_sets(as_json: bool = typer.Option(False, "--json")):
    """List the bundled, generated and registry data sets."""
    from rich.table import Table

    from ..data import registry
    from ..orchestration.datasets import default_datasets_dir

    rows = registry.entries(default_datasets_dir())
    if as_json:
        print_json(rows)
        return
    table = Table(title="data sets")
    for column in ("name", "kind", "description", "cached"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["kind"], row["description"], {True: "yes", False: "no"}.get(row.get("cached"), ""))
    print_table(table)


@app.command()
def info(
    source: str = typer.Argument(..., help="A data set name (digits, mnist, moons, ...) or a file path."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
    as_json: bool = typer.Option(False, "--json"),
):
    """Describe a data set: examples, input shape, classes (a file is read as the options say, like a spec source)."""
    from ..data import describe_source
    from ..orchestration.datasets import default_datasets_dir

    with user_errors():
        spec_source = file_source(Path(source), header, label_column, source_yaml)
        facts = describe_source(source, default_datasets_dir(), spec_source)
    print_facts(facts, as_json)


@app.command()
def fetch(
    name: str = typer.Argument(..., help="A registry entry, e.g. mnist."),
    mirror: str | None = typer.Option(None, "--mirror", help="A directory or URL holding the files (or $NNCTL_DATA_MIRROR)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Where to cache (default datasets/cache)."),
):
    """Download, verify (SHA-256) and cache a registry data set."""
    from ..data import registry
    from ..orchestration.datasets import default_datasets_dir

    with user_errors():
        paths = registry.fetch(name, mirror, cache_dir or default_datasets_dir() / "cache")
    for role, path in paths.items():
        stdout.print(f"{role}: {path}", markup=False)
