"""SR evaluation: PSNR and SSIM on the Y channel (the convention behind thesis Tables 2.3/2.4)."""

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from gen_common.color import rgb_to_y


def _y_8bit(img: Tensor, crop: int) -> Tensor:
    """Quantise to 8 bits (as saved results are), take BT.601 Y on the [0, 255] scale, crop the border."""
    img = img.clamp(0, 1).mul(255).round().div(255)
    y = rgb_to_y(img.double())
    return y[..., crop : y.shape[-2] - crop, crop : y.shape[-1] - crop] if crop else y


def psnr_y(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """PSNR in dB on the Y channel, per image.

    Args:
        est, hr: (N, 3, H, W) RGB in [0, 1].
        crop: border pixels dropped on each side (``scale`` in the benchmark convention).

    Returns:
        (N,) float64 PSNR with peak 255 (``inf`` for identical images).
    """
    if est.shape != hr.shape:
        raise ValueError(f"shapes differ: estimate {tuple(est.shape)} vs reference {tuple(hr.shape)}")
    mse = (_y_8bit(est, crop) - _y_8bit(hr, crop)).pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse)


def ssim_y(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, σ = 1.5) on the Y channel, per image; (N,) float64."""
    if est.shape != hr.shape:
        raise ValueError(f"shapes differ: estimate {tuple(est.shape)} vs reference {tuple(hr.shape)}")
    return structural_similarity_index_measure(
        _y_8bit(est, crop), _y_8bit(hr, crop), gaussian_kernel=True, sigma=1.5, kernel_size=11,
        data_range=255.0, reduction="none",
    )  # fmt: skip
