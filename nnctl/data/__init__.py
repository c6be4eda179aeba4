"""Data for nnctl: sources, registry downloads, splits and normalization (no printing, no CLI)."""

from . import registry
from .dataset import Dataset, Splits
from .errors import DataError
from .generated import make as make_generated
from .load import LoadedData, data_streams, describe_source, load_data, load_inference_input, load_labelled_file, load_splits, recorded_splits
from .normalize import Normalizer
from .sources import read_source
from .split import limit, split

__all__ = [
    "DataError",
    "LoadedData",
    "load_data",
    "recorded_splits",
    "Dataset",
    "Normalizer",
    "Splits",
    "data_streams",
    "describe_source",
    "limit",
    "load_inference_input",
    "load_labelled_file",
    "load_splits",
    "make_generated",
    "read_source",
    "registry",
    "split",
]
