"""FRVSR's two loss terms (thesis Sec. 3.3.2); L = L_sr + L_flow.

Both squared norms are taken as means over pixels, channels, frames and the batch (the thesis writes ||.||_2^2):
a mean keeps the two terms' relative weight independent of the crop size, and Adam's step does not depend on
the overall scale anyway.
"""

from torch import Tensor


def sr_loss(est: Tensor, hr: Tensor) -> Tensor:
    """L_sr of Eq. 3.7: mean squared error of the HR estimates against the ground truth, any matching shapes."""
    return (est - hr).square().mean()


def flow_loss(warped_prev: Tensor, cur: Tensor) -> Tensor:
    """L_flow of Eq. 3.8 per sample: mean squared error of WP(I_{t-1}^LR, F^LR) against I_t^LR, (N, C, H, W) -> (N,)."""
    return (warped_prev - cur).square().mean(dim=(1, 2, 3))
