"""EnhanceNet networks (thesis Table 2.1). Plain ``nn.Module``s; no Lightning here."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Per-channel RGB means the official ENet-PAT code subtracts from its [0, 1] input (EnhanceNet-Code); the
# bicubic path uses the raw input, so the output needs no correction.
ENET_INPUT_MEAN = (0.476, 0.450, 0.409)


def xavier_init(module: nn.Module) -> None:
    """Xavier (Glorot) uniform weights and zero biases for every conv/linear layer (thesis Sec. 2.5.8)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """Conv-ReLU-Conv plus identity skip (Table 2.1 left, "Res: Conv, ReLU, Conv")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def bicubic_upsample(lr: Tensor, scale: int) -> Tensor:
    """Bicubic interpolation of the LR input, the base image the generator's residual is added to.

    ``antialias=True`` selects the a = -0.5 cubic kernel of MATLAB's ``imresize`` and Pillow (PyTorch's plain
    bicubic uses a = -0.75), so the "Bicubic" baseline is the one of the benchmark tables (Table 2.4).
    """
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
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 10,
        num_filters: int = 64,
        input_mean: tuple[float, float, float] | None = ENET_INPUT_MEAN,
    ) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2 (2x NN-upsampling stages), got {scale}")
        self.scale = scale
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
        xavier_init(self)

    def residual(self, lr: Tensor) -> Tensor:
        """The residual image I_res for LR input (N, 3, H, W) in [0, 1]; shape (N, 3, sH, sW)."""
        x = self.head(lr - self.input_mean)
        x = self.blocks(x)
        return self.to_residual(self.hr_conv(self.upsample(x)))

    def forward(self, lr: Tensor) -> Tensor:
        """I_est = bicubic(I_LR) + I_res; (N, 3, H, W) -> (N, 3, sH, sW), not clamped (training needs it)."""
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected LR images of shape (N, 3, H, W), got {tuple(lr.shape)}")
        return bicubic_upsample(lr, self.scale) + self.residual(lr)


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
