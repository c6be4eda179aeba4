"""The data package's errors, from the one family in `nnctl.errors`."""

from ..errors import DataError


class DataChangedError(DataError):
    """A data file that is not the one the run was trained on; commands that can read another file say how."""


class ColumnError(DataError):
    """A column an option names (``label_column``, ``--group-by``) that the file does not have; ``option`` and
    ``detail`` (the file and the problem) let a spec's reader name the spec key at its line instead."""

    def __init__(self, path, option: str, problem: str):
        super().__init__(f"{path}: {option}: {problem}")
        self.option, self.detail = option, f"{path}: {problem}"


__all__ = ["ColumnError", "DataChangedError", "DataError"]
