"""Run directories and their HDF5 files: checkpoints and metric logs."""
