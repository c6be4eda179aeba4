"""Fixed costs on tiny data: nnctl against scikit-learn's MLPClassifier, ms per epoch (issues 8 and 29).

On a few hundred rows an epoch's arithmetic takes well under a millisecond, so
what a trainer does besides it (evaluation, logging, checkpoints) is the cost.
Both systems train the same network on the same rows: one hidden layer of 64
ReLU units, softmax output, Adam at 0.001, mini-batches of 32, 80 % of the rows
for training and 20 % held out and scored after every epoch:

- nnctl: `nnctl train` with its default settings (train and dev metrics every
  epoch, checkpoint.every_seconds: 30); timed is `Trainer.run`, from the first
  step to the last file written, and also `wall_time / epochs` as `train
  --json` reports it;
- scikit-learn: `MLPClassifier(early_stopping=True, validation_fraction=0.2)`,
  which scores the held-out rows after every epoch, with `n_iter_no_change`
  above the epoch budget so that it never stops early; timed is `fit`.

Data: scikit-learn's bundled iris (150 rows, 4 features, 3 classes) and wine
(178 rows, 13 features, 3 classes). Each measurement runs in its own process
with one BLAS thread; systems and lengths alternate within each repeat.
Targets (wine, defaults): nnctl ≤ 1.5× scikit-learn per epoch, and nnctl's
per-epoch time at 3,000 epochs ≤ 1.2× that at 300.

    .venv/bin/python bench/tiny_data.py [--repeats 3] [--epochs 300,3000] [--json bench/results/tiny_data.json]

`--cadences` instead compares checkpoint cadences on iris (defaults, every 100
epochs, every epoch): they must give bit-identical results. `--profile wine`
prints a cProfile of one nnctl run (the first `--epochs` length).
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

from common.contention import cpu_snapshot, cpu_usage_since
from common.machine import cpu_line, machine_info, save_json
from common.tables import table

DATASETS = ("iris", "wine")
SYSTEMS = ("nnctl", "sklearn")
HIDDEN, BATCH, LEARNING_RATE, HELD_OUT = 64, 32, 0.001, 0.2
SPEC = """\
name: tiny-{name}
seed: 0
data:
  source: {{type: csv, path: {path}}}
  split: {{train: {train}, dev: {dev}, test: 0}}
model:
  layers:
    - {{units: {hidden}, activation: relu}}
    - {{units: {classes}, activation: softmax}}
train:
  epochs: {epochs}
  batch_size: {batch}
  learning_rate: {lr}
  optimizer: {{name: adam}}
"""
CADENCES = {
    "defaults": [],
    "every 100 epochs": ["checkpoint.every_epochs=100", "checkpoint.every_seconds=0"],
    "every epoch": ["checkpoint.every_epochs=1", "checkpoint.every_seconds=0"],
}
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NO_COLOR": "1"}


def load(name: str):
    """(features, labels) of scikit-learn's bundled copy of the data set."""
    from sklearn import datasets

    data = {"iris": datasets.load_iris, "wine": datasets.load_wine}[name]()
    return data.data, data.target


def write_csv(name: str, folder: Path) -> Path:
    x, y = load(name)
    path = folder / f"{name}.csv"
    path.write_text("".join(",".join(f"{v!r}" for v in row) + f",{label}\n" for row, label in zip(x.tolist(), y)))
    return path


def write_spec(name: str, folder: Path, epochs: int) -> Path:
    x, y = load(name)
    spec = folder / f"{name}-{epochs}.yaml"
    spec.write_text(SPEC.format(name=name, path=write_csv(name, folder), train=1 - HELD_OUT, dev=HELD_OUT, hidden=HIDDEN,
                                classes=len(set(y.tolist())), epochs=epochs, batch=BATCH, lr=LEARNING_RATE))
    return spec


# ---------------------------------------------------------------- workers (one measurement per process)


def nnctl_worker(name: str, epochs: int, overrides: list[str]) -> dict:
    from nnctl.orchestration.start import start_run
    from nnctl.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="nnctl-tiny-") as tmp:
        trainer = start_run(load_spec(write_spec(name, Path(tmp), epochs), overrides), Path(tmp) / "runs")
        started = time.perf_counter()
        result = trainer.run()
        seconds = time.perf_counter() - started
    return {"ms_per_epoch": 1000 * seconds / result.epochs_done, "epochs": result.epochs_done,
            "json_ms_per_epoch": 1000 * result.metrics["wall_time"] / result.epochs_done,
            "dev_accuracy": result.metrics["dev_accuracy"], "stop_reason": str(result.stop_reason),
            "best": result.best}


def sklearn_worker(name: str, epochs: int) -> dict:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = load(name)
    x = StandardScaler().fit_transform(x)
    model = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam", alpha=0.0,
                          batch_size=BATCH, learning_rate_init=LEARNING_RATE, max_iter=epochs, shuffle=True,
                          random_state=0, early_stopping=True, validation_fraction=HELD_OUT,
                          n_iter_no_change=epochs + 1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the budget ends the fit, as intended
        started = time.perf_counter()
        model.fit(x, y)
        seconds = time.perf_counter() - started
    return {"ms_per_epoch": 1000 * seconds / model.n_iter_, "epochs": model.n_iter_,
            "dev_accuracy": model.validation_scores_[-1]}


def profile(name: str, epochs: int, top: int = 25) -> str:
    """cProfile of nnctl's Trainer.run on ``name`` (in this process): where each epoch's time goes."""
    import cProfile
    import io
    import pstats

    from nnctl.orchestration.start import start_run
    from nnctl.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="nnctl-tiny-") as tmp:
        trainer = start_run(load_spec(write_spec(name, Path(tmp), epochs)), Path(tmp) / "runs")
        prof = cProfile.Profile()
        prof.enable()
        trainer.run()
        prof.disable()
    out = io.StringIO()
    for key in ("tottime", "cumulative"):
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


def measure(system: str, name: str, epochs: int, overrides: list[str] = ()) -> dict:
    """One worker process; its JSON line."""
    sets = [item for override in overrides for item in ("--set", override)]
    command = [sys.executable, __file__, "--worker", system, "--data", name, "--epochs", str(epochs), *sets]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **SINGLE_THREAD}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{system} on {name} ({epochs} epochs) failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# ---------------------------------------------------------------- the comparisons


def compare(repeats: int, lengths: list[int]) -> dict:
    times: dict[str, list[float]] = {}
    json_times: dict[str, list[float]] = {}
    accuracy: dict[str, float] = {}
    for repeat in range(repeats):
        for name in DATASETS:
            for epochs in lengths:
                for system in SYSTEMS:
                    result = measure(system, name, epochs)
                    key = f"{system} {name} {epochs}"
                    times.setdefault(key, []).append(result["ms_per_epoch"])
                    if "json_ms_per_epoch" in result:
                        json_times.setdefault(key, []).append(result["json_ms_per_epoch"])
                    accuracy[key] = result["dev_accuracy"]
                    print(f"{repeat + 1}/{repeats} {key:>20}: {result['ms_per_epoch']:6.3f} ms/epoch, "
                          f"dev accuracy {result['dev_accuracy']:.3f}", flush=True)
    medians = {key: statistics.median(values) for key, values in times.items()}
    return {"ms_per_epoch": times, "json_ms_per_epoch": json_times, "medians": medians, "dev_accuracy": accuracy}


def report(results: dict, lengths: list[int]) -> str:
    m = results["medians"]
    first, last = lengths[0], lengths[-1]
    rows = []
    for name in DATASETS:
        for epochs in lengths:
            nn, sk = m[f"nnctl {name} {epochs}"], m[f"sklearn {name} {epochs}"]
            rows.append([name, f"{epochs:,}", f"{nn:.3f}", f"{sk:.3f}", f"{nn / sk:.2f}x"])
    lines = [table(["data", "epochs", "nnctl ms/epoch", "scikit-learn ms/epoch", "nnctl / scikit-learn"], rows, {1, 2, 3, 4})]
    for name in DATASETS:
        growth = {system: m[f"{system} {name} {last}"] / m[f"{system} {name} {first}"] for system in SYSTEMS}
        lines.append(f"{name}: per-epoch time at {last:,} / at {first:,} epochs: nnctl {growth['nnctl']:.2f}x, "
                     f"scikit-learn {growth['sklearn']:.2f}x")
    wine = m[f"nnctl wine {first}"] / m[f"sklearn wine {first}"]
    growth = m[f"nnctl wine {last}"] / m[f"nnctl wine {first}"]
    lines.append(f"targets (wine): nnctl / scikit-learn {wine:.2f}x (≤ 1.5x {'✓' if wine <= 1.5 else '✗'}); "
                 f"nnctl {last:,} / {first:,} epochs {growth:.2f}x (≤ 1.2x {'✓' if growth <= 1.2 else '✗'})")
    return "\n".join(lines)


def compare_cadences(repeats: int) -> dict:
    """Iris, 1,000 epochs, under each checkpoint cadence: the same result every time, and the times."""
    times: dict[str, list[float]] = {name: [] for name in CADENCES}
    outcomes = {}
    for repeat in range(repeats):
        for name, overrides in CADENCES.items():
            result = measure("nnctl", "iris", 1000, overrides)
            times[name].append(result["ms_per_epoch"])
            outcomes[name] = (result["epochs"], result["best"], result["dev_accuracy"])
            print(f"{repeat + 1}/{repeats} {name:>16}: {result['ms_per_epoch']:6.3f} ms/epoch", flush=True)
    if len(set(map(json.dumps, outcomes.values()))) != 1:
        raise SystemExit(f"the cadences gave different results: {outcomes}")
    return {"ms_per_epoch": times, "medians": {name: statistics.median(v) for name, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", default="300,3000", help="comma-separated run lengths; growth is last / first")
    parser.add_argument("--cadences", action="store_true", help="compare nnctl's checkpoint cadences instead")
    parser.add_argument("--profile", choices=DATASETS, help="cProfile one nnctl run of the first length instead")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--data", choices=DATASETS, help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        print(profile(args.profile, int(args.epochs.split(",")[0])))
        return
    if args.worker:
        epochs = int(args.epochs)
        print(json.dumps(nnctl_worker(args.data, epochs, args.set) if args.worker == "nnctl"
                         else sklearn_worker(args.data, epochs)))
        return
    info = machine_info()
    print(f"CPU: {cpu_line(info)}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    before = cpu_snapshot()
    if args.cadences:
        results = compare_cadences(args.repeats)
        summary = "\n".join(f"median {name:>16}: {value:6.3f} ms/epoch" for name, value in results["medians"].items())
    else:
        lengths = [int(n) for n in args.epochs.split(",")]
        results = compare(args.repeats, lengths)
        summary = report(results, lengths)
    usage = cpu_usage_since(before)
    print(summary)
    print(f"CPUs used by other processes meanwhile: {usage['others']:.2f} (steal {usage['steal']:.2f}); "
          f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        save_json(args.json, {"machine": info, "contention": usage, "results": results, "summary": summary})


if __name__ == "__main__":
    main()
