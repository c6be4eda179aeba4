"""The data-source options `data info`, `eval --data`, `predict` and `spec check` share with the spec.

``--header``/``--label-column`` are the CSV keys of a spec source;
``--source-yaml`` takes a whole source mapping, validated like the spec's
``data.source`` (its ``path`` defaults to the file argument).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class Header(StrEnum):
    auto = "auto"
    yes = "yes"
    no = "no"


HEADER = typer.Option(None, "--header", help="CSV: is the first line column names? auto (default) detects it.")
LABEL_COLUMN = typer.Option(None, "--label-column", help="CSV: the label column, by index (-1: last) or header name.")
SOURCE_YAML = typer.Option(None, "--source-yaml", help="A source mapping as in a spec, e.g. '{type: csv, header: true, classes: [a, b]}'.")


def label_column_value(text: str | None) -> int | str | None:
    """``--label-column 3`` is an index, ``--label-column species`` a header name."""
    if text is None:
        return None
    stripped = text.strip()
    return int(stripped) if stripped.lstrip("-").isdigit() else stripped


def header_value(header: Header | None) -> bool | str | None:
    return None if header is None else {"auto": "auto", "yes": True, "no": False}[header.value]


def file_source(path: Path, header: Header | None, label_column: str | None, source_yaml: str | None):
    """The source model reading ``path``: from --source-yaml, else by suffix with the CSV options; None without options."""
    from ..data.sources import source_for_file  # here: `--help` reads these options without loading the data layer

    options = {key: value for key, value in (("header", header_value(header)), ("label_column", label_column_value(label_column)))
               if value is not None}
    if source_yaml is not None:
        return parse_source_yaml(source_yaml, path, options)
    return source_for_file(path, **options) if options else None


def parse_source_yaml(text: str, path: Path | None, options: dict):
    """A source mapping given on the command line, checked like the spec's ``data.source``; ``type`` and ``path`` default from ``path``."""
    from pydantic import ValidationError

    from ..data.sources import source_for_file
    from ..spec.errors import Problem, SpecError, explain_all, format_path
    from ..spec.schema import DataSpec
    from ..spec.yaml_reader import read_yaml

    mapping = read_yaml(text, "--source-yaml")[0]  # the spec's own reader: its limits, and 1e-3 is a number
    if not isinstance(mapping, dict):
        raise SpecError.single("--source-yaml", "expected a mapping such as '{type: csv, header: true}'")
    if path is not None:
        mapping.setdefault("type", source_for_file(path).type)  # by the file's suffix, as without --source-yaml
        mapping.setdefault("images" if mapping["type"] == "idx" else "path", str(path))
    try:
        return DataSpec.model_validate({"source": {**mapping, **options}}).source
    except ValidationError as err:
        errors = [{**e, "loc": ("data", *e["loc"])} for e in err.errors()]
        raise SpecError([Problem("--source-yaml", None, format_path(p), m) for p, m in explain_all(errors)]) from None


def file_overrides(path: Path, header: Header | None, label_column: str | None, source_yaml: str | None):
    """What the options say about a new CSV file, over the run's recorded schema (``Overrides``); options
    of another format are a DataError naming it."""
    from ..data.errors import DataError

    source = file_source(path, header, label_column, source_yaml)
    if source is not None and source.type != "csv":
        raise DataError(f"{path}: --header, --label-column and --source-yaml apply to CSV files, not {source.type}")
    return overrides_from(source, label_column is not None)


def overrides_from(source, label_given: bool):
    """The fields of a CSV source the user gave (not its defaults), as ``Overrides`` of a run's schema."""
    from ..data.schema import Overrides

    if source is None:
        return Overrides()
    given = source.model_fields_set | ({"label_column"} if label_given else set())
    return Overrides(header=source.header if "header" in given else None,
                     delimiter=source.delimiter if "delimiter" in given else None,
                     label_column=source.label_column if "label_column" in given else None,
                     ignore_columns=list(source.ignore_columns) + list(source.id_columns))
