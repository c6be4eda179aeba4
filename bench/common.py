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


def threads_from_argv(argv: list[str], default: int = DEFAULT_THREADS) -> int:
    """The value of ``--threads N`` / ``--threads=N`` without argparse (which we may not reach yet)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


def pin_threads(n: int) -> None:
    """Set every thread-count variable to ``n``; re-exec if a numerical library is already loaded.

    Call at the very top of a benchmark script, before importing numpy, torch or sklearn.
    """
    wanted = str(n)
    changed = any(os.environ.get(var) != wanted for var in THREAD_VARS)
    for var in THREAD_VARS:
        os.environ[var] = wanted
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


def machine_info() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for row in f:
                if row.startswith("model name"):
                    info["cpu"] = row.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def save_json(path: str | Path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


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
WORKER_OPTIONS = ["optimizer", "lr", "epochs", "warmup_steps", "threads", "seed", "mirror", "datasets_dir", "tolerance"]


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
    extra = bench.add_arguments(p) if bench.add_arguments else []
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-verify", dest="verify", action="store_false", help="skip the equivalence check")
    g.add_argument("--verify-only", action="store_true")
    g.add_argument("--profile", type=int, metavar="N", help="cProfile one nnctl epoch, print the top N entries, exit")
    g.add_argument("--worker", choices=[*systems, "verify"], help=argparse.SUPPRESS)  # internal: one run, one JSON line
    p.add_argument("--json", metavar="FILE", help="save all results (including per-epoch times) as JSON")
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
    t_start = time.perf_counter()
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
    print_results(bench, results, args)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if args.json:
        first = next(iter(results[0]["systems"].values()))
        save_json(args.json, {
            "benchmark": bench.name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
            "args": {k: v for k, v in vars(args).items() if k != "worker_options"},
            "machine": machine_info(), "versions": merge_versions(results, verified),
            "verified": verified, "n_train": first["n_train"], "results": results,
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
                  f"acc {100 * res['accuracy']:.2f} %  (cpu: worker {res['load']['process']:.2f}, "
                  f"others {res['load']['others']:.2f}, steal {res['load']['steal']:.2f}; attempt {res['attempt']})",
                  flush=True)
            if r == 0:
                print(f"    {name} worker: " + "; ".join(res["threads"]) + f"; torch loaded: {res['torch_loaded']}")
    summary = {}
    for name, results in per_system.items():
        summary[name] = {
            "examples_per_s": summarize([r["examples_per_s"] for r in results]),
            "accuracy": summarize([r["accuracy"] for r in results]),
            "dtype": results[0]["dtype"], "n_train": results[0]["n_train"],
            "epoch_times": [r["epoch_times"] for r in results],
            "contended_runs": sum(r["contended"] for r in results),
            "load": [r["load"] for r in results], "threads": results[0]["threads"],
            "torch_loaded": any(r["torch_loaded"] for r in results), "versions": results[0]["versions"],
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
    if name == "nnctl":
        return f"eval+ckpt {s['overhead_per_epoch_s']['median']:.2f} s/epoch (untimed)"
    if name.startswith("torch"):
        return "flush denormals" + (", fused" if name == "torch-fused" else "")
    return bench.note(name, s) if bench.note else ""


def print_results(bench: Bench, results: list[dict], args) -> None:
    m = next(iter(results[0]["systems"].values()))["n_train"]
    print(f"\n{bench.title}, {args.optimizer} lr={args.lr:g}, {args.epochs} epochs × {m:,} examples, "
          f"{args.threads} threads, {args.repeats} repeats, one process per run "
          f"(examples/s: median [min–max]; test accuracy on 10,000 after {args.epochs} epochs)")
    rows = []
    for res in results:
        for name, s in res["systems"].items():
            note = system_note(bench, name, s)
            acc = s["accuracy"]
            acc_txt = f"{100 * acc['median']:.2f} %" + ("" if acc["min"] == acc["max"] else
                                                        f" [{100 * acc['min']:.2f}–{100 * acc['max']:.2f}]")
            if s["contended_runs"]:
                note += f"; {s['contended_runs']} contended run(s)"
            rows.append([str(res["batch_size"]), name, fmt_range(s["examples_per_s"]), acc_txt, note])
    print(table(["B", "system", "examples/s", "test acc", "notes"], rows, right={0, 2}))
    rrows = [[str(res["batch_size"]), key, fmt_range(s, lambda v: f"{v:.2f}")]
             for res in results for key, s in res["ratios"].items()]
    if rrows:
        print("\nratios of throughput, paired within each repeat (>1: nnctl faster)")
        print(table(["B", "ratio", "median [min–max]"], rrows, right={0}))


def merge_versions(results: list[dict], verified: dict | None) -> dict:
    versions = dict(verified["versions"]) if verified else {}
    for res in results:
        for s in res["systems"].values():
            versions.update(s["versions"])
    return versions


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
    if args.warmup_steps:  # same process, untimed: thread pools, allocations, caches
        runner(bench, warmup_subset(run, args.warmup_steps * batch_size), make_spec(bench, args, batch_size, 1), args)
    spec = make_spec(bench, args, batch_size, args.epochs)
    before = cpu_snapshot()
    res = runner(bench, run, spec, args)
    res["load"] = cpu_usage_since(before)
    n = len(run.data["train"])
    res.update(system=system, batch_size=batch_size, epochs=args.epochs, n_train=n,
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
                  "learning_rate": lr if lr is not None else args.lr, "optimizer": opt},
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
            "accuracy": accuracy(pred, test.labels), "dtype": str(trainer.net.dtype)}


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


def run_torch(bench: Bench, run, spec, fused: bool) -> dict:
    """nnctl's θ and shuffle stream (the same batches in the same order); no DataLoader: each epoch
    ``index_select``s a permutation into preallocated tensors and slices batches from them."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    net, streams = fresh_net(spec, run.net.input_shape)
    model = torch_model(torch, bench, net)
    opt = torch_optimizer(torch, model, spec.train.optimizer.name, spec.train.learning_rate, fused)
    train, test = run.data["train"], run.data["test"]
    m, B = len(train), spec.train.batch_size
    x = torch.from_numpy(np.ascontiguousarray(bench.torch_input(train.x)))
    y = torch.from_numpy(train.labels.astype(np.int64))
    xs, ys = torch.empty_like(x), torch.empty_like(y)
    shuffle = streams["shuffle"]
    n_batches = math.ceil(m / B)
    epoch_times = []
    with flush_denormals(torch):
        model.train()
        for _ in range(spec.train.epochs):
            t0 = time.perf_counter()
            perm = torch.from_numpy(shuffle.permutation(m))
            torch.index_select(x, 0, perm, out=xs)
            torch.index_select(y, 0, perm, out=ys)
            for k in range(n_batches):
                xb, yb = xs[k * B:(k + 1) * B], ys[k * B:(k + 1) * B]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
            epoch_times.append(time.perf_counter() - t0)
        if not math.isfinite(loss.item()):
            raise RuntimeError("PyTorch training diverged")
        pred = torch_predict(torch, bench, model, test.x)
    return {"epoch_times": epoch_times, "accuracy": accuracy(pred, test.labels), "dtype": str(x.dtype).split(".")[-1]}


BASE_RUNNERS = {
    "nnctl": run_nnctl,
    "torch": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=False),
    "torch-fused": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=True),
}


# ====================================================================== verification


VERIFY_STEPS_FLOAT64 = 10


def verify(bench: Bench, run, args, batch_size: int) -> tuple[bool, list[dict]]:
    """Same θ in, same batches: nnctl's loss, gradient and θ must match PyTorch's.

    float32 (the benchmarked precision): the loss at every step, the first gradient and
    θ after ``bench.verify_steps_float32`` updates (‖Δ‖/‖θ‖ per tensor) within ``--tolerance``; the worst single
    element of θ (|Δ|/max|θ|) within 10×tolerance, because Adam divides by √ŝ and so turns
    float32 rounding in a near-zero gradient into up to a whole step of size lr.
    float64: the same run, over ``VERIFY_STEPS_FLOAT64`` steps, must agree to 1e-10 everywhere,
    showing the arithmetic is identical.
    """
    import numpy as np
    import torch

    steps, steps64 = bench.verify_steps_float32, VERIFY_STEPS_FLOAT64
    print(f"verify: nnctl vs PyTorch {torch.__version__}, same initial θ, the same batches of {batch_size} "
          f"({steps} steps in float32, {steps64} in float64); max relative differences "
          f"(float32 tolerance {args.tolerance:g}, float64 1e-10)")
    ok, cases = True, []
    for name, lr, fused in [("gd", DEFAULT_LR["gd"], False), ("adam", DEFAULT_LR["adam"], False),
                            ("adam", DEFAULT_LR["adam"], True)]:
        f32 = _verify_case(bench, run, args, batch_size, steps, name, lr, fused, np.float32)
        f64 = _verify_case(bench, run, args, batch_size, steps64, name, lr, False, np.float64)
        tol = args.tolerance
        passed = (max(f32["loss"], f32["grad"], f32["theta"]) <= tol and f32["theta_element"] <= 10 * tol
                  and max(f64.values()) <= 1e-10)
        ok &= passed
        label = f"{name}{' (fused)' if fused else ''} lr={lr:g}"
        cases.append({"case": label, "float32": f32, "float64": f64, "passed": passed,
                      "steps_float32": steps, "steps_float64": steps64})
        print(f"  {label:<21} f32: loss {f32['loss']:.1e}  grad@1 {f32['grad']:.1e}  θ@{steps} {f32['theta']:.1e} "
              f"(worst element {f32['theta_element']:.1e})   f64: {max(f64.values()):.1e}   {'ok' if passed else 'FAIL'}",
              flush=True)
    return ok, cases


def _verify_case(bench, run, args, batch_size, steps, name, lr, fused, dtype) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from nnctl.nn.optimizers import make_optimizer

    train = run.data["train"]
    n = steps * batch_size
    x, y1h = train.x[:n].astype(dtype), train.targets[:n].astype(dtype)
    xt, yt = torch.from_numpy(np.ascontiguousarray(bench.torch_input(x))), torch.from_numpy(train.labels[:n].astype(np.int64))
    spec = make_spec(bench, args, batch_size, 1, optimizer=name, lr=lr)
    net, _ = fresh_net(spec, run.net.input_shape)
    if dtype != np.float32:
        net = net.with_dtype(dtype)
    opt = make_optimizer(name, net.theta.size, net.dtype, net.n_penalized,
                         **spec.train.optimizer.model_dump(exclude={"name"}))
    model = torch_model(torch, bench, net).to(torch.float64 if dtype == np.float64 else torch.float32)
    topt = torch_optimizer(torch, model, name, lr, fused)
    out = {"loss": 0.0}
    for k in range(steps):
        sl = slice(k * batch_size, (k + 1) * batch_size)
        cost = net.loss_and_grad(x[sl], y1h[sl])
        topt.zero_grad()
        loss = F.cross_entropy(model(xt[sl]), yt[sl])
        loss.backward()
        out["loss"] = max(out["loss"], abs(cost - loss.item()) / abs(loss.item()))
        if k == 0:
            out["grad"] = _compare(net.grad_tensors(), torch_tensors(bench, model, grads=True))[1]
        opt.step(net.theta, net.grad, lr)
        topt.step()
    out["theta"], out["theta_element"] = _compare(net.tensors(), torch_tensors(bench, model))
    return out


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
