"""The SSIM used by the fast path's quality test behaves as SSIM must."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.ssim import luma, ssim, window_mean

RNG = np.random.default_rng(12)


def picture(h: int = 64, w: int = 80) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (127 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + RNG.normal(0, 8, (h, w))).clip(0, 255)


def test_an_image_is_identical_to_itself():
    a = picture()
    assert ssim(a, a) == pytest.approx(1.0)


def test_noise_lowers_it_more_the_stronger_it_is_and_it_is_symmetric():
    a = picture()
    light = (a + RNG.normal(0, 4, a.shape)).clip(0, 255)
    heavy = (a + RNG.normal(0, 40, a.shape)).clip(0, 255)
    assert 0.9 < ssim(a, light) < 1.0
    assert ssim(a, heavy) < 0.6
    assert ssim(a, heavy) == pytest.approx(ssim(heavy, a))


def test_a_uniform_brightness_shift_costs_only_the_luminance_term():
    a = picture()
    shifted = a + 10
    # with equal structure and contrast, SSIM is the luminance term averaged over windows
    mx = window_mean(a)
    expected = ((2 * mx * (mx + 10) + (0.01 * 255) ** 2) / (mx**2 + (mx + 10) ** 2 + (0.01 * 255) ** 2)).mean()
    assert ssim(a, shifted) == pytest.approx(expected, rel=1e-6)


def test_the_window_mean_of_a_constant_is_the_constant_and_a_ramp_keeps_its_centre():
    assert np.allclose(window_mean(np.full((20, 30), 7.0)), 7.0)
    ramp = np.tile(np.arange(30, dtype=np.float64), (20, 1))
    assert np.allclose(window_mean(ramp)[:, 3:-3], ramp[:, 3:-3])


def test_luma_weights_are_bt601_and_grey_passes_through():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert np.allclose(luma(rgb), [[0.299 * 255, 0.587 * 255, 0.114 * 255]])
    grey = np.array([[1, 2]], dtype=np.uint8)
    assert np.array_equal(luma(grey), [[1.0, 2.0]])


def test_different_sizes_are_an_error():
    with pytest.raises(ValueError):
        ssim(np.zeros((10, 10)), np.zeros((10, 11)))
