"""PSNR/SSIM on Y against scikit-image on real photographs (the Table 2.4 convention)."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.metrics
import torch

from sr_image.data import bicubic_downsample, crop_to_multiple
from sr_image.metrics import psnr_y, ssim_y
from sr_image.nets import bicubic_upsample


def _y_ref(img: torch.Tensor, crop: int) -> np.ndarray:
    arr = np.round(img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    y = skimage.color.rgb2ycbcr(arr)[..., 0]
    return y[crop:-crop, crop:-crop]


@pytest.fixture(scope="module")
def pair():
    hr = crop_to_multiple(torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1).float() / 255, 4)
    est = bicubic_upsample(bicubic_downsample(hr, 4)[None], 4)[0].clamp(0, 1)
    return est, hr


def test_psnr_y_matches_skimage(pair):
    est, hr = pair
    ref = skimage.metrics.peak_signal_noise_ratio(_y_ref(hr, 4), _y_ref(est, 4), data_range=255)
    assert psnr_y(est[None], hr[None], crop=4).item() == pytest.approx(ref, abs=1e-6)


def test_ssim_y_matches_skimage(pair):
    est, hr = pair
    ref = skimage.metrics.structural_similarity(
        _y_ref(hr, 4), _y_ref(est, 4), data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim_y(est[None], hr[None], crop=4).item() == pytest.approx(ref, abs=1e-6)


def test_metrics_shape_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr_y(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
