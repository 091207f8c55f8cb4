"""PSNR/SSIM on Y against scikit-image on real photographs (the Table 2.4 convention)."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.metrics
import torch

from sr_image.data import bicubic_downsample, crop_to_multiple
from sr_image.metrics import hf_energy_ratio, mean_abs_laplacian, psnr_y, ssim_y
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
    # torchmetrics' PSNR takes log(255) and log(10) in float32: ~1e-6 dB from scikit-image's float64
    assert psnr_y(est[None], hr[None], crop=4).item() == pytest.approx(ref, abs=1e-5)
    assert psnr_y(hr[None], hr[None]).isinf().all()


def test_ssim_y_matches_skimage(pair):
    est, hr = pair
    ref = skimage.metrics.structural_similarity(
        _y_ref(hr, 4), _y_ref(est, 4), data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim_y(est[None], hr[None], crop=4).item() == pytest.approx(ref, abs=1e-6)


def test_mean_abs_laplacian_closed_form():
    """f = x^2 + y^2: each of the 8 neighbours adds dx^2 + dy^2 (linear terms cancel), 6 + 6 = 12 everywhere."""
    yy, xx = torch.meshgrid(torch.arange(9.0), torch.arange(11.0), indexing="ij")
    f = (xx**2 + yy**2).double()[None, None]
    assert mean_abs_laplacian(torch.cat([f, 2 * f])).tolist() == [12.0, 24.0]


def test_hf_energy_ratio_matches_scipy(pair):
    """Independent reference: scikit-image's Y, scipy's convolution with the 8-neighbour kernel, interior only."""
    from scipy.ndimage import convolve

    est, hr = pair
    kernel = np.ones((3, 3))
    kernel[1, 1] = -8

    def energy(img):
        return np.abs(convolve(_y_ref(img, 4).astype(np.float64), kernel)[1:-1, 1:-1]).mean()

    ratio = hf_energy_ratio(est[None], hr[None], crop=4).item()
    assert ratio == pytest.approx(energy(est) / energy(hr), rel=1e-6)
    assert 0.05 < ratio < 0.5  # bicubic at 4x keeps a fraction of the HR image's fine detail
    assert hf_energy_ratio(hr[None], hr[None], crop=4).item() == 1.0


def test_metrics_shape_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr_y(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="shapes differ"):
        hf_energy_ratio(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
