"""Shared machinery of nnctl's benchmarks (bench/mlp_mnist.py, bench/lenet_mnist.py).

- thread pinning, CPU-contention measurement, statistics, tables, JSON;
- the process protocol: the parent process never trains; every timed run
  (system × repeat), and the verification, runs in a fresh worker subprocess
  (the same script with ``--worker SYSTEM``) that prints one JSON result line;
- the per-system training code shared by the benchmarks: nnctl through its real
  Trainer, PyTorch with nnctl's initial weights, and the nnctl-vs-PyTorch check.
  A benchmark script only describes its network (a :class:`Bench`).

This module must stay importable *before* NumPy: ``pin_threads`` sets the BLAS
and OpenMP thread-count variables, which the libraries read only once, when
they are loaded.  Nothing here imports NumPy, nnctl or torch at module level
(the nnctl worker must never load torch).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
REEXEC_MARK = "NNCTL_BENCH_REEXEC"
DEFAULT_THREADS = 2
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT")  # recorded with every result


def threads_from_argv(argv: list[str], default: int = DEFAULT_THREADS) -> int:
    """The value of ``--threads N`` / ``--threads=N`` without argparse (which we may not reach yet)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


def pin_threads(n: int, config_path: str | None = None) -> None:
    """Set every thread-count variable to ``n``, and the OpenBLAS variables `nnctl train` chooses for the
    network of ``config_path``, if given (nnctl/train/blas_threads.py); re-exec if a numerical library is
    already loaded.

    Call at the very top of a benchmark script, before importing numpy, torch or sklearn.
    """
    from nnctl.train.blas_threads import blas_environment

    wanted = {var: str(n) for var in THREAD_VARS} | (blas_environment(config(config_path).model) if config_path else {})
    changed = any(os.environ.get(var) != value for var, value in wanted.items())
    os.environ.update(wanted)
    loaded = [name for name in ("numpy", "torch", "scipy", "sklearn") if name in sys.modules]
    if changed and loaded and not os.environ.get(REEXEC_MARK):
        os.environ[REEXEC_MARK] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])


def thread_report() -> list[str]:
    """One line per native thread pool actually loaded (BLAS, OpenMP), via threadpoolctl if present."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["(threadpoolctl not installed: thread pools not inspected)"]
    lines = []
    for pool in threadpool_info():
        name = Path(pool.get("filepath", "?")).name
        lines.append(f"{pool.get('user_api')}/{pool.get('internal_api')} {name}: {pool.get('num_threads')} threads")
    return lines


def cpu_snapshot() -> tuple:
    """(wall, this process's CPU seconds, machine busy and steal ticks) to measure contention over a run."""
    busy = steal = 0
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        busy, steal = sum(fields[:3]) + sum(fields[5:7]), fields[7]  # user nice system + irq softirq; steal
    except (OSError, ValueError, IndexError):
        pass
    return time.perf_counter(), time.process_time(), busy, steal


def cpu_usage_since(before: tuple) -> dict:
    """Average CPUs used over the interval: by this process, by everything else, and stolen by the host.

    ``others`` well above 0 or ``steal`` above ~0.05 means the run competed for the CPUs.
    """
    after = cpu_snapshot()
    wall = max(after[0] - before[0], 1e-9)
    tick = os.sysconf("SC_CLK_TCK")
    process = (after[1] - before[1]) / wall
    busy = (after[2] - before[2]) / tick / wall
    return {"process": process, "others": max(busy - process, 0.0), "steal": (after[3] - before[3]) / tick / wall}


def wait_for_idle(max_wait: float, threshold: float = 0.25, sample: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` CPUs; return the seconds waited."""
    started = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(sample)
        if cpu_usage_since(before)["others"] < threshold or time.perf_counter() - started >= max_wait:
            return time.perf_counter() - started


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_range(s: dict, fmt=fmt_int) -> str:
    return f"{fmt(s['median'])} [{fmt(s['min'])}–{fmt(s['max'])}]"


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain fixed-width table; columns in ``right`` are right-aligned."""
    right = right or set()
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *[line(r) for r in rows]])


ISA_FLAGS = ("avx512f", "avx512_bf16", "avx512vnni", "avx2", "fma", "avx", "sse4_2")  # reported when present, widest first


def machine_info() -> dict:
    """Python, platform, CPU model and its vector ISA (from /proc/cpuinfo): a bound or a ratio is only
    comparable on the same kind of CPU, so every result file says which one it was measured on."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for row in f:
                key, _, value = row.partition(":")
                if key.strip() == "model name":
                    info.setdefault("cpu", value.strip())
                elif key.strip() == "flags":
                    flags = set(value.split())
                    info.setdefault("isa", [flag for flag in ISA_FLAGS if flag in flags])
    except OSError:
        pass
    # OpenBLAS's kernel choice and cache size, when the environment fixes them: OPENBLAS_CORETYPE=Haswell
    # on an AVX-512 CPU keeps nnctl's GEMMs on AVX2 kernels while PyTorch's use AVX-512.
    info["blas_env"] = {key: value for key, value in os.environ.items() if key in BLAS_ENV}
    return info


def cpu_line(info: dict) -> str:
    blas = " ".join(f"{k}={v}" for k, v in info.get("blas_env", {}).items())
    return (f"{info.get('cpu', 'unknown CPU')} ({info.get('cpus')} CPUs; {' '.join(info.get('isa', [])) or 'ISA unknown'})"
            + (f"; {blas}" if blas else ""))


def save_json(path: str | Path, payload: dict) -> None:
    """Write ``payload``, naming paths inside the repository relative to it and ../shared as such:
    results are committed, and no path of the machine that measured them belongs there."""
    text = json.dumps(payload, indent=2, default=_jsonable)
    text = text.replace(str(REPO.parent / "shared"), "../shared").replace(str(REPO) + "/", "")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


# ====================================================================== a benchmark's description


@dataclass
class Bench:
    """What a benchmark script supplies; everything else (protocol, runners, verification) is shared.

    The nnctl network comes from ``config`` (its ``model`` and ``train`` sections,
    trained on all 60,000 MNIST training images).  The PyTorch side is described by
    four functions: the architecture, the nnctl-key → parameter map, and the layout
    conversions of a tensor each way (so nnctl's initial θ can be copied in and
    PyTorch's θ and gradients compared with nnctl's).
    """

    name: str                           # JSON label, e.g. "mlp_mnist"
    title: str                          # first words of the table title
    script: Path                        # the script the workers run (with --worker SYSTEM)
    config: str                         # configs/*.yaml whose network and optimizer are benchmarked
    build_torch: Callable               # (torch) -> nn.Module with PyTorch's own initial weights
    torch_params: Callable              # (model) -> {nnctl tensor key: torch Parameter}
    to_torch: Callable                  # (key, nnctl array) -> array in the parameter's layout
    to_nnctl: Callable                  # (key, torch array) -> array in nnctl's layout
    torch_input: Callable               # (nnctl inputs (m, ...)) -> PyTorch inputs (m, ...), as NumPy
    epochs: int = 5                     # default --epochs
    warmup_steps: int = 100             # default --warmup-steps
    verify_steps_float32: int = 10      # steps of the float32 check (float64 always runs VERIFY_STEPS_FLOAT64)
    extra_systems: dict = field(default_factory=dict)   # name -> runner(bench, run, spec, args) -> dict
    add_arguments: Callable | None = None  # (parser) -> names of the extra options workers need
    note: Callable | None = None        # (system, summary) -> table note for extra systems

    def runners(self) -> dict:
        return {**BASE_RUNNERS, **self.extra_systems}


DEFAULT_LR = {"adam": 1e-3, "gd": 0.1}
CONTENDED = 0.25  # CPUs used by other processes during a run above which it counts as contended
RESULT_MARK = "BENCH-RESULT "
WORKER_OPTIONS = ["optimizer", "lr", "epochs", "warmup_steps", "threads", "seed", "mirror", "datasets_dir", "tolerance", "kernels"]


def parse_args(bench: Bench, doc: str, argv=None):
    systems = list(bench.runners())
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


# ====================================================================== the parent: one subprocess per run


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


def system_note(bench: Bench, name: str, s: dict) -> str:
    if name == "gemm-bound":
        return "the step's GEMMs alone (same shapes, layouts, BLAS)"
    if name.startswith("nnctl"):
        return f"{s['kernels']} kernels; eval+ckpt {s['overhead_per_epoch_s']['median']:.2f} s/epoch (untimed)"
    if name.startswith("torch"):
        return "flush denormals" + (", fused" if name == "torch-fused" else "")
    return bench.note(name, s) if bench.note else ""


def fmt_accuracy(acc) -> str:
    return "—" if acc is None else f"{100 * acc:.2f} %"


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
    rrows = [[str(res["batch_size"]), key, fmt_range(s, lambda v: f"{v:.2f}")]
             for res in results for key, s in res["ratios"].items()]
    if rrows:
        print("\nratios of throughput, paired within each repeat (>1: nnctl faster; nnctl/gemm-bound: the fraction of the bound)")
        print(table(["B", "ratio", "median [min–max]"], rrows, right={0}))
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


def merge_versions(results: list[dict], verified: dict | None) -> dict:
    versions = dict(verified["versions"]) if verified else {}
    for res in results:
        for s in res["systems"].values():
            versions.update(s["versions"])
    return versions


# ====================================================================== end to end: `nnctl train` against a PyTorch script


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


# ====================================================================== the worker: one run, one JSON line


def emit_result(payload: dict) -> None:
    print(RESULT_MARK + json.dumps(payload, default=_jsonable), flush=True)


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
    runner = bench.runners()[system]
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


# ====================================================================== nnctl


@functools.cache
def config(path: str):
    """The benchmark's config as nnctl reads it (validated, every default filled); loads no NumPy."""
    from nnctl.spec import load_spec

    return load_spec(REPO / path)


def make_spec(bench: Bench, args, batch_size: int, epochs: int, optimizer: str | None = None, lr: float | None = None):
    """The config's network and optimizer as a float32 spec trained on all 60,000 MNIST training images."""
    from nnctl.spec.schema import Spec

    cfg = config(bench.config)
    optimizer = optimizer or args.optimizer
    opt = cfg.train.optimizer.model_dump() if cfg.train.optimizer.name == optimizer else {"name": optimizer}
    return Spec.model_validate({
        "name": f"bench-{bench.name}",
        "seed": args.seed,
        "precision": "float32",
        "data": {
            "source": {"type": "registry", "name": "mnist", "mirror": args.mirror},
            "split": {"train": 60000, "dev": 0, "test": 0},  # counts; MNIST's own 10k test set is the test split
            "normalize": cfg.data.normalize.model_dump(),
        },
        "model": cfg.model.model_dump(),
        "train": {"epochs": epochs, "batch_size": batch_size,
                  "learning_rate": lr if lr is not None else args.lr, "optimizer": opt, "kernels": args.kernels},
        "checkpoint": {"every_epochs": 1, "monitor": "train_cost"},
    })


def load_run(bench: Bench, args):
    """nnctl's own prepared data (``prepare_run``, which fetches and checksums MNIST): float32, scaled,
    MNIST's 60,000 / 10,000 split."""
    import numpy as np

    from nnctl.orchestration.start import prepare_run

    run = prepare_run(make_spec(bench, args, args.batch_sizes[0], 1), Path(args.datasets_dir))
    train, test = run.data["train"], run.data["test"]
    assert train.x.dtype == np.float32 and train.x.flags.c_contiguous
    assert len(train) == 60000 and len(test) == 10000, (len(train), len(test))
    return run


def warmup_subset(run, n: int):
    """The run with only the first ``n`` training and 1,000 test examples (for an untimed warm-up)."""
    from nnctl.train.prepare import Prepared

    def head(d, k):
        return Prepared(d.x[:k], d.targets[:k], None if d.labels is None else d.labels[:k])

    return replace(run, data={**run.data, "train": head(run.data["train"], n),
                               "test": head(run.data["test"], 1000)})


def fresh_net(spec, input_shape):
    """A network built and initialized exactly as ``prepare_run`` does (same seed → same θ)."""
    from nnctl.orchestration.start import fresh_network

    return fresh_network(spec, input_shape)


def use_kernels(spec) -> str:
    """Select the spec's ``train.kernels`` for networks used outside a Trainer (which selects its own)."""
    from nnctl.nn import kernels

    return kernels.select(spec.train.kernels)


def accuracy(pred, labels) -> float:
    return float((pred == labels).mean())


@functools.cache
def timed_trainer_class():
    """nnctl's Trainer, unchanged, with timestamps at the epoch boundaries (defined on first use: imports nnctl).

    An epoch's training time runs from the end of the previous epoch's
    bookkeeping (or the start of ``run``) to the moment the loop asks for the
    epoch's metrics row: it covers the shuffle and every mini-batch step. The
    evaluation in ``_epoch_row`` and the checkpoint writes in ``_after_epoch``
    still happen, but are timed as ``overhead``.
    """
    from nnctl.train.loop import Trainer

    class TimedTrainer(Trainer):
        def run(self, reporter=None):
            self.bench_epoch_times, self.bench_overhead = [], []
            self._bench_mark = time.perf_counter()
            return super().run(reporter)

        def _epoch_row(self, *args, **kwargs):
            now = time.perf_counter()
            self.bench_epoch_times.append(now - self._bench_mark)
            self._bench_out = now
            return super()._epoch_row(*args, **kwargs)

        def _after_epoch(self, row):
            super()._after_epoch(row)
            now = time.perf_counter()
            self.bench_overhead.append(now - self._bench_out)
            self._bench_mark = now

    return TimedTrainer


def make_trainer(run, spec, run_dir: Path):
    """What ``session.start_run`` builds, but reusing the loaded data and a given run directory."""
    from nnctl.orchestration.start import new_trainer

    net, streams = fresh_net(spec, run.net.input_shape)
    return new_trainer(replace(run, spec=spec, net=net, streams=streams), run_dir, timed_trainer_class())


def run_nnctl(bench: Bench, run, spec, args) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        trainer = make_trainer(run, spec, Path(tmp))
        result = trainer.run()
    if result.stop_reason != "completed":
        raise RuntimeError(f"nnctl training stopped: {result.stop_reason}")
    test = run.data["test"]
    pred = np.argmax(trainer.net.predict(test.x), axis=1)
    return {"epoch_times": trainer.bench_epoch_times, "overhead": trainer.bench_overhead,
            "accuracy": accuracy(pred, test.labels), "dtype": str(trainer.net.dtype), "kernels": trainer.kernels}


def with_kernels(spec, kernels: str):
    """``spec`` with another ``train.kernels``."""
    return spec.model_copy(update={"train": spec.train.model_copy(update={"kernels": kernels})})


def profile(bench: Bench, args, top: int) -> None:
    """cProfile one epoch of the real Trainer (with its evaluation and checkpoint) at the first batch size."""
    import cProfile
    import io
    import pstats

    run = load_run(bench, args)
    spec = make_spec(bench, args, args.batch_sizes[0], 1)
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        trainer = make_trainer(run, spec, Path(tmp))
        prof = cProfile.Profile()
        prof.enable()
        trainer.run()
        prof.disable()
    steps = sum(trainer.bench_epoch_times)
    print(f"profile: 1 epoch, B={spec.train.batch_size}, {spec.train.optimizer.name}: training {steps:.2f} s "
          f"({len(run.data['train']) / steps:,.0f} ex/s under cProfile), evaluation + checkpoint "
          f"{sum(trainer.bench_overhead):.2f} s")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(top)
        text = out.getvalue()
        print(f"\n-- top {top} by {key} --")
        print(text[text.find("   ncalls"):].rstrip())


def time_eval_chunks(bench: Bench, args, chunks: list[int], repeats: int = 3) -> None:
    """Inference (``Network.predict``) over the training images in chunks of each size, alternating
    the sizes, best of ``repeats``; nnctl's own chunk (``INFERENCE_BATCH``) is marked."""
    from nnctl.nn.network import INFERENCE_BATCH

    run = load_run(bench, args)
    spec = make_spec(bench, args, args.batch_sizes[0], 1)
    use_kernels(spec)
    net, _ = fresh_net(spec, run.net.input_shape)
    x = run.data["train"].x
    best = {c: float("inf") for c in chunks}
    for _ in range(repeats):
        for c in chunks:
            t0 = time.perf_counter()
            net.predict(x, batch_size=c)
            best[c] = min(best[c], time.perf_counter() - t0)
    print(f"machine: {cpu_line(machine_info())}")
    print(f"inference over {len(x):,} images, {args.threads} threads, best of {repeats}; nnctl uses {INFERENCE_BATCH} rows")
    print(table(["rows per chunk", "seconds", "examples/s"],
                [[f"{c}{' *' if c == INFERENCE_BATCH else ''}", f"{t:.3f}", f"{len(x) / t:,.0f}"] for c, t in best.items()],
                right={0, 1, 2}))


def profile_step(bench: Bench, args, steps: int) -> None:
    """Where one training step's time goes, per operation: exclusive time of each layer's forward and
    backward, the loss, the optimizer and the batch gather, with every ``np.matmul`` (the GEMMs)
    counted apart; the rest of the step (Python between the calls) is "other"."""
    import numpy as np

    from nnctl.nn.optimizers import make_optimizer
    from nnctl.train.batches import MiniBatches

    run = load_run(bench, args)
    batch = args.batch_sizes[0]
    spec = make_spec(bench, args, batch, 1)
    use_kernels(spec)
    net, streams = fresh_net(spec, run.net.input_shape)
    opt = make_optimizer(spec.train.optimizer.name, net.theta.size, net.dtype, net.n_penalized,
                         **spec.train.optimizer.model_dump(exclude={"name"}))
    train = run.data["train"]
    batches = MiniBatches(train.x, train.targets, batch)
    batches.new_epoch(streams["shuffle"])
    exclusive: dict[str, float] = {}
    calls: dict[str, int] = {}
    children = [0.0]

    def timed(name, fn):
        def wrapper(*a, **k):
            children.append(0.0)
            t0 = time.perf_counter()
            result = fn(*a, **k)
            elapsed = time.perf_counter() - t0
            inner = children.pop()
            children[-1] += elapsed
            exclusive[name] = exclusive.get(name, 0.0) + elapsed - inner
            calls[name] = calls.get(name, 0) + 1
            return result
        return wrapper

    for layer in net.layers:
        layer.forward = timed(f"{layer.name} forward", layer.forward)
        layer.backward = timed(f"{layer.name} backward", layer.backward)
    net.loss.cost = timed("loss: cost (log-sum-exp)", net.loss.cost)
    net.loss.grad = timed("loss: gradient (softmax − Y)/m", net.loss.grad)
    step = timed(f"optimizer: {opt.name} step over θ ({net.theta.size:,} floats)", opt.step)
    gather = timed("batch gather (np.take into a reused buffer)", batches.__getitem__)
    matmul = np.matmul
    np.matmul = timed("GEMMs (np.matmul, all layers)", matmul)
    try:
        with np.errstate(all="ignore"):
            for phase in ("warm-up", "timed"):
                exclusive.clear()
                calls.clear()
                t0 = time.perf_counter()
                for k in range(steps if phase == "timed" else min(steps, 50)):
                    xb, yb = gather(k % batches.count)
                    net.loss_and_grad(xb, yb)
                    step(net.theta, net.grad, spec.train.learning_rate)
                total = time.perf_counter() - t0
    finally:
        np.matmul = matmul
    n = steps
    print(f"machine: {cpu_line(machine_info())}")
    print(f"step profile: {bench.title}, B={batch}, {spec.train.optimizer.name}, float32, {args.threads} threads, "
          f"{n} steps: {1e3 * total / n:.3f} ms per step ({n * batch / total:,.0f} examples/s with the timers' overhead)")
    rows = sorted(exclusive.items(), key=lambda kv: -kv[1])
    other = total - sum(exclusive.values())
    out = [[name, f"{calls[name] / n:g}", f"{1e3 * t / n:.3f}", f"{100 * t / total:.1f} %"] for name, t in rows]
    out.append(["other (Python between the calls, the loop)", "", f"{1e3 * other / n:.3f}", f"{100 * other / total:.1f} %"])
    print(table(["operation (exclusive time)", "calls/step", "ms/step", "share"], out, right={1, 2, 3}))


# ====================================================================== the GEMM bound


def record_gemms(run, spec) -> tuple:
    """A fresh network of ``spec`` and the matrix products of its training step on the run's first
    batch, recorded as the step runs.

    Every GEMM of nnctl's core (dense layers, the convolutions' patch products) goes
    through ``np.matmul``; for each call this keeps the shape and memory layout of
    both operands and of the output, so ``time_gemms`` can replay exactly those
    products, with the same BLAS, and nothing else.
    """
    import numpy as np

    calls, original = [], np.matmul

    def recording(a, b, out=None, **kwargs):
        calls.append((_layout(a), _layout(b), None if out is None else _layout(out), np.result_type(a, b).name))
        return original(a, b, out=out, **kwargs)

    net, _ = fresh_net(spec, run.net.input_shape)
    train, batch = run.data["train"], spec.train.batch_size
    np.matmul = recording
    try:
        net.loss_and_grad(train.x[:batch], train.targets[:batch])
    finally:
        np.matmul = original
    return net, calls


def _layout(a) -> tuple:
    """(shape, 'C' | 'T' | 'strided'): row-major, a transposed row-major array, or another view (replayed row-major)."""
    kind = "C" if a.flags.c_contiguous else "T" if a.T.flags.c_contiguous else "strided"
    return tuple(a.shape), kind


def _operand(layout, dtype, rng):
    import numpy as np

    shape, kind = layout
    if kind == "T":
        return np.ascontiguousarray(rng.uniform(-1, 1, shape[::-1]).astype(dtype)).T
    return rng.uniform(-1, 1, shape).astype(dtype)


def time_gemms(calls: list[tuple], seconds: float = 2.0, blocks: int = 7) -> float:
    """Median seconds of one replay of ``calls`` (random operands in [-1, 1], no denormals), over
    ``blocks`` timed blocks of repeated replays after a warm-up."""
    import numpy as np

    rng = np.random.default_rng(0)
    products = [(_operand(a, d, rng), _operand(b, d, rng), np.empty(a[0][:-1] + b[0][-1:], d) if o is None else _operand(o, d, rng))
                for a, b, o, d in calls]

    def replay(n):
        t0 = time.perf_counter()
        for _ in range(n):
            for a, b, out in products:
                np.matmul(a, b, out=out)
        return time.perf_counter() - t0

    once = max(replay(3) / 3, 1e-6)  # also the warm-up
    n = max(1, int(seconds / blocks / once))
    return statistics.median(replay(n) / n for _ in range(blocks))


def gemm_flops(calls: list[tuple]) -> int:
    return sum(2 * math.prod(a[0][:-1]) * a[0][-1] * b[0][-1] for a, b, _, _ in calls)


def gemm_table(bench: Bench, args) -> None:
    """Each GEMM of one training step replayed alone: which of them the GEMM bound is made of."""
    run = load_run(bench, args)
    spec = make_spec(bench, args, args.batch_sizes[0], 1)
    _, calls = record_gemms(run, spec)
    rows, total = [], 0.0
    for call in calls:
        t = time_gemms([call], seconds=0.5, blocks=5)
        total += t
        a, b = call[0], call[1]
        rows.append([f"{a[0]} {a[1]}", f"{b[0]} {b[1]}", f"{1e3 * t:.3f}", f"{gemm_flops([call]) / t / 1e9:.0f}"])
    print(f"machine: {cpu_line(machine_info())}")
    print(f"GEMMs of one step: {bench.title}, B={spec.train.batch_size}, float32, {args.threads} threads; each replayed alone, median of 5 blocks")
    print(table(["A (shape, layout)", "B (shape, layout)", "ms", "GFLOP/s"], rows, right={2, 3}))
    print(f"all {len(calls)}: {1e3 * total:.3f} ms, {gemm_flops(calls) / total / 1e9:.0f} GFLOP/s")


def run_gemm_bound(bench: Bench, run, spec, args) -> dict:
    """The timed loop's bound on this machine: one epoch's worth of the step's GEMMs alone
    (same shapes, layouts and BLAS as nnctl's step, recorded from it), as if nothing else ran."""
    import numpy as np

    net, calls = record_gemms(run, spec)
    step = time_gemms(calls)
    n_batches = math.ceil(len(run.data["train"]) / spec.train.batch_size)
    return {"epoch_times": [n_batches * step] * spec.train.epochs, "accuracy": None, "dtype": str(np.dtype(net.dtype)),
            "gemms": [{"a": a, "b": b, "out": o, "dtype": d} for a, b, o, d in calls], "step_s": step,
            "gflops": gemm_flops(calls) / step / 1e9}


# ====================================================================== PyTorch


@contextmanager
def flush_denormals(torch):
    """PyTorch's recommended CPU setting, on only while PyTorch trains (FTZ/DAZ in this thread's MXCSR)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def torch_model(torch, bench: Bench, net):
    """The benchmark's PyTorch module with nnctl's initialized weights copied in."""
    model = bench.build_torch(torch)
    tensors = net.tensors()
    params = bench.torch_params(model)
    assert set(params) == set(tensors), (sorted(params), sorted(tensors))
    with torch.no_grad():
        for key, param in params.items():
            param.copy_(torch.from_numpy(bench.to_torch(key, tensors[key])).reshape(param.shape))
    return model


def torch_tensors(bench: Bench, model, grads: bool = False) -> dict:
    """PyTorch's parameters (or gradients) in nnctl's layouts, keyed like ``Network.tensors()``."""
    return {key: bench.to_nnctl(key, (p.grad if grads else p).detach().numpy())
            for key, p in bench.torch_params(model).items()}


def torch_optimizer(torch, model, name: str, lr: float, fused: bool):
    cls = {"adam": torch.optim.Adam, "gd": torch.optim.SGD}[name]
    return cls(model.parameters(), lr=lr, **({"fused": True} if fused else {}))  # unfused: PyTorch's own default


def torch_predict(torch, bench: Bench, model, x, chunk: int = 2000):
    import numpy as np

    with torch.no_grad():
        model.eval()
        return np.concatenate([model(torch.from_numpy(bench.torch_input(x[i:i + chunk]))).argmax(dim=1).numpy()
                               for i in range(0, len(x), chunk)])


def torch_train_epoch(torch, model, opt, data, buffers, perm, batch: int, sum_costs: bool = False):
    """One epoch as every PyTorch runner trains (no DataLoader): ``index_select`` the permutation of
    ``data`` (x, y) into the preallocated ``buffers``, then slice mini-batches from them. Returns
    (Σ batch cost · rows when ``sum_costs``, else 0.0; the last batch's loss tensor)."""
    import torch.nn.functional as F

    (x, y), (xs, ys) = data, buffers
    torch.index_select(x, 0, perm, out=xs)
    torch.index_select(y, 0, perm, out=ys)
    total = 0.0
    for k in range(math.ceil(len(x) / batch)):
        xb, yb = xs[k * batch:(k + 1) * batch], ys[k * batch:(k + 1) * batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if sum_costs:
            total += loss.item() * len(xb)
    return total, loss


def run_torch(bench: Bench, run, spec, fused: bool) -> dict:
    """nnctl's θ and shuffle stream (the same batches in the same order); no DataLoader: each epoch
    ``index_select``s a permutation into preallocated tensors and slices batches from them."""
    import numpy as np
    import torch

    net, streams = fresh_net(spec, run.net.input_shape)
    model = torch_model(torch, bench, net)
    opt = torch_optimizer(torch, model, spec.train.optimizer.name, spec.train.learning_rate, fused)
    train, test = run.data["train"], run.data["test"]
    m, B = len(train), spec.train.batch_size
    x = torch.from_numpy(np.ascontiguousarray(bench.torch_input(train.x)))
    y = torch.from_numpy(train.labels.astype(np.int64))
    xs, ys = torch.empty_like(x), torch.empty_like(y)
    shuffle = streams["shuffle"]
    epoch_times = []
    with flush_denormals(torch):
        model.train()
        for _ in range(spec.train.epochs):
            t0 = time.perf_counter()
            _, loss = torch_train_epoch(torch, model, opt, (x, y), (xs, ys), torch.from_numpy(shuffle.permutation(m)), B)
            epoch_times.append(time.perf_counter() - t0)
        if not math.isfinite(loss.item()):
            raise RuntimeError("PyTorch training diverged")
        pred = torch_predict(torch, bench, model, test.x)
    return {"epoch_times": epoch_times, "accuracy": accuracy(pred, test.labels), "dtype": str(x.dtype).split(".")[-1]}


BASE_RUNNERS = {
    "nnctl": run_nnctl,
    "nnctl-numpy": lambda bench, run, spec, args: run_nnctl(bench, run, with_kernels(spec, "numpy"), args),
    "gemm-bound": run_gemm_bound,
    "torch": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=False),
    "torch-fused": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=True),
}


# ====================================================================== verification


VERIFY_STEPS_FLOAT64 = 10
# A pre-activation this close to a ReLU kink, or a max-pool window whose two largest taps are this
# close, can fall on either side in float32 depending on summation order (~100 float32 ulps of 1.0).
KINK_EPS = 1e-5


def verify(bench: Bench, run, args, batch_size: int) -> tuple[bool, list[dict]]:
    """Same θ in, same batches: nnctl's loss, gradient and θ must match PyTorch's.

    float64 is the strict check: over ``VERIFY_STEPS_FLOAT64`` steps everything agrees to
    1e-10, which shows the arithmetic is the same.

    float32 (the benchmarked precision) is compared after every step: the loss, the
    gradient's worst element (|Δ|/max|g| per tensor) and θ (‖Δ‖/‖θ‖ per tensor) within ``--tolerance``, the worst single element of θ
    (|Δ|/max|θ|) within 10×tolerance (Adam divides by √ŝ, so float32 rounding in a near-zero
    gradient becomes a visible part of a step of size lr). Float32 is also kink-aware: each
    step counts nnctl's pre-activations within ``KINK_EPS`` of a ReLU kink and its max-pool
    windows whose two largest taps are that close (exact zeros and exact ties excluded: both
    libraries compute those exactly and break them the same way). Where rounding puts such
    a value on the other side in PyTorch, a mask entry or a pooling route flips, and the
    gradients differ discontinuously: correct float32 behaviour, not a bug. So a float32
    difference over tolerance at a step with such near-kinks at or before it is reported as
    explained (the count is shown), not failed; one with no near-kink before it fails.
    """
    import numpy as np
    import torch

    steps, steps64 = bench.verify_steps_float32, VERIFY_STEPS_FLOAT64
    print(f"verify: nnctl vs PyTorch {torch.__version__}, same initial θ, the same batches of {batch_size} "
          f"({steps} steps in float32, {steps64} in float64); max relative differences "
          f"(float32 tolerance {args.tolerance:g}, kink-aware; float64 1e-10)")
    ok, cases = True, []
    for name, lr, fused in [("gd", DEFAULT_LR["gd"], False), ("adam", DEFAULT_LR["adam"], False),
                            ("adam", DEFAULT_LR["adam"], True)]:
        f32 = _verify_case(bench, run, args, batch_size, steps, name, lr, fused, np.float32)
        f64 = _verify_case(bench, run, args, batch_size, steps64, name, lr, False, np.float64)
        f32_verdict = _float32_verdict(f32, args.tolerance)
        worst64 = max(max(r["loss"], r["grad"], r["theta"], r["theta_element"]) for r in f64)
        passed = f32_verdict != "FAIL" and worst64 <= 1e-10
        ok &= passed
        label = f"{name}{' (fused)' if fused else ''} lr={lr:g}"
        summary = {key: max(r[key] for r in f32) for key in ("loss", "grad", "theta", "theta_element")}
        near = sum(r["near_kinks"] for r in f32)
        cases.append({"case": label, "float32": summary, "float32_steps": f32, "float32_verdict": f32_verdict,
                      "float64": {"worst": worst64}, "passed": passed, "steps_float32": steps, "steps_float64": steps64,
                      "near_kinks_float32": near})
        print(f"  {label:<21} f32: loss {summary['loss']:.1e}  grad {summary['grad']:.1e}  θ {summary['theta']:.1e} "
              f"(worst element {summary['theta_element']:.1e}); {near} near-kink(s): {f32_verdict}   "
              f"f64: {worst64:.1e}   {'ok' if passed else 'FAIL'}", flush=True)
    return ok, cases


def _float32_verdict(per_step: list[dict], tol: float) -> str:
    """ok: every step within tolerance; explained: the first step over it had near-kinks at or
    before it; FAIL: a step over tolerance with no near-kink before it."""
    near = 0
    for r in per_step:
        near += r["near_kinks"]
        if max(r["loss"], r["grad"], r["theta"]) > tol or r["theta_element"] > 10 * tol:
            return f"explained (step {r['step']})" if near else "FAIL"
    return "ok"


def near_kinks(net, eps: float = KINK_EPS) -> int:
    """Pre-activations of the last forward pass within eps of a ReLU kink, plus max-pool windows
    whose two largest taps lie within eps; exact zeros and exact ties are not counted."""
    count = 0
    for layer in net.all_layers():
        count += layer.kinks(eps) - layer.kinks(0.0)
        if hasattr(layer, "ties"):
            count += layer.ties(eps) - layer.ties(0.0)
    return count


def _verify_case(bench, run, args, batch_size, steps, name, lr, fused, dtype) -> list[dict]:
    """Per step: the loss's, gradient's and θ's relative differences to PyTorch, and nnctl's near-kinks."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from nnctl.nn.optimizers import make_optimizer

    train = run.data["train"]
    n = steps * batch_size
    x, y1h = train.x[:n].astype(dtype), train.targets[:n].astype(dtype)
    xt, yt = torch.from_numpy(np.ascontiguousarray(bench.torch_input(x))), torch.from_numpy(train.labels[:n].astype(np.int64))
    spec = make_spec(bench, args, batch_size, 1, optimizer=name, lr=lr)
    use_kernels(spec)
    net, _ = fresh_net(spec, run.net.input_shape)
    if dtype != np.float32:
        net = net.with_dtype(dtype)
    opt = make_optimizer(name, net.theta.size, net.dtype, net.n_penalized,
                         **spec.train.optimizer.model_dump(exclude={"name"}))
    model = torch_model(torch, bench, net).to(torch.float64 if dtype == np.float64 else torch.float32)
    topt = torch_optimizer(torch, model, name, lr, fused)
    per_step = []
    for k in range(steps):
        sl = slice(k * batch_size, (k + 1) * batch_size)
        cost = net.loss_and_grad(x[sl], y1h[sl])
        near = near_kinks(net)
        topt.zero_grad()
        loss = F.cross_entropy(model(xt[sl]), yt[sl])
        loss.backward()
        grad = _compare(net.grad_tensors(), torch_tensors(bench, model, grads=True))[1]  # worst element
        opt.step(net.theta, net.grad, lr)
        topt.step()
        theta, element = _compare(net.tensors(), torch_tensors(bench, model))
        per_step.append({"step": k + 1, "loss": abs(cost - loss.item()) / abs(loss.item()), "grad": grad,
                         "theta": theta, "theta_element": element, "near_kinks": near})
    return per_step


def _compare(ours: dict, theirs: dict) -> tuple[float, float]:
    """Worst tensor's ‖ours − theirs‖/‖theirs‖ and worst element's |ours − theirs|/max|theirs|."""
    import numpy as np

    norm_rel = elem_rel = 0.0
    for key, t in theirs.items():
        t = t.reshape(-1).astype(np.float64)
        diff = ours[key].reshape(-1).astype(np.float64) - t
        norm_rel = max(norm_rel, float(np.linalg.norm(diff) / max(np.linalg.norm(t), 1e-300)))
        elem_rel = max(elem_rel, float(np.abs(diff).max() / max(np.abs(t).max(), 1e-300)))
    return norm_rel, elem_rel
