"""The data package's error, re-exported from the one family in `nnctl.errors`."""

from ..errors import DataError

__all__ = ["DataError"]
