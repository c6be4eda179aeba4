"""Does k-fold selection choose better configurations on small data than one small dev split? (issue 22)

For each seed, one generated small set (``--scenario spirals``: a pool of 120 rows,
96 train + 24 dev, and 1200 held-out test rows from the same distribution;
``--scenario moons``: 48 + 12 pool rows and 600 test rows) and one random search
(same trials, same search seed), run twice with the real command line:

- ``single dev split``: trials ranked by dev cost on the dev rows;
- ``5-fold cv``: trials ranked by the mean dev cost over 5 folds of the pool rows.

Both searches refit their chosen configuration on the same pool rows for the
epochs their selection chose (``search.refit: true``), so the two models differ
only in the configuration (and epoch count) each selection picked. Each is then
evaluated once on the test rows. A seed counts for cv when its test accuracy
is at least the single split's. Also reported: the single split's best trial as
it stands (trained on the train rows only), what `nnctl tune` delivered before.

    .venv/bin/python bench/cv_selection.py [--scenario spirals|moons] [--seeds 10] [--trials 16] [--json FILE]

Accuracy, not time, is measured, so the load of the machine does not change the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.machine import machine_info, save_json  # noqa: E402

SCENARIOS = {
    # 3 noisy spiral arms: a pool of 96 + 24 rows, two hidden layers searched.
    "spirals": ({
        "name": "cvbench",
        "data": {
            "source": {"type": "generated", "name": "spirals", "samples": 1500, "noise": 0.25, "classes": 3},
            "split": {"train": 96, "dev": 24, "test": 1200},
            "normalize": {"method": "standardize"},
        },
        "model": {"layers": [{"units": 16, "activation": "relu"}, {"units": 16, "activation": "relu"},
                             {"units": 3, "activation": "softmax"}]},
        "train": {"epochs": 80, "batch_size": 32, "learning_rate": 0.01, "optimizer": {"name": "adam"}},
        "checkpoint": {"monitor": "dev_cost"},
    }, {
        "train.learning_rate": {"log_uniform": [1.0e-3, 0.3]},
        "regularization.l2": {"log_uniform": [1.0e-4, 10.0]},
        "model.layers[0].units": {"choice": [4, 16, 64]},
        "model.layers[1].units": {"choice": [4, 16, 64]},
    }),
    # Noisy moons with a 12-row dev split (the unit test's set, with more trials): a pool of 48 + 12 rows.
    "moons": ({
        "name": "cvbench",
        "data": {
            "source": {"type": "generated", "name": "moons", "samples": 660, "noise": 0.35},
            "split": {"train": 48, "dev": 12, "test": 600},
            "normalize": {"method": "standardize"},
        },
        "model": {"layers": [{"units": 8, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}]},
        "train": {"epochs": 30, "batch_size": 16, "learning_rate": 0.01, "optimizer": {"name": "adam"}},
        "checkpoint": {"monitor": "dev_cost"},
    }, {
        "train.learning_rate": {"log_uniform": [1.0e-3, 0.3]},
        "regularization.l2": {"log_uniform": [1.0e-3, 3.0]},
        "model.layers[0].units": {"choice": [1, 2, 8, 32]},
    }),
}


def nnctl(*args) -> dict:
    out = subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def search(directory: Path, scenario: str, seed: int, trials: int, cv: bool) -> dict:
    base, parameters = SCENARIOS[scenario]
    spec = {**base, "seed": seed, "search": {"metric": "dev_cost", "trials": trials, "seed": seed, "refit": True,
                                             "parameters": parameters}}
    if cv:
        spec["search"]["cv"] = {"folds": 5}
    path = directory / f"{'cv' if cv else 'dev'}-{seed}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = nnctl("tune", path, "--runs-dir", directory / "runs", "--quiet", "--json")
    refit = Path(result["tune_dir"]) / result["refit"]["run"]
    chosen = result["chosen"]
    return {"params": chosen["params"], "value": chosen["value"], "se": chosen["se"], "epochs": result["refit"]["epochs"],
            "refit_test": test_metrics(refit), "best_trial_test": None if cv else test_metrics(Path(chosen["run"]))}


def test_metrics(run: Path) -> dict:
    metrics = nnctl("eval", run, "--split", "test", "--json")["metrics"]
    return {"accuracy": metrics["accuracy"], "cost": metrics["cost"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="spirals")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            dev = search(Path(tmp), args.scenario, seed, args.trials, cv=False)
            cv = search(Path(tmp), args.scenario, seed, args.trials, cv=True)
            rows.append({"seed": seed, "single_dev_split": dev, "cv": cv})
            print(f"seed {seed}: test accuracy  cv+refit {cv['refit_test']['accuracy']:.4f}  single split+refit "
                  f"{dev['refit_test']['accuracy']:.4f}  single split's best trial {dev['best_trial_test']['accuracy']:.4f}",
                  flush=True)
    wins = sum(r["cv"]["refit_test"]["accuracy"] >= r["single_dev_split"]["refit_test"]["accuracy"] for r in rows)
    beats_trial = sum(r["cv"]["refit_test"]["accuracy"] >= r["single_dev_split"]["best_trial_test"]["accuracy"] for r in rows)
    mean = {name: sum(r[key][part]["accuracy"] for r in rows) / len(rows) for name, key, part in
            [("cv_refit", "cv", "refit_test"), ("single_refit", "single_dev_split", "refit_test"),
             ("single_best_trial", "single_dev_split", "best_trial_test")]}
    print(f"cv's choice at least as good on the test rows in {wins} of {len(rows)} seeds "
          f"(against the single split's refit; {beats_trial} of {len(rows)} against its best trial as trained)")
    print("mean test accuracy: " + ", ".join(f"{name} {value:.4f}" for name, value in mean.items()))
    if args.json:
        spec, parameters = SCENARIOS[args.scenario]
        save_json(args.json, {"machine": machine_info(), "scenario": args.scenario, "spec": spec, "parameters": parameters,
                              "trials": args.trials,
                              "seeds": args.seeds, "cv_at_least_as_good": wins, "cv_beats_best_trial": beats_trial,
                              "mean_test_accuracy": mean, "rows": rows})


if __name__ == "__main__":
    main()
