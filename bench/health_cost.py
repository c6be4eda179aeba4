"""What the per-layer health record costs a training step (docs/explanation/training-health.md).

Times the trainer's step (forward, backward, optimizer) on a fixed batch with and without the
record's hooks (the forward pass's watch callback, ‖dW‖ and a copy of W before the update,
‖ΔW‖ after it), in alternating blocks so that a change in the machine's load hits both
alike, and reports the medians: the cost of one recorded step, and the share of an epoch it
adds at ``watch.health_every`` = N (one step in N is recorded).

    python bench/health_cost.py                       # the MNIST-sized MLP 784-256-128-10, batch 128
    python bench/health_cost.py --spec configs/mnist-lenet5.yaml --input 28,28,1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core each, as the shared machine allows

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nnctl.nn.optimizers import make_optimizer  # noqa: E402
from nnctl.spec import load_spec, parse_spec  # noqa: E402
from nnctl.train.build import build_network  # noqa: E402
from nnctl.train.health import HealthRecorder  # noqa: E402

MLP = """\
precision: float32
model:
  layers:
    - {units: 256, activation: relu}
    - {units: 128, activation: relu}
    - {units: 10, activation: softmax}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", help="a spec whose model to time (default: the MLP 784-256-128-10)")
    parser.add_argument("--input", default="784", help="per-example input shape, e.g. 784 or 28,28,1")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=20, help="blocks of each kind, alternating")
    args = parser.parse_args()
    spec = load_spec(args.spec) if args.spec else parse_spec(MLP)
    shape = tuple(int(n) for n in args.input.split(","))
    rng = np.random.default_rng(0)
    net = build_network(spec, shape, rng)
    net.initialize(rng)
    opt = make_optimizer("adam", net.n_trainable, net.dtype, net.penalized_ranges(), beta1=0.9, beta2=0.999,
                         epsilon=1e-8, weight_decay=0.0)
    x = rng.standard_normal((args.batch, *shape)).astype(net.dtype)
    y = np.eye(net.output_shape[0], dtype=net.dtype)[rng.integers(0, net.output_shape[0], args.batch)]
    recorder = HealthRecorder(net, 1)

    def block(recorded: bool) -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            net.loss_and_grad(x, y, watch=recorder.see if recorded else None)
            if recorded:
                recorder.before_update()
            opt.step(net.trainable_theta, net.trainable_grad, 1e-4)
            if recorded:
                recorder.after_update()
        return (time.perf_counter() - start) / args.steps

    block(False), block(True)  # warm the buffers
    plain, watched = [], []
    for _ in range(args.blocks):
        plain.append(block(False))
        watched.append(block(True))
    step, extra = statistics.median(plain), statistics.median(w - p for w, p in zip(watched, plain))
    result = {"model": args.spec or "mlp 784-256-128-10", "batch": args.batch, "parameters": int(net.theta.size),
              "step_ms": round(1e3 * step, 3), "recorded_step_extra_ms": round(1e3 * extra, 3),
              "extra_share_every_1": round(extra / step, 4), "extra_share_every_10": round(extra / step / 10, 4),
              "load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
