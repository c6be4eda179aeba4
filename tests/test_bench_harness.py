"""The benchmarks' shared harness (bench/common/) loads no numerical library, nor nnctl, when imported: a
script imports it and then pins the thread counts, which BLAS and OpenMP read only once, when they load."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

IMPORT_ALL = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    importlib.import_module(name)
print(sorted(name for name in ("numpy", "scipy", "sklearn", "torch", "nnctl") if name in sys.modules))
"""


def test_importing_the_harness_loads_neither_numpy_nor_torch_nor_nnctl():
    modules = ["common", *sorted(f"common.{p.stem}" for p in (REPO / "bench" / "common").glob("*.py") if p.stem != "__init__")]
    assert "common.threads" in modules
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(REPO / "bench"), *modules], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", f"a module of bench/common imports these at module level: {done.stdout.strip()}"
