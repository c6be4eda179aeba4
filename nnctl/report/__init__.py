"""Pictures of runs: learning curves, decision boundaries, confusion matrices, filters, and an HTML report.

Each figure kind is a module with a function that returns a matplotlib Figure
(or, for the terminal, text); nothing here parses options or prints. matplotlib
is an extra (``nnctl[plot]``) imported only when a figure is drawn, through
`figures.require_matplotlib`, so the rest of nnctl never pays for it.
"""
