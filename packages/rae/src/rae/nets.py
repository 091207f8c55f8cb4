"""Encoder and decoder of Table 6.1 (one family for every model of ch. 6). Plain ``nn.Module``s, no Lightning.

Encoder input in [-1, 1]; decoder output through a sigmoid, in [0, 1] (the official code's convention).
"""

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

ENCODER_WIDTHS = (128, 256, 512, 1024)  # Table 6.1: Conv128-256-512-1024


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=2, padding=(k - 1) // 2)  # exact halving for k = 4 and 5


def _convt(cin: int, cout: int, k: int) -> nn.ConvTranspose2d:
    # exact doubling: out = 2 * in for k = 4 (padding 1) and k = 5 (padding 2, output_padding 1)
    return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=(k - 1) // 2, output_padding=k % 2)


class Encoder(nn.Module):
    """Conv128-256-512-1024 (stride 2, each BN + ReLU) -> flatten -> FC to ``latent_dim * m`` (Table 6.1).

    ``m = 2`` for the VAE (mean and log-variance), 1 otherwise. ``widths`` scales the four convs.
    """

    def __init__(
        self,
        channels: int,
        latent_dim: int,
        image_size: int = 32,
        kernel: int = 4,
        m: int = 1,
        widths: tuple[int, ...] = ENCODER_WIDTHS,
    ) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (four stride-2 convs), got {image_size}")
        layers, cin = [], channels
        for cout in widths:
            layers += [_conv(cin, cout, kernel), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(cin * (image_size // 2 ** len(widths)) ** 2, latent_dim * m)
        self.latent_dim, self.m = latent_dim, m

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, latent_dim * m)."""
        return self.fc(self.body(x))


class Decoder(nn.Module):
    """FC to 8x8x1024 -> BN ReLU -> ConvT (stride 2, BN ReLU) per up stage -> last layer to ``channels`` (Table 6.1).

    The last layer has stride 1 (Table 6.1 caption); a stride-1 transposed conv is a conv, written as one with
    TensorFlow's "same" padding so that the even 4x4 kernel keeps the size (the official code is TensorFlow).
    Output sigmoid.

    Args:
        up_channels: widths of the stride-2 transposed convs (Table 6.1: 512, 256; CelebA adds 128).
        spectral: spectral normalisation (Eq. 6.18) on every conv / linear layer (RAE-SN).
        fc_width: channels of the 8x8 map the FC layer produces (Table 6.1: 1024).
    """

    def __init__(
        self,
        channels: int,
        latent_dim: int,
        kernel: int = 4,
        up_channels: tuple[int, ...] = (512, 256),
        spectral: bool = False,
        fc_width: int = 1024,
    ) -> None:
        super().__init__()
        wrap = spectral_norm if spectral else (lambda m: m)
        self.fc_width = fc_width
        self.fc = wrap(nn.Linear(latent_dim, 8 * 8 * fc_width))
        layers, cin = [nn.BatchNorm2d(fc_width), nn.ReLU(inplace=True)], fc_width
        for cout in up_channels:
            layers += [wrap(_convt(cin, cout, kernel)), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        before = (kernel - 1) // 2  # TensorFlow "same": the extra pixel of an even kernel goes bottom / right
        layers += [nn.ZeroPad2d((before, kernel - 1 - before) * 2), wrap(nn.Conv2d(cin, channels, kernel))]
        layers += [nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) -> (N, channels, 8 * 2^stages, ...) in [0, 1]."""
        return self.body(self.fc(z).view(z.shape[0], self.fc_width, 8, 8))
