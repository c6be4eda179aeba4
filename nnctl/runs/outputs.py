"""Where a command may write what the user asked for (``--out``, ``-o``, ``--images``).

A run directory belongs to its run: a spreadsheet or an export written over its
best.h5 would leave a run that can no longer be evaluated.  So an output is
refused inside a run or tune directory, over a file of another kind (judged by
its extension) or over a directory, and in a directory that does not exist, each in
one line before anything is computed; what is written is then written
atomically (``atomic``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OutputError
from .listing import is_run_dir

TUNE_FILE = "tune.json"  # the search record's manifest: its folder holds trial runs


def _owner(folder: Path) -> str | None:
    """'run' or 'tune' when ``folder`` is one (the files that make it one exist), else None."""
    if is_run_dir(folder):
        return "run"
    return "tune" if (folder / TUNE_FILE).is_file() else None


def _inside_a_run(option: str, path: Path) -> None:
    for folder in Path(path).resolve().parents:
        owner = _owner(folder)
        if owner is not None:
            raise OutputError(f"{option} {path}: inside the {owner} directory {folder}, whose files nnctl keeps; "
                              "write it somewhere else")


def output_file(path: Path, option: str, suffixes: tuple[str, ...]) -> Path:
    """``path`` if a file of one of ``suffixes`` ('.csv') may be written there, else OutputError."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; give a file name such as {path / ('out' + suffixes[0])}")
    if not path.parent.is_dir():
        why = "is not a directory" if path.parent.exists() else "does not exist"
        raise OutputError(f"{option} {path}: directory {path.parent} {why}")
    _inside_a_run(option, path)
    if path.suffix.lower() not in suffixes and (path.exists() or path.is_symlink()):
        raise OutputError(f"{option} {path}: would replace a file that is not {' or '.join(suffixes)}; "
                          f"give a new name ending in {suffixes[0]}")
    return path


def output_folder(path: Path, option: str) -> Path:
    """``path`` if a directory of outputs may be made (or filled) there, else OutputError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file, not a directory")
    if not path.parent.is_dir():
        raise OutputError(f"{option} {path}: directory {path.parent} does not exist")
    _inside_a_run(option, path / "x")
    return path


def id_headers(ids: list[str], columns: list[str]) -> list[str]:
    """Names for a run's id columns written beside an output's own ``columns``: an id named like one of them (an
    id column called 'class' or 'row') gets an ``id_`` prefix, so no column is written twice or overwritten."""
    taken, names = set(columns), []
    for name in ids:
        while name in taken:
            name = f"id_{name}"
        taken.add(name)
        names.append(name)
    return names
