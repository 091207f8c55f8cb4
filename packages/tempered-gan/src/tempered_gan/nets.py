"""Networks of thesis ch. 4: the DCGAN-style generator and discriminator (Fig. 4.3) and the lens (Fig. 4.4).

Plain ``nn.Module``s working on images in [-1, 1] (the generator ends in tanh); no Lightning here.
"""

import torch
from torch import Tensor, nn

from gen_common.init import xavier_init

IMAGE_SIZE = 32  # Sec. 4.2.4: 32x32 images in every experiment


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class Generator(nn.Module):
    """G of Fig. 4.3 (top), after Radford et al.: z -> dense 4x4x4C -> three stride-2 4x4 transposed convs -> tanh.

    4x4 -> 8x8 (2C) -> 16x16 (C) -> 32x32 (``channels``); ReLU after every layer but the last, batch norm before
    each ReLU when ``batch_norm`` (DCGAN and WGAN-GP; not LSGAN, Sec. 4.2.4).

    Args:
        latent_dim: size of z ~ N(0, I).
        channels: image channels (1 for MNIST/digits, 3 otherwise).
        width: C of Fig. 4.3 ("the number of parameters can be varied by adjusting C").
        batch_norm: batch normalisation in the hidden layers.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        c = width
        self.latent_dim = latent_dim
        self.fc = nn.Linear(latent_dim, 4 * c * 4 * 4)
        self.body = nn.Sequential(
            _norm(4 * c, batch_norm),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1),
            _norm(2 * c, batch_norm),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
            _norm(c, batch_norm),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        xavier_init(self)  # Sec. 4.2.4: Xavier uniform, zero biases, for every network

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) -> (N, channels, 32, 32) in [-1, 1]."""
        return self.body(self.fc(z).view(z.shape[0], -1, 4, 4))


class Discriminator(nn.Module):
    """D of Fig. 4.3 (bottom): three stride-2 4x4 convs with leaky ReLU 0.2, then a dense layer to one logit.

    32x32 -> 16x16 (C) -> 8x8 (2C) -> 4x4 (4C) -> 1. Batch norm after the second and third conv when
    ``batch_norm`` (DCGAN; none on the first layer, as Radford et al.). The output is the *logit*: the sigmoid of
    the GAN and LSGAN discriminators is applied inside their losses (numerically stable log-sigmoid), and the
    WGAN-GP critic uses the logit as its unbounded score (Sec. 4.2.3).
    """

    def __init__(self, channels: int = 1, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        c = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            _norm(2 * c, batch_norm),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1),
            _norm(4 * c, batch_norm),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(4 * c * 4 * 4, 1),
        )
        xavier_init(self)

    def forward(self, x: Tensor) -> Tensor:
        """(N, channels, 32, 32) in [-1, 1] -> (N,) logits / critic scores."""
        return self.body(x).squeeze(1)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Lens(nn.Module):
    """The lens L of Fig. 4.4: conv + ReLU, ``num_blocks`` residual blocks, conv, plus the input (L(x) = x + r(x)).

    All convolutions 3x3, stride 1 (fully convolutional, any image size). The skip from input to output lets L
    become the identity mapping once lambda reaches 0 (Sec. 4.2.4).

    Args:
        channels: image channels.
        num_blocks: residual blocks (8, Fig. 4.4).
        width: feature channels (64, as EnhanceNet's network that Fig. 4.4 follows; not stated for the lens).
        identity_init: zero the last conv so that L starts as the exact identity. Off by default: the thesis
            initialises every network with Xavier (Sec. 4.2.4), so L starts as x plus a random residual.
    """

    def __init__(self, channels: int = 1, num_blocks: int = 8, width: int = 64, identity_init: bool = False) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[_ResidualBlock(width) for _ in range(num_blocks)])
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        xavier_init(self)
        if identity_init:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H, W): x plus the residual (unbounded; D sees it as it is)."""
        return x + self.tail(self.blocks(self.head(x)))


def build_lens_with_own_rng(seed: int, **kwargs) -> Lens:
    """A :class:`Lens` initialised from its own RNG stream, leaving the global one untouched.

    Section 4.4 compares runs whose G and D start from identical weights with and without a lens; building the
    lens inside a forked RNG keeps everything drawn afterwards (noise, data order) identical too.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Lens(**kwargs)
