"""The data package's errors, from the one family in `nnctl.errors`."""

from ..errors import DataError


class DataChangedError(DataError):
    """A data file that is not the one the run was trained on; commands that can read another file say how."""


__all__ = ["DataChangedError", "DataError"]
