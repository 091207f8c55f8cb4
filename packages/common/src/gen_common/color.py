"""Colour conversions used by the evaluation protocols."""

import torch
from torch import Tensor

# ITU-R BT.601 luma as MATLAB's rgb2ycbcr computes it (offset 16, range [16, 235] for 8-bit data): the
# convention of the SR benchmark tables (thesis Table 2.4, Table 3.2).
_BT601_Y = (65.481, 128.553, 24.966)


def rgb_to_y(img: Tensor) -> Tensor:
    """Y channel of ITU-R BT.601 (MATLAB ``rgb2ycbcr``) for RGB images.

    Kept by hand rather than taken from kornia: kornia's Y (``rgb_to_ycbcr``, ``rgb_to_grayscale``) is the
    full-range luma Y' in [0, 1], up to 20 levels away from this 'studio' Y = 16 + 219 Y' on photographs, and
    gen-common does not depend on kornia for one weighted sum.

    Args:
        img: (..., 3, H, W) float RGB in [0, 1].

    Returns:
        (..., 1, H, W) luma in [16, 235] on the 8-bit scale, as MATLAB returns it for uint8 input.
    """
    if img.ndim < 3 or img.shape[-3] != 3:
        raise ValueError(f"rgb_to_y expects (..., 3, H, W) RGB images, got shape {tuple(img.shape)}")
    w = torch.tensor(_BT601_Y, dtype=img.dtype, device=img.device).view(3, 1, 1)
    return 16.0 + (img * w).sum(dim=-3, keepdim=True)
