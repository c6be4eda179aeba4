"""The training loop: epochs × mini-batches, per-epoch evaluation and checkpoints.

Resumption is exact: a checkpoint records the shuffle stream's state at the
start of the current epoch and how many of its mini-batches are done, plus
the dropout stream, optimizer moments and step count; replaying the epoch's
permutation and skipping the finished batches continues bit for bit.

Durable writes: best.h5, the metric log and checkpoint.h5 are written together
(``persist``) every ``checkpoint.every_epochs`` epochs if set, whenever
``checkpoint.every_seconds`` have passed since the last write (checked after
every step, so a long epoch is checkpointed mid-way), at the end and on a stop
request. Between writes the best epoch's state waits in memory, and so does the
state at the end of the last epoch whose costs were finite: a run that diverges
writes that one before it stops, so it loses nothing and its resume replays the
divergence. A SIGKILL loses at most ``every_seconds`` of training plus the step
or evaluation under way. Nothing else per epoch touches the file system.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..nn import kernels
from ..nn.network import Network
from ..nn.schedules import make_schedule
from ..runs import rundir
from ..runs.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..runs.events import append_event, read_events
from ..runs.lock import FolderLock
from ..runs.metrics_log import MetricLog
from ..spec.loader import locate
from ..spec.schema import Spec
from .augment import Augmenter
from .batches import MiniBatches, StreamedBatches, resolve_batch_size
from .build import build_optimizer, weighted_layer_keys
from .clipping import clip_gradient
from .early_stopping import EarlyStopping
from .evaluate import evaluate, evaluate_streamed, lower_is_better
from .freezing import stages_due
from .health import HealthRecorder
from .prepare import Prepared, StreamedPrepared
from .snapshot import Snapshot
from .watch import (
    TrainingWarning,
    cost_warnings,
    gradient_depth,
    linear_hidden_layers,
    missing_test,
    rising_applies,
    symmetric_layers,
)

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

    def warned(self, event: dict) -> None:
        """A training warning (train/watch.py) was recorded in the run's events: ``event["message"]``, ``event["where"]``."""


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

    def warned(self, event):
        for reporter in self.reporters:
            reporter.warned(event)

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
    diverged_at: int | None = None  # the step whose cost, or whose epoch's costs, were not finite
    metrics_epoch: int | None = None  # the epoch ``metrics`` come from when not the last (best.h5, restored)


@dataclass(frozen=True)
class RunFacts:
    """What every checkpoint of a run carries besides the training state, so that a run can be
    evaluated, used for prediction and resumed from any one of its files."""

    normalizer: dict[str, np.ndarray]  # Normalizer.state()
    spec_yaml: str  # the resolved spec
    task: str  # classification, multilabel or regression
    class_names: list[str]
    input_shape: list[int]  # per example
    run_id: str  # binds the run's metric log to its checkpoints


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
        self.optimizer = build_optimizer(spec, net)
        self.kernels = kernels.select(train.kernels, net.dtype)  # numpy or compiled: the same results; in checkpoints
        self.schedule = make_schedule(train.schedule.name, train.learning_rate, **train.schedule.model_dump(exclude={"name"}))
        self.per_step_lr = getattr(train.schedule, "per", "epoch") == "step"
        self.running = train.train_metrics == "running"  # the train cost is the epoch's mini-batch costs
        m = len(data["train"])
        self.batch_size = resolve_batch_size(train.batch_size, m)
        self.n_batches = math.ceil(m / self.batch_size)
        self.health = HealthRecorder(net, spec.watch.health_every)
        self.spec_origin: tuple[str, list[str]] | None = None  # (spec file, --set overrides): warnings name the line
        self.warnings_given: set[str] = set()  # warning kinds already given in this run (read back on resume)
        self.layer_keys = weighted_layer_keys(spec)
        self.log = MetricLog(facts.run_id)
        self.log.health = self.health.new_log()
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
        self.best_state = Snapshot()  # the best epoch's state, until best.h5 is written
        self.best_unsaved = False
        self.good_state = Snapshot()  # the last good epoch's state when it is not the best one
        self.last_good: Checkpoint | None = None  # the state at the end of the last epoch whose costs were finite
        self.diverged_at: int | None = None
        self.lock: FolderLock | None = None  # held by whoever set up the run directory; released when run() ends

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
                "epoch_cost": list(self.epoch_cost),
                "run_id": self.facts.run_id,
                "stream": getattr(getattr(self.data["train"], "rows", None), "settings", None),
                "optimizer_segments": self.optimizer.segment_table(),
                "kernels": self.kernels,
            },
            normalizer=self.facts.normalizer,
            spec_yaml=self.facts.spec_yaml,
            task=self.facts.task,
            class_names=self.facts.class_names,
            input_shape=self.facts.input_shape,
        )

    def save(self, name: str) -> None:
        save_checkpoint(self.run_dir / name, self._checkpoint())

    def persist(self, final: bool = False) -> None:
        """Write the current state durably (``final``: metrics.h5 whole, for a run that ends here)."""
        self._write(self._checkpoint(), final)

    def _write(self, latest: Checkpoint, final: bool) -> None:
        """best.h5 if a better state is only in memory, then the metric log, then checkpoint.h5; restarts
        the every_seconds clock. In this order a kill between two writes leaves a log at least as long as
        the checkpoint says, and a best.h5 no older than the checkpoint's record of it."""
        if self.best_unsaved:
            save_checkpoint(self.run_dir / rundir.BEST, self.best_state.checkpoint)
            self.best_unsaved = False
        self.log.save(self.run_dir / rundir.METRICS, whole=final)
        save_checkpoint(self.run_dir / rundir.LATEST, latest)
        self.last_saved = self.clock()

    def _write_last_good(self) -> Checkpoint:
        """After a divergence: the run as it stood at the end of its last good epoch, marked diverged."""
        good = replace(self.last_good, progress={**self.last_good.progress, "stop_reason": StopReason.diverged})
        self.log.truncate(good.progress["metric_steps"], good.progress["metric_epochs"])
        self._write(good, final=True)
        return good

    def _state_finite(self) -> bool:
        """θ and the batch-norm statistics hold no NaN or infinity. An update whose cost was finite can still
        overflow θ; the next step's cost would say so, but a write due before it must not save that state
        (readers refuse it as damaged): the run is then a divergence, and keeps its last good epoch."""
        return bool(np.isfinite(self.net.theta).all()) and all(np.isfinite(v).all() for v in self.net.state().values())

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
        if list(log.health.layers) != [unit.name for unit in self.health.units]:
            log.health = self.health.new_log()  # a run from before health records, or a repaired log
        self.log = log
        self.warnings_given = {event.get("kind") for event in read_events(self.run_dir) if event.get("event") == "warning"}
        self.last_good = self.good_state.take(self._checkpoint())  # a divergence before the next epoch ends goes back here

    # ------------------------------------------------------------ the loop

    def run(self, reporter: Reporter | None = None) -> TrainResult:
        """Train to the epoch budget, an early stop, a stop request or divergence (detected, not warned)."""
        reporter = FanOut(reporter or Reporter(), *self.mirrors)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                result = self._run(reporter)
        finally:
            if self.lock:
                self.lock.release()
        reporter.finished(result)
        return result

    def _run(self, reporter: Reporter) -> TrainResult:
        spec, net, opt = self.spec, self.net, self.optimizer
        l2, l1 = spec.regularization.l2, spec.regularization.l1
        clip = spec.train.clip
        augment = Augmenter(spec.train.augment, self.streams["augment"]) if spec.train.augment else None
        batches = None
        running = self.running
        health = self.health
        rising = rising_applies(spec, self.batch_size, len(self.data["train"]))
        self._warn(symmetric_layers(spec, net) + linear_hidden_layers(spec) + missing_test(list(self.data)), reporter)
        if self.last_good is None:
            self.last_good = self.good_state.take(self._checkpoint())  # a divergence in the first epoch goes back here
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
                recording = health.due(opt.t + 1)
                cost = net.loss_and_grad(xb, yb, l2, l1, start, health.see if recording else None)
                if not math.isfinite(cost):
                    self.stop_reason, self.diverged_at = StopReason.diverged, opt.t + 1
                    break
                if running:
                    self.epoch_cost[0] += (cost - net.penalty(len(xb), l2, l1)) * len(xb)
                    self.epoch_cost[1] += len(xb)
                if self.per_step_lr:
                    lr = self.schedule(epoch, opt.t + 1)
                if recording:
                    health.before_update()  # ‖dW‖ before clipping
                if clip:
                    clip_gradient(net.trainable_grad, clip.norm, clip.value)
                opt.step(net.trainable_theta, net.trainable_grad, lr)
                self.batch = k + 1
                if recording:
                    self._record_health(reporter)
                self.log.add_step(cost, lr)
                reporter.step(k + 1, cost)
                due = self.batch < self.n_batches and self._time_due()  # one look at the clock a step
                if (self.stop_requested or due) and not self._state_finite():
                    self.stop_reason, self.diverged_at = StopReason.diverged, opt.t  # never written: see _state_finite
                    break
                if self.stop_requested:
                    self.stop_reason = StopReason.interrupted
                    break
                if due:
                    self.persist()
            if self.stop_reason == StopReason.diverged or self.batch < self.n_batches:  # or interrupted mid-epoch
                break
            self.epoch, self.batch = epoch, 0
            self.epoch_rng_state = shuffle_rng.bit_generator.state
            row = self._epoch_row(epoch, lr, epoch_started, started)
            self.log.add_epoch(row)
            reporter.epoch_end(epoch, row)
            self._warn(cost_warnings(spec, self.log.iteration["cost"], self.n_batches, rising), reporter)
            self._after_epoch(row)
        if self.stop_reason == StopReason.diverged:
            good = self._write_last_good()
            return TrainResult(self.run_dir, good.epoch, good.step, self.stop_reason, self.log.last(), self.best,
                               self.diverged_at)
        self.stop_reason = self.stop_reason or StopReason.completed
        self.persist(final=True)
        metrics, restored = self._summary_row()
        return TrainResult(self.run_dir, self.epoch, opt.t, self.stop_reason, metrics, self.best, metrics_epoch=restored)

    def _record_health(self, reporter: Reporter) -> None:
        rows = self.health.after_update()
        self.log.health.add(self.optimizer.t, rows)
        self._warn(gradient_depth(rows, self.spec.watch.gradient_orders, self.layer_keys), reporter)

    def _warn(self, warnings: list[TrainingWarning], reporter: Reporter) -> None:
        """Record each warning not silenced and not given before in events.jsonl, then report it."""
        for warning in warnings:
            if warning.kind in self.spec.watch.silence or warning.kind in self.warnings_given:
                continue
            self.warnings_given.add(warning.kind)
            where = locate(self.spec_origin[0], warning.key, self.spec_origin[1]) if self.spec_origin else None
            epoch = self.epoch + (1 if self.batch else 0)  # the epoch under way, or the one just finished
            event = {"event": "warning", "kind": warning.kind, "step": self.optimizer.t, "epoch": epoch,
                     "key": warning.key, "where": where, "message": warning.message}
            append_event(self.run_dir, event)
            reporter.warned(event)

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
        """Keep the best and the last good state in memory; write them when the cadence says so."""
        if not all(math.isfinite(value) for name, value in row.items() if name.endswith("_cost")):
            self.stop_reason, self.diverged_at = StopReason.diverged, self.optimizer.t
            return
        value = row.get(self.monitor)
        improved = value is not None and self._improved(value)
        if improved:
            self.best = {"metric": self.monitor, "value": value, "epoch": self.epoch}
        if self.early and self.early.update(row):
            self.stop_reason = StopReason.early_stopping
        # One copy of the state: the best one is also the last good one when this epoch improved.
        if improved:
            self.last_good, self.best_unsaved = self.best_state.take(self._checkpoint()), True
        else:
            self.last_good = self.good_state.take(self._checkpoint())
        if self.stop_reason:
            self._restore_best()
            return
        every = self.spec.checkpoint.every_epochs
        if ((every and self.epoch % every == 0) or self._time_due()) and not self.stop_reason \
                and self.epoch < self.spec.train.epochs:
            self.persist()  # the end (and a stop) is written once, by _run

    def _improved(self, value: float) -> bool:
        best = self.best["value"]
        if best is None:
            return True
        return value < best if lower_is_better(self.monitor) else value > best

    def _summary_row(self) -> tuple[dict[str, float], int | None]:
        """The metrics of the parameters left in the network, and their epoch: after early stopping those of
        best.h5 (restored), else the last epoch's (epoch None)."""
        restored, epochs = self.best.get("epoch"), self.log.epoch.get("epoch", [])
        if self.stop_reason != StopReason.early_stopping or restored not in epochs:
            return self.log.last(), None
        at = epochs.index(restored)
        return {name: column[at] for name, column in self.log.epoch.items()}, restored

    def _restore_best(self) -> None:
        """The best epoch's parameters: in memory if they were seen since this process started, else best.h5."""
        best = self.best_state.checkpoint
        if best is None and (self.run_dir / rundir.BEST).exists():
            best = load_checkpoint(self.run_dir / rundir.BEST)
        if best is not None:
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
