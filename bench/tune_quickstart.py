"""Targets of `nnctl tune` (issue 10), measured with the real command line.

1. A 32-trial random search over learning rate and L2 on configs/quickstart.yaml:
   wall time with 2 local workers vs the same trials one after another (1 worker,
   with 2 BLAS threads as `--workers 1` gives it, and with 1).
2. Overhead per trial: the search's wall time minus the time trials spent in
   their training loops, per trial (worker start, spec validation, data
   loading and normalization, run directory, checkpoints, the record).
3. The best dev error the search finds within its first 30 trials vs the
   shipped quickstart spec's (its best epoch, as `nnctl train` reports it).
4. BLAS threads: 2 workers x 1 thread vs 1 worker x 2 threads on a wider MLP.

Throughput on a shared machine drifts: the load average is recorded with every
figure, the two settings run back to back, alternating, and ratios are quoted.

    .venv/bin/python bench/tune_quickstart.py [--repeats 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import yaml

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"

SEARCH = {
    "metric": "dev_error",
    "trials": 32,
    "seed": 0,
    "parameters": {
        "train.learning_rate": {"log_uniform": [1.0e-3, 1.0]},
        "regularization.l2": {"log_uniform": [1.0e-3, 10.0]},
    },
}


def tune_spec(directory: Path, name: str, changes: dict | None = None, base: Path = QUICKSTART) -> Path:
    spec = yaml.safe_load(base.read_text())
    spec["search"] = copy.deepcopy(SEARCH)
    for path, value in (changes or {}).items():
        node = spec
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    out = directory / f"{name}.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def nnctl(*args, env=None) -> tuple[dict, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nnctl", *map(str, args), "--json"], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})}, cwd=REPO)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nnctl {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return json.loads(proc.stdout), elapsed


def loop_seconds(trial_run: Path) -> float:
    """The time a trial spent in its training loop (metrics.h5's last wall_time)."""
    with h5py.File(Path(trial_run) / "metrics.h5") as f:
        return float(f["epoch/wall_time"][-1])


SETTINGS = (  # (workers, BLAS threads per worker) on 2 cores
    (1, 2),  # `--workers 1`: one trial at a time with every core's BLAS thread
    (1, 1),  # one trial at a time, single-threaded
    (2, 1),  # `--workers 2`: two trials at once, one BLAS thread each
)


def run_search(spec: Path, runs: Path, workers: int, threads: int) -> dict:
    load = os.getloadavg()[0]
    result, wall = nnctl("tune", spec, "--runs-dir", runs, "--workers", workers, "--quiet",
                         env={"OPENBLAS_NUM_THREADS": str(threads)})
    in_loops = sum(loop_seconds(t["run"]) for t in result["trials"])
    return {"workers": workers, "threads": threads, "wall_s": round(wall, 3), "loop_s": round(in_loops, 3),
            "overhead_per_trial_s": round((wall * workers - in_loops) / len(result["trials"]), 3),
            "load_before": round(load, 2), "result": result}


def compare(spec: Path, runs: Path, repeats: int) -> dict:
    """Every setting, one after another, in an order that alternates between repeats."""
    rows = []
    for repeat in range(repeats):
        for workers, threads in (SETTINGS if repeat % 2 == 0 else SETTINGS[::-1]):
            row = run_search(spec, runs / f"w{workers}t{threads}-{repeat}", workers, threads)
            print(f"  {spec.stem}: {workers} worker(s) x {threads} BLAS thread(s): {row['wall_s']:.2f} s wall, "
                  f"{row['loop_s']:.2f} s in training loops, overhead {row['overhead_per_trial_s']:.3f} s/trial, "
                  f"load {row['load_before']}", file=sys.stderr)
            rows.append(row)
    best = {f"{w}x{t}": min(r["wall_s"] for r in rows if (r["workers"], r["threads"]) == (w, t)) for w, t in SETTINGS}
    return {"rows": [{k: v for k, v in r.items() if k != "result"} for r in rows], "best_wall_s": best,
            "ratio_2x1_to_1x2": round(best["2x1"] / best["1x2"], 3), "ratio_2x1_to_1x1": round(best["2x1"] / best["1x1"], 3),
            "last": rows[-1]["result"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--mnist-mirror", type=Path, help="Also compare the BLAS settings on the MNIST MLP (784-256-128-10), "
                        "fetching MNIST from this mirror into a temporary cache.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("32-trial random search on the quickstart spec", file=sys.stderr)
        quick = compare(tune_spec(tmp, "quickstart-tune"), tmp / "q", args.repeats)
        trials = sorted(quick["last"]["trials"], key=lambda t: t["trial"])[:30]
        found = min(t["value"] for t in trials if t["value"] is not None)
        baseline, _ = nnctl("train", QUICKSTART, "--runs-dir", tmp / "baseline", "--quiet")
        shipped = 1.0 - baseline["best"]["value"]  # quickstart monitors dev_accuracy
        print("wider MLP (256-256-10, 20 epochs, 8 trials): BLAS threads split among workers", file=sys.stderr)
        wide = tune_spec(tmp, "wide-tune", {"model.layers": [{"units": 256}, {"units": 256}, {"units": 10, "activation": "softmax"}],
                                            "train.epochs": 20, "search.trials": 8})
        blas = compare(wide, tmp / "w", args.repeats)
        mnist = None
        if args.mnist_mirror:
            print("MNIST MLP (784-256-128-10, 1 epoch, 4 trials): BLAS threads split among workers", file=sys.stderr)
            os.environ["NNCTL_DATASETS"] = str(tmp / "datasets")
            subprocess.run([sys.executable, "-m", "nnctl", "data", "fetch", "mnist", "--mirror", str(args.mnist_mirror),
                            "--cache-dir", str(tmp / "datasets" / "cache")], check=True, capture_output=True)
            spec = tune_spec(tmp, "mnist-tune", {"train.epochs": 1, "search.trials": 4, "search.metric": "dev_error",
                                                 "search.parameters": {"train.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]}}},
                             base=REPO / "configs" / "mnist-mlp.yaml")
            mnist = compare(spec, tmp / "m", args.repeats)
    report = {
        "quickstart": {k: v for k, v in quick.items() if k != "last"},
        "overhead_per_trial_s": min(r["overhead_per_trial_s"] for r in quick["rows"] if r["workers"] == 1),
        "load_average_after": os.getloadavg(),
        "dev_error": {"search_best_of_30": found, "quickstart_spec": shipped},
        "blas_split": {k: v for k, v in blas.items() if k != "last"},
        "blas_split_mnist_mlp": {k: v for k, v in mnist.items() if k != "last"} if mnist else None,
        "cores": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
