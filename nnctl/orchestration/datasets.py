"""Where the data set registry keeps its downloads (the bundled digits ship inside the package).

The folder is ``$NNCTL_DATASETS`` when set, else ``./datasets`` when the
current directory has one (a source checkout: the repository's top-level
``datasets/`` folder is the registry cache), else the user's cache directory
(``$XDG_CACHE_HOME/nnctl/datasets``, by default ``~/.cache/nnctl/datasets``),
so an installed wheel never writes into its own package. Downloads go to
``<folder>/cache/<name>/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_datasets_dir() -> Path:
    if os.environ.get("NNCTL_DATASETS"):
        return Path(os.environ["NNCTL_DATASETS"])
    local = Path.cwd() / "datasets"
    if local.is_dir():
        return local
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "nnctl" / "datasets"
