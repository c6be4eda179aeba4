"""folds.json: the folds a cross-validated search (or `nnctl cv`) judges every run on, written once when it starts.

Fold runs started later (a resumed search, a Dask task handed to another
worker) read their rows from this file, never re-deal them, so every trial is
compared on the same folds; a fold run's own data.h5 then records its rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.folds import Folds
from ..errors import TuneDirError
from ..runs.atomic import atomic_write_json

FOLDS_FILE = "folds.json"


def save_folds(directory: Path, folds: Folds) -> None:
    atomic_write_json(Path(directory) / FOLDS_FILE, folds.to_dict(), indent=None)  # one line: the row lists are long


def load_folds(directory: Path) -> Folds:
    path = Path(directory) / FOLDS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TuneDirError(f"{path}: missing; the folds of a cross-validation are recorded when it starts") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TuneDirError(f"{path}: unreadable ({err})") from None
    return Folds.from_dict(data, str(path))
