"""Orchestration: the only layer that knows spec, data, network, trainer and run files together.

`start` turns a spec into a ready trainer (or resumes a run), `model` turns a
run on disk back into a model with its data, `gradcheck` checks a spec's or
run's gradients. The workflows (search, strategy, report, export) and the CLI
call down into it.
"""
