"""The notes' error analysis (docs/explanation/algorithms.md#error-analysis): a spreadsheet of misclassified examples, and its tally.

`nnctl errors` samples misclassified examples of a split into a CSV with the
row id in the source, true and predicted class, the predicted probabilities,
the margin p(predicted) − p(true), and empty ``tags``/``comment`` columns for
the user. `tally` reads the tags back and does the notes' ceiling arithmetic:
a category holding a share f of the sampled errors can lower the split's error
e by at most f·e (10 % error, 5 % of it dogs → at best 9.5 %).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StrategyError
from ..literal import from_spreadsheet_cell, spreadsheet_cell, spreadsheet_row
from ..orchestration.model import all_splits, load_model, split_data, split_ids
from ..runs.atomic import atomic_write_bytes, atomic_write_text
from ..runs.outputs import id_headers
from ..runs.png import png_bytes, to_pixels
from .evaluation import Options, score_split

FIXED_COLUMNS = ("run", "split", "checkpoint", "threshold", "part", "row", "true", "predicted", "margin")
SHEET_EXTRAS = ("image", "correct", "tags", "comment")  # after the probabilities; image and correct when asked for
REQUIRED_COLUMNS = ("run", "split", "row", "true", "predicted", "tags")
IMAGE_SIDE = 64  # small images are enlarged to at least this many pixels a side


@dataclass
class ErrorSet:
    """The misclassified examples of one split."""

    run: str
    split: str
    checkpoint: str
    threshold: float | None  # of a sigmoid output (None: 0.5)
    examples: int  # in the whole split
    class_names: list[str]
    parts: np.ndarray  # each example's part (its source, in the run's data record; 0 for a single source)
    rows: np.ndarray  # row ids within that part
    true: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray  # (errors, classes)
    x: np.ndarray  # raw inputs, for pictures
    value_range: tuple[float, float]  # of the split's raw inputs: one brightness scale for every picture
    ids: dict[str, np.ndarray] = field(default_factory=dict)  # the run's id columns (name → text), to join rows back

    @property
    def error(self) -> float:
        return len(self.rows) / self.examples

    def margins(self) -> np.ndarray:
        picked = np.arange(len(self.rows))
        return self.probabilities[picked, self.predicted] - self.probabilities[picked, self.true]


def find_errors(run_dir: Path, split: str, which: str = "best", threshold: float | None = None,
                correct: bool = False) -> ErrorSet:
    """The misclassified examples of ``split``; with ``correct``, the correctly classified ones instead (the notes:
    when fixing labels, look at some examples the model got right as well)."""
    model = load_model(Path(run_dir), which)
    if model.checkpoint.task != "classification":
        raise StrategyError(f"{run_dir}: error analysis needs a (single-label) classification run; this one is {model.checkpoint.task}")
    splits = all_splits(model)
    data = split_data(model, split, splits)
    outputs, scores = score_split(model, data, Options(threshold=threshold))
    probabilities = np.column_stack([1 - outputs[:, 0], outputs[:, 0]]) if outputs.shape[1] == 1 else outputs
    wrong = np.flatnonzero((scores.predictions == data.y) if correct else (scores.predictions != data.y))
    return ErrorSet(str(run_dir), split, model.path.name, threshold, len(data), list(model.checkpoint.class_names),
                    data.parts()[wrong], data.source_rows()[wrong],
                    data.y[wrong], scores.predictions[wrong], probabilities[wrong].astype(np.float64), data.x[wrong],
                    (float(data.x.min()), float(data.x.max())),
                    _sheet_ids(split_ids(model, splits, data), wrong, model.checkpoint.class_names))


def _sheet_ids(ids: dict[str, np.ndarray], wrong: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """The id columns of the listed rows, under names no column of the sheet's own has (``id_headers``)."""
    own = [*FIXED_COLUMNS, *(f"p_{name}" for name in class_names), *SHEET_EXTRAS]
    return {name: values[wrong] for name, values in zip(id_headers(list(ids), own), ids.values())}


def sample(errors: ErrorSet, limit: int, seed: int) -> np.ndarray:
    """Up to ``limit`` misclassified examples drawn at random (seeded), in (part, row) order."""
    if limit < 1:
        raise StrategyError(f"--limit {limit}: expected at least 1")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(errors.rows), size=min(limit, len(errors.rows)), replace=False)
    return picked[np.lexsort((errors.rows[picked], errors.parts[picked]))]


def write_images(errors: ErrorSet, picked: np.ndarray, directory: Path) -> list[str]:
    """One PNG per picked example (``row-<id>.png``, ``part<k>-row-<id>.png`` beyond the first part); returns the names."""
    shape = errors.x.shape[1:]
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise StrategyError(f"--images: the inputs have shape {shape}, not images (H, W, 1 or 3 channels)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scale = max(1, math.ceil(IMAGE_SIDE / min(shape[:2])))
    names = []
    for i in picked:
        name = ("" if errors.parts[i] == 0 else f"part{errors.parts[i]}-") + f"row-{errors.rows[i]}.png"
        atomic_write_bytes(directory / name, png_bytes(to_pixels(errors.x[i], *errors.value_range, scale)))
        names.append(name)
    return names


def sheet_rows(errors: ErrorSet, picked: np.ndarray, images: list[str] | None = None, correct: bool | None = None) -> list[dict]:
    """The spreadsheet's rows as dicts (probability columns ``p_<class>``); ``correct`` (given when the sheet
    mixes in correctly classified rows) fills a ``correct`` column with yes or no."""
    margins = errors.margins()
    rows = []
    for k, i in enumerate(picked):
        row = {"run": errors.run, "split": errors.split, "checkpoint": errors.checkpoint,
               "threshold": "" if errors.threshold is None else errors.threshold, "part": int(errors.parts[i]),
               "row": int(errors.rows[i]), **{name: str(values[i]) for name, values in errors.ids.items()},
               "true": errors.class_names[errors.true[i]], "predicted": errors.class_names[errors.predicted[i]],
               "margin": round(float(margins[i]), 6)}
        row |= {f"p_{name}": round(float(p), 6) for name, p in zip(errors.class_names, errors.probabilities[i])}
        if images is not None:
            row["image"] = images[k]
        if correct is not None:
            row["correct"] = "yes" if correct else "no"
        rows.append(row | {"tags": "", "comment": ""})
    return rows


def write_sheet(path: Path, errors: ErrorSet, rows: list[dict]) -> None:
    """The sheet as CSV; no cell, header included, is text a spreadsheet would run as a formula."""
    fixed = list(FIXED_COLUMNS)
    fixed[fixed.index("row") + 1:fixed.index("row") + 1] = list(errors.ids)
    columns = [*fixed, *(f"p_{name}" for name in errors.class_names)]
    columns += [name for name in ("image", "correct") if rows and name in rows[0]] + ["tags", "comment"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(spreadsheet_row(columns))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writerows({column: spreadsheet_cell(value) for column, value in row.items()} for row in rows)
    atomic_write_text(Path(path), buffer.getvalue())


# ---------------------------------------------------------------- tally


@dataclass
class Category:
    tag: str
    count: int
    share: float  # of the sampled errors
    ceiling: float  # at most this much error removed: share · error
    error_after: float  # the split's error if the whole category were fixed


@dataclass
class Tally:
    run: str
    split: str
    error: float
    examples: int
    errors: int
    sampled: int
    untagged: int
    categories: list[Category]
    confusion_pairs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"run": self.run, "split": self.split, "error": self.error, "examples": self.examples, "errors": self.errors,
                "sampled": self.sampled, "untagged": self.untagged,
                "categories": [vars(c) for c in self.categories], "confusion_pairs": self.confusion_pairs}


def ceiling(error: float, count: int, sampled: int) -> tuple[float, float]:
    """(error removed at most, error left at best) when a category holds count of sampled errors."""
    share = count / sampled
    return share * error, error - share * error


def tally(path: Path) -> Tally:
    """Read a tagged errors CSV back, check it against its run, count the categories."""
    path = Path(path)
    records = [(line, r) for line, r in _read_sheet(path) if r.get("correct") != "yes"]  # --include-correct rows
    runs = {(r["run"], r["split"], r.get("checkpoint") or "best.h5", r.get("threshold", "")) for _, r in records}
    if len(runs) > 1:
        raise StrategyError(f"{path}: rows come from {len(runs)} different runs/splits; tally one errors file at a time")
    run, split, checkpoint, threshold = runs.pop()
    which = {"best.h5": "best", "checkpoint.h5": "latest", "initial.h5": "initial"}.get(checkpoint, "best")
    errors = find_errors(Path(run), split, which, _threshold(threshold, path))
    by_row = {(int(part), int(row)): i for i, (part, row) in enumerate(zip(errors.parts, errors.rows))}
    counts, seen, untagged = Counter(), set(), 0
    for line, record in records:
        key = (_row_id(record.get("part") or "0", path, line, "part"), _row_id(record["row"], path, line, "row"))
        where = f"row {key[1]}" + (f" of part {key[0]}" if key[0] else "")
        if key not in by_row:
            raise StrategyError(f"{path}:{line}: {where} is not a misclassified {split} example of {run}")
        if key in seen:
            raise StrategyError(f"{path}:{line}: {where} appears twice")
        seen.add(key)
        i = by_row[key]
        for column, index in (("true", errors.true[i]), ("predicted", errors.predicted[i])):
            if record[column] != errors.class_names[index]:
                raise StrategyError(f"{path}:{line}: {where} is {column} '{record[column]}' in the file but "
                                    f"'{errors.class_names[index]}' in {run} (retrained? run nnctl errors again)")
        tags = list(dict.fromkeys(t.strip() for t in record["tags"].split(",") if t.strip()))
        counts.update(tags)
        untagged += not tags
    sampled = len(records)
    categories = [Category(tag, n, n / sampled, *ceiling(errors.error, n, sampled)) for tag, n in
                  sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return Tally(run, split, errors.error, errors.examples, len(errors.rows), sampled, untagged, categories,
                 confusion_pairs(errors))


def confusion_pairs(errors: ErrorSet) -> list[dict]:
    """(true, predicted) pairs among all of the split's errors, most frequent first."""
    pairs = Counter(zip(errors.true.tolist(), errors.predicted.tolist()))
    total = max(len(errors.rows), 1)
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return [{"true": errors.class_names[t], "predicted": errors.class_names[p], "count": n, "share": n / total}
            for (t, p), n in ranked]


def _read_sheet(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise StrategyError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [from_spreadsheet_cell(c.strip()) for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise StrategyError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                    f"(nnctl errors writes {', '.join(REQUIRED_COLUMNS)})")
            reader.fieldnames = columns
            records = [(reader.line_num, {k: from_spreadsheet_cell((v or "").strip()) for k, v in record.items() if k is not None})
                       for record in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise StrategyError(f"{path}: not a readable CSV file ({err})") from None
    if not records:
        raise StrategyError(f"{path}: no rows to tally")
    return records


def _threshold(text: str, path: Path) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        raise StrategyError(f"{path}: threshold '{text}' is not a number") from None


def _row_id(text: str, path: Path, line: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StrategyError(f"{path}:{line}: {column} '{text}' is not a whole number") from None
