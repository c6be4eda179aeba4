"""The plain-arrays format: one .npz holding every parameter array and, under the key
``graph``, the JSON layer graph that says how to use them (no pickle: ``np.load`` reads
it with allow_pickle=False, and nothing in it needs nnctl)."""

from __future__ import annotations

import io
import json

import numpy as np

from .describe import ModelDescription

GRAPH_KEY = "graph"


def npz_bytes(desc: ModelDescription) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{GRAPH_KEY: np.array(json.dumps(desc.graph, indent=1))}, **desc.arrays)
    return buffer.getvalue()
