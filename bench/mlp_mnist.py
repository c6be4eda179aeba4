#!/usr/bin/env python
"""Benchmark: the MNIST MLP 784-256-128-10 in nnctl, PyTorch (default and fused Adam) and scikit-learn.

Usage (from the repository root, in the venv with the ``bench`` extra installed):

    python bench/mlp_mnist.py                       # verify, then B=128, Adam, 5 epochs, 3 repeats
    python bench/mlp_mnist.py --batch-sizes 64,128,256 --repeats 5 --json bench/results.json
    python bench/mlp_mnist.py --verify-only         # only the nnctl-vs-PyTorch equivalence check
    python bench/mlp_mnist.py --profile 25          # cProfile one epoch of nnctl's Trainer

Every system trains the same network on the same 60,000 MNIST training images
(nnctl's prepared float32 arrays, scaled /255), with the same batch size,
optimizer, learning rate, epoch count and thread count, in this one process,
alternating systems within each repeat after a warm-up.  Throughput counts the
training steps only (forward + backward + update, plus the per-epoch shuffle);
nnctl's per-epoch evaluation and checkpointing run but are timed separately.
See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (must come before numpy: it pins the thread counts)

common.pin_threads(common.threads_from_argv(sys.argv[1:]))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402

from nnctl.data import registry  # noqa: E402
from nnctl.nn.optimizers import make_optimizer  # noqa: E402
from nnctl.spec import spec_to_yaml  # noqa: E402
from nnctl.spec.schema import Spec  # noqa: E402
from nnctl.train.build import build_network  # noqa: E402
from nnctl.train.loop import Trainer, make_streams  # noqa: E402
from nnctl.train.session import RunParts, prepare_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HIDDEN = (256, 128)
N_CLASSES = 10
ALL_SYSTEMS = ("nnctl", "torch", "torch-fused", "sklearn")
DEFAULT_LR = {"adam": 1e-3, "gd": 0.1}


# ====================================================================== data and spec


def make_spec(args, batch_size: int, epochs: int, optimizer: str | None = None, lr: float | None = None) -> Spec:
    """The benchmark's experiment as an nnctl spec (configs/mnist-mlp.yaml, trained on all 60,000 images)."""
    optimizer = optimizer or args.optimizer
    return Spec.model_validate({
        "name": "bench-mlp-mnist",
        "seed": args.seed,
        "precision": "float32",
        "data": {
            "source": {"type": "registry", "name": "mnist", "mirror": args.mirror},
            "split": {"train": 60000, "dev": 0, "test": 0},  # counts; MNIST's own 10k test set is the test split
            "normalize": {"method": "scale", "scale": 255},
        },
        "model": {"layers": [{"units": HIDDEN[0], "activation": "relu"},
                             {"units": HIDDEN[1], "activation": "relu"},
                             {"units": N_CLASSES, "activation": "softmax"}]},
        "train": {"epochs": epochs, "batch_size": batch_size,
                  "learning_rate": lr if lr is not None else args.lr, "optimizer": {"name": optimizer}},
        "checkpoint": {"every_epochs": 1, "monitor": "train_cost"},
    })


def load_data(args) -> RunParts:
    cache = Path(args.datasets_dir) / "cache"
    registry.fetch("mnist", args.mirror, cache)  # verifies checksums; copies from the mirror on first use
    run = prepare_run(make_spec(args, 128, 1), Path(args.datasets_dir))
    train, test = run.data["train"], run.data["test"]
    assert train.x.dtype == np.float32 and train.x.flags.c_contiguous
    assert len(train) == 60000 and len(test) == 10000, (len(train), len(test))
    return run


def fresh_net(spec: Spec, input_shape):
    """A network built and initialized exactly as ``prepare_run`` does (same seed → same θ)."""
    streams = make_streams(spec.seed)
    net = build_network(spec, input_shape, streams["dropout"])
    net.initialize(streams["init"])
    return net, streams


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(pred == labels))


# ====================================================================== nnctl through its real Trainer


class TimedTrainer(Trainer):
    """nnctl's Trainer, unchanged, with timestamps at the epoch boundaries.

    An epoch's training time runs from the end of the previous epoch's
    bookkeeping (or the start of ``run``) to the moment the loop asks for the
    epoch's metrics row: it covers the shuffle (permutation + ``np.take``) and
    every mini-batch step.  The evaluation in ``_epoch_row`` and the checkpoint
    writes in ``_after_epoch`` still happen, but are timed as ``overhead``.
    """

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


def make_trainer(run: RunParts, spec: Spec, run_dir: Path) -> TimedTrainer:
    """What ``session.start_run`` builds, but reusing the loaded data and a given run directory."""
    net, streams = fresh_net(spec, run.net.input_shape)
    extras = {
        "normalizer": run.normalizer.state(),
        "spec_yaml": spec_to_yaml(spec),
        "task": run.splits.task,
        "class_names": list(run.splits.class_names),
        "input_shape": list(net.input_shape),
    }
    return TimedTrainer(spec, net, run.data, run_dir, streams, extras, len(run.splits.class_names))


def run_nnctl(run: RunParts, spec: Spec) -> dict:
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        trainer = make_trainer(run, spec, Path(tmp))
        result = trainer.run()
    if result.stop_reason != "completed":
        raise RuntimeError(f"nnctl training stopped: {result.stop_reason}")
    test = run.data["test"]
    pred = np.argmax(trainer.net.predict(test.x), axis=1)
    return {"epoch_times": trainer.bench_epoch_times, "overhead": trainer.bench_overhead,
            "accuracy": accuracy(pred, test.labels), "dtype": str(trainer.net.dtype)}


# ====================================================================== PyTorch


@contextmanager
def flush_denormals(torch):
    """PyTorch's recommended CPU setting, on only while PyTorch trains.

    ``set_flush_denormal`` sets FTZ/DAZ in this thread's MXCSR, which would also
    speed up NumPy's element-wise code (nnctl, scikit-learn) if left on.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def torch_model(torch, net):
    """nn.Sequential with nnctl's initialized weights copied in (W is (out, in) in both)."""
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
                          nn.Linear(HIDDEN[1], N_CLASSES))
    tensors = net.tensors()
    with torch.no_grad():
        for i, linear in enumerate(m for m in model if isinstance(m, nn.Linear)):
            linear.weight.copy_(torch.from_numpy(tensors[f"dense{i + 1}/W"]))
            linear.bias.copy_(torch.from_numpy(tensors[f"dense{i + 1}/b"].reshape(-1)))
    return model


def torch_optimizer(torch, model, name: str, lr: float, fused: bool):
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True) if fused else torch.optim.Adam(model.parameters(), lr=lr)
    if name == "gd":
        return torch.optim.SGD(model.parameters(), lr=lr, fused=True) if fused else torch.optim.SGD(model.parameters(), lr=lr)
    raise ValueError(name)


def run_torch(run: RunParts, spec: Spec, fused: bool) -> dict:
    import torch
    import torch.nn.functional as F

    net, streams = fresh_net(spec, run.net.input_shape)
    model = torch_model(torch, net)
    opt = torch_optimizer(torch, model, spec.train.optimizer.name, spec.train.learning_rate, fused)
    train, test = run.data["train"], run.data["test"]
    m, B = len(train), spec.train.batch_size
    x = torch.from_numpy(train.x.reshape(m, -1))
    y = torch.from_numpy(train.labels.astype(np.int64))
    xs, ys = torch.empty_like(x), torch.empty_like(y)
    shuffle = streams["shuffle"]  # nnctl's own shuffle stream: the same batches in the same order
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
        with torch.no_grad():
            model.eval()
            pred = model(torch.from_numpy(test.x.reshape(len(test), -1))).argmax(dim=1).numpy()
    return {"epoch_times": epoch_times, "accuracy": accuracy(pred, test.labels), "dtype": "float32"}


# ====================================================================== scikit-learn


def run_sklearn(run: RunParts, spec: Spec, float64: bool) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    train, test = run.data["train"], run.data["test"]
    dtype = np.float64 if float64 else np.float32
    x = train.x.reshape(len(train), -1).astype(dtype, copy=False)
    xt = test.x.reshape(len(test), -1).astype(dtype, copy=False)
    name = spec.train.optimizer.name
    common_args = dict(hidden_layer_sizes=HIDDEN, activation="relu", alpha=0.0, batch_size=spec.train.batch_size,
                       learning_rate_init=spec.train.learning_rate, max_iter=spec.train.epochs, shuffle=True,
                       tol=0.0, n_iter_no_change=10**9, random_state=spec.seed)
    if name == "adam":
        clf = MLPClassifier(solver="adam", **common_args)
    else:
        clf = MLPClassifier(solver="sgd", momentum=0.0, nesterovs_momentum=False, learning_rate="constant", **common_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(x, train.labels)
        elapsed = time.perf_counter() - t0
    pred = clf.predict(xt)
    return {"epoch_times": [elapsed], "accuracy": accuracy(np.asarray(pred), test.labels),
            "dtype": str(clf.coefs_[0].dtype), "iterations": clf.n_iter_}


# ====================================================================== verification


def verify(run: RunParts, args, batch_size: int, steps: int = 10) -> bool:
    """Same θ in, same batches: nnctl's loss, gradient and θ must match PyTorch's.

    float32 (the benchmarked precision): the loss at every step, the first gradient and
    θ after ``steps`` updates (‖Δ‖/‖θ‖ per tensor) within ``--tolerance``; the worst single
    element of θ (|Δ|/max|θ|) within 10×tolerance, because Adam divides by √ŝ and so turns
    float32 rounding in a near-zero gradient into up to a whole step of size lr.
    float64: the same run must agree to 1e-10 everywhere, showing the arithmetic is identical.
    """
    import torch

    print(f"verify: nnctl vs PyTorch {torch.__version__}, same initial θ, the first {steps} batches of {batch_size}; "
          f"max relative differences (float32 tolerance {args.tolerance:g}, float64 1e-10)")
    ok = True
    cases = [("gd", DEFAULT_LR["gd"], False), ("adam", DEFAULT_LR["adam"], False), ("adam", DEFAULT_LR["adam"], True)]
    for name, lr, fused in cases:
        f32 = _verify_case(run, args, batch_size, steps, name, lr, fused, np.float32)
        f64 = _verify_case(run, args, batch_size, steps, name, lr, False, np.float64)
        tol = args.tolerance
        passed = (max(f32["loss"], f32["grad"], f32["theta"]) <= tol and f32["theta_element"] <= 10 * tol
                  and max(f64.values()) <= 1e-10)
        ok &= passed
        label = f"{name}{' (fused)' if fused else ''} lr={lr:g}"
        print(f"  {label:<21} f32: loss {f32['loss']:.1e}  grad@1 {f32['grad']:.1e}  θ@{steps} {f32['theta']:.1e} "
              f"(worst element {f32['theta_element']:.1e})   f64: {max(f64.values()):.1e}   {'ok' if passed else 'FAIL'}")
    return ok


def _verify_case(run, args, batch_size, steps, name, lr, fused, dtype) -> dict:
    import torch
    import torch.nn.functional as F

    train = run.data["train"]
    n = steps * batch_size
    x, y1h = train.x[:n].astype(dtype), train.targets[:n].astype(dtype)
    xt, yt = torch.from_numpy(x.reshape(n, -1)), torch.from_numpy(train.labels[:n].astype(np.int64))
    spec = make_spec(args, batch_size, 1, optimizer=name, lr=lr)
    net, _ = fresh_net(spec, run.net.input_shape)
    if dtype != np.float32:
        net = net.with_dtype(dtype)
    opt = make_optimizer(name, net.theta.size, net.dtype, net.n_penalized,
                         **spec.train.optimizer.model_dump(exclude={"name"}))
    model = torch_model(torch, net).to(torch.float64 if dtype == np.float64 else torch.float32)
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
            out["grad"] = _compare(net.grad_tensors(), model, grads=True)[1]
        opt.step(net.theta, net.grad, lr)
        topt.step()
    out["theta"], out["theta_element"] = _compare(net.tensors(), model)
    return out


def _compare(arrays: dict, model, grads: bool = False) -> tuple[float, float]:
    """Worst tensor's ‖ours − theirs‖/‖theirs‖ and worst element's |ours − theirs|/max|theirs|."""
    import torch

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    norm_rel = elem_rel = 0.0
    for i, linear in enumerate(linears):
        for param, key in ((linear.weight, f"dense{i + 1}/W"), (linear.bias, f"dense{i + 1}/b")):
            theirs = (param.grad if grads else param).detach().numpy().reshape(-1).astype(np.float64)
            diff = arrays[key].reshape(-1).astype(np.float64) - theirs
            norm_rel = max(norm_rel, float(np.linalg.norm(diff) / max(np.linalg.norm(theirs), 1e-300)))
            elem_rel = max(elem_rel, float(np.abs(diff).max() / max(np.abs(theirs).max(), 1e-300)))
    return norm_rel, elem_rel


# ====================================================================== profile


def profile(run: RunParts, args, top: int) -> None:
    """cProfile one epoch of the real Trainer (with its evaluation and checkpoint) at the first batch size."""
    spec = make_spec(args, args.batch_sizes[0], 1)
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
        start = text.find("   ncalls")
        print(f"\n-- top {top} by {key} --")
        print(text[start:].rstrip())


# ====================================================================== the benchmark


RUNNERS = {
    "nnctl": lambda run, spec, args: run_nnctl(run, spec),
    "torch": lambda run, spec, args: run_torch(run, spec, fused=False),
    "torch-fused": lambda run, spec, args: run_torch(run, spec, fused=True),
    "sklearn": lambda run, spec, args: run_sklearn(run, spec, args.sklearn_float64),
}


CONTENDED = 0.25  # CPUs used by other processes during a run above which it counts as contended


def timed_run(name: str, run: RunParts, spec: Spec, args) -> dict:
    """One training run, started when the machine is idle and retried if other processes competed for the CPUs."""
    best = None
    for attempt in range(args.retries + 1):
        waited = common.wait_for_idle(args.idle_wait, CONTENDED)
        before = common.cpu_snapshot()
        res = RUNNERS[name](run, spec, args)
        res["load"], res["waited_s"], res["attempt"] = common.cpu_usage_since(before), waited, attempt + 1
        if best is None or res["load"]["others"] < best["load"]["others"]:
            best = res
        if res["load"]["others"] < CONTENDED:
            break
    best["contended"] = best["load"]["others"] >= CONTENDED
    return best


def bench_batch_size(run: RunParts, args, batch_size: int) -> dict:
    m = len(run.data["train"])
    systems = args.systems
    if args.warmup_epochs:
        warm = make_spec(args, batch_size, args.warmup_epochs)
        for name in systems:
            RUNNERS[name](run, warm, args)
    spec = make_spec(args, batch_size, args.epochs)
    per_system = {name: [] for name in systems}
    for r in range(args.repeats):
        order = systems[r % len(systems):] + systems[: r % len(systems)]  # rotate who goes first
        for name in order:
            res = timed_run(name, run, spec, args)
            res["examples_per_s"] = args.epochs * m / sum(res["epoch_times"])
            per_system[name].append(res)
            print(f"  B={batch_size} repeat {r + 1}/{args.repeats} {name:<12} {res['examples_per_s']:>9,.0f} ex/s  "
                  f"acc {100 * res['accuracy']:.2f} %  (cpu: this process {res['load']['process']:.2f}, "
                  f"others {res['load']['others']:.2f}, steal {res['load']['steal']:.2f}; attempt {res['attempt']})", flush=True)
    summary = {}
    for name, results in per_system.items():
        summary[name] = {
            "examples_per_s": common.summarize([r["examples_per_s"] for r in results]),
            "accuracy": common.summarize([r["accuracy"] for r in results]),
            "dtype": results[0]["dtype"],
            "epoch_times": [r["epoch_times"] for r in results],
            "contended_runs": sum(r["contended"] for r in results),
            "load": [r["load"] for r in results],
        }
        if name == "nnctl":
            summary[name]["overhead_per_epoch_s"] = common.summarize([float(np.median(r["overhead"])) for r in results])
    ratios = {}
    if "nnctl" in per_system:
        for peer in systems:
            if peer != "nnctl":
                ratios[f"nnctl/{peer}"] = common.summarize(
                    [a["examples_per_s"] / b["examples_per_s"] for a, b in zip(per_system["nnctl"], per_system[peer])])
    return {"batch_size": batch_size, "systems": summary, "ratios": ratios}


def print_results(results: list[dict], args, m: int) -> None:
    print(f"\nMNIST MLP 784-{HIDDEN[0]}-{HIDDEN[1]}-10, ReLU, softmax CE, {args.optimizer} lr={args.lr:g}, "
          f"{args.epochs} epochs × {m:,} examples, {args.threads} threads, {args.repeats} repeats "
          f"(examples/s: median [min–max]; test accuracy on 10,000 after {args.epochs} epochs)")
    rows = []
    for res in results:
        for name, s in res["systems"].items():
            note = ""
            if name == "nnctl":
                note = f"eval+ckpt {s['overhead_per_epoch_s']['median']:.2f} s/epoch (untimed)"
            elif name.startswith("torch"):
                note = "flush denormals" + (", fused" if name == "torch-fused" else "")
            elif name == "sklearn":
                note = f"trains in {s['dtype']}, alpha=0"
            acc = s["accuracy"]
            acc_txt = f"{100 * acc['median']:.2f} %" + ("" if acc["min"] == acc["max"] else
                                                        f" [{100 * acc['min']:.2f}–{100 * acc['max']:.2f}]")
            if s["contended_runs"]:
                note += f"; {s['contended_runs']} contended run(s)"
            rows.append([str(res["batch_size"]), name, common.fmt_range(s["examples_per_s"]), acc_txt, note])
    print(common.table(["B", "system", "examples/s", "test acc", "notes"], rows, right={0, 2}))
    rrows = [[str(res["batch_size"]), key, common.fmt_range(s, lambda v: f"{v:.2f}")]
             for res in results for key, s in res["ratios"].items()]
    if rrows:
        print("\nratios of throughput, paired within each repeat (>1: nnctl faster)")
        print(common.table(["B", "ratio", "median [min–max]"], rrows, right={0}))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS), help="comma list of %(default)s")
    p.add_argument("--optimizer", choices=("adam", "gd"), default="adam")
    p.add_argument("--lr", type=float, default=None, help="default: 1e-3 for adam, 0.1 for gd")
    p.add_argument("--batch-sizes", default="128", help="comma list, e.g. 64,128,256")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup-epochs", type=int, default=1, help="one untimed run of each system per batch size")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/torch threads for every system")
    p.add_argument("--idle-wait", type=float, default=30.0,
                   help="before each run, wait up to this many seconds for other processes to leave the CPUs")
    p.add_argument("--retries", type=int, default=2,
                   help="rerun a run during which other processes used >= %g CPUs, keeping the least contended" % CONTENDED)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mirror", default="/work/shared/data/mnist", help="MNIST mirror (directory or URL)")
    p.add_argument("--datasets-dir", default=str(REPO / "datasets"), help="MNIST is cached in DIR/cache/mnist")
    p.add_argument("--sklearn-float64", action="store_true", help="give scikit-learn float64 inputs (its dtype follows X)")
    p.add_argument("--tolerance", type=float, default=1e-5, help="relative tolerance of --verify")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-verify", dest="verify", action="store_false", help="skip the equivalence check")
    g.add_argument("--verify-only", action="store_true")
    g.add_argument("--profile", type=int, metavar="N", help="cProfile one nnctl epoch, print the top N entries, exit")
    p.add_argument("--json", metavar="FILE", help="save all results (including per-epoch times) as JSON")
    args = p.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in ALL_SYSTEMS]
    if unknown:
        p.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(ALL_SYSTEMS)}")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    needs_torch = args.verify or args.verify_only or any(s.startswith("torch") for s in args.systems)
    if needs_torch:
        import torch

        torch.set_num_threads(args.threads)
    if "sklearn" in args.systems:
        import sklearn  # noqa: F401  (load its native libraries now, so the thread report shows them)
    t_start = time.perf_counter()
    run = load_data(args)
    print(f"data: MNIST {len(run.data['train']):,} train / {len(run.data['test']):,} test, "
          f"x {run.data['train'].x.shape[1:]} {run.data['train'].x.dtype}, loaded in {time.perf_counter() - t_start:.1f} s")
    print("threads: " + "; ".join(common.thread_report()) + (f"; torch {torch.get_num_threads()}" if needs_torch else ""))
    if args.profile:
        profile(run, args, args.profile)
        return 0
    verified = None
    if args.verify or args.verify_only:
        verified = verify(run, args, args.batch_sizes[0])
        if not verified:
            print("verify FAILED: nnctl and PyTorch disagree; not timing", file=sys.stderr)
            return 1
        if args.verify_only:
            return 0
    results = [bench_batch_size(run, args, b) for b in args.batch_sizes]
    print_results(results, args, len(run.data["train"]))
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if args.json:
        import numpy
        versions = {"numpy": numpy.__version__}
        for mod in ("torch", "sklearn"):
            if mod in sys.modules:
                versions[mod] = sys.modules[mod].__version__
        common.save_json(args.json, {
            "benchmark": "mlp_mnist", "argv": sys.argv, "args": {k: v for k, v in vars(args).items()},
            "machine": common.machine_info(), "versions": versions, "threads": common.thread_report(),
            "verified": verified, "results": results,
        })
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
