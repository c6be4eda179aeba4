"""Fixed costs on tiny data: an iris-sized run with the default checkpoint cadence (issue 8).

150 rows of 4 features in 3 Gaussian classes (iris-sized; a train/dev split of
120/30), 1000 epochs of batch size 16 with early stopping (patience 100), run
three ways, each in its own process, alternating, ``--repeats`` times:

- defaults: checkpoint.h5 every 30 s (``every_seconds``), on every new best, at the end
- every 100 epochs: ``every_epochs: 100, every_seconds: 0`` (plus best and end)
- every epoch: ``every_epochs: 1, every_seconds: 0``, the old default

Target: defaults ≤ 2× the time of "every 100 epochs". All three must give the
same result (checkpoints never change training), which is checked.

    .venv/bin/python bench/tiny_data.py [--repeats 3] [--json bench/results/tiny_data.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from train_process import train_in_process

SPEC = """\
name: tiny-data
seed: 0
data:
  source: {{type: csv, path: {path}}}
  split: {{train: 0.8, dev: 0.2, test: 0}}
model:
  layers:
    - {{units: 10, activation: relu}}
    - {{units: 3, activation: softmax}}
train:
  epochs: 1000
  batch_size: 16
  learning_rate: 0.01
  optimizer: {{name: adam}}
  early_stopping: {{patience: 100}}
"""
CADENCES = {
    "defaults": [],
    "every 100 epochs": ["checkpoint.every_epochs=100", "checkpoint.every_seconds=0"],
    "every epoch": ["checkpoint.every_epochs=1", "checkpoint.every_seconds=0"],
}


def iris_like(path: Path, seed: int = 0) -> None:
    """150 rows, 4 features, 3 classes of 50 around separated means (scales as iris's)."""
    rng = np.random.default_rng(seed)
    means = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    spread = np.array([0.35, 0.35, 0.45, 0.25])
    rows = [np.append(rng.normal(mean, spread).round(1), label) for label, mean in enumerate(means) for _ in range(50)]
    path.write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CADENCES}
    results = {}
    with tempfile.TemporaryDirectory(prefix="nnctl-tiny-") as tmp:
        data, spec = Path(tmp) / "iris.csv", Path(tmp) / "spec.yaml"
        iris_like(data)
        spec.write_text(SPEC.format(path=data))
        for repeat in range(args.repeats):
            for name, overrides in CADENCES.items():
                run = train_in_process(spec, Path(tmp) / "runs", *overrides)
                times[name].append(run["wall_s"])
                summary = run["result"]
                results[name] = (summary["epochs"], summary["best"], summary["metrics"]["dev_accuracy"])
                print(f"{repeat + 1}/{args.repeats} {name:>16}: {run['wall_s']:5.2f} s, {summary['epochs']} epochs "
                      f"({summary['stop_reason']}), dev accuracy {summary['metrics']['dev_accuracy']:.4f}", flush=True)
    if len(set(map(json.dumps, results.values()))) != 1:
        raise SystemExit(f"the cadences gave different results: {results}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["defaults"] / medians["every 100 epochs"]
    for name, value in medians.items():
        print(f"median {name:>16}: {value:5.2f} s")
    print(f"defaults / every 100 epochs: {ratio:.2f}x (target ≤ 2x)")
    if args.json:
        args.json.write_text(json.dumps({"times_s": times, "medians_s": medians, "ratio": ratio,
                                         "epochs": next(iter(results.values()))[0]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
