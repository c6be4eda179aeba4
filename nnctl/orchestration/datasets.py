"""Where data sets live: the bundled files and the registry's download cache."""

from __future__ import annotations

import os
from pathlib import Path


def default_datasets_dir() -> Path:
    """$NNCTL_DATASETS, else ./datasets when present, else the repository's datasets/ folder."""
    if os.environ.get("NNCTL_DATASETS"):
        return Path(os.environ["NNCTL_DATASETS"])
    local = Path.cwd() / "datasets"
    return local if local.is_dir() else Path(__file__).resolve().parents[2] / "datasets"
