"""EnhanceNet networks (thesis Table 2.1). Plain ``nn.Module``s; no Lightning here."""

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_common.init import xavier_init

# Per-channel RGB means the official ENet-PAT code subtracts from its [0, 1] input (EnhanceNet-Code, enhancenet.py
# PER_CHANNEL_MEANS). The code adds them back after bicubic(x - mean) + residual; bicubic weights sum to one, so
# bicubic(x) + residual is the same function and the base here uses the raw input.
ENET_INPUT_MEAN = (0.47614917, 0.45001204, 0.40904046)
# The generator's bicubic base image: "pytorch" = half-pixel grid, a = -0.5 (ours, MATLAB/Pillow's kernel);
# "tf_legacy" = TF 0.12's resize_bicubic, which the authors' published ENet-PAT was trained against.
BICUBIC_BASES = ("pytorch", "tf_legacy")


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """Conv-ReLU-Conv plus identity skip (Table 2.1 left, "Res: Conv, ReLU, Conv")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@functools.lru_cache(maxsize=16)
def tf_legacy_bicubic_matrix(n_in: int, n_out: int, device: torch.device | str = "cpu") -> Tensor:
    """(n_out, n_in) float32 resampling matrix of TF 0.12's ``resize_bicubic`` (``align_corners=False``).

    TF's legacy grid: output ``j`` samples input position ``j · n_in/n_out`` (float32), no half-pixel centres;
    the 4 taps ``floor - 1 ... floor + 2`` are clamped to the image (edge pixels repeat); Keys' cubic with
    a = -0.75, its weights looked up in TF's 1024-entry table (the fraction is rounded to 1/1024). Written as a
    matrix because kornia and ``F.interpolate`` offer only the half-pixel grid. Cached per size and device (a
    tile's matrix is built and moved once); the returned tensor is shared, do not modify it.
    """
    a, table = -0.75, 1024
    x = np.arange(table + 1, dtype=np.float64) / table
    w_near = (((a + 2) * x - (a + 3)) * x * x + 1).astype(np.float32)  # |t| <= 1 (TF computes in float32)
    x1 = x + 1
    w_far = (((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a).astype(np.float32)  # 1 < |t| <= 2
    pos = np.arange(n_out, dtype=np.float32) * (np.float32(n_in) / np.float32(n_out))  # TF: float scale
    base = np.floor(pos).astype(np.int64)
    k = np.rint((pos - base) * table).astype(np.int64)  # lrintf: round half to even
    weights = np.stack([w_far[k], w_near[k], w_near[table - k], w_far[table - k]], axis=1)
    taps = np.clip(base[:, None] + np.arange(-1, 3), 0, n_in - 1)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(m, (np.repeat(np.arange(n_out), 4), taps.ravel()), weights.ravel())
    return torch.from_numpy(m).to(device)


def tf_legacy_bicubic_resize(img: Tensor, size: tuple[int, int]) -> Tensor:
    """TF 0.12 ``tf.image.resize_images(..., BICUBIC)`` of (N, C, H, W) images to ``size`` = (h, w).

    Separable: ``M_h · img · M_wᵀ`` with :func:`tf_legacy_bicubic_matrix`; equal to TF 2's
    ``tf.compat.v1.image.resize_bicubic(half_pixel_centers=False)`` (tested against recorded outputs). Computed in
    float32 (also under bf16 autocast, like ``F.interpolate``) and returned in ``img``'s floating dtype.
    """
    if not img.is_floating_point():
        raise TypeError(f"tf_legacy_bicubic_resize needs floating-point images, got {img.dtype}")
    mh = tf_legacy_bicubic_matrix(img.shape[-2], size[0], img.device)
    mw = tf_legacy_bicubic_matrix(img.shape[-1], size[1], img.device)
    with torch.autocast(img.device.type, enabled=False):
        out = mh @ img.float() @ mw.T
    return out.to(img.dtype)


def bicubic_upsample(lr: Tensor, scale: int, base: str = "pytorch") -> Tensor:
    """Bicubic interpolation of the LR input, the base image the generator's residual is added to.

    ``base="pytorch"``: ``antialias=True`` selects the a = -0.5 cubic kernel of MATLAB's ``imresize`` and Pillow
    (PyTorch's plain bicubic uses a = -0.75) on the half-pixel grid, so the "Bicubic" baseline is the one of the
    benchmark tables (Table 2.4). ``base="tf_legacy"``: TF 0.12's kernel and grid (:func:`tf_legacy_bicubic_resize`),
    shifted by (s - 1) / 2 HR pixels against the half-pixel grid; the authors' published ENet-PAT needs it.
    """
    if base == "tf_legacy":
        return tf_legacy_bicubic_resize(lr, (lr.shape[-2] * scale, lr.shape[-1] * scale))
    if base != "pytorch":
        raise ValueError(f"unknown bicubic base {base!r}; use one of {BICUBIC_BASES}")
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False, antialias=True)


class EnhanceNetGenerator(nn.Module):
    """Fully convolutional residual generator of Table 2.1 (left).

    Conv+ReLU, ``num_blocks`` residual blocks in LR space, per 2x stage nearest-neighbour upsampling + conv +
    ReLU, one more conv + ReLU in HR space, a final conv giving the residual image; the output is
    ``I_bicubic + I_res`` (Sec. 2.5.2).

    Args:
        scale: upscaling factor, a power of two (2 and 4 in the thesis).
        num_blocks: residual blocks (10, Table 2.1).
        num_filters: feature channels (64, Table 2.1).
        input_mean: RGB mean subtracted from the network input (official code); ``None`` disables.
        bicubic_base: the base image's resampler, ``"pytorch"`` (default, for training) or ``"tf_legacy"``
            (the authors' published weights, :func:`bicubic_upsample`).
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 10,
        num_filters: int = 64,
        input_mean: tuple[float, float, float] | None = ENET_INPUT_MEAN,
        bicubic_base: str = "pytorch",
    ) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2 (2x NN-upsampling stages), got {scale}")
        if bicubic_base not in BICUBIC_BASES:
            raise ValueError(f"unknown bicubic_base {bicubic_base!r}; use one of {BICUBIC_BASES}")
        self.scale, self.bicubic_base = scale, bicubic_base
        self.register_buffer(
            "input_mean", torch.tensor(input_mean or (0.0, 0.0, 0.0), dtype=torch.float32).view(1, 3, 1, 1)
        )
        c = num_filters
        self.head = nn.Sequential(conv3x3(3, c), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[ResidualBlock(c) for _ in range(num_blocks)])
        up = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(c, c), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*up)
        self.hr_conv = nn.Sequential(conv3x3(c, c), nn.ReLU(inplace=True))
        self.to_residual = conv3x3(c, 3)
        xavier_init(self)  # Sec. 2.5.8

    def residual(self, lr: Tensor) -> Tensor:
        """The residual image I_res for LR input (N, 3, H, W) in [0, 1]; shape (N, 3, sH, sW)."""
        x = self.head(lr - self.input_mean)
        x = self.blocks(x)
        return self.to_residual(self.hr_conv(self.upsample(x)))

    def forward(self, lr: Tensor) -> Tensor:
        """I_est = bicubic(I_LR) + I_res; (N, 3, H, W) -> (N, 3, sH, sW), not clamped (training needs it)."""
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected LR images of shape (N, 3, H, W), got {tuple(lr.shape)}")
        return bicubic_upsample(lr, self.scale, self.bicubic_base) + self.residual(lr)


class EnhanceNetDiscriminator(nn.Module):
    """Discriminator of Table 2.1 (right), generalised to any HR patch size ``4·2^k``.

    Per stage: 3x3 conv + leaky ReLU, then 3x3 stride-2 conv + leaky ReLU, channels 32, 64, 128, ... until the
    map is 4x4 (128 px patches: 5 stages to 4x4x512 = 8192), then FC 1024 + leaky ReLU and FC 1.

    ``forward`` returns the logit; D(x) of Eq. 2.7/2.8 is its sigmoid (applied inside the losses, which is
    the numerically stable form of Table 2.1's sigmoid output).
    """

    def __init__(self, patch_size: int = 128, base_channels: int = 32, negative_slope: float = 0.2) -> None:
        super().__init__()
        stages = math.log2(patch_size / 4)
        if patch_size < 8 or stages != int(stages):
            raise ValueError(f"discriminator patch_size must be 4·2^k >= 8 (e.g. 64, 128), got {patch_size}")
        self.patch_size = patch_size
        layers, cin = [], 3
        for i in range(int(stages)):
            cout = base_channels * 2**i
            layers += [conv3x3(cin, cout), nn.LeakyReLU(negative_slope, inplace=True)]
            layers += [conv3x3(cout, cout, stride=2), nn.LeakyReLU(negative_slope, inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * 16, 1024),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Linear(1024, 1),
        )
        xavier_init(self)

    def forward(self, img: Tensor) -> Tensor:
        """(N, 3, P, P) images in [0, 1] -> (N,) logits."""
        if img.shape[-2:] != (self.patch_size, self.patch_size):
            raise ValueError(
                f"discriminator built for {self.patch_size}x{self.patch_size} patches got {tuple(img.shape)}; "
                f"train on crops of model.lr_patch_size * model.scale"
            )
        return self.classifier(self.features(img)).squeeze(1)
