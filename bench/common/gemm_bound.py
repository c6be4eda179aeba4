"""The GEMM bound: the matrix products of nnctl's training step replayed alone, the most any loop
around them could reach with this BLAS on this machine."""

from __future__ import annotations

import math
import statistics
import time

from common.bench import Bench
from common.machine import cpu_line, machine_info
from common.tables import table
from common.workload import fresh_net, load_run, make_spec


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
