"""Mirrors of a run in the tools people already watch: TensorBoard event files and MLflow tracking.

A mirror is a trainer Reporter that orchestration attaches when the spec's
``logging:`` section asks for it. It copies what the run records and can neither
change nor stop training: its failures become one notice, and since the run
directory stays the source of truth, `nnctl runs export --format tensorboard|mlflow`
writes the same copy again later.
"""
