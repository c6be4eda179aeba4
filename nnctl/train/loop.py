"""The training loop: epochs × mini-batches, per-epoch evaluation and checkpoints.

Resumption is exact: a checkpoint records the shuffle stream's state at the
start of the current epoch and how many of its mini-batches are done, plus
the dropout stream, optimizer moments and step count; replaying the epoch's
permutation and skipping the finished batches continues bit for bit.

Cadence: checkpoint.h5 (with metrics.h5) is rewritten every
``checkpoint.every_epochs`` epochs if set, whenever ``checkpoint.every_seconds``
have passed since the last write (checked after every step, so a long epoch is
checkpointed mid-way), whenever best.h5 changes, at the end and on a stop
request. On tiny data the clock spares hundreds of fsyncs; a SIGKILL loses at
most ``every_seconds`` of training plus the step or evaluation under way.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..nn.network import Network
from ..nn.optimizers import make_optimizer
from ..nn.schedules import make_schedule
from ..runs import rundir
from ..runs.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..runs.metrics_log import MetricLog
from ..spec.schema import Spec
from .augment import Augmenter
from .batches import MiniBatches, StreamedBatches
from .clipping import clip_gradient
from .early_stopping import EarlyStopping
from .evaluate import evaluate, evaluate_streamed, lower_is_better
from .freezing import stages_due
from .prepare import Prepared, StreamedPrepared

STREAMS = ("init", "shuffle", "dropout", "augment")
FEATURE_CACHE_BYTES = 1 << 30  # the frozen trunk's outputs are kept in memory up to this size


def make_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent child streams of one seed for each source of randomness."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


class Reporter:
    """Progress callbacks; the CLI renders them, the library stays silent."""

    def epoch_start(self, epoch: int, epochs: int, n_batches: int) -> None: ...

    def step(self, batch: int, cost: float) -> None: ...

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None: ...

    def unfrozen(self, epoch: int, layers: list[str], trainable: int) -> None:
        """A `train.unfreeze` stage began: ``layers`` train from ``epoch`` on; ``trainable`` parameters now."""

    def finished(self, result: TrainResult) -> None:
        """Training ended (for any reason) and the run's files are written."""


class FanOut(Reporter):
    """Several reporters fed the same events: the terminal's, and the run's mirrors (nnctl.loggers)."""

    def __init__(self, *reporters: Reporter):
        self.reporters = reporters

    def epoch_start(self, epoch, epochs, n_batches):
        for reporter in self.reporters:
            reporter.epoch_start(epoch, epochs, n_batches)

    def step(self, batch, cost):
        for reporter in self.reporters:
            reporter.step(batch, cost)

    def epoch_end(self, epoch, row):
        for reporter in self.reporters:
            reporter.epoch_end(epoch, row)

    def unfrozen(self, epoch, layers, trainable):
        for reporter in self.reporters:
            reporter.unfrozen(epoch, layers, trainable)

    def finished(self, result):
        for reporter in self.reporters:
            reporter.finished(result)


class StopReason(StrEnum):
    """Why a run stopped; the values are what JSON output and checkpoints record."""

    completed = "completed"
    early_stopping = "early_stopping"
    interrupted = "interrupted"
    diverged = "diverged"


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    stop_reason: StopReason
    metrics: dict[str, float] = field(default_factory=dict)
    best: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    """What every checkpoint of a run carries besides the training state, so that a run can be
    evaluated, used for prediction and resumed from any one of its files."""

    normalizer: dict[str, np.ndarray]  # Normalizer.state()
    spec_yaml: str  # the resolved spec
    task: str  # classification, multilabel or regression
    class_names: list[str]
    input_shape: list[int]  # per example


class Trainer:
    def __init__(
        self,
        spec: Spec,
        net: Network,
        data: dict[str, Prepared],
        run_dir: Path,
        streams: dict[str, np.random.Generator],
        facts: RunFacts,
        n_classes: int,
    ):
        self.spec, self.net, self.data, self.run_dir, self.streams = spec, net, data, Path(run_dir), streams
        self.facts = facts
        self.n_classes = n_classes
        train = spec.train
        self.optimizer = make_optimizer(
            train.optimizer.name, net.n_trainable, net.dtype, net.penalized_ranges(),
            **train.optimizer.model_dump(exclude={"name"}),
        )
        self.optimizer.lr_scale = net.lr_scales()
        self.schedule = make_schedule(train.schedule.name, train.learning_rate, **train.schedule.model_dump(exclude={"name"}))
        self.per_step_lr = getattr(train.schedule, "per", "epoch") == "step"
        self.running = train.train_metrics == "running"  # the train cost is the epoch's mini-batch costs
        m = len(data["train"])
        self.batch_size = m if train.batch_size == "full" else min(train.batch_size, m)
        self.n_batches = math.ceil(m / self.batch_size)
        self.log = MetricLog()
        self.epoch, self.batch = 0, 0
        self.epoch_rng_state = streams["shuffle"].bit_generator.state
        self.monitor = spec.checkpoint.monitor
        self.best = {"metric": self.monitor, "value": None, "epoch": None}
        self.early = EarlyStopping.from_spec(train.early_stopping, self.monitor)
        self.stop_requested = False
        self.stop_reason: StopReason | None = None
        self.features: tuple[int, np.ndarray] | None = None  # (layer, the frozen prefix's outputs on train)
        # The epoch's mini-batch data costs so far, Σ cost·rows and Σ rows (train_metrics: running).
        self.epoch_cost = [0.0, 0]
        self.clock = time.monotonic  # tests swap in a fake clock
        self.last_saved = self.clock()
        self.mirrors: list[Reporter] = []  # copies of the run elsewhere (TensorBoard, MLflow), fed its events

    # ------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> Checkpoint:
        return Checkpoint(
            params=self.net.tensors(),
            state=self.net.state(),
            optimizer={k: v for k, v in self.optimizer.state_dict().items() if k != "t"},
            optimizer_t=self.optimizer.t,
            epoch=self.epoch,
            step=self.optimizer.t,
            batch=self.batch,
            rng={
                "shuffle_epoch_start": self.epoch_rng_state,
                "dropout": self.streams["dropout"].bit_generator.state,
                "augment": self.streams["augment"].bit_generator.state,
            },
            progress={
                "best": self.best,
                "early_stopping": self.early.state() if self.early else None,
                "metric_steps": self.log.n_steps,
                "metric_epochs": self.log.n_epochs,
                "stop_reason": self.stop_reason,
                "epoch_cost": self.epoch_cost,
                "stream": getattr(getattr(self.data["train"], "rows", None), "settings", None),
                "optimizer_segments": self.optimizer.segment_table(),
            },
            normalizer=self.facts.normalizer,
            spec_yaml=self.facts.spec_yaml,
            task=self.facts.task,
            class_names=self.facts.class_names,
            input_shape=self.facts.input_shape,
        )

    def save(self, name: str) -> None:
        save_checkpoint(self.run_dir / name, self._checkpoint())

    def save_latest(self) -> None:
        """The metric log and checkpoint.h5 together, so a resume finds them at the same point;
        restarts the every_seconds clock."""
        self.log.save(self.run_dir / rundir.METRICS)
        self.save(rundir.LATEST)
        self.last_saved = self.clock()

    def _time_due(self) -> bool:
        every = self.spec.checkpoint.every_seconds
        return every > 0 and self.clock() - self.last_saved >= every

    def restore(self, ckpt: Checkpoint, log: MetricLog) -> None:
        """Continue from ``ckpt``; ``log`` is cut back to what the checkpoint had seen."""
        self.net.load(ckpt.params, ckpt.state)
        self.enter_stages_of(ckpt)
        self.optimizer.load_state_dict({"t": ckpt.optimizer_t, **ckpt.optimizer})
        table = ckpt.progress.get("optimizer_segments", [[0, 0]])
        if not isinstance(table, list) or not self.optimizer.load_segment_table(table):
            raise CheckpointError(f"{self.run_dir}: damaged checkpoint: progress.optimizer_segments {table!r} does not "
                                  "fit the run's unfreeze stages")
        self.epoch, self.batch = ckpt.epoch, ckpt.batch
        self.epoch_rng_state = ckpt.rng["shuffle_epoch_start"]
        self.streams["shuffle"].bit_generator.state = self.epoch_rng_state
        self.streams["dropout"].bit_generator.state = ckpt.rng["dropout"]
        self.streams["augment"].bit_generator.state = ckpt.rng["augment"]
        self.best = ckpt.progress["best"]
        self.epoch_cost = list(ckpt.progress.get("epoch_cost", [0.0, 0]))
        if self.early and ckpt.progress.get("early_stopping"):
            self.early.load_state(ckpt.progress["early_stopping"])
        log.truncate(ckpt.progress["metric_steps"], ckpt.progress["metric_epochs"])
        self.log = log

    # ------------------------------------------------------------ the loop

    def run(self, reporter: Reporter | None = None) -> TrainResult:
        """Train to the epoch budget, an early stop, a stop request or divergence (detected, not warned)."""
        reporter = FanOut(reporter or Reporter(), *self.mirrors)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            result = self._run(reporter)
        reporter.finished(result)
        return result

    def _run(self, reporter: Reporter) -> TrainResult:
        spec, net, opt = self.spec, self.net, self.optimizer
        l2, l1 = spec.regularization.l2, spec.regularization.l1
        clip = spec.train.clip
        augment = Augmenter(spec.train.augment, self.streams["augment"]) if spec.train.augment else None
        batches = None
        running = self.running
        started = time.perf_counter()
        while self.epoch < spec.train.epochs and not self.stop_reason:
            epoch = self.epoch + 1
            stages = self.net.active_stages
            if self._activate_stages(epoch) or batches is None:
                batches, start = self._batches()
            for stage in spec.train.unfreeze[stages - 1:self.net.active_stages - 1]:
                reporter.unfrozen(epoch, stage.layers, self.net.n_trainable)
            shuffle_rng = self.streams["shuffle"]
            shuffle_rng.bit_generator.state = self.epoch_rng_state  # replays the permutation when resuming mid-epoch
            batches.new_epoch(shuffle_rng if spec.train.shuffle else None)
            reporter.epoch_start(epoch, spec.train.epochs, self.n_batches)
            epoch_started = time.perf_counter()
            lr = self.schedule(epoch, opt.t + 1)
            if self.batch == 0:
                self.epoch_cost = [0.0, 0]
            for k in range(self.batch, self.n_batches):
                xb, yb = batches[k]
                if augment:
                    xb = augment(xb)
                cost = net.loss_and_grad(xb, yb, l2, l1, start)
                if not math.isfinite(cost):
                    self.stop_reason = StopReason.diverged
                    break
                if running:
                    self.epoch_cost[0] += (cost - net.penalty(len(xb), l2, l1)) * len(xb)
                    self.epoch_cost[1] += len(xb)
                if clip:
                    clip_gradient(net.trainable_grad, clip.norm, clip.value)
                if self.per_step_lr:
                    lr = self.schedule(epoch, opt.t + 1)
                opt.step(net.trainable_theta, net.trainable_grad, lr)
                self.batch = k + 1
                self.log.add_step(cost, lr)
                reporter.step(k + 1, cost)
                if self.stop_requested:
                    self.stop_reason = StopReason.interrupted
                    break
                if self.batch < self.n_batches and self._time_due():
                    self.save_latest()
            if self.stop_reason == StopReason.diverged:
                break
            if self.stop_reason == StopReason.interrupted and self.batch < self.n_batches:
                self.save_latest()
                break
            self.epoch, self.batch = epoch, 0
            self.epoch_rng_state = shuffle_rng.bit_generator.state
            row = self._epoch_row(epoch, lr, epoch_started, started)
            self.log.add_epoch(row)
            reporter.epoch_end(epoch, row)
            self._after_epoch(row)
        if self.stop_reason is None:
            self.stop_reason = StopReason.completed
        if self.stop_reason != StopReason.diverged:
            self.save_latest()
        return TrainResult(self.run_dir, self.epoch, opt.t, self.stop_reason, self.log.last(), self.best)

    def enter_stages_of(self, ckpt: Checkpoint) -> None:
        """Unfreeze what was trainable when ``ckpt`` was written (its epoch, or the next one mid-epoch),
        so the optimizer has the size of the moments it saved."""
        self._activate_stages(ckpt.epoch + (1 if ckpt.batch else 0))

    def _activate_stages(self, epoch: int) -> bool:
        """Unfreeze the `train.unfreeze` stages due by ``epoch``; the optimizer takes their entries on
        with zero moments (Adam counts their steps from here). True when anything changed."""
        due = stages_due(self.spec, epoch)
        if due <= self.net.active_stages:
            return False
        self.net.activate(due)
        self.optimizer.grow(self.net.n_trainable, self.net.penalized_ranges(), self.net.lr_scales())
        return True

    def _batches(self) -> tuple[MiniBatches | StreamedBatches, int]:
        """Mini-batches of the training set, and the layer they enter at.

        When the layers before the first trainable one are frozen and deterministic (no
        dropout, no augmentation of the inputs), their outputs are computed once and the
        batches start from them: fine-tuning a head then skips the frozen trunk entirely.
        A prefix that only reshapes (the Flatten before an MLP's first layer) is not worth
        a copy of the training set.
        """
        net, train = self.net, self.data["train"]
        if isinstance(train, StreamedPrepared):  # read from disk each epoch (nnctl.data.stream)
            self.features = None
            return train.batches(self.batch_size), 0
        start = net.first_trainable
        size = len(train) * int(np.prod(net.shapes[start])) * net.dtype.itemsize if start < len(net.layers) else 0
        if (start == 0 or net.prefix_only_reshapes() or self.spec.train.augment or not net.prefix_is_fixed()
                or size > FEATURE_CACHE_BYTES):
            self.features = None
            return MiniBatches(train.x, train.targets, self.batch_size), 0
        self.features = (start, net.features(train.x))  # the per-epoch train metrics start from them too
        return MiniBatches(self.features[1], train.targets, self.batch_size), start

    def _epoch_row(self, epoch: int, lr: float, epoch_started: float, started: float) -> dict[str, float]:
        """The epoch's metrics; its time is taken after the evaluation passes, which are part of what an epoch costs."""
        row = {"epoch": epoch, "learning_rate": lr}
        if self.running:
            row["train_cost"] = self.epoch_cost[0] / self.epoch_cost[1]
        for split in ("train", "dev", "train_dev"):
            if split in self.data and not (self.running and split == "train"):
                d = self.data[split]
                if isinstance(d, StreamedPrepared):
                    metrics = evaluate_streamed(self.net, d, self.n_classes)
                else:
                    tasks = self.facts.class_names
                    start, x = self.features if split == "train" and self.features else (0, d.x)
                    metrics = evaluate(self.net, x, d.targets, d.labels, self.n_classes, tasks, start)
                for name, value in metrics.items():
                    row[f"{split}_{name}"] = value
        now = time.perf_counter()
        row["epoch_time"], row["wall_time"] = now - epoch_started, now - started
        return row

    def _after_epoch(self, row: dict[str, float]) -> None:
        value = row.get(self.monitor)
        improved = value is not None and self._improved(value)
        if improved:
            self.best = {"metric": self.monitor, "value": value, "epoch": self.epoch}
            self.save(rundir.BEST)
        if self.early and self.early.update(row):
            self.stop_reason = StopReason.early_stopping
            self._restore_best()
        every = self.spec.checkpoint.every_epochs
        if (improved or (every and self.epoch % every == 0) or self._time_due()) and not self.stop_reason \
                and self.epoch < self.spec.train.epochs:
            self.save_latest()  # the end (and a stop) is saved once, by _run

    def _improved(self, value: float) -> bool:
        best = self.best["value"]
        if best is None:
            return True
        return value < best if lower_is_better(self.monitor) else value > best

    def _restore_best(self) -> None:
        best_path = self.run_dir / rundir.BEST
        if best_path.exists():
            best = load_checkpoint(best_path)
            self.net.load(best.params, best.state)


@contextmanager
def stop_on_signals(trainer: Trainer):
    """Ctrl-C or SIGTERM asks the trainer to stop after the current step (a second Ctrl-C aborts)."""

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
