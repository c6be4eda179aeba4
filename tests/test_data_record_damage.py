"""Issue 21, item 6 (data.h5): every field of a run's data record is checked when it is read back.

A damaged field (wrong type, shape or range, missing, unreadable JSON) is one
line naming data.h5 and the repair, through any command that reads the split;
a data.h5 that is a directory or a dangling link is damage too, never "a run
that predates recorded splits".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_SPEC, invoke, one_line_error, train_run, write_spec
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import FUZZ, assert_contract

from nnctl.errors import RunError
from nnctl.runs.data_record import REPAIR, load_data_record
from nnctl.runs.seal import reseal


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("record")
    spec = write_spec(base, TINY_SPEC.replace("epochs: 4", "epochs: 1"), "tiny.yaml")
    return train_run(spec, base / "runs")


def copy_run(pristine: Path, folder: Path) -> Path:
    return Path(shutil.copytree(pristine, folder / pristine.name, symlinks=True))


# Values that are wrong for the field they replace: another type, shape or range.
BAD_ATTRIBUTES = {
    "format_version": [None, "1", 1.5, -1, [1, 1]],
    "task": [None, 3, "clustering", b"\xff\xfe"],
    "class_names": [None, 7, "not json", "{}", "[1, 2]"],
    "seed": [None, "0", -3, 2.5],
    "base_dir": [None, 12],
    "parts": [None, "[]", "{}", "[1]", '[{"key": "data.source"}]',
              '[{"key": "data.source", "rows": -1, "sha256": "", "files": []}]',
              '[{"key": "data.source", "rows": 300, "sha256": "", "files": [{"path": 1}]}]',
              '[{"key": "data.source", "rows": 5, "sha256": "", "files": []}]'],  # fewer rows than recorded
    "relabel": [None, "[]", '{"path": 3}', "nonsense"],
    "schema": ["[]", "12", "{"],  # a JSON object: its fields are the data layer's to check (test_input_contract)
    "run_id": [7, ""],  # the run's id, which its checkpoints and metric log carry (absent in older runs)
}
# (dataset, replacement) where None deletes it.
BAD_DATASETS = {
    "splits/train/part": [None, np.array([0.5]), np.zeros((2, 2), np.int32), np.array([-1] * 180), np.array([9] * 180),
                          np.array([b"a"])],
    "splits/train/row": [None, np.array([1.0] * 180), np.arange(3), np.full(180, 10**6), np.full(180, -2)],
    "splits/dev/row": [None, np.arange(60).reshape(30, 2)],
    "splits/bogus/row": [np.arange(3)],
    "corrections/dev/old": [np.array([99]), np.array([-1])],
}


def damage_attribute(path: Path, name: str, value) -> None:
    with h5py.File(path, "r+") as f:
        if value is None:
            del f.attrs[name]
        else:
            f.attrs[name] = value
    reseal(path)  # a seal made over the damage: only the field checks can catch it


def damage_dataset(path: Path, name: str, value) -> None:
    with h5py.File(path, "r+") as f:
        if name.startswith("corrections/"):  # a valid correction first, then the field under test
            group = f.require_group("corrections/dev")
            for key, data in (("part", [0]), ("row", [int(f["splits/dev/row"][0])]), ("old", [0]), ("new", [1])):
                if key not in group:
                    group.create_dataset(key, data=np.array(data, dtype=np.int64))
        if name in f:
            del f[name]
        if value is not None:
            f.create_dataset(name, data=value)
    reseal(path)


def assert_refused(run: Path) -> str:
    with pytest.raises(RunError) as caught:
        load_data_record(run)
    message = str(caught.value)
    assert str(run / "data.h5") in message and REPAIR in message
    assert "\n" not in message
    return message


@FUZZ
@given(case=st.sampled_from([(k, i) for k, values in BAD_ATTRIBUTES.items() for i in range(len(values))]))
def test_every_damaged_attribute_is_refused(pristine, tmp_path_factory, case):
    name, index = case
    run = copy_run(pristine, tmp_path_factory.mktemp("attr"))
    damage_attribute(run / "data.h5", name, BAD_ATTRIBUTES[name][index])
    assert_refused(run)


@FUZZ
@given(case=st.sampled_from([(k, i) for k, values in BAD_DATASETS.items() for i in range(len(values))]))
def test_every_damaged_dataset_is_refused(pristine, tmp_path_factory, case):
    name, index = case
    run = copy_run(pristine, tmp_path_factory.mktemp("data"))
    damage_dataset(run / "data.h5", name, BAD_DATASETS[name][index])
    assert_refused(run)


def test_a_valid_correction_is_read(pristine, tmp_path):
    run = copy_run(pristine, tmp_path)
    damage_dataset(run / "data.h5", "corrections/dev/new", np.array([2]))
    assert load_data_record(run).corrected_counts()["dev"] == 1


@pytest.mark.parametrize("damage", ["directory", "dangling link", "garbage", "truncated", "unsealed edit"])
def test_commands_refuse_a_damaged_record_in_one_line(pristine, tmp_path, damage):
    run = copy_run(pristine, tmp_path)
    path = run / "data.h5"
    if damage == "directory":
        path.unlink()
        path.mkdir()
    elif damage == "dangling link":
        path.unlink()
        path.symlink_to(tmp_path / "gone.h5")
    elif damage == "garbage":
        path.write_bytes(b"\x89HDF not really")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:700])
    else:
        with h5py.File(path, "r+") as f:
            f.attrs["seed"] = 99
    for command in (["eval", run, "--split", "dev"], ["errors", run], ["diagnose", run]):
        line = one_line_error(invoke(*command, expect=2).stderr)
        assert "data.h5" in line and "predates" not in line, line
        assert REPAIR in line or damage == "unsealed edit" and "SHA-256" in line, line


@FUZZ
@given(where=st.floats(0, 1), payload=st.binary(min_size=1, max_size=32), damage=st.sampled_from(["flip", "overwrite", "truncate"]))
def test_byte_damage_is_refused_cleanly(pristine, tmp_path_factory, where, payload, damage):
    run = copy_run(pristine, tmp_path_factory.mktemp("bytes"))
    path = run / "data.h5"
    data = bytearray(path.read_bytes())
    at = int(where * (len(data) - 1))
    if damage == "flip":
        data[at] ^= 1 << (payload[0] % 8)
    elif damage == "overwrite":
        data[at:at + len(payload)] = payload
    else:
        data = data[:at]
    path.write_bytes(bytes(data))
    result = invoke("eval", run, "--split", "dev", expect=None)
    assert_contract(result)


def test_a_class_name_of_thousands_of_characters_keeps_the_error_one_short_line(pristine, tmp_path):
    """Recorded classes that differ from the data's, one of them 5,000 characters long: each name is cut."""
    run = copy_run(pristine, tmp_path)
    names = [str(k) for k in range(9)] + ["x" * 5000]
    damage_attribute(run / "data.h5", "class_names", json.dumps(names))
    line = one_line_error(invoke("eval", run, "--split", "dev", expect=2).stderr)
    assert "differ from the run's" in line and "(5,000 characters)" in line and len(line) < 600, line


def test_a_record_without_a_run_id_is_a_run_made_before_ids_were_recorded(pristine, tmp_path):
    run = copy_run(pristine, tmp_path)
    damage_attribute(run / "data.h5", "run_id", None)
    assert load_data_record(run).run_id is None
    invoke("eval", run, "--split", "dev")
