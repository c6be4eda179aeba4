"""Run directories: runs/<name>-<timestamp>/, never overwriting an existing run."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

from ..errors import RunError
from .atomic import atomic_write_text, describe
from .names import BEST, CHECKPOINT_FILES, INITIAL, LATEST, METRICS, SPEC_FILE, CheckpointName

# The names live in names.py (no h5py) and are re-exported: callers keep writing rundir.LATEST.
__all__ = ["BEST", "CHECKPOINT_FILES", "INITIAL", "LATEST", "LATEST_LINK", "METRICS", "SPEC_FILE", "CheckpointName",
           "checkpoint_path", "create_run_dir", "point_latest", "resolve_run"]

# runs/latest: a relative symlink to the run most recently started in that folder, so that
# `nnctl eval runs/latest` needs no timestamp. Readers that list runs must skip this name.
LATEST_LINK = "latest"


def create_run_dir(runs_dir: Path, name: str, spec_text: str | None = None) -> Path:
    """A new directory ``runs_dir/name-timestamp[-N]``, never an existing one.

    With ``spec_text`` it appears with its spec.yaml already in it: the folder is made under a
    hidden temporary name and renamed into place, so a kill at any moment leaves either no run
    or one that ``--resume`` can start.
    """
    runs_dir = Path(runs_dir)
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        if runs_dir.exists() and not runs_dir.is_dir():
            raise RunError(f"{runs_dir}: exists and is not a directory (--runs-dir names where runs are created)")
        runs_dir.mkdir(parents=True, exist_ok=True)
        staging = None
        if spec_text is not None:
            staging = runs_dir / f".{stem}.tmp-{os.getpid()}"
            staging.mkdir()
        try:
            if staging:
                atomic_write_text(staging / SPEC_FILE, spec_text)
            for attempt in range(1000):
                path = runs_dir / (stem if attempt == 0 else f"{stem}-{attempt}")
                if _claim(path, staging):
                    return path
        finally:
            if staging and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        raise RunError(f"{err.filename or runs_dir}: cannot create the run directory ({describe(err)})") from None
    raise RunError(f"{runs_dir}: could not find a free run directory name for '{stem}'")


def _claim(path: Path, staging: Path | None) -> bool:
    """Make ``path`` (from ``staging``, by rename) unless another run has it; atomic either way."""
    try:
        if staging is None:
            path.mkdir()
        elif path.exists():  # rename would replace an empty directory: never take one that exists
            return False
        else:
            os.rename(staging, path)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno == errno.ENOTEMPTY:  # another run renamed its folder to this name first
            return False
        raise


def not_a_directory(run: Path) -> str:
    """Why ``run`` (no directory) cannot be a run: a spec file is named as such, with what to pass instead."""
    if run.is_file() and run.suffix.lower() in (".yaml", ".yml"):
        return (f"{run}: a spec file, not a run directory; train it with `nnctl train {run}` "
                "and pass the run directory it makes (e.g. runs/latest)")
    if run.exists():
        return f"{run}: not a run directory"
    return f"{run}: no such run directory"


def checkpoint_path(run: Path, which: str = CheckpointName.best) -> Path:
    """The file for ``which`` in best|latest|initial; best falls back to latest when absent."""
    if which not in CHECKPOINT_FILES:
        raise RunError(f"unknown checkpoint '{which}'; expected one of {', '.join(CheckpointName)}")
    run = resolve_run(run)
    if not run.is_dir():
        raise RunError(not_a_directory(run))
    if not any((run / name).exists() for name in CHECKPOINT_FILES.values()):
        raise RunError(f"{run}: not a run directory (no checkpoint files in it)")
    path = run / CHECKPOINT_FILES[which]
    if which == CheckpointName.best and not path.exists():
        path = run / LATEST
    if not path.exists():
        raise RunError(f"{run}: no {CHECKPOINT_FILES[which]} in this run (did training start?)")
    return path


def point_latest(run_dir: Path, link_dir: Path | None = None) -> None:
    """Repoint ``<runs>/latest`` at ``run_dir`` atomically (a new link renamed over the old one).

    ``link_dir`` is the runs folder when it is not ``run_dir``'s parent (a search's
    refit run lives in its tune directory). Where links cannot be made (a filesystem without symlinks, a real
    directory named "latest"), the old link is removed rather than left pointing at an older run.
    """
    run_dir = Path(run_dir)
    link_dir = Path(link_dir) if link_dir is not None else run_dir.parent
    link = link_dir / LATEST_LINK
    temporary = link_dir / f".{LATEST_LINK}.tmp-{os.getpid()}"
    try:
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(os.path.relpath(run_dir, link_dir), target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        for stale in (temporary, link):
            if stale.is_symlink():
                stale.unlink(missing_ok=True)


def resolve_run(run: Path) -> Path:
    """The run directory a RUN argument names: ``runs/latest`` becomes the run it points at."""
    run = Path(run)
    if run.is_symlink() and run.name == LATEST_LINK:
        return run.parent / os.readlink(run)
    return run
