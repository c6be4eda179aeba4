#!/usr/bin/env python
"""The PyTorch side of the end-to-end benchmark: the work of `nnctl train SPEC` as a plain PyTorch script.

The parent benchmark (bench/common/end_to_end.py) times this script's
whole process, start-up included, against `nnctl train` on the same network, and
pairs the two wall times within a repeat. Like `nnctl train` it:

- starts a fresh interpreter and imports its libraries (torch, numpy: nothing of nnctl);
- reads MNIST's decompressed IDX files from nnctl's cache, scales by 1/255 and splits
  60,000 into 55,000 train / 5,000 dev rows (a seeded permutation), and reads the
  10,000 test images, which it prepares but does not evaluate per epoch (nor does nnctl);
- writes an initial checkpoint, then per epoch: trains (a fresh permutation, mini-batches
  sliced from index_select'ed tensors, Adam or SGD), computes the same per-epoch
  metrics (cost, accuracy, macro precision/recall/F1 on the dev split, and on the train
  split either by a full inference pass or as the running mean of the epoch's
  mini-batch costs, as ``--train-metrics`` says), writes the metrics file and the
  latest checkpoint (model and optimizer state, written to a temporary file, fsynced
  and renamed, as nnctl's are), and the best checkpoint when the dev accuracy improved.

It prints one JSON line with its timings and final metrics.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.threads import DEFAULT_THREADS, pin_threads, threads_from_argv  # noqa: E402  (must come before numpy: it pins the thread counts)

pin_threads(threads_from_argv(sys.argv[1:]))

from common.torch_runner import flush_denormals, torch_train_epoch  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", required=True, help="the benchmark module whose build_torch/torch_input to use (mlp_mnist, lenet_mnist)")
    p.add_argument("--mnist", type=Path, required=True, help="nnctl's MNIST cache folder (decompressed IDX files)")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints and metrics")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--optimizer", choices=("adam", "gd"), required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--train-metrics", choices=("full", "running"), required=True)
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dev", type=int, default=5000)
    return p.parse_args(argv)


def read_idx(path: Path):
    """An IDX file (big-endian header: magic with the dimension count, then each dimension) as a uint8 array."""
    import numpy as np

    data = path.read_bytes()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def save_durably(torch, obj, path: Path) -> None:
    """torch.save to a temporary file, fsync, rename: a kill never leaves a torn checkpoint (as nnctl's)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_durably(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def metrics(torch, model, x, y, n_classes: int, chunk: int = 1000) -> dict:
    """Mean cost, accuracy and macro precision/recall/F1 in inference mode (what nnctl's evaluate reports)."""
    import numpy as np
    import torch.nn.functional as F

    model.eval()
    total, predicted = 0.0, []
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            z = model(x[i:i + chunk])
            total += F.cross_entropy(z, y[i:i + chunk], reduction="sum").item()
            predicted.append(z.argmax(dim=1))
    model.train()
    pred, true = torch.cat(predicted).numpy(), y.numpy()
    confusion = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(confusion).astype(np.float64)
    precision = np.divide(tp, confusion.sum(axis=0), out=np.zeros(n_classes), where=confusion.sum(axis=0) > 0)
    recall = np.divide(tp, confusion.sum(axis=1), out=np.zeros(n_classes), where=confusion.sum(axis=1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=precision + recall > 0)
    return {"cost": total / len(x), "accuracy": float(tp.sum() / len(x)), "precision": float(precision.mean()),
            "recall": float(recall.mean()), "f1": float(f1.mean())}


def main() -> int:
    args = parse_args()
    bench = importlib.import_module(args.bench).BENCH
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = read_idx(args.mnist / "train-images-idx3-ubyte")
    labels = read_idx(args.mnist / "train-labels-idx1-ubyte").astype(np.int64)
    test_x = read_idx(args.mnist / "t10k-images-idx3-ubyte")
    rows = np.random.default_rng(args.seed).permutation(len(images))
    n_train = len(images) - args.dev

    def prepared(raw):
        scaled = (raw.astype(np.float32) / np.float32(255)).reshape(len(raw), 28, 28, 1)
        return torch.from_numpy(np.ascontiguousarray(bench.torch_input(scaled)))

    x, y = prepared(images[rows[:n_train]]), torch.from_numpy(labels[rows[:n_train]])
    dev_x, dev_y = prepared(images[rows[n_train:]]), torch.from_numpy(labels[rows[n_train:]])
    prepared(test_x)  # nnctl prepares the test split too
    model = bench.build_torch(torch)
    opt = (torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=args.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    save_durably(torch, {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 0}, args.out / "initial.pt")
    xs, ys = torch.empty_like(x), torch.empty_like(y)
    shuffle = torch.Generator().manual_seed(args.seed)
    batch, history, best = args.batch_size, [], -1.0
    ready = time.perf_counter()
    with flush_denormals(torch):
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(n_train, generator=shuffle)
            running, _ = torch_train_epoch(torch, model, opt, (x, y), (xs, ys), perm, batch,
                                           sum_costs=args.train_metrics == "running")
            trained = time.perf_counter()
            row = {"epoch": epoch}
            train_row = metrics(torch, model, x, y, 10) if args.train_metrics == "full" else {"cost": running / n_train}
            row.update({f"train_{k}": v for k, v in train_row.items()})
            row.update({f"dev_{k}": v for k, v in metrics(torch, model, dev_x, dev_y, 10).items()})
            row.update(epoch_time=trained - t0, wall_time=time.perf_counter() - ready)
            history.append(row)
            write_text_durably(args.out / "metrics.json", json.dumps(history))
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}
            if row["dev_accuracy"] > best:
                best = row["dev_accuracy"]
                save_durably(torch, state, args.out / "best.pt")
            save_durably(torch, state, args.out / "checkpoint.pt")
    print(json.dumps({"startup_s": ready - STARTED, "train_s": sum(r["epoch_time"] for r in history),
                      "wall_s": time.perf_counter() - STARTED, "metrics": history[-1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
