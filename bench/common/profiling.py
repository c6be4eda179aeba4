"""Where nnctl's time goes (one-off modes of a benchmark script, in the parent process): an epoch under
cProfile, a training step per operation, inference per chunk size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common.bench import Bench
from common.machine import cpu_line, machine_info
from common.nnctl_runner import make_trainer
from common.tables import table
from common.workload import fresh_net, load_run, make_spec, step_optimizer, use_kernels


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


# The convolutions' patch copies, timed apart from the rest of the layer (the other kernel passes are a
# layer's, the loss's or the optimizer's whole work, so their rows already show them).
KERNEL_PASSES = ("gather_patches", "scatter_patches")


def profile_step(bench: Bench, args, steps: int) -> None:
    """Where one training step's time goes, per operation: exclusive time of each layer's forward and
    backward, the loss, the optimizer and the batch gather, with every ``np.matmul`` (the GEMMs) and
    the patch copies counted apart; the rest of the step (Python between the calls) is "other"."""
    import numpy as np

    from nnctl.nn import kernels
    from nnctl.train.batches import MiniBatches

    run = load_run(bench, args)
    batch = args.batch_sizes[0]
    spec = make_spec(bench, args, batch, 1)
    use_kernels(spec)
    net, streams = fresh_net(spec, run.net.input_shape)
    opt = step_optimizer(spec, net)
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
    gather = timed("batch gather (rows into a reused buffer)", batches.__getitem__)
    impl = kernels.active()
    moves = {name: getattr(impl, name) for name in KERNEL_PASSES}
    for name, fn in moves.items():
        setattr(impl, name, timed(f"kernel {name} ({impl.NAME})", fn))
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
        for name, fn in moves.items():
            setattr(impl, name, fn)
    n = steps
    print(f"machine: {cpu_line(machine_info())}")
    print(f"step profile: {bench.title}, B={batch}, {spec.train.optimizer.name}, float32, {args.threads} threads, "
          f"{n} steps: {1e3 * total / n:.3f} ms per step ({n * batch / total:,.0f} examples/s with the timers' overhead)")
    rows = sorted(exclusive.items(), key=lambda kv: -kv[1])
    other = total - sum(exclusive.values())
    out = [[name, f"{calls[name] / n:g}", f"{1e3 * t / n:.3f}", f"{100 * t / total:.1f} %"] for name, t in rows]
    out.append(["other (Python between the calls, the loop)", "", f"{1e3 * other / n:.3f}", f"{100 * other / total:.1f} %"])
    print(table(["operation (exclusive time)", "calls/step", "ms/step", "share"], out, right={1, 2, 3}))
