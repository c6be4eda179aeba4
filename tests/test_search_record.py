"""A tune directory read back field by field, its torn tail cut before the next append, one search process at a time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import invoke, invoke_json, one_line_error, write_spec

from nnctl.errors import TuneDirError
from nnctl.search.record import TRIALS_FILE, TUNE_FILE, append_event, load_search, search_lock
from tests.test_search import TUNE_SPEC


@pytest.fixture(scope="module")
def finished_tune(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("tune")
    spec = write_spec(base, TUNE_SPEC.replace("trials: 4", "trials: 2"))
    return Path(invoke_json("tune", spec, "--runs-dir", base / "runs", "--workers", "1", "--quiet")["tune_dir"])


@pytest.fixture
def copy(finished_tune, tmp_path) -> Path:
    return Path(shutil.copytree(finished_tune, tmp_path / "copy"))


def _events(tune_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (tune_dir / TRIALS_FILE).read_text().splitlines()]


def _rewrite(tune_dir: Path, events: list[dict]) -> None:
    (tune_dir / TRIALS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))


def test_a_torn_tail_is_cut_before_the_resume_appends(copy):
    events = _events(copy)
    _rewrite(copy, events[:-1])  # the last trial's end is lost ...
    with open(copy / TRIALS_FILE, "a") as f:
        f.write('{"event": "end", "tri')  # ... and a kill tore the line that was recording it
    assert invoke_json("tune", "--resume", copy, "--quiet")["completed"]
    lines = (copy / TRIALS_FILE).read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == len(events)
    assert [t.status for t in load_search(copy).trials] == ["completed", "completed"]


def test_append_cuts_a_tail_without_any_newline(tmp_path):
    (tmp_path / TRIALS_FILE).write_text('{"event": "st')
    append_event(tmp_path, {"event": "child", "tune": "x"})
    assert json.loads((tmp_path / TRIALS_FILE).read_text())["tune"] == "x"


def test_a_conflicting_second_end_is_refused_and_a_repeated_one_is_not(copy):
    events = _events(copy)
    end = next(e for e in events if e["event"] == "end")
    _rewrite(copy, [*events, end])
    assert [t.status for t in load_search(copy).trials] == ["completed", "completed"]
    _rewrite(copy, [*events, {**end, "value": 0.0, "best_epoch": 1}])
    with pytest.raises(TuneDirError, match=r"trials.jsonl:\d+: trial \d ends a second time with another result"):
        load_search(copy)


@pytest.mark.parametrize("field, value, kind", [
    ("trial", "0", "string"), ("trial", True, "boolean"), ("status", 3, "integer"), ("value", "0.1", "string"),
    ("value", float("nan"), "non-finite number"), ("epochs", 2.5, "number"), ("curve", {"a": 1}, "object"),
    ("feasible", "yes", "string"), ("satisfy", [], "array"), ("best_epoch", 1.0, "number"), ("message", 5, "integer"),
])
def test_end_fields_of_the_wrong_type_are_one_line(copy, field, value, kind):
    events = _events(copy)
    k = next(i for i, e in enumerate(events) if e["event"] == "end")
    events[k][field] = value
    _rewrite(copy, events)
    message = one_line_error(invoke("tune", "--resume", copy, expect=2).stderr)
    assert f"trials.jsonl:{k + 1}: {field} is a {kind}, expected" in message


@pytest.mark.parametrize("edit, expected", [
    ({"best_epoch": 99}, "best_epoch 99 is not one of the trial's 3 epochs"),
    ({"curve": ["x"]}, "curve and satisfy hold numbers or null, not 'x'"),
    ({"epochs": -1}, "best_epoch"),
])
def test_end_numbers_out_of_range_are_refused(copy, edit, expected):
    events = _events(copy)
    k = next(i for i, e in enumerate(events) if e["event"] == "end")
    events[k].update(edit)
    _rewrite(copy, events)
    with pytest.raises(TuneDirError, match=expected):
        load_search(copy)


@pytest.mark.parametrize("field, value", [("format", True), ("parent", 5), ("nnctl_version", None), ("spec_sha256", [1])])
def test_tune_json_fields_of_the_wrong_type_are_one_line(copy, field, value):
    manifest = json.loads((copy / TUNE_FILE).read_text())
    manifest[field] = value
    (copy / TUNE_FILE).write_text(json.dumps(manifest))
    message = one_line_error(invoke("tune", "--resume", copy, expect=2).stderr)
    assert "tune.json" in message


def test_a_second_search_process_on_one_directory_is_locked_out(copy):
    _rewrite(copy, _events(copy)[:-1])
    with search_lock(copy):
        before = (copy / TRIALS_FILE).read_bytes()
        message = one_line_error(invoke("tune", "--resume", copy, expect=2).stderr)
        assert (copy / TRIALS_FILE).read_bytes() == before  # nothing handed out, nothing recorded
    assert "another nnctl tune is running this search" in message
    assert invoke_json("tune", "--resume", copy, "--quiet")["completed"]  # released: it resumes
    assert [t.status for t in load_search(copy).trials] == ["completed", "completed"]


def test_a_filesystem_without_locks_runs_the_search_and_says_so(copy, monkeypatch, caplog):
    import errno

    from nnctl.search import record

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(record.fcntl, "flock", no_locks)
    with search_lock(copy):
        append_event(copy, {"event": "child", "tune": "elsewhere"})
    assert "cannot lock the tune directory (No locks available)" in caplog.text
    assert _events(copy)[-1]["tune"] == "elsewhere"


def test_trial_statuses_are_written_as_their_words():
    """TrialStatus is str-valued: trials.jsonl and --json output read as they did with plain strings."""
    from nnctl.runs.status import TrialStatus

    assert json.dumps({"status": TrialStatus.early_stopping}) == '{"status": "early_stopping"}'
    assert f"{TrialStatus.failed}" == "failed" and TrialStatus("pruned") is TrialStatus.pruned
