"""The notes' ML strategy on trained runs: what to try next, and how to choose between runs.

`decomposition` (avoidable bias, variance, data mismatch against human-level
error) and `remedies` are pure arithmetic; `diagnosis` applies them to a run,
`learning_curve` trains a spec on growing shares of its training split,
`error_analysis` samples and tallies misclassified examples, `scoring` the
single-number metrics (weighted, per group, two-class rates, ROC AUC),
`records` and `selection` the satisficing/optimizing choice across runs.
No module here prints; the CLI renders what they return.
"""
