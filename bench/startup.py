#!/usr/bin/env python
"""Start-up benchmark: wall time of short `nnctl` commands, each in a fresh process, repeated.

CI scripts call nnctl many times, so what a short command costs is mostly start-up:
the interpreter and the imports. For each command this runs ``--repeats`` fresh
processes (``python -m nnctl ...``, bytecode caches warm after an untimed first run),
alternating the commands, and reports the median and min–max wall time, plus how many
modules the command loads and whether NumPy, h5py or pydantic were among them.

    python bench/startup.py                       # this checkout
    python bench/startup.py --src /tmp/nnctl-old  # another checkout's nnctl package, same interpreter

``eval`` needs a run: a tiny one (the bundled digits, one epoch) is trained first,
untimed, into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402
from common.machine import cpu_line, machine_info, save_json  # noqa: E402
from common.tables import fmt_range, summarize, table  # noqa: E402

TINY = """\
name: tiny
data: {source: digits, limit: 200, split: {train: 0.6, dev: 0.2, test: 0.2}}
model: {layers: [{units: 8, activation: relu}, {units: 10, activation: softmax}]}
train: {epochs: 1, batch_size: 32}
"""

LIST_MODULES = """
import json, runpy, sys
sys.argv = ["nnctl", *json.loads(sys.argv[1])]
try:
    runpy.run_module("nnctl", run_name="__main__")
except SystemExit:
    pass
heavy = [m for m in ("numpy", "h5py", "pydantic", "rich.table") if m in sys.modules]
print("MODULES", len(sys.modules), json.dumps(heavy), file=sys.stderr)
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--src", type=Path, help="the folder holding the nnctl package to time (default: this checkout)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # users' installs cache bytecode
    if args.src:
        env["PYTHONPATH"] = str(args.src.resolve())
    with tempfile.TemporaryDirectory(prefix="nnctl-startup-") as tmp:
        tmp = Path(tmp)
        (tmp / "tiny.yaml").write_text(TINY)
        subprocess.run([sys.executable, "-m", "nnctl", "train", "tiny.yaml", "--runs-dir", "runs", "--quiet"], cwd=tmp, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        run = next((tmp / "runs").iterdir())
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "nnctl --help": [sys.executable, "-m", "nnctl", "--help"],
            "nnctl spec check": [sys.executable, "-m", "nnctl", "spec", "check", str(REPO / "configs" / "mnist-mlp.yaml")],
            "nnctl eval": [sys.executable, "-m", "nnctl", "eval", str(run), "--split", "dev", "--json"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # untimed: bytecode caches written, files in the page cache
            subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, check=True)
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - t0)
        modules = {}
        for name, cmd in commands.items():
            if cmd[1:3] == ["-m", "nnctl"]:
                done = subprocess.run([sys.executable, "-c", LIST_MODULES, json.dumps(cmd[3:])], cwd=tmp, env=env,
                                      capture_output=True, text=True, check=True)
                line = next(row for row in done.stderr.splitlines() if row.startswith("MODULES "))
                count, heavy = line.split(" ", 2)[1:]
                modules[name] = {"count": int(count), "heavy": json.loads(heavy)}
    info = machine_info()
    print(f"machine: {cpu_line(info)}; source: {args.src or REPO}; {args.repeats} fresh processes each, alternating")
    rows = []
    for name, values in times.items():
        s = summarize([1000 * v for v in values])
        m = modules.get(name)
        rows.append([name, fmt_range(s, lambda v: f"{v:.0f}"), "" if m is None else str(m["count"]),
                     "" if m is None else (", ".join(m["heavy"]) or "none")])
    print(table(["command", "wall ms, median [min–max]", "modules", "of numpy, h5py, pydantic, rich.table"], rows, right={2}))
    if args.json:
        save_json(args.json, {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": info,
                              "source": str(args.src or REPO), "times_s": times, "modules": modules,
                              "load_average": os.getloadavg(), "median_ms": {k: 1000 * statistics.median(v) for k, v in times.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
