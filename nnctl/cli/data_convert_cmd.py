"""`nnctl data convert SRC OUT.h5`: any labelled file into the chunked HDF5 layout that streams."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import fail, print_facts, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_source


def data_convert(
    source: Path = typer.Argument(..., metavar="SRC", help="A .csv(.gz), .npz, .h5 file, or IDX images (with --labels)."),
    out: Path = typer.Argument(..., metavar="OUT.h5", help="The HDF5 file to write."),
    labels: Path | None = typer.Option(None, "--labels", help="IDX labels file for IDX images."),
    test_images: Path | None = typer.Option(None, "--test-images", help="IDX test images (with --test-labels)."),
    test_labels: Path | None = typer.Option(None, "--test-labels", help="IDX test labels."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Write SRC as float32 chunked HDF5 (train_set_x/y, test_set_x/y, list_classes) for `stream: true`."""
    from ..data.convert import convert
    from ..data.sources import source_for_file
    from ..orchestration.datasets import default_datasets_dir
    from ..runs.atomic import atomic_h5
    from ..spec.schema import IdxSource

    if out.exists() and not force:
        raise fail(f"{out}: exists (pass --force to replace it)")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise fail(f"{out}: the output must be an .h5 or .hdf5 file")
    with user_errors():
        if labels is not None or test_images is not None:
            if labels is None:
                raise fail("--test-images needs IDX training images and --labels as well")
            spec = IdxSource(images=str(source), labels=str(labels),
                             test_images=None if test_images is None else str(test_images),
                             test_labels=None if test_labels is None else str(test_labels))
        else:
            spec = file_source(source, header, label_column, source_yaml) or source_for_file(source)
        with atomic_h5(out) as f:
            facts = convert(spec, f, default_datasets_dir())
    facts = {"source": str(source), "out": str(out), **facts}
    print_facts(facts, as_json)
