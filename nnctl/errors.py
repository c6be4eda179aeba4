"""The one family of user-facing errors: the CLI catches `NnctlError` and prints one line.

Each package raises its own subclass so a caller can tell a bad spec from bad
data or a damaged run, and nothing else (no built-in exception) is ever taken
for a user mistake: a bug stays a traceback.
"""


class NnctlError(Exception):
    """A mistake in what the user gave (spec, data, run, options); ``str()`` is the one-line report."""


class Interrupted(SystemExit):
    """Ctrl-C or SIGTERM outside training (which checkpoints first): exit 130, with ``note`` on stderr when
    something was left to say (what became of a run that was starting). A SystemExit, so the CLI framework
    lets it through instead of printing "Aborted!"."""

    def __init__(self, note: str = ""):
        super().__init__(130)
        self.note = note


class DataError(NnctlError):
    """Bad or missing data: the message names the file (or data set) and what is wrong."""


class RunError(NnctlError):
    """A run directory that does not exist, holds no checkpoint, or cannot be written."""


class CheckpointError(RunError):
    """An unreadable, damaged or incompatible checkpoint file."""


class MetricLogError(RunError):
    """A metrics.h5 that cannot be read back as a run's metric log."""


class BuildError(NnctlError):
    """A spec that validates on its own but cannot work with its data; ``key`` locates it in the spec."""

    def __init__(self, key: str, message: str, unlocated: str | None = None):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.unlocated = unlocated  # the message where no spec file is read (eval of a run): the data file first


class MissingExtraError(NnctlError):
    """An optional dependency (an extra in pyproject.toml) is not installed; the message is the install hint."""


def require_extra(module: str, hint: str):
    """Import ``module`` of an optional dependency when a command first needs it, or raise
    MissingExtraError(``hint``): one line saying how to install it, never an ImportError."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(hint) from None


class PlotError(NnctlError):
    """A picture this run cannot give: a boundary for non-2-D inputs, a metric it did not record, a bad output path."""


class MissingSplitError(DataError):
    """A run without the split asked for (e.g. no train-dev set); readers that can do without it catch this one."""


class StrategyError(NnctlError):
    """A diagnosis, error analysis or selection that cannot be made as asked (an unknown metric, a stale tags file)."""


class ExportError(NnctlError):
    """A model that cannot be exported as asked: a layer or option the format lacks, a verification that cannot run."""


class TuneDirError(RunError):
    """A tune directory that is missing, from another nnctl version, or edited by hand."""


class SearchError(NnctlError):
    """A search that cannot do what was asked of it: its result scored on the test split when it has none to score."""


class ClusterError(NnctlError):
    """A Dask scheduler that cannot be reached, has no workers, or whose workers cannot see the tune directory."""


class OutputError(NnctlError):
    """An output path nnctl will not write: inside a run or tune directory, over a file of another kind, in a missing folder."""
