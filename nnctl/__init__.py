"""nnctl: train neural networks from YAML experiment specs with a NumPy core.

Docstrings and comments say "the notes" for the deep-learning course notes nnctl
follows (docs/explanation/algorithms.md#the-course-notes) and cite the formulas
they take from them by anchor in that page, e.g.
docs/explanation/algorithms.md#error-decomposition; tests/test_citations.py checks
that every such anchor exists.
"""

__version__ = "0.1.0"
