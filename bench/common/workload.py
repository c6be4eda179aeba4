"""What every system trains on: the config's network and optimizer as a spec, nnctl's prepared MNIST,
and a network initialized as `nnctl train` initializes it (so every system starts from the same θ)."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from common import REPO
from common.bench import Bench

DEFAULT_LR = {"adam": 1e-3, "gd": 0.1}


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


def step_optimizer(spec, net):
    """The spec's optimizer over all of ``net``'s θ, for the step loops that run without a Trainer."""
    from nnctl.nn.optimizers import make_optimizer

    settings = spec.train.optimizer
    return make_optimizer(settings.name, net.theta.size, net.dtype, net.n_penalized, **settings.model_dump(exclude={"name"}))


def accuracy(pred, labels) -> float:
    return float((pred == labels).mean())
