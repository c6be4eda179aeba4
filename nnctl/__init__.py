"""nnctl: train neural networks from YAML experiment specs with a NumPy core."""

__version__ = "0.1.0"
