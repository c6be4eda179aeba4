"""What a TensorBoard or MLflow mirror costs a run: the quickstart spec trained with and without them.

Each mode in its own process, alternating, ``--repeats`` times; the figure is the
trainer's own ``wall_time`` over its epochs (`train --json`), so process start-up
and MLflow's import (done on the mirror's thread) count only where they slow the
loop. All modes must give the same metrics (a mirror never changes training),
which is checked. MLflow needs a tracking server:

    mlflow server --host 127.0.0.1 --port 5000 --workers 1 --backend-store-uri sqlite:///mlflow.db &
    .venv/bin/python bench/mirrors.py [--repeats 5] [--tracking-uri http://127.0.0.1:5000] [--json bench/results/mirrors.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common.machine import cpu_line, machine_info
from train_process import train_in_process

SPEC = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--tracking-uri", help="an MLflow server; without it, MLflow is left out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    modes = {"none": [], "tensorboard": ["logging.tensorboard=true"]}
    if args.tracking_uri:
        modes["mlflow"] = [f"logging.mlflow={{tracking_uri: '{args.tracking_uri}', experiment: bench-mirrors}}"]
    per_epoch: dict[str, list[float]] = {name: [] for name in modes}
    metrics = {}
    with tempfile.TemporaryDirectory(prefix="nnctl-mirrors-") as tmp:
        for repeat in range(args.repeats):
            for name, overrides in modes.items():
                run = train_in_process(SPEC, Path(tmp) / "runs", f"train.epochs={args.epochs}", *overrides)
                summary = run["result"]
                per_epoch[name].append(1000 * summary["metrics"]["wall_time"] / summary["epochs"])
                metrics[name] = {k: v for k, v in summary["metrics"].items() if not k.endswith("_time")}
                print(f"{repeat + 1}/{args.repeats} {name:>12}: {per_epoch[name][-1]:6.2f} ms/epoch", flush=True)
    if len({json.dumps(m, sort_keys=True) for m in metrics.values()}) != 1:
        raise SystemExit(f"a mirror changed the result: {metrics}")
    medians = {name: statistics.median(values) for name, values in per_epoch.items()}
    print(cpu_line(machine_info()))
    for name, value in medians.items():
        print(f"median {name:>12}: {value:6.2f} ms/epoch ({value / medians['none']:.2f}x none)")
    if args.json:
        args.json.write_text(json.dumps({"ms_per_epoch": per_epoch, "medians_ms": medians, "epochs": args.epochs,
                                         "machine": machine_info()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
