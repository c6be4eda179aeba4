"""The process protocol: the parent never trains; each timed run and the verification run in a fresh
worker process (the same script with ``--worker SYSTEM``, the same thread pins), which prints one
JSON result line. A fresh process per run keeps one system's allocations, caches and thread pools
out of another's timing, and keeps torch out of the nnctl worker."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import REPO
from common.bench import Bench
from common.contention import CONTENDED, cpu_snapshot, cpu_usage_since, wait_for_idle
from common.machine import jsonable
from common.systems import runners
from common.tables import fmt_accuracy, summarize
from common.threads import thread_report
from common.verification import verify
from common.workload import load_run, make_spec, warmup_subset

RESULT_MARK = "BENCH-RESULT "
WORKER_OPTIONS = ["optimizer", "lr", "epochs", "warmup_steps", "threads", "seed", "mirror", "datasets_dir", "tolerance", "kernels"]


def worker_argv(args, system: str, batch_size: int) -> list[str]:
    """The worker's command-line options: the system, one batch size and the parent's settings it needs."""
    out = ["--worker", system, "--batch-sizes", str(batch_size)]
    for name in args.worker_options:
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out += [flag] if value else []
        elif value is not None:
            out += [flag, repr(value) if isinstance(value, float) else str(value)]
    return out


class WorkerError(RuntimeError):
    pass


def run_worker(script: Path, argv: list[str]) -> dict:
    """Run ``script argv`` in a fresh interpreter (same environment, so the same thread pins); return its result.

    The worker's other stdout lines are echoed after it exits; its stderr passes through.
    """
    cmd = [sys.executable, str(script), *argv]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
        else:
            print(line, flush=True)
    if proc.returncode or result is None:
        raise WorkerError(f"worker failed (exit status {proc.returncode}): {' '.join(cmd)}")
    return result


def timed_worker(script: Path, argv: list[str], idle_wait: float, retries: int) -> dict:
    """One timed run, started when the machine is idle and rerun if other processes competed for the CPUs."""
    best = None
    for attempt in range(retries + 1):
        waited = wait_for_idle(idle_wait, CONTENDED)
        res = run_worker(script, argv)
        res["waited_s"], res["attempt"] = waited, attempt + 1
        if best is None or res["load"]["others"] < best["load"]["others"]:
            best = res
        if res["load"]["others"] < CONTENDED:
            break
    best["contended"] = best["load"]["others"] >= CONTENDED
    return best


def bench_batch_size(bench: Bench, args, batch_size: int) -> dict:
    """``--repeats`` rounds; in each, every system trains from scratch in its own process, the order rotating."""
    systems = args.systems
    per_system = {name: [] for name in systems}
    for r in range(args.repeats):
        order = systems[r % len(systems):] + systems[: r % len(systems)]
        for name in order:
            res = timed_worker(bench.script, worker_argv(args, name, batch_size), args.idle_wait, args.retries)
            per_system[name].append(res)
            print(f"  B={batch_size} repeat {r + 1}/{args.repeats} {name:<12} {res['examples_per_s']:>9,.0f} ex/s  "
                  f"acc {fmt_accuracy(res['accuracy'])}  (cpu: worker {res['load']['process']:.2f}, "
                  f"others {res['load']['others']:.2f}, steal {res['load']['steal']:.2f}; load average "
                  f"{res['loadavg'][0]:.2f}; attempt {res['attempt']})",
                  flush=True)
            if r == 0:
                print(f"    {name} worker: " + "; ".join(res["threads"]) + f"; torch loaded: {res['torch_loaded']}")
    summary = {}
    for name, results in per_system.items():
        summary[name] = {
            "examples_per_s": summarize([r["examples_per_s"] for r in results]),
            "accuracy": None if results[0]["accuracy"] is None else summarize([r["accuracy"] for r in results]),
            "dtype": results[0]["dtype"], "n_train": results[0]["n_train"],
            "epoch_times": [r["epoch_times"] for r in results],
            "contended_runs": sum(r["contended"] for r in results),
            "load": [r["load"] for r in results], "loadavg": [r["loadavg"] for r in results], "threads": results[0]["threads"],
            "torch_loaded": any(r["torch_loaded"] for r in results), "versions": results[0]["versions"],
            "kernels": results[0].get("kernels"),
        }
        if all("overhead" in r for r in results):
            summary[name]["overhead_per_epoch_s"] = summarize([statistics.median(r["overhead"]) for r in results])
    ratios = {}
    if "nnctl" in per_system:
        for peer in systems:
            if peer != "nnctl":
                ratios[f"nnctl/{peer}"] = summarize(
                    [a["examples_per_s"] / b["examples_per_s"] for a, b in zip(per_system["nnctl"], per_system[peer])])
    return {"batch_size": batch_size, "systems": summary, "ratios": ratios}


def emit_result(payload: dict) -> None:
    print(RESULT_MARK + json.dumps(payload, default=jsonable), flush=True)


def loaded_versions() -> dict:
    return {name: sys.modules[name].__version__ for name in ("numpy", "torch", "sklearn") if name in sys.modules}


def worker_main(bench: Bench, args) -> int:
    system, batch_size = args.worker, args.batch_sizes[0]
    if system == "verify" or system.startswith("torch"):
        import torch  # only these workers load PyTorch (and its OpenMP pool)

        torch.set_num_threads(args.threads)
    run = load_run(bench, args)
    if system == "verify":
        ok, cases = verify(bench, run, args, batch_size)
        emit_result({"ok": ok, "cases": cases, "batch_size": batch_size, "versions": loaded_versions()})
        return 0
    runner = runners(bench)[system]
    if args.warmup_steps and system != "gemm-bound":  # same process, untimed: thread pools, allocations, caches
        runner(bench, warmup_subset(run, args.warmup_steps * batch_size), make_spec(bench, args, batch_size, 1), args)
    spec = make_spec(bench, args, batch_size, args.epochs)
    before = cpu_snapshot()
    res = runner(bench, run, spec, args)
    res["load"] = cpu_usage_since(before)
    n = len(run.data["train"])
    res.update(system=system, batch_size=batch_size, epochs=args.epochs, n_train=n, loadavg=os.getloadavg(),
               examples_per_s=args.epochs * n / sum(res["epoch_times"]), threads=thread_report(),
               torch_loaded="torch" in sys.modules, versions=loaded_versions())
    if system == "nnctl" and res["torch_loaded"]:
        raise RuntimeError("the nnctl worker loaded torch; its timing would not be fair")
    emit_result(res)
    return 0
