"""Peak memory of training from a large float32 HDF5 file, in memory and streamed (issue 8).

Generates 2,000,000 × 100 float32 rows (0.8 GB) and 7,500,000 × 100 (3 GB) in a
temporary directory (deleted afterwards), then trains one epoch of an MLP
100-256-128-10 on each, every run in its own process:

- in memory, 0.8 GB (target: peak RSS ≤ 1.3 GB; before issue 8: 4.19 GB)
- streamed, 0.8 GB and 3 GB (target: ≤ 400 MB each, flat in file size)

Throughput: training examples per second of the epoch (the ``epoch_time``
nnctl records, evaluation excluded) streamed vs in memory on the 0.8 GB file,
in ``--repeats`` pairs run back to back; the median of the pairs' ratios is
the figure (target: ≥ 80 %). The machine may be shared, so absolute times are
noisy.

    .venv/bin/python bench/data_memory.py [--tmp DIR] [--repeats 3] [--json bench/results/data_memory.json]

Issue 21: ``--chunk-rows 8192`` writes the files in chunks of 8192 rows (3.2 MB)
instead of ~1 MB, and ``--streamed-only`` skips the in-memory runs: the streamed
peak must stay flat whatever the chunking.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import textwrap
from pathlib import Path

import h5py
import numpy as np
from train_process import train_in_process

FEATURES, CLASSES = 100, 10
SIZES = {"0.8GB": 2_000_000, "3GB": 7_500_000}
SPEC = """\
name: data-memory
seed: 0
data:
  source: {{type: hdf5, path: {path}, x: x, y: y, stream: {stream}}}
  split: {{train: 0.8, dev: 0.1, test: 0.1}}
model:
  layers:
    - {{units: 256, activation: relu}}
    - {{units: 128, activation: relu}}
    - {{units: 10, activation: softmax}}
train: {{epochs: 1, batch_size: 128, learning_rate: 0.001, optimizer: {{name: adam}}}}
"""


def generate(path: Path, rows: int, seed: int = 0, chunk_rows: int = (1 << 20) // (4 * FEATURES)) -> None:
    """Gaussian inputs in chunks of ``chunk_rows`` (~1 MB by default), labels from a fixed random linear map (a learnable task)."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("x", (rows, FEATURES), dtype=np.float32, chunks=(chunk_rows, FEATURES))
        y = f.create_dataset("y", (rows,), dtype=np.int64)
        for lo in range(0, rows, 250_000):
            block = rng.standard_normal((min(rows, lo + 250_000) - lo, FEATURES), dtype=np.float32)
            x[lo:lo + len(block)] = block
            y[lo:lo + len(block)] = np.argmax(block @ weights, axis=1)


def measure(data: Path, work: Path, name: str, rows: int, stream: str) -> dict:
    spec = work / f"{name}-{stream}.yaml"
    spec.write_text(textwrap.dedent(SPEC.format(path=data, stream=stream)))
    run = train_in_process(spec, work / "runs")
    metrics = run["result"]["metrics"]
    row = {"file": name, "file_mb": data.stat().st_size / 2**20, "rows": rows,
           "mode": "streamed" if stream == "true" else "in memory",
           "peak_rss_mb": run["peak_rss_mb"], "wall_s": run["wall_s"], "epoch_s": metrics["epoch_time"],
           "examples_per_s": int(rows * 0.8) / metrics["epoch_time"], "dev_accuracy": metrics["dev_accuracy"]}
    print(f"{name:>6} {row['mode']:>9}: peak RSS {row['peak_rss_mb']:7.0f} MB, epoch {row['epoch_s']:6.1f} s "
          f"({row['examples_per_s']:,.0f} ex/s), wall {row['wall_s']:6.1f} s, dev accuracy {row['dev_accuracy']:.4f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="where the files are generated")
    parser.add_argument("--repeats", type=int, default=3, help="in-memory/streamed pairs on the 0.8 GB file")
    parser.add_argument("--json", type=Path, help="save the figures here")
    parser.add_argument("--chunk-rows", type=int, default=(1 << 20) // (4 * FEATURES), help="HDF5 chunk of the files, in rows")
    parser.add_argument("--streamed-only", action="store_true", help="only the streamed runs (no throughput pairs)")
    args = parser.parse_args()
    need = sum(SIZES.values()) * (FEATURES * 4 + 8) * 1.1
    free = shutil.disk_usage(args.tmp).free
    print(f"{args.tmp}: {free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed")
    if free < need:
        raise SystemExit(f"not enough space in {args.tmp}")
    work = Path(tempfile.mkdtemp(prefix="nnctl-data-memory-", dir=args.tmp))
    runs, ratios = [], []
    try:
        for name, rows in SIZES.items():
            data = work / f"{name}.h5"
            generate(data, rows, chunk_rows=args.chunk_rows)
            if args.streamed_only:
                runs.append(measure(data, work, name, rows, "true"))
            elif name == "0.8GB":  # pairs back to back: the ratio of each pair, so load changes mostly cancel
                for _ in range(args.repeats):
                    memory, streamed = (measure(data, work, name, rows, stream) for stream in ("false", "true"))
                    runs += [memory, streamed]
                    ratios.append(streamed["examples_per_s"] / memory["examples_per_s"])
            else:
                runs.append(measure(data, work, name, rows, "true"))
            data.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(ratios) if ratios else None
    if ratios:
        print(f"streamed / in-memory throughput on the 0.8 GB file: median {ratio:.0%} of {', '.join(f'{r:.0%}' for r in ratios)}")
    if args.json:
        results = {"chunk_rows": args.chunk_rows, "runs": runs, "throughput_ratios": ratios, "throughput_ratio": ratio}
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
