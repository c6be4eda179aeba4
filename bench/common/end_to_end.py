"""End to end: `nnctl train SPEC` against bench/torch_e2e.py, whole processes from launch to exit, as a
user runs them (start-up, data, training, per-epoch metrics, checkpoints)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO
from common.bench import Bench
from common.contention import CONTENDED, cpu_snapshot, cpu_usage_since, wait_for_idle
from common.protocol import WorkerError
from common.tables import summarize
from common.workload import config


def e2e_spec_yaml(bench: Bench, args, batch_size: int) -> str:
    """The config's data, split, network, optimizer and checkpointing, without its schedule or
    augmentation (the PyTorch script has neither), for ``--epochs`` epochs, as a spec file."""
    from nnctl.spec import spec_to_yaml
    from nnctl.spec.schema import Spec

    cfg = config(bench.config).model_dump(mode="json")
    cfg["data"]["source"] = {"type": "registry", "name": "mnist", "mirror": args.mirror}
    train = cfg["train"]
    train.update(epochs=args.epochs, batch_size=batch_size, learning_rate=args.lr, schedule={"name": "constant"}, augment=None)
    if args.train_metrics:
        train["train_metrics"] = args.train_metrics
    train["kernels"] = args.kernels
    if train["optimizer"]["name"] != args.optimizer:
        train["optimizer"] = {"name": args.optimizer}
    cfg["precision"] = "float32"
    return spec_to_yaml(Spec.model_validate(cfg))


def timed_command(cmd: list[str], env: dict, idle_wait: float) -> dict:
    """Run ``cmd`` once the machine is idle; its wall time from launch to exit, and its last stdout line as JSON."""
    waited = wait_for_idle(idle_wait, CONTENDED)
    before, children = cpu_snapshot(), _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    load = cpu_usage_since(before)
    child = (_children_cpu() - children) / wall  # the command's own CPUs are not contention
    load.update(process=child, others=max(load["others"] - child, 0.0))
    if proc.returncode:
        raise WorkerError(f"exit status {proc.returncode}: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {"wall_s": wall, "waited_s": waited, "load": load, "loadavg": os.getloadavg(), "out": json.loads(lines[-1])}


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_end_to_end(bench: Bench, args, batch_size: int) -> dict:
    """``--repeats`` paired runs of `nnctl train SPEC` and bench/torch_e2e.py, whole processes, alternating.

    Both train the config's network for ``--epochs`` epochs on 55,000 rows, compute the
    per-epoch train and dev metrics (the train metrics as the spec's ``train.train_metrics``
    says) and write an initial, a latest-per-epoch and a best checkpoint.
    """
    with tempfile.TemporaryDirectory(prefix="nnctl-e2e-") as tmp:
        tmp = Path(tmp)
        spec_text = e2e_spec_yaml(bench, args, batch_size)
        (tmp / "spec.yaml").write_text(spec_text)
        env = {**os.environ, "NNCTL_DATASETS": str(Path(args.datasets_dir).resolve())}
        nnctl = Path(sys.executable).with_name("nnctl")
        subprocess.run([str(nnctl), "data", "fetch", "mnist", "--mirror", args.mirror], check=True, env=env,
                       stdout=subprocess.DEVNULL, cwd=REPO)  # cached and verified before any timing
        train_metrics = args.train_metrics or config(bench.config).train.train_metrics
        commands = {
            "nnctl": [str(nnctl), "train", str(tmp / "spec.yaml"), "--runs-dir", str(tmp / "runs"), "--quiet", "--json"],
            "torch": [sys.executable, str(REPO / "bench" / "torch_e2e.py"), "--bench", Path(bench.script).stem,
                      "--mnist", str(Path(args.datasets_dir).resolve() / "cache" / "mnist"), "--out", str(tmp / "torch"),
                      "--epochs", str(args.epochs), "--batch-size", str(batch_size), "--optimizer", args.optimizer,
                      "--lr", repr(args.lr), "--train-metrics", train_metrics, "--threads", str(args.threads),
                      "--seed", str(args.seed)],
        }
        runs = {name: [] for name in commands}
        for r in range(args.repeats):
            for name in (["nnctl", "torch"] if r % 2 == 0 else ["torch", "nnctl"]):
                res = timed_command(commands[name], env, args.idle_wait)
                metrics = res["out"]["metrics"]
                res["dev_accuracy"] = metrics["dev_accuracy"]
                res["train_s"] = res["out"]["train_s"] if name == "torch" else None
                runs[name].append(res)
                print(f"  end to end B={batch_size} repeat {r + 1}/{args.repeats} {name:<6} {res['wall_s']:7.2f} s  "
                      f"dev acc {100 * res['dev_accuracy']:.2f} %  (cpu: others {res['load']['others']:.2f}; load average "
                      f"{res['loadavg'][0]:.2f})", flush=True)
    return {
        "batch_size": batch_size, "epochs": args.epochs, "train_metrics": train_metrics, "spec": spec_text,
        "runs": runs,
        "wall_s": {name: summarize([r["wall_s"] for r in rs]) for name, rs in runs.items()},
        "ratio": summarize([t["wall_s"] / n["wall_s"] for n, t in zip(runs["nnctl"], runs["torch"])]),
        "contended_runs": sum(r["load"]["others"] >= CONTENDED for rs in runs.values() for r in rs),
    }
