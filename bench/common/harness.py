"""A benchmark script's entry point: its options, then either one worker run or the parent's work
(verify, time every system in its own processes, end to end, print the tables, save the JSON)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from common import REPO
from common.bench import Bench
from common.contention import CONTENDED
from common.end_to_end import bench_end_to_end
from common.gemm_bound import gemm_table
from common.machine import cpu_line, machine_info, save_json
from common.profiling import profile, profile_step, time_eval_chunks
from common.protocol import WORKER_OPTIONS, bench_batch_size, run_worker, worker_argv, worker_main
from common.systems import runners
from common.tables import fmt_accuracy, fmt_range, table
from common.threads import DEFAULT_THREADS
from common.workload import DEFAULT_LR, config


def parse_args(bench: Bench, doc: str, argv=None):
    systems = list(runners(bench))
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default=",".join(systems), help="comma list of %(default)s")
    p.add_argument("--optimizer", choices=("adam", "gd"), default=None, help=f"default: the one in {bench.config}")
    p.add_argument("--lr", type=float, default=None, help=f"default: {bench.config}'s for its optimizer, else "
                                                          + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()))
    p.add_argument("--batch-sizes", default="128", help="comma list, e.g. 64,128,256")
    p.add_argument("--epochs", type=int, default=bench.epochs)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup-steps", type=int, default=bench.warmup_steps,
                   help="untimed training steps in each worker before its timed run (0: none)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="BLAS/OpenMP/torch threads for every system")
    p.add_argument("--idle-wait", type=float, default=30.0,
                   help="before each run, wait up to this many seconds for other processes to leave the CPUs")
    p.add_argument("--retries", type=int, default=2,
                   help=f"rerun a run during which other processes used >= {CONTENDED:g} CPUs, keeping the least contended")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mirror", default=os.environ.get("NNCTL_DATA_MIRROR") or str(REPO.parent / "shared" / "data" / "mnist"),
                   help="MNIST mirror, a directory or URL (default: $NNCTL_DATA_MIRROR, else ../shared/data/mnist)")
    p.add_argument("--datasets-dir", default=str(REPO / "datasets"), help="MNIST is cached in DIR/cache/mnist")
    p.add_argument("--tolerance", type=float, default=1e-5, help="relative tolerance of --verify")
    p.add_argument("--kernels", choices=("auto", "numpy", "compiled"), default="auto",
                   help="nnctl's train.kernels (the nnctl-numpy system always runs the reference kernels)")
    extra = bench.add_arguments(p) if bench.add_arguments else []
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-verify", dest="verify", action="store_false", help="skip the equivalence check")
    g.add_argument("--verify-only", action="store_true")
    g.add_argument("--profile", type=int, metavar="N", help="cProfile one nnctl epoch, print the top N entries, exit")
    g.add_argument("--eval-chunks", metavar="ROWS,...",
                   help="time inference over the 60,000 training images in chunks of each of these row counts, exit")
    g.add_argument("--profile-step", type=int, metavar="STEPS",
                   help="time each operation of nnctl's training step over STEPS steps (per layer, GEMMs apart), exit")
    g.add_argument("--gemms", action="store_true",
                   help="time each GEMM of nnctl's training step alone (shape, layout, ms, GFLOP/s), exit")
    g.add_argument("--worker", choices=[*systems, "verify"], help=argparse.SUPPRESS)  # internal: one run, one JSON line
    p.add_argument("--json", metavar="FILE", help="save all results (including per-epoch times) as JSON")
    p.add_argument("--train-metrics", choices=("full", "running"), default=None,
                   help=f"end to end: train.train_metrics for both sides (default: {bench.config}'s)")
    p.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                   help="skip the end-to-end runs (`nnctl train SPEC` against bench/torch_e2e.py, whole processes)")
    args = p.parse_args(argv)
    args.worker_options = WORKER_OPTIONS + list(extra)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in systems]
    if unknown:
        p.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(systems)}")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    train = config(bench.config).train
    args.optimizer = args.optimizer or train.optimizer.name
    if args.lr is None:
        args.lr = train.learning_rate if args.optimizer == train.optimizer.name else DEFAULT_LR[args.optimizer]
    return args


def main(bench: Bench, doc: str, argv=None) -> int:
    """Entry point of a benchmark script: the parent (orchestrates, never trains) or a worker."""
    args = parse_args(bench, doc, argv)
    if args.worker:
        return worker_main(bench, args)
    if args.profile:
        profile(bench, args, args.profile)
        return 0
    if args.eval_chunks:
        time_eval_chunks(bench, args, [int(c) for c in args.eval_chunks.split(",")])
        return 0
    if args.profile_step:
        profile_step(bench, args, args.profile_step)
        return 0
    if args.gemms:
        gemm_table(bench, args)
        return 0
    t_start = time.perf_counter()
    print(f"machine: {cpu_line(machine_info())}")
    print(f"{bench.title}: {args.optimizer} lr={args.lr:g}, {args.threads} threads; every run in a fresh process "
          f"({Path(sys.executable).name} {Path(bench.script).relative_to(REPO)} --worker SYSTEM ...)")
    verified = None
    if args.verify or args.verify_only:
        verified = run_worker(bench.script, worker_argv(args, "verify", args.batch_sizes[0]))
        if not verified["ok"]:
            print("verify FAILED: nnctl and PyTorch disagree; not timing", file=sys.stderr)
            return 1
        if args.verify_only:
            return 0
    results = [bench_batch_size(bench, args, b) for b in args.batch_sizes]
    end_to_end = [bench_end_to_end(bench, args, b) for b in args.batch_sizes] if args.end_to_end else []
    print_results(bench, results, end_to_end, args)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if args.json:
        first = next(iter(results[0]["systems"].values()))
        save_json(args.json, {
            "benchmark": bench.name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
            "args": {k: v for k, v in vars(args).items() if k != "worker_options"},
            "machine": machine_info(), "versions": merge_versions(results, verified),
            "verified": verified, "n_train": first["n_train"], "results": results, "end_to_end": end_to_end,
        })
        print(f"saved {args.json}")
    return 0


def print_results(bench: Bench, results: list[dict], end_to_end: list[dict], args) -> None:
    m = next(iter(results[0]["systems"].values()))["n_train"]
    print(f"\nmachine: {cpu_line(machine_info())}")
    print(f"{bench.title}, {args.optimizer} lr={args.lr:g}, {args.epochs} epochs × {m:,} examples, "
          f"{args.threads} threads, {args.repeats} repeats, one process per run "
          f"(examples/s: median [min–max]; test accuracy on 10,000 after {args.epochs} epochs)")
    rows = []
    for res in results:
        for name, s in res["systems"].items():
            note = system_note(bench, name, s)
            acc = s["accuracy"]
            acc_txt = "—" if acc is None else fmt_accuracy(acc["median"]) + (
                "" if acc["min"] == acc["max"] else f" [{100 * acc['min']:.2f}–{100 * acc['max']:.2f}]")
            if s["contended_runs"]:
                note += f"; {s['contended_runs']} contended run(s)"
            rows.append([str(res["batch_size"]), name, fmt_range(s["examples_per_s"]), acc_txt, note])
    print(table(["B", "system", "examples/s", "test acc", "notes"], rows, right={0, 2}))
    rrows = [[str(res["batch_size"]), key, fmt_range(s, lambda v: f"{v:.2f}"), f"{_best_against_best(res, key):.2f}"]
             for res in results for key, s in res["ratios"].items()]
    if rrows:
        print("\nratios of throughput, paired within each repeat (>1: nnctl faster; nnctl/gemm-bound: the fraction of the bound); "
              "best/best: the two systems' fastest runs, each its least disturbed (on a shared VM a pair can mix speed modes)")
        print(table(["B", "ratio", "median [min–max]", "best/best"], rrows, right={0, 3}))
    if end_to_end:
        print(f"\nend to end: `nnctl train SPEC` against bench/torch_e2e.py, whole processes (start-up, data, {args.epochs} epochs "
              "with per-epoch train/dev metrics and checkpoints); wall seconds, median [min–max]; ratio torch/nnctl paired "
              "(>1: nnctl faster)")
        erows = []
        for e in end_to_end:
            note = f"train metrics: {e['train_metrics']}" + (f"; {e['contended_runs']} contended run(s)" if e["contended_runs"] else "")
            erows.append([str(e["batch_size"]), fmt_range(e["wall_s"]["nnctl"], lambda v: f"{v:.2f}"),
                          fmt_range(e["wall_s"]["torch"], lambda v: f"{v:.2f}"), fmt_range(e["ratio"], lambda v: f"{v:.2f}"), note])
        print(table(["B", "nnctl train s", "torch script s", "ratio", "notes"], erows, right={0}))


def system_note(bench: Bench, name: str, s: dict) -> str:
    if name == "gemm-bound":
        return "the step's GEMMs alone (same shapes, layouts, BLAS)"
    if name.startswith("nnctl"):
        return f"{s['kernels']} kernels; eval+ckpt {s['overhead_per_epoch_s']['median']:.2f} s/epoch (untimed)"
    if name.startswith("torch"):
        return "flush denormals" + (", fused" if name == "torch-fused" else "")
    return bench.note(name, s) if bench.note else ""


def merge_versions(results: list[dict], verified: dict | None) -> dict:
    versions = dict(verified["versions"]) if verified else {}
    for res in results:
        for s in res["systems"].values():
            versions.update(s["versions"])
    return versions


def _best_against_best(res: dict, key: str) -> float:
    """A ratio of the two systems' fastest runs: noise only slows a run down, so each best run is its system's
    least disturbed one."""
    mine, peer = key.split("/")
    return res["systems"][mine]["examples_per_s"]["max"] / res["systems"][peer]["examples_per_s"]["max"]
