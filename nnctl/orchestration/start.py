"""Wiring of one run: spec → data → normalizer → network → trainer.

`start_run` and `resume_run` give a ready Trainer; `prepare_run` the parts
without a run directory (for `spec show` and `gradcheck`).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import LoadedData, Normalizer, Splits
from ..errors import BuildError, CheckpointError, Interrupted, MetricLogError, RunError
from ..loggers.attach import attach_mirrors, check_mirrors
from ..nn.layers import BatchNorm
from ..nn.network import Network
from ..runs import rundir
from ..runs.atomic import atomic_write_text, remove_stale_temporaries
from ..runs.checkpoint import check_group, load_checkpoint, spec_source
from ..runs.events import append_event
from ..runs.identity import foreign_file
from ..runs.listing import missing_checkpoint
from ..runs.lock import FolderLock
from ..runs.metrics_log import MetricLog
from ..spec import Spec, parse_spec, spec_to_yaml
from ..train.batches import resolve_batch_size
from ..train.build import build_network
from ..train.evaluate import metric_suffixes
from ..train.loop import RunFacts, StopReason, Trainer, make_streams
from ..train.prepare import Prepared, prepare_all
from .checkpoints import check_network, check_resumable, stored_normalizer
from .datasets import default_datasets_dir
from .run_data import run_splits, write_record
from .splits import load_run_data
from .transfer import copy_layers, load_source, source_normalizer

RESUMABLE_CHANGES = ("train.epochs", "checkpoint.every_epochs", "checkpoint.every_seconds", "train.kernels")  # kernels: the same bits
# The notes' manual decay: α (and its schedule) changed by hand when resuming; each change is a run event.
DECAY_CHANGES = ("train.learning_rate", "train.schedule")
RESUMABLE_SECTIONS = ("logging.",)  # where the run is mirrored changes nothing it computes


def _resumable(key: str) -> bool:
    return (key in RESUMABLE_CHANGES or key.startswith(RESUMABLE_SECTIONS)
            or any(key == k or key.startswith(k + ".") for k in DECAY_CHANGES))


def _record_decay(run_dir: Path, before: Spec, after: Spec, step: int, epoch: int) -> None:
    """One `set` event per changed learning-rate setting, at the first step that uses it."""
    for key, old, new in (("train.learning_rate", before.train.learning_rate, after.train.learning_rate),
                          ("train.schedule", before.train.schedule.model_dump(), after.train.schedule.model_dump())):
        if old != new:
            append_event(run_dir, {"event": "set", "key": key, "from": old, "to": new, "step": step, "epoch": epoch})


def metric_names(task: str, splits: dict[str, Prepared], tasks: list[str] = (), train_metrics: str = "full") -> list[str]:
    """The per-epoch metrics a run records (with running train metrics, the train split has only its cost)."""
    per_split = ["cost", "mse", "mae"] if task == "regression" else ["cost", "accuracy", "error", "precision", "recall", "f1"]
    if task == "multilabel":
        per_split += [f"{metric}_{name}" for name in metric_suffixes(list(tasks)) for metric in ("precision", "recall", "f1")]
    return [f"{split}_{name}" for split in ("train", "dev", "train_dev") if split in splits
            for name in (["cost"] if split == "train" and train_metrics == "running" else per_split)]


def _check_monitors(spec: Spec, known: list[str]) -> None:
    monitor = spec.checkpoint.monitor
    if monitor not in known:
        running = spec.train.train_metrics == "running" and monitor.startswith("train_") and not monitor.startswith("train_dev_")
        why = " (train.train_metrics: running records only train_cost)" if running else ""
        raise BuildError("checkpoint.monitor", f"'{monitor}' is not recorded for this run{why}; choose one of {', '.join(known)}")
    early = spec.train.early_stopping
    if early and early.monitor not in (None, monitor):
        raise BuildError(
            "train.early_stopping.monitor",
            f"early stopping restores best.h5, which checkpoint.monitor ('{monitor}') chooses; "
            f"set checkpoint.monitor: {early.monitor} instead",
        )


def _check_training_batches(spec: Spec, net: Network, m: int, input_shape: tuple[int, ...]) -> None:
    """Batch norm needs ≥ 2 rows in every mini-batch; flips and shifts need images, shifts smaller than them."""
    if any(isinstance(layer, BatchNorm) for layer in net.all_layers()):
        size = resolve_batch_size(spec.train.batch_size, m)
        if size < 2 or m % size == 1:
            raise BuildError(
                "train.batch_size",
                f"batch normalization needs at least 2 examples in every mini-batch; with {m} training "
                f"examples a batch size of {size} leaves a batch of 1",
            )
    augment = spec.train.augment
    if augment and (augment.flip_horizontal or augment.shift) and len(input_shape) != 3:
        raise BuildError("train.augment", f"flips and shifts need image inputs (H, W, C); the inputs have shape {input_shape}")
    if augment and augment.shift and augment.shift >= min(input_shape[:2]):
        height, width = input_shape[:2]
        raise BuildError("train.augment.shift", f"a shift of {augment.shift} pixels moves {height}×{width} images out of sight; "
                                                f"give at most {min(height, width) - 1}")


def _metric_log(run_dir: Path, ckpt, run_id: str, repair: bool) -> MetricLog:
    """The run's metric log, at least as long as the checkpoint says it was, or a placeholder when asked to repair."""
    path = run_dir / rundir.METRICS
    steps, epochs = ckpt.progress["metric_steps"], ckpt.progress["metric_epochs"]
    try:
        if not (path.exists() or path.is_symlink()):
            if steps == epochs == 0:  # killed before anything was logged: no history to lose
                return MetricLog(run_id)
            raise MetricLogError(f"{path}: missing")
        log = MetricLog.load(path)
        if log.run_id not in (None, run_id):
            raise MetricLogError(foreign_file(path, log.run_id, run_id, rundir.LATEST))  # the checkpoint's id
        if log.n_steps < steps or log.n_epochs < epochs:
            raise MetricLogError(f"{path}: holds {log.n_epochs} epochs, the checkpoint {epochs}")
        log.run_id = run_id
        return log
    except MetricLogError as err:
        if repair and not path.is_dir():
            return MetricLog.placeholder(steps, epochs, run_id)
        first = "move it out of the run folder, then " if path.is_dir() else ""
        raise MetricLogError(f"{err}; {first}`nnctl train --resume {run_dir} --repair-metrics` continues with "
                             f"the metrics of the first {epochs} epochs lost") from None


@dataclass
class RunParts:
    spec: Spec
    splits: Splits
    normalizer: Normalizer
    data: dict[str, Prepared]
    net: Network
    streams: dict
    transfer: dict[str, str] = field(default_factory=dict)  # layer → copied / re-initialized / new (init_from)


def prepare_run(spec: Spec, datasets_dir: Path | None = None, normalizer: Normalizer | None = None,
                splits: Splits | None = None, transfer: bool = True, stream: dict | bool | None = None,
                initialize: bool = True) -> RunParts:
    """Load and split the data (unless ``splits`` are given), fit (or reuse) the normalizer, build the network.

    With ``model.init_from`` (and ``transfer``), layers are copied from that run and
    its normalizer is reused unless ``data.normalize.from`` is ``fit``; a resumed run
    passes ``transfer=False``, its checkpoint already holding both. ``stream``: see
    ``prepare_all`` (None decides from the spec; a resumed run passes what it recorded). ``initialize=False``
    leaves θ at zero (`spec show` only sizes the layers: VGG-16 would otherwise draw 138M numbers for nothing).
    """
    source = load_source(spec.model.init_from) if transfer and spec.model.init_from else None
    splits = splits or load_run_data(spec, datasets_dir or default_datasets_dir()).splits
    input_shape = tuple(splits.train.x.shape[1:])
    if normalizer is None and source is not None and spec.data.normalize.from_ == "init_from":
        normalizer = source_normalizer(source, input_shape)
    data, normalizer = prepare_all(spec, splits, normalizer, stream)
    _check_monitors(spec, metric_names(splits.task, data, splits.class_names, spec.train.train_metrics))
    net, streams = fresh_network(spec, input_shape, len(splits.train), initialize)
    fates = copy_layers(spec.model.init_from, source, net) if source is not None else {}
    _check_training_batches(spec, net, len(splits.train), input_shape)
    return RunParts(spec, splits, normalizer, data, net, streams, fates)


def fresh_network(spec: Spec, input_shape: tuple[int, ...], examples: int | None = None,
                  initialize: bool = True) -> tuple[Network, dict]:
    """The spec's network initialized from its seed, and the run's random streams (same seed, same θ);
    ``examples`` (the training set's size) sizes a full batch in the memory estimate; ``initialize=False``
    leaves θ at zero."""
    streams = make_streams(spec.seed)
    net = build_network(spec, input_shape, streams["dropout"], examples=examples)
    if initialize:
        net.initialize(streams["init"])
    return net, streams


def new_trainer(run: RunParts, run_dir: Path, trainer_class: type[Trainer] = Trainer, run_id: str | None = None) -> Trainer:
    """A trainer for ``run`` writing into ``run_dir``, with what its checkpoints must carry (a new run
    gets a new id)."""
    facts = RunFacts(
        normalizer=run.normalizer.state(),
        spec_yaml=spec_to_yaml(run.spec),
        task=run.splits.task,
        class_names=list(run.splits.class_names),
        input_shape=list(run.net.input_shape),
        run_id=run_id or uuid.uuid4().hex,
    )
    return trainer_class(run.spec, run.net, run.data, run_dir, run.streams, facts, len(run.splits.class_names))


def start_run(spec: Spec, runs_dir: Path | None, datasets_dir: Path | None = None, run_dir: Path | None = None,
              lock: FolderLock | None = None, loaded: LoadedData | None = None) -> Trainer:
    """A new run under ``runs_dir``, or in ``run_dir``: an existing, never-checkpointed directory (a search
    trial's), which ``lock`` may hold already. The trainer holds the run's lock until it has run.

    ``loaded``: the splits to train on instead of the spec's own (a fold of a cross-validation); the
    run records them, so it resumes, evaluates and reports on those rows like any other run."""
    check_mirrors(spec)
    loaded = loaded or load_run_data(spec, datasets_dir or default_datasets_dir())
    run = prepare_run(spec, datasets_dir, splits=loaded.splits)
    own_dir = run_dir is None  # a search trial's directory lives in its tune directory: no runs/latest there
    spec_text = spec_to_yaml(spec)
    run_dir = rundir.create_run_dir(runs_dir, spec.name, spec_text) if own_dir else Path(run_dir)
    try:
        lock = lock or FolderLock.acquire(run_dir)
        if not own_dir:
            atomic_write_text(run_dir / rundir.SPEC_FILE, spec_text)
        run_id = uuid.uuid4().hex  # data.h5 records it: the run's checkpoints and metric log must carry it
        write_record(run_dir, loaded, spec, run_id)
        trainer = new_trainer(run, run_dir, run_id=run_id)
        trainer.lock = lock
        trainer.save(rundir.INITIAL)
        # Epoch 0 is a valid checkpoint too, with its (empty) metric log: a run that diverges or is
        # killed in its first epoch still has a last good checkpoint.h5 to evaluate or resume.
        trainer.persist()
        attach_mirrors(trainer, resumed=False)
    except (RunError, Interrupted) as stopped:  # a full disk, a read-only folder, Ctrl-C: no half-made run left
        if own_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(stopped, Interrupted):
                raise Interrupted(f"interrupted while {run_dir} was starting, before training began: nothing "
                                  "was trained and the folder is removed; train the spec again to start over") from None
        raise
    if own_dir:
        rundir.point_latest(run_dir)  # only now, outside the clean-up: latest never names a removed run
    return trainer


def resume_run(run_dir: Path, overrides: list[str] = (), datasets_dir: Path | None = None,
               repair_metrics: bool = False) -> Trainer:
    """Continue a run from its latest checkpoint; only the epoch budget, checkpoint cadence and the learning
    rate and its schedule (the notes' manual decay, recorded as `set` events of the run) may change.

    Every file is checked before anything is written: a damaged checkpoint is
    refused, a damaged or missing metrics.h5 too unless ``repair_metrics`` asks
    for a log whose history before the checkpoint is lost (NaN rows).
    """
    for item in overrides:
        if not _resumable(item.split("=", 1)[0].strip()):
            raise BuildError(f"--set {item}", f"a resumed run can only change {', '.join(RESUMABLE_CHANGES + DECAY_CHANGES)} and logging.*")
    run_dir = Path(rundir.resolve_run(run_dir))
    if not run_dir.is_dir():
        raise RunError(rundir.not_a_directory(run_dir))
    lock = FolderLock.acquire(run_dir)
    try:
        trainer = _resume_locked(run_dir, overrides, datasets_dir, repair_metrics, lock)
    except BaseException:
        lock.release()
        raise
    trainer.lock = lock
    return trainer


def _resume_from(run_dir: Path) -> Path:
    """checkpoint.h5; initial.h5 (the same state) only when the run was killed between writing the two, never
    when a later file shows it trained on: that would start it over and overwrite its history."""
    path = run_dir / rundir.LATEST
    if path.exists():
        return path
    problem = missing_checkpoint(path)
    if problem:
        raise CheckpointError(problem)
    return rundir.checkpoint_path(run_dir, "initial")


def _resume_locked(run_dir: Path, overrides: list[str], datasets_dir: Path | None, repair_metrics: bool,
                   lock: FolderLock) -> Trainer:
    remove_stale_temporaries(run_dir)
    if not any((run_dir / name).exists() for name in (rundir.LATEST, rundir.INITIAL)):
        # Stopped before its first checkpoint: nothing was trained, so the run starts again where it is.
        spec_file = run_dir / rundir.SPEC_FILE
        if not spec_file.is_file():
            raise RunError(f"{run_dir}: nothing to resume: stopped before its spec.yaml was written (no checkpoint, "
                           "no spec); start the run again from its spec")
        spec = parse_spec(spec_file.read_text(encoding="utf-8"), str(spec_file), overrides)
        return start_run(spec, None, datasets_dir, run_dir=run_dir, lock=lock)
    path = _resume_from(run_dir)
    ckpt = load_checkpoint(path)
    check_resumable(ckpt, path)
    spec = parse_spec(ckpt.spec_yaml, spec_source(path), overrides)
    check_mirrors(spec)
    if ckpt.progress.get("stop_reason") == StopReason.early_stopping:
        raise BuildError("train.early_stopping", f"{run_dir} already stopped early at epoch {ckpt.epoch} and holds its best "
                                                 "parameters; to train them further, start a new run from it (model.init_from: "
                                                 f"{{run: {run_dir}}}), or, to wait longer before stopping, train again with a "
                                                 "larger train.early_stopping.patience")
    if spec.train.epochs <= ckpt.epoch:  # would train nothing, yet rewrite the stored spec
        raise BuildError("train.epochs", f"{run_dir} has trained {ckpt.epoch} epochs and train.epochs is {spec.train.epochs}; "
                                         f"to continue, give --set train.epochs=N with N > {ckpt.epoch}")
    splits = run_splits(Path(run_dir), spec, datasets_dir or default_datasets_dir())
    recorded = ckpt.progress.get("stream")  # read the file as the run did: streamed with these settings, or in memory
    run = prepare_run(spec, datasets_dir, stored_normalizer(ckpt, path), splits, transfer=False,
                      stream=False if recorded is None else recorded)
    run_id = ckpt.progress.get("run_id")
    trainer = new_trainer(run, run_dir, run_id=run_id if isinstance(run_id, str) and run_id else None)
    check_network(ckpt, path, run.net)
    trainer.enter_stages_of(ckpt)  # the optimizer then covers the tensors trained at that point
    check_group(path, "optimizer", ckpt.optimizer,
                {key: np.shape(value) for key, value in trainer.optimizer.state_dict().items() if key != "t"})
    trainer.restore(ckpt, _metric_log(run_dir, ckpt, trainer.facts.run_id, repair_metrics))
    _record_decay(run_dir, parse_spec(ckpt.spec_yaml), spec, ckpt.step + 1, ckpt.epoch + 1)
    atomic_write_text(run_dir / rundir.SPEC_FILE, spec_to_yaml(spec))
    attach_mirrors(trainer, resumed=True)
    return trainer
