"""The ML-strategy arithmetic against the notes' own examples and hand computations
(docs/explanation/algorithms.md#single-number-evaluation, #error-decomposition)."""

from __future__ import annotations

import itertools
import struct
import zlib

import numpy as np
import pytest

from nnctl.conditions import ConditionError
from nnctl.data import Dataset
from nnctl.data.subset import nested_share
from nnctl.errors import StrategyError
from nnctl.nn.metrics import binary_error_rates, effective_size, group_errors, roc_auc, weighted_error
from nnctl.runs.png import png_bytes, to_pixels
from nnctl.strategy.confidence import Z95, wilson_interval
from nnctl.strategy.decomposition import Level, decompose
from nnctl.strategy.error_analysis import ceiling
from nnctl.strategy.learning_curve import CurvePoint, parse_fractions, read_curve
from nnctl.strategy.remedies import remedies_for
from nnctl.strategy.scoring import parse_weights, score
from nnctl.strategy.selection import parse_bar


def diag(train, dev, human=None, train_dev=None, test=None, n=None, tolerance=0.01):
    level = lambda name, e: None if e is None else Level(name, e / 100, n)  # noqa: E731 - percentages as in the notes
    return decompose(level("train", train), level("dev", dev), None if human is None else human / 100,
                     level("train_dev", train_dev), level("test", test), tolerance)


def gaps(d):
    return {name: None if gap.value is None else round(100 * gap.value, 10) for name, gap in d.gaps.items()}


# ---------------------------------------------------------------- the notes' bias/variance examples


@pytest.mark.parametrize("train, dev, problems, verdict", [
    (1, 11, ["variance"], "high variance"),
    (15, 16, ["avoidable_bias"], "high avoidable bias"),
    (15, 30, ["avoidable_bias", "variance"], "high avoidable bias and variance"),
    (0.5, 1, [], "no gap reaches 1 %: low avoidable bias and low variance"),
])
def test_bias_variance_examples_with_bayes_error_zero(train, dev, problems, verdict):
    d = diag(train, dev)
    assert gaps(d) == {"avoidable_bias": train, "variance": round(dev - train, 10)}
    assert sorted(d.problems) == sorted(problems)
    assert d.verdict == verdict
    assert any("Bayes error taken as 0" in note for note in d.notes)
    assert any("no train-dev split" in note and "data.split.train_dev" in note for note in d.notes)


def test_algorithms_checks_human_level_changes_the_focus():
    d = diag(8, 10, human=1)  # cat example: human 1 % → bias 7, variance 2
    assert gaps(d) == {"avoidable_bias": 7.0, "variance": 2.0}
    assert d.problems == ["avoidable_bias"] and d.dominant == ["avoidable_bias"]
    d = diag(8, 10, human=7.5)  # blurry images: human 7.5 % → bias 0.5, variance 2
    assert gaps(d) == {"avoidable_bias": 0.5, "variance": 2.0}
    assert d.problems == ["variance"]
    assert not any("Bayes error taken as 0" in note for note in d.notes)


@pytest.mark.parametrize("human", [1.0, 0.7, 0.5])  # typical doctor, experienced doctor, team of doctors
def test_radiology_where_the_human_level_does_not_matter(human):
    d = diag(5, 6, human=human)
    assert gaps(d)["avoidable_bias"] == pytest.approx(5 - human) and gaps(d)["variance"] == pytest.approx(1)
    assert d.focus == ["avoidable_bias"]
    d = diag(1, 5, human=human)
    assert d.focus == ["variance"]


def test_radiology_close_to_human_level_where_it_matters():
    d = diag(0.7, 0.8, human=0.5)
    assert gaps(d) == {"avoidable_bias": 0.2, "variance": 0.1}
    assert d.problems == [] and d.dominant == ["avoidable_bias"] and d.focus == ["avoidable_bias"]
    # with a finer tolerance both are problems, bias the bigger one (the notes: "maybe both ... but bias is bigger")
    fine = diag(0.7, 0.8, human=0.5, tolerance=0.001)
    assert fine.problems == ["avoidable_bias", "variance"] and fine.verdict == "high avoidable bias and variance"
    # with the typical doctor (1 %) as "human level" the train error is already below it
    below = diag(0.7, 0.8, human=1)
    assert below.gaps["avoidable_bias"].value is None
    assert any("avoidable bias can no longer be estimated" in note for note in below.notes)


def test_surpassing_human_level():
    d = diag(0.6, 0.8, human=0.5)  # bias at least 0.1, variance 0.2
    assert gaps(d) == {"avoidable_bias": 0.1, "variance": 0.2}
    assert d.dominant == ["variance"]
    d = diag(0.3, 0.4, human=0.5)
    assert d.gaps["avoidable_bias"].value is None and d.dominant == ["variance"]
    assert "avoidable_bias" not in d.problems


@pytest.mark.parametrize("train, train_dev, dev, expected, problems", [
    (1, 9, 10, {"avoidable_bias": 1, "variance": 8, "data_mismatch": 1}, ["variance"]),
    (1, 1.5, 10, {"avoidable_bias": 1, "variance": 0.5, "data_mismatch": 8.5}, ["data_mismatch"]),
    (10, 11, 12, {"avoidable_bias": 10, "variance": 1, "data_mismatch": 1}, ["avoidable_bias"]),
    (10, 11, 20, {"avoidable_bias": 10, "variance": 1, "data_mismatch": 9}, ["avoidable_bias", "data_mismatch"]),
])
def test_mismatched_distributions_examples(train, train_dev, dev, expected, problems):
    d = diag(train, dev, human=0, train_dev=train_dev)
    assert gaps(d) == pytest.approx(expected)
    assert d.problems == problems
    assert not any("no train-dev split" in note for note in d.notes)


def test_negative_mismatch_and_overfitting_to_dev():
    d = diag(2, 4, human=0, train_dev=5, test=7)
    assert gaps(d) == pytest.approx({"avoidable_bias": 2, "variance": 3, "data_mismatch": -1, "dev_overfitting": 3})
    assert any("data mismatch is negative" in note and "easier" in note for note in d.notes)
    assert set(d.problems) == {"variance", "dev_overfitting", "avoidable_bias"}
    assert [r.key for r in remedies_for("dev_overfitting")] == ["data.split.dev"]


def test_remedies_name_spec_keys_in_the_notes_order():
    assert [r.key for r in remedies_for("avoidable_bias")] == ["model.layers", "train.epochs", "train.optimizer", "train.learning_rate"]
    assert [r.key for r in remedies_for("variance")] == [
        "data.split.train", "regularization.l2", "model.layers[i].keep_prob", "train.augment", "model.layers"]
    assert "nnctl errors" in remedies_for("data_mismatch")[0].key


# ---------------------------------------------------------------- confidence intervals


def test_wilson_interval_published_values():
    low, high = wilson_interval(0.1, 100)  # 10 errors in 100: the textbook 95 % Wilson interval
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    low, high = wilson_interval(0.0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775


@pytest.mark.parametrize("k, n", [(1, 7), (3, 40), (17, 60), (500, 1000), (59, 60)])
def test_wilson_bounds_are_the_roots_of_the_score_equation(k, n):
    """Both ends p solve (p̂ − p)² = z² p(1 − p)/n: the definition, independent of the closed form."""
    phat = k / n
    for p in wilson_interval(phat, n):
        assert (phat - p) ** 2 == pytest.approx(Z95**2 * p * (1 - p) / n, rel=1e-9, abs=1e-15)


def test_small_splits_warn_that_a_gap_is_within_noise():
    d = diag(2, 5, n=100)
    assert d.gaps["variance"].within_noise
    assert any(w.startswith("variance (3 %) is within the 95 % confidence interval") for w in d.warnings)
    big = diag(2, 5, n=100_000)
    assert not big.gaps["variance"].within_noise and not big.warnings
    assert diag(2, 5).warnings == []  # numbers without sizes have no interval


# ---------------------------------------------------------------- single-number metrics


def test_weighted_error_normalized_by_the_sum_of_weights():
    y = np.array([0, 0, 1, 1, 1])
    pred = np.array([1, 0, 1, 1, 0])  # one cat (w 1) and one unacceptable (w 10) wrong
    w = np.array([1, 1, 10, 10, 10])
    assert weighted_error(y, pred, w) == 11 / 32
    assert effective_size(w) == 32**2 / 302
    scores = score(y, np.eye(2)[pred].astype(float), ["cat", "unacceptable"], weights={"unacceptable": 10})
    assert scores.metrics["weighted_error"] == 11 / 32 and scores.metrics["error"] == 2 / 5
    with pytest.raises(StrategyError, match="no class 'dog'"):
        score(y, np.eye(2)[pred].astype(float), ["cat", "unacceptable"], weights={"dog": 2})


def test_group_errors_and_their_mean_per_region_table():
    """The notes' per-region example: A's errors 3/7/5/9 % average 6 %; F's 7/11/8/12 % average 9.5 % (the erratum, not 5.5 %)."""
    for errors, mean in (([3, 7, 5, 9], 6.0), ([7, 11, 8, 12], 9.5)):
        groups = np.repeat(["US", "China", "India", "Other"], 100)
        y = np.zeros(400, dtype=np.int64)
        pred = np.concatenate([np.r_[np.ones(e), np.zeros(100 - e)] for e in errors]).astype(np.int64)
        per_group = group_errors(y, pred, groups)
        assert per_group == {"China": errors[1] / 100, "India": errors[2] / 100, "Other": errors[3] / 100, "US": errors[0] / 100}
        result = score(y, np.eye(2)[pred].astype(float), ["0", "1"], groups=groups)
        assert result.metrics["group_mean_error"] == pytest.approx(mean / 100, abs=1e-15)
        assert result.groups["US"] == {"error": errors[0] / 100, "examples": 100}


def test_false_positive_and_negative_rates():
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    pred = np.array([1, 0, 0, 0, 1, 0, 0])
    assert binary_error_rates(y, pred) == {"fpr": 1 / 4, "fnr": 2 / 3}
    assert binary_error_rates(np.zeros(3, int), np.zeros(3, int)) == {"fpr": 0.0, "fnr": 0.0}


def test_roc_auc_hand_computed():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    # a tie between a positive and a negative counts one half: (0.5 + 1 + 1 + 1) / 4
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.9])) == 0.875
    assert roc_auc(np.array([1, 0]), np.array([0.3, 0.3])) == 0.5
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_equals_the_pairwise_count(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    s = rng.integers(0, 8, 60) / 8  # many ties
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p, n in itertools.product(s[y == 1], s[y == 0])]
    assert roc_auc(y, s) == pytest.approx(sum(pairs) / len(pairs), abs=1e-15)


def test_threshold_moves_the_sigmoid_decision():
    y = np.array([0, 0, 1, 1])
    out = np.array([[0.2], [0.6], [0.55], [0.9]])
    at_half = score(y, out, ["no", "yes"]).metrics
    assert (at_half["fpr"], at_half["fnr"]) == (0.5, 0.0)
    strict = score(y, out, ["no", "yes"], threshold=0.7).metrics
    assert (strict["fpr"], strict["fnr"]) == (0.0, 0.5)
    assert strict["roc_auc"] == at_half["roc_auc"] == 0.75  # AUC does not depend on a threshold
    with pytest.raises(StrategyError, match="single sigmoid output"):
        score(y, np.column_stack([1 - out[:, 0], out[:, 0]]), ["no", "yes"], threshold=0.7)
    with pytest.raises(StrategyError, match="between 0 and 1"):
        score(y, out, ["no", "yes"], threshold=1.0)


# ---------------------------------------------------------------- error analysis, parsing


def test_ceiling_arithmetic_dogs_example():
    removed, left = ceiling(0.10, 5, 100)  # 5 of 100 sampled errors are dogs
    assert removed == pytest.approx(0.005, abs=1e-15) and left == pytest.approx(0.095, abs=1e-15)
    removed, left = ceiling(0.10, 50, 100)
    assert removed == pytest.approx(0.05, abs=1e-15) and left == pytest.approx(0.05, abs=1e-15)
    # the notes' spreadsheet: 6 % of errors mislabelled at 10 % error is 0.6 %; at 2 % error it is 30 % of the errors
    assert ceiling(0.10, 6, 100)[0] == pytest.approx(0.006, abs=1e-15)


@pytest.mark.parametrize("text, expected", [("predict_ms<=100", ("predict_ms", "<=", 100.0)),
                                            (" dev_fpr <= 0.01 ", ("dev_fpr", "<=", 0.01)),
                                            ("dev_accuracy>0.9", ("dev_accuracy", ">", 0.9))])
def test_parse_bar(text, expected):
    bar = parse_bar(text)
    assert (bar.key, bar.op, bar.value) == expected


@pytest.mark.parametrize("text", ["predict_ms=100", "predict_ms<=fast", "<=3", "a<=1<=2"])
def test_parse_bar_refuses(text):
    with pytest.raises(ConditionError, match="--satisfy"):
        parse_bar(text)


def test_parse_weights_and_fractions():
    assert parse_weights("cat=1, unacceptable=10") == {"cat": 1.0, "unacceptable": 10.0}
    for bad in ("cat", "cat=0", "cat=-1", "=3", "cat=x", ""):
        with pytest.raises(StrategyError, match="--weights"):
            parse_weights(bad)
    assert parse_fractions("0.1,0.25,0.5,1") == [0.1, 0.25, 0.5, 1.0]
    for bad in ("0.5,0.25", "0,1", "0.5,1.5", "a", "0.5,0.5"):
        with pytest.raises(StrategyError, match="--learning-curve"):
            parse_fractions(bad)


def test_curve_reading():
    closing = [CurvePoint(0.25, 50, "a", "completed", 0.0, 0.30), CurvePoint(1, 200, "b", "completed", 0.01, 0.12)]
    assert "more data should help" in read_curve(closing, 0.0, 0.01)[0]
    flat_high = [CurvePoint(0.25, 50, "a", "completed", 0.20, 0.22), CurvePoint(1, 200, "b", "completed", 0.21, 0.22)]
    assert "avoidable bias" in read_curve(flat_high, 0.0, 0.01)[0] and "both curves are high" in read_curve(flat_high, 0.0, 0.01)[0]
    good = [CurvePoint(1, 200, "b", "completed", 0.011, 0.015)]
    assert "low bias and low variance" in read_curve(good, 0.01, 0.01)[0]


# ---------------------------------------------------------------- nested shares, PNG


def test_nested_shares_are_subsets_and_stratified():
    y = np.repeat(np.arange(3), [50, 30, 20])
    data = Dataset(np.arange(100.0)[:, None], y, np.arange(1000, 1100))
    shares = {f: nested_share(data, f, True, np.random.default_rng(4)) for f in (0.1, 0.3, 0.5, 1.0)}
    assert shares[1.0] is data
    for small, large in ((0.1, 0.3), (0.3, 0.5)):
        assert set(shares[small].rows) < set(shares[large].rows)
    for f in (0.1, 0.3, 0.5):
        counts = np.bincount(shares[f].y, minlength=3)
        assert counts.sum() == round(100 * f)
        assert np.all(np.abs(counts - f * np.array([50, 30, 20])) <= 1)
        assert np.array_equal(shares[f].x[:, 0] + 1000, shares[f].rows)  # rows follow their examples


def _decode_png(data: bytes) -> np.ndarray:
    """An independent reader of what png_bytes writes: checks every CRC, undoes filter type 0."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3}[colour]
    raw = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(height, 1 + width * channels)
    assert depth == 8 and np.all(raw[:, 0] == 0)
    return raw[:, 1:].reshape(height, width, channels)


@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 1), (6, 2, 3)])
def test_png_round_trip(shape):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    decoded = _decode_png(png_bytes(pixels))
    assert np.array_equal(decoded.reshape(pixels.shape), pixels)


def test_png_pixels_scaled_and_enlarged():
    image = np.array([[0.0, 8.0], [16.0, 4.0]])[..., None]
    pixels = to_pixels(image, 0.0, 16.0, scale=3)
    assert pixels.shape == (6, 6, 1)
    assert pixels[0, 0, 0] == 0 and pixels[0, 5, 0] == 128 and pixels[5, 0, 0] == 255 and pixels[5, 5, 0] == 64
    with pytest.raises(ValueError):
        png_bytes(np.zeros((2, 2, 2), np.uint8))
