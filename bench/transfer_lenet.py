"""Fine-tuning only the head of the MNIST LeNet-5 against training all of it: time per step.

Every setting trains configs/mnist-lenet5.yaml through nnctl's real Trainer (float32,
its batch size and Adam) for two epochs on the config's 55,000 training images,
without augmentation so that a frozen trunk is a fixed function of the input. The
settings differ only in what is frozen:

- all:         every layer trains (the baseline);
- head:        conv1, conv2, dense1, dense2 frozen; only the output layer dense3 trains;
- dense head:  conv1, conv2 frozen; dense1..dense3 train;
- head, aug:   as head, but with the config's augmentation (shift 1), so the frozen
               trunk's outputs cannot be computed once and it runs forward every step.

The per-step time is the second epoch's training time over its steps (the first also
holds the one-off forward pass of the frozen trunk over the training set, reported as
"cache"). Settings are interleaved, repeat by repeat, so a busy machine slows them alike;
the claim checked is head ≥ 3× faster per step than all (exit 1 if not).

    .venv/bin/python bench/transfer_lenet.py [--repeats 3] [--threads 2] [--train-rows N] [--mirror DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.threads import DEFAULT_THREADS, pin_threads, thread_report, threads_from_argv  # noqa: E402  (sets thread counts before NumPy loads)

CONFIG = "configs/mnist-lenet5.yaml"
pin_threads(threads_from_argv(sys.argv), CONFIG)

from common import REPO  # noqa: E402
from common.contention import cpu_snapshot, cpu_usage_since, wait_for_idle  # noqa: E402
from common.machine import machine_info, save_json  # noqa: E402
from common.nnctl_runner import make_trainer  # noqa: E402
from common.tables import summarize, table  # noqa: E402
from common.workload import config  # noqa: E402

SETTINGS = {
    "all": {"model.freeze": [], "augment": False},
    "head": {"model.freeze": ["conv1", "conv2", "dense1", "dense2"], "augment": False},
    "dense head": {"model.freeze": ["conv1", "conv2"], "augment": False},
    "head, aug": {"model.freeze": ["conv1", "conv2", "dense1", "dense2"], "augment": True},
}
CLAIM = 3.0  # head vs all, per step


def spec_for(setting: dict, args):
    from nnctl.spec.schema import Spec

    cfg = config(CONFIG).model_dump(mode="json", by_alias=True)
    cfg["name"] = "bench-transfer"
    cfg["data"]["source"]["mirror"] = args.mirror
    cfg["model"]["freeze"] = setting["model.freeze"]
    cfg["train"]["epochs"] = 2
    if args.train_rows:  # the time per step does not depend on how many rows an epoch has
        cfg["data"]["split"] = {"train": args.train_rows, "dev": 1000, "test": 0}
    if not setting["augment"]:
        cfg["train"]["augment"] = None
    cfg["checkpoint"] = {"every_epochs": 2, "monitor": "dev_cost"}
    return Spec.model_validate(cfg)


def time_setting(run, setting: dict, args) -> dict:
    """Two epochs of the real Trainer; per-step time from the second, the trunk cache from the difference."""
    spec = spec_for(setting, args)
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        trainer = make_trainer(run, spec, Path(tmp))
        before = cpu_snapshot()
        trainer.run()
        contention = cpu_usage_since(before)
    first, second = trainer.bench_epoch_times
    return {"step_ms": 1e3 * second / trainer.n_batches, "cache_s": max(first - second, 0.0),
            "steps": trainer.n_batches, "trainable": int(trainer.net.n_trainable),
            "parameters": int(trainer.net.theta.size), "entry_layer": trainer.net.layers[trainer.net.first_trainable].name,
            "contention": contention}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--mirror", default=os.environ.get("NNCTL_MNIST_MIRROR", str(REPO.parent / "shared" / "data" / "mnist")),
                   help="MNIST mirror (default: $NNCTL_MNIST_MIRROR or ../shared/data/mnist next to the repository)")
    p.add_argument("--datasets-dir", default=str(REPO / "datasets"), help="MNIST is cached in DIR/cache/mnist")
    p.add_argument("--train-rows", type=int, default=None, help="train on this many rows (default: the config's 55,000)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()

    from nnctl.orchestration.start import prepare_run

    run = prepare_run(spec_for(SETTINGS["all"], args), Path(args.datasets_dir))
    times: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, setting in SETTINGS.items():
            wait_for_idle(10.0)
            times[name].append(time_setting(run, setting, args))
            print(f"repeat {repeat + 1}/{args.repeats} {name}: {times[name][-1]['step_ms']:.2f} ms/step", file=sys.stderr)
    base = [r["step_ms"] for r in times["all"]]
    rows, summary = [], {}
    for name, results in times.items():
        steps = [r["step_ms"] for r in results]
        speedup = [b / s for b, s in zip(base, steps)]  # within each repeat: the same machine state
        summary[name] = {"step_ms": summarize(steps), "speedup": summarize(speedup),
                         "cache_s": summarize([r["cache_s"] for r in results]), **{
                             k: results[0][k] for k in ("trainable", "parameters", "entry_layer", "steps")}}
        s = summary[name]
        rows.append([name, f"{s['trainable']:,} / {s['parameters']:,}", s["entry_layer"],
                     f"{s['step_ms']['median']:.2f}", f"{s['speedup']['median']:.2f}x "
                     f"({s['speedup']['min']:.2f}-{s['speedup']['max']:.2f})", f"{s['cache_s']['median']:.2f}"])
    print(table(["setting", "trainable / all", "backprop enters", "ms/step", "speedup vs all", "cache s"],
                       rows, right={1, 3, 4, 5}))
    ok = summary["head"]["speedup"]["min"] >= CLAIM
    print(f"head-only fine-tuning is {summary['head']['speedup']['median']:.1f}x faster per step than training "
          f"all of LeNet-5 (claim: >= {CLAIM:g}x in every repeat): {'ok' if ok else 'NOT MET'}")
    if args.json:
        save_json(args.json, {"settings": summary, "raw": times, "machine": machine_info(),
                                     "threads": thread_report(), "repeats": args.repeats, "train_rows": args.train_rows})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
