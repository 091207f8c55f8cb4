"""Video metrics against closed forms: video PSNR from one MSE, profiles, and a flicker measure that sees flicker."""

import math

import numpy as np
import pytest
import skimage.color
import skimage.metrics
import torch

from gen_common.color import rgb_to_y
from sr_image.nets import bicubic_upsample
from sr_video.data import crop_to_multiple, degrade
from sr_video.metrics import psnr_per_frame, temporal_consistency, temporal_profile, video_psnr_y, video_ssim_y
from sr_video.video_io import embedded_videos, read_frames


def _quantised_y(x):
    return rgb_to_y(x.clamp(0, 1).mul(255).round().div(255).double())


def test_video_psnr_is_one_mse_over_all_frames_not_a_mean_of_psnrs():
    torch.manual_seed(0)
    hr = torch.rand(4, 3, 16, 16)
    est = hr.clone()
    est[0] = (est[0] + 0.2 * torch.randn_like(est[0])).clamp(0, 1)  # one bad frame
    est[1:] = (est[1:] + 0.01 * torch.randn_like(est[1:])).clamp(0, 1)
    mse = (_quantised_y(est) - _quantised_y(hr)).square().mean()
    assert video_psnr_y(est, hr).item() == pytest.approx(10 * math.log10(255**2 / mse.item()))
    assert video_psnr_y(est, hr) < psnr_per_frame(est, hr).mean()  # one MSE is dominated by the bad frame
    assert psnr_per_frame(est, hr).shape == (4,)
    assert video_psnr_y(est, hr, skip_ends=1) > video_psnr_y(est, hr)  # skipping the bad first frame
    assert video_ssim_y(hr, hr).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="skip"):
        video_psnr_y(est, hr, skip_ends=2)


def test_video_psnr_and_psnr_per_frame_match_skimage_on_a_real_video():
    # torchmetrics' PSNR (float32 log constants) against scikit-image's float64 one on MATLAB's Y: within 1e-5 dB
    hr = crop_to_multiple(torch.stack(list(read_frames(embedded_videos("eval")[0], max_frames=4))), 4)
    est = bicubic_upsample(degrade(hr, 4), 4).clamp(0, 1)

    def y(video):  # (T, H, W) MATLAB-convention Y of the 8-bit frames, 4 px border cropped
        u8 = np.round(video.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
        return np.stack([skimage.color.rgb2ycbcr(f)[..., 0] for f in u8])[:, 4:-4, 4:-4]

    ye, yh = y(est), y(hr)
    ref_video = skimage.metrics.peak_signal_noise_ratio(yh, ye, data_range=255)
    assert video_psnr_y(est, hr, crop=4).item() == pytest.approx(ref_video, abs=1e-5)
    ref_frames = [skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(yh, ye, strict=True)]
    np.testing.assert_allclose(psnr_per_frame(est, hr, crop=4).numpy(), ref_frames, rtol=0, atol=1e-5)
    assert psnr_per_frame(hr, hr).isinf().all() and video_psnr_y(hr, hr).isinf()


def test_temporal_profile_stacks_one_row_over_time():
    video = torch.rand(5, 3, 8, 12)
    profile = temporal_profile(video, row=3)
    assert profile.shape == (3, 5, 12)
    torch.testing.assert_close(profile[:, 2], video[2, :, 3])


def test_temporal_consistency_sees_flicker_but_not_motion():
    # A textured image moving right by 1 px per frame; the estimate equals it plus per-frame brightness flicker.
    torch.manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 48, 80), 3, 1, 1)[0]
    hr = torch.stack([torch.roll(base, t, dims=-1) for t in range(6)])[..., 8:-8]
    assert temporal_consistency(hr, hr).item() == 0
    flicker = hr + torch.tensor([0.0, 0.04, -0.04, 0.04, -0.04, 0.04])[:, None, None, None]
    steady = hr + 0.04  # the same error without flicker
    assert temporal_consistency(flicker, hr) > 3 * temporal_consistency(steady, hr)
