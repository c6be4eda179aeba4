"""Augmentation changes training batches only, correctly, and resumes bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CONFIGS, invoke, one_line_error, write_spec

from nnctl.orchestration.start import resume_run, start_run
from nnctl.spec import load_spec
from nnctl.spec.schema import AugmentSpec
from nnctl.train.augment import Augmenter, shift_images


def images(m=6, h=5, w=4, c=2):
    return np.arange(m * h * w * c, dtype=np.float64).reshape(m, h, w, c)


@pytest.mark.parametrize("limit", [1, 3, 6])
def test_shift_moves_each_image_by_its_own_offset_and_zero_fills(limit):
    x = images()
    shifted = x.copy()
    rng = np.random.default_rng(3)
    shift_images(shifted, limit, rng)
    dy, dx = np.random.default_rng(3).integers(0, 2 * limit + 1, size=(2, len(x)))  # the same draws: 0..2·limit ↔ +limit..-limit
    for i in range(len(x)):
        padded = np.pad(x[i], ((limit, limit), (limit, limit), (0, 0)))
        np.testing.assert_array_equal(shifted[i], padded[dy[i]:dy[i] + 5, dx[i]:dx[i] + 4])


def test_a_shift_copies_no_padded_batch():
    """The batch was padded by the shift on every side: a billion pixels asked for exabytes."""
    x = images()
    shift_images(x, 10**9, np.random.default_rng(0))
    assert not x.any()  # every image moved out of sight (the build refuses such a shift; see below)


def test_a_shift_as_large_as_the_images_is_refused_at_its_line(tmp_path):
    spec = write_spec(tmp_path, "data: {source: digits, limit: 100}\ntrain:\n  augment: {shift: 8}\n"
                                "model: {layers: [{type: conv2d, filters: 2}, {units: 10, activation: softmax}]}\n")
    line = one_line_error(invoke("spec", "check", spec, "--data", expect=2).stderr)
    assert line == f"nnctl: error: {spec}:3: train.augment.shift: a shift of 8 pixels moves 8×8 images out of sight; give at most 7"


def test_flip_mirrors_about_half_the_images_left_to_right():
    x = images(m=400, h=3, w=4, c=1)
    out = Augmenter(AugmentSpec(flip_horizontal=True), np.random.default_rng(0))(x)
    flipped = [np.array_equal(out[i], x[i, :, ::-1]) for i in range(len(x))]
    unchanged = [np.array_equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or u for f, u in zip(flipped, unchanged))
    assert 150 < sum(flipped) < 250
    assert np.array_equal(x, images(m=400, h=3, w=4, c=1))  # the input batch is left untouched


def test_noise_has_the_requested_standard_deviation():
    x = np.zeros((200, 50))
    out = Augmenter(AugmentSpec(noise=0.3), np.random.default_rng(0))(x)
    assert out.std() == pytest.approx(0.3, rel=0.02)


def test_training_with_augmentation_resumes_bit_exactly(tmp_path):
    overrides = ["data.limit=300", "train.augment={flip_horizontal: true, shift: 1, noise: 0.05}", "train.batch_size=32"]
    spec4 = load_spec(str(CONFIGS / "digits-cnn.yaml"), overrides + ["train.epochs=4"])
    whole = start_run(spec4, tmp_path / "a")
    whole.run()
    half = start_run(load_spec(str(CONFIGS / "digits-cnn.yaml"), overrides + ["train.epochs=2"]), tmp_path / "b")
    half.run()
    resumed = resume_run(half.run_dir, ["train.epochs=4"])
    resumed.run()
    np.testing.assert_array_equal(whole.net.theta, resumed.net.theta)
    assert whole.log.iteration == resumed.log.iteration


def test_augmentation_draws_from_its_own_stream(tmp_path):
    """Turning augmentation on leaves initialization and shuffling unchanged (same initial θ, same batches)."""
    plain = start_run(load_spec(str(CONFIGS / "digits-cnn.yaml"), ["data.limit=200"]), tmp_path / "p")
    noisy = start_run(load_spec(str(CONFIGS / "digits-cnn.yaml"), ["data.limit=200", "train.augment={noise: 0.1}"]), tmp_path / "n")
    np.testing.assert_array_equal(plain.net.theta, noisy.net.theta)
    assert plain.streams["shuffle"].bit_generator.state == noisy.streams["shuffle"].bit_generator.state
