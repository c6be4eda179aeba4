"""Issue 20: summaries describe what is on disk, and errors suggest only what the failing command offers."""

from __future__ import annotations

from conftest import TINY_SPEC, invoke, invoke_json, one_line_error, train_json, write_spec

EARLY = TINY_SPEC.replace("epochs: 4", "epochs: 30\n  early_stopping: {patience: 2, min_delta: 10}").replace(
    "learning_rate: 0.01", "learning_rate: 0.3")


def test_the_early_stopping_summary_is_that_of_the_restored_parameters(tmp_path):
    spec = write_spec(tmp_path, EARLY)
    result = train_json(spec, tmp_path / "runs")
    assert result["stop_reason"] == "early_stopping" and result["epochs"] == 3
    assert result["metrics_epoch"] == result["best"]["epoch"]
    for split in ("train", "dev"):
        evaluated = invoke_json("eval", result["run"], "--split", split, "--checkpoint", "best")["metrics"]
        for name in ("cost", "accuracy", "f1"):
            assert abs(result["metrics"][f"{split}_{name}"] - evaluated[name]) < 1e-6, (split, name)
    table = invoke("train", spec, "--runs-dir", tmp_path / "again", "--quiet").stdout
    assert f"metrics of epoch {result['best']['epoch']}: best.h5, restored" in table
    line = one_line_error(invoke("train", "--resume", result["run"], expect=2).stderr)
    assert "already stopped early" in line and "model.init_from" in line and "train.early_stopping.patience" in line


def test_changed_data_suggests_data_only_where_the_command_has_it(tmp_path):
    csv = tmp_path / "table.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{'xy'[i % 2]}\n" for i in range(40)))
    spec = write_spec(tmp_path, """\
        name: changed
        data: {source: {type: csv, path: table.csv}}
        model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}
        train: {epochs: 1, batch_size: 8, learning_rate: 0.1}
        """)
    run = train_json(spec, tmp_path / "runs")["run"]
    csv.write_text(csv.read_text() + "1,1,x\n")
    assert "--data" in one_line_error(invoke("eval", run, "--split", "dev", expect=2).stderr)
    for command in (["errors", run], ["diagnose", run], ["train", "--resume", run, "--set", "train.epochs=2"]):
        line = one_line_error(invoke(*command, expect=2).stderr)
        assert "the data changed" in line and "--data" not in line, (command, line)
