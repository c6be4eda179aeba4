"""What a result was measured on, and the result files that say so."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from common import REPO

ISA_FLAGS = ("avx512f", "avx512_bf16", "avx512vnni", "avx2", "fma", "avx", "sse4_2")  # reported when present, widest first
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT")  # recorded with every result


def machine_info() -> dict:
    """Python, platform, CPU model and its vector ISA (from /proc/cpuinfo): a bound or a ratio is only
    comparable on the same kind of CPU, so every result file says which one it was measured on."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for row in f:
                key, _, value = row.partition(":")
                if key.strip() == "model name":
                    info.setdefault("cpu", value.strip())
                elif key.strip() == "flags":
                    flags = set(value.split())
                    info.setdefault("isa", [flag for flag in ISA_FLAGS if flag in flags])
    except OSError:
        pass
    # OpenBLAS's kernel choice and cache size, when the environment fixes them: OPENBLAS_CORETYPE=Haswell
    # on an AVX-512 CPU keeps nnctl's GEMMs on AVX2 kernels while PyTorch's use AVX-512.
    info["blas_env"] = {key: value for key, value in os.environ.items() if key in BLAS_ENV}
    return info


def cpu_line(info: dict) -> str:
    blas = " ".join(f"{k}={v}" for k, v in info.get("blas_env", {}).items())
    return (f"{info.get('cpu', 'unknown CPU')} ({info.get('cpus')} CPUs; {' '.join(info.get('isa', [])) or 'ISA unknown'})"
            + (f"; {blas}" if blas else ""))


def save_json(path: str | Path, payload: dict) -> None:
    """Write ``payload``, naming paths inside the repository relative to it and ../shared as such:
    results are committed, and no path of the machine that measured them belongs there."""
    text = json.dumps(payload, indent=2, default=jsonable)
    text = text.replace(str(REPO.parent / "shared"), "../shared").replace(str(REPO) + "/", "")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")


def jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
