"""Video SR evaluation (thesis Sec. 3.4): video PSNR / SSIM on Y, per-frame PSNR, temporal consistency, profiles.

Videos are (T, 3, H, W) RGB in [0, 1]. Like sr-image, results are quantised to 8 bits and measured on BT.601 Y.
"""

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio

from sr_image.metrics import psnr_y, ssim_y, y_channel_8bit


def _frames(est: Tensor, hr: Tensor, skip_ends: int) -> tuple[Tensor, Tensor]:
    if est.shape != hr.shape or est.ndim != 4:
        raise ValueError(f"need two videos (T, 3, H, W) of one shape, got {tuple(est.shape)} and {tuple(hr.shape)}")
    if est.shape[0] <= 2 * skip_ends:
        raise ValueError(f"{est.shape[0]} frames cannot skip {skip_ends} at each end")
    return (est[skip_ends : len(est) - skip_ends], hr[skip_ends : len(hr) - skip_ends]) if skip_ends else (est, hr)


def video_psnr_y(est: Tensor, hr: Tensor, crop: int = 0, skip_ends: int = 0) -> Tensor:
    """Video PSNR (Sec. 3.4, after Caballero et al. 2017): one MSE over all Y pixels of all frames, peak 255.

    Not the mean of per-frame PSNRs (which over-weights easy frames). ``skip_ends``: frames dropped at each end
    (Table 3.2's protocol drops 2). ``crop``: border pixels dropped on each side. Computed by torchmetrics'
    ``peak_signal_noise_ratio`` over the whole (T, 1, H, W) Y stack (within 5e-6 dB of the float64 closed form).
    """
    est, hr = _frames(est, hr, skip_ends)
    return peak_signal_noise_ratio(y_channel_8bit(est, crop), y_channel_8bit(hr, crop), data_range=255.0)


def video_ssim_y(est: Tensor, hr: Tensor, crop: int = 0, skip_ends: int = 0) -> Tensor:
    """Mean SSIM on Y over the frames (per frame as :func:`sr_image.metrics.ssim_y`)."""
    est, hr = _frames(est, hr, skip_ends)
    return ssim_y(est, hr, crop).mean()


def psnr_per_frame(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """PSNR on Y of every frame, (T,) float64: the curve of Fig. 3.7 (quality against the frame index)."""
    est, hr = _frames(est, hr, 0)
    return psnr_y(est, hr, crop)


def temporal_profile(video: Tensor, row: int | None = None) -> Tensor:
    """The temporal profile of Fig. 3.6: one pixel row of every frame stacked over time, (3, T, W).

    Flicker shows as noise across the rows; temporally consistent video gives smooth streaks. Default row: the
    middle one.
    """
    row = video.shape[-2] // 2 if row is None else row
    return video[:, :, row, :].permute(1, 0, 2).clamp(0, 1)


def _gt_flow(prev_y: np.ndarray, cur_y: np.ndarray) -> np.ndarray:
    """Flow (2, H, W) (rows, cols) mapping frame t to frame t-1 by TV-L1 (scikit-image) on the ground truth."""
    from skimage.registration import optical_flow_tvl1

    return optical_flow_tvl1(cur_y, prev_y)


def temporal_consistency(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """Motion-compensated temporal error (Sec. 3.4.5 measured): flicker that the ground truth does not have.

    For each t >= 1, the ground truth's motion from t-1 to t is estimated once (TV-L1 optical flow on HR Y, scikit-
    image), both videos' frame t-1 is warped along it, and the temporal residuals ``x_t - warp(x_{t-1})`` of the
    estimate and of the ground truth are compared: the result is the root mean square of their difference on Y
    (0-255 scale). Motion compensation keeps real motion out of the number; comparing with the ground truth's own
    residual keeps occlusions and flow errors out. Lower is better; a video with less flicker than another of
    similar PSNR scores lower.
    """
    from skimage.transform import warp as sk_warp

    est, hr = _frames(est, hr, 0)
    est_y = y_channel_8bit(est, crop)[:, 0].cpu().numpy()
    hr_y = y_channel_8bit(hr, crop)[:, 0].cpu().numpy()
    h, w = hr_y.shape[1:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    errors = []
    for t in range(1, len(hr_y)):
        v, u = _gt_flow(hr_y[t - 1] / 255, hr_y[t] / 255)
        coords = np.array([rows + v, cols + u])
        res_est = est_y[t] - sk_warp(est_y[t - 1], coords, mode="edge", preserve_range=True)
        res_hr = hr_y[t] - sk_warp(hr_y[t - 1], coords, mode="edge", preserve_range=True)
        errors.append(np.mean((res_est - res_hr) ** 2))
    return torch.tensor(float(np.sqrt(np.mean(errors))), dtype=torch.float64)
