"""Hyperparameter search: spaces, the tune directory record, trial executors (local processes, Dask), pruning, refine."""
