"""The one exception the data package raises, so the CLI can report it in one line."""


class DataError(Exception):
    """Bad or missing data: the message names the file (or data set) and what is wrong."""
