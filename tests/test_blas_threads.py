"""The OpenBLAS wait policy: convolutional networks let idle BLAS threads sleep, dense ones keep the default,
and `nnctl train` / `nnctl tune` set it where OpenBLAS will read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from nnctl.spec import parse_spec
from nnctl.train.blas_threads import SPLIT_TIMEOUT, TIMEOUT_VARIABLE, blas_environment, prepare_blas, splits_batches

DIGITS = "data: {source: {type: digits}}\ntrain: {epochs: 1}\n"


def _model(layers: str):
    return parse_spec(DIGITS + "model:\n  layers:\n" + textwrap.indent(textwrap.dedent(layers), "    "), "spec.yaml").model


CONV = """\
- {type: conv2d, filters: 4, kernel: 3}
- {type: maxpool}
- {units: 10, activation: softmax}
"""
DENSE = "- {units: 16}\n- {units: 10, activation: softmax}\n"


@pytest.mark.parametrize(("layers", "splits"), [
    (CONV, True),
    (DENSE, False),
    ("- {type: conv2d, filters: 4, kernel: 3}\n- {type: global_avgpool}\n- {units: 10, activation: softmax}\n", True),
    ("- {type: avgpool}\n- {units: 10, activation: softmax}\n", False),
    ("- {type: residual, layers: [{type: conv2d, filters: 1, kernel: 3, padding: same, activation: linear}]}\n"
     "- {units: 10, activation: softmax}\n", True),
    ("- {units: 8}\n- {type: residual, layers: [{units: 8, activation: linear}]}\n- {units: 10, activation: softmax}\n", False),
])
def test_only_layers_that_split_the_batch_over_two_threads_ask_for_sleeping_blas_threads(layers, splits):
    model = _model(layers)
    assert splits_batches(model) is splits
    assert blas_environment(model, environ={}) == ({TIMEOUT_VARIABLE: SPLIT_TIMEOUT} if splits else {})


def test_a_value_the_user_set_is_left_alone():
    assert blas_environment(_model(CONV), environ={TIMEOUT_VARIABLE: "28"}) == {}


def test_too_late_once_numpy_is_loaded(monkeypatch):
    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    assert "numpy" in sys.modules  # pytest's own imports loaded it
    assert prepare_blas(_model(CONV)) is False
    assert TIMEOUT_VARIABLE not in os.environ


# Runs `nnctl train` in a fresh interpreter, then asks the OpenBLAS NumPy loaded what timeout it read.
READ_BACK = """
import ctypes, json, os, sys
from nnctl.cli.main import main
sys.argv = ["nnctl", "train", sys.argv[1], "--runs-dir", sys.argv[2], "--quiet"]
try:
    main()
except SystemExit:
    pass
from threadpoolctl import threadpool_info
blas = [p for p in threadpool_info() if p["internal_api"] == "openblas"]
lib = ctypes.CDLL(blas[0]["filepath"]) if blas else None
read = lib.openblas_thread_timeout() if lib is not None and hasattr(lib, "openblas_thread_timeout") else None
print(json.dumps({"env": os.environ.get("OPENBLAS_THREAD_TIMEOUT"), "openblas": read}))
"""


@pytest.mark.parametrize(("layers", "expected"), [(CONV, int(SPLIT_TIMEOUT)), (DENSE, None)])
def test_train_sets_the_timeout_before_openblas_loads(tmp_path, layers, expected):
    assert TIMEOUT_VARIABLE in READ_BACK
    spec = tmp_path / "spec.yaml"
    spec.write_text(DIGITS + "model:\n  layers:\n" + textwrap.indent(layers, "    "))
    env = {k: v for k, v in os.environ.items() if k != TIMEOUT_VARIABLE}
    done = subprocess.run([sys.executable, "-c", READ_BACK, str(spec), str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["env"] == (str(expected) if expected else None)
    if seen["openblas"] is not None:  # NumPy's OpenBLAS exposes what it read (0: its default)
        assert seen["openblas"] == (expected or 0)


def test_tune_workers_inherit_the_policy(tmp_path):
    from nnctl.search.plan import load_plan
    from nnctl.search.start import Workers, _executor

    search = "search: {trials: 2, parameters: {train.learning_rate: {log_uniform: [0.001, 0.1]}}}\n"
    conv = load_plan(DIGITS + search + "model:\n  layers:\n" + textwrap.indent(CONV, "    "), "spec.yaml", (), None)
    dense = load_plan(DIGITS + search + "model:\n  layers:\n" + textwrap.indent(DENSE, "    "), "spec.yaml", (), None)
    env = {} if TIMEOUT_VARIABLE in os.environ else {TIMEOUT_VARIABLE: SPLIT_TIMEOUT}
    assert _executor(Workers(1, None, 1.0), None, conv).environment == env
    assert _executor(Workers(1, None, 1.0), None, dense).environment == {}
