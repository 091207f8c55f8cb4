"""FRVSR networks and operators (thesis Sec. 3.3, Fig. 3.2-3.4) and the SISR / VSR baselines (Sec. 3.4.1).

Plain ``nn.Module``s and tensor functions; no Lightning here. Images are (N, 3, H, W) in [0, 1], clips
(N, T, 3, H, W). Flows are (N, 2, H, W), channel 0 horizontal (x), channel 1 vertical (y).

Flow convention (the thesis says "normalised", Eq. 3.1, and leaves the rest open): FNet's tanh output in [-1, 1]
is a displacement normalised by ``max_flow`` LR pixels (TecoGAN's FRVSR: 24), and flows passed between functions
are displacements in pixels, so pixel x of the current frame is read from position x + F(x) of the previous one
(backward warping, Jaderberg et al. 2015) and F = 0 is the identity. Pixel units keep the networks fully
convolutional: a displacement normalised by the image size would mean different motions on training crops and on
full frames. Upscaling the flow (Eq. 3.2) interpolates it and multiplies it by s (an LR pixel is s HR pixels).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_common.init import xavier_init
from sr_image.nets import ResidualBlock, bicubic_upsample, conv3x3
from sr_video.losses import flow_loss


def space_to_depth(x: Tensor, s: int) -> Tensor:
    """S_s of Eq. 3.5: ``S_s(I)[k, i, j] = I[k // s^2, s i + k % s, s j + (k // s) % s]`` (channels first here).

    Output channel k = c s^2 + dx s + dy takes the LR grid at row offset dy and column offset dx. This is
    ``torch.nn.functional.pixel_unshuffle`` with the two offsets swapped (pixel_unshuffle orders c s^2 + dy s + dx);
    the networks do not care which, but Eq. 3.5 is the thesis's definition, so it is the one used.

    Args:
        x: (N, C, sH, sW).
        s: the scale.

    Returns:
        (N, s^2 C, H, W).
    """
    n, c, hh, ww = x.shape
    if hh % s or ww % s:
        raise ValueError(f"space_to_depth needs H, W divisible by {s}, got {hh}x{ww}")
    x = x.view(n, c, hh // s, s, ww // s, s)  # (n, c, i, dy, j, dx)
    return x.permute(0, 1, 5, 3, 2, 4).reshape(n, c * s * s, hh // s, ww // s)


def upscale_flow(flow: Tensor, s: int) -> Tensor:
    """UP of Eq. 3.2: bilinear interpolation of a pixel flow map by s; its values scale by s too."""
    return s * F.interpolate(flow, scale_factor=s, mode="bilinear", align_corners=False)


def _base_grid(n: int, h: int, w: int, like: Tensor) -> Tensor:
    # pixel centres in grid_sample's normalised coordinates (align_corners=False)
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) * 2 + 1) / w - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
    return grid.expand(n, h, w, 2)


def warp(img: Tensor, flow: Tensor) -> Tensor:
    """WP of Eq. 3.3: bilinear backward warping, ``out(x) = img(x + flow(x))``; differentiable in both.

    Args:
        img: (N, C, H, W).
        flow: (N, 2, H, W) displacement in pixels, channel 0 horizontal (x), channel 1 vertical (y).

    Positions outside the image read the nearest border pixel (``padding_mode="border"``).

    Written on ``grid_sample`` rather than ``kornia.geometry.transform.remap``: remap gives the same values (with
    ``align_corners=True``, its pixel-map convention) but builds and normalises a pixel map per call, 1.2-1.4x
    slower forward and backward on CPU, and this runs twice per frame in the FRVSR training loop.
    """
    n, _, h, w = img.shape
    to_grid = flow.new_tensor([2 / w, 2 / h]).view(1, 2, 1, 1)  # pixels -> grid_sample's [-1, 1] coordinates
    grid = _base_grid(n, h, w, flow) + (flow * to_grid).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="border", align_corners=False)


class FNet(nn.Module):
    """Optical-flow network of Fig. 3.4 (bottom): encoder-decoder in LR space on I_{t-1} ⊕ I_t (Eq. 3.1).

    2x (conv3x3 + leaky ReLU 0.2) then 2x2 max-pool, for 32, 64, 128 filters; 2x (conv + leaky ReLU) then 2x
    bilinear upsampling, for 256, 128, 64 filters; conv 32 + leaky ReLU, conv 2, tanh. Input H, W must be multiples
    of 8 (three poolings; the thesis crops borders to that). Output: the tanh's normalised flow in [-1, 1]^2 times
    ``max_flow``, i.e. a displacement in LR pixels of at most ``max_flow``.
    """

    def __init__(self, in_channels: int = 6, max_flow: float = 24.0) -> None:
        super().__init__()
        self.max_flow = max_flow

        def pair(cin: int, cout: int) -> list[nn.Module]:
            return [conv3x3(cin, cout), nn.LeakyReLU(0.2), conv3x3(cout, cout), nn.LeakyReLU(0.2)]

        self.encoder = nn.Sequential(
            *pair(in_channels, 32), nn.MaxPool2d(2), *pair(32, 64), nn.MaxPool2d(2), *pair(64, 128), nn.MaxPool2d(2)
        )
        up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.decoder = nn.Sequential(*pair(128, 256), up, *pair(256, 128), up, *pair(128, 64), up)
        self.head = nn.Sequential(conv3x3(64, 32), nn.LeakyReLU(0.2), conv3x3(32, 2), nn.Tanh())
        xavier_init(self)  # Sec. 3.3.5

    def forward(self, prev: Tensor, cur: Tensor) -> Tensor:
        h, w = cur.shape[-2:]
        if h % 8 or w % 8:
            raise ValueError(f"FNet needs LR frames with H, W multiples of 8, got {h}x{w}; crop the borders")
        return self.max_flow * self.head(self.decoder(self.encoder(torch.cat([prev, cur], dim=1))))


class SRNet(nn.Module):
    """Super-resolution network of Fig. 3.4 (top): EnhanceNet's residual architecture with transposed convs.

    conv3x3 + ReLU, ``num_blocks`` residual blocks (conv-ReLU-conv + skip), per 2x stage a stride-2 transposed conv
    (3x3) + ReLU, a final conv3x3 to RGB. Choice (thesis silent, TecoGAN's FRVSR does it, as EnhanceNet does): the
    output is added to the bicubic upsampling of the current LR frame (the first 3 input channels), so the network
    learns the residual.

    Args:
        in_channels: 3 + 3 s^2 (FRVSR), 3 (SISR) or 9 (VSR).
        scale: a power of two.
        num_blocks, num_filters: the thesis's sizes 3-64, 5-64, 10-128 (Sec. 3.4.7).
    """

    def __init__(self, in_channels: int, scale: int = 4, num_blocks: int = 10, num_filters: int = 128) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.scale = scale
        layers: list[nn.Module] = [conv3x3(in_channels, num_filters), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(num_filters) for _ in range(num_blocks)]
        for _ in range(int(math.log2(scale))):
            up = nn.ConvTranspose2d(num_filters, num_filters, 3, stride=2, padding=1, output_padding=1)
            layers += [up, nn.ReLU(inplace=True)]
        layers.append(conv3x3(num_filters, 3))
        self.body = nn.Sequential(*layers)
        # Xavier (Sec. 3.3.5), transposed convs included; they are drawn first, as in every earlier version, so that
        # a seed keeps giving the same initial weights
        xavier_init(self, (nn.ConvTranspose2d,))
        xavier_init(self, (nn.Conv2d, nn.Linear))

    def forward(self, x: Tensor) -> Tensor:
        return bicubic_upsample(x[:, :3], self.scale) + self.body(x)


class FRVSR(nn.Module):
    """The frame-recurrent model, Eq. 3.6: I_t^est = SRNet(I_t^LR ⊕ S_s(WP(I_{t-1}^est, UP(FNet(I_{t-1}^LR, I_t^LR))))).

    The first frame's previous estimate is black (Sec. 3.3.5) and its previous LR frame is itself (zero motion).
    """

    def __init__(self, scale: int = 4, num_blocks: int = 10, num_filters: int = 128) -> None:
        super().__init__()
        self.scale = scale
        self.fnet = FNet()
        self.srnet = SRNet(3 + 3 * scale * scale, scale, num_blocks, num_filters)

    def step(self, lr_prev: Tensor, lr_cur: Tensor, est_prev: Tensor) -> tuple[Tensor, Tensor]:
        """One frame: ``(I_t^est, F^LR)`` from I_{t-1}^LR, I_t^LR and I_{t-1}^est (Fig. 3.2)."""
        flow = self.fnet(lr_prev, lr_cur)
        warped = warp(est_prev, upscale_flow(flow, self.scale))
        return self.srnet(torch.cat([lr_cur, space_to_depth(warped, self.scale)], dim=1)), flow

    def black(self, lr: Tensor) -> Tensor:
        """The previous estimate of a first frame: zeros of the HR size (Sec. 3.3.5)."""
        n, c, h, w = lr.shape
        return lr.new_zeros(n, c, h * self.scale, w * self.scale)

    def forward(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        """A clip (N, T, 3, h, w) -> estimates (N, T, 3, sh, sw) and L_flow (Eq. 3.8) averaged over frames 2..T.

        Gradients flow through the whole recurrence (Sec. 3.3.5): the loss of frame T reaches SRNet of frame 1 and
        FNet of frame 2 through the chain of warped estimates. FNet's output at frame 1 warps the black image, so no
        loss depends on it; the first flow that matters is frame 2's.
        """
        est_prev, outs, flow_terms = self.black(lr[:, 0]), [], []
        for t in range(lr.shape[1]):
            lr_prev = lr[:, t - 1] if t else lr[:, 0]
            est_prev, flow = self.step(lr_prev, lr[:, t], est_prev)
            outs.append(est_prev)
            if t:
                flow_terms.append(flow_loss(warp(lr_prev, flow), lr[:, t]))
        flow_term = torch.stack(flow_terms).mean() if flow_terms else lr.new_zeros(())
        return torch.stack(outs, dim=1), flow_term


class SISR(nn.Module):
    """Single-image baseline (Sec. 3.4.1): SRNet on I_t^LR alone, frame by frame."""

    def __init__(self, scale: int = 4, num_blocks: int = 10, num_filters: int = 128) -> None:
        super().__init__()
        self.scale = scale
        self.srnet = SRNet(3, scale, num_blocks, num_filters)

    def forward(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        n, t = lr.shape[:2]
        est = self.srnet(lr.flatten(0, 1))
        return est.view(n, t, *est.shape[1:]), lr.new_zeros(())


class VSR(nn.Module):
    """Sliding-window baseline (Sec. 3.4.1): I_{t-1} and I_{t+1} warped onto I_t by FNet, the three frames into SRNet.

    At the clip's ends the missing neighbour is the frame itself. L_flow (Eq. 3.8) is applied to both warps.
    """

    def __init__(self, scale: int = 4, num_blocks: int = 10, num_filters: int = 128) -> None:
        super().__init__()
        self.scale = scale
        self.fnet = FNet()
        self.srnet = SRNet(9, scale, num_blocks, num_filters)

    def forward(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        n, t = lr.shape[:2]
        cur = lr.flatten(0, 1)
        prev = torch.cat([lr[:, :1], lr[:, :-1]], dim=1).flatten(0, 1)
        nxt = torch.cat([lr[:, 1:], lr[:, -1:]], dim=1).flatten(0, 1)
        flow_prev, flow_next = self.fnet(prev, cur), self.fnet(nxt, cur)
        x = torch.cat([cur, warp(prev, flow_prev), warp(nxt, flow_next)], dim=1)  # current frame first: bicubic base
        est = self.srnet(x)
        flow_term = (flow_loss(warp(prev, flow_prev), cur).mean() + flow_loss(warp(nxt, flow_next), cur).mean()) / 2
        return est.view(n, t, *est.shape[1:]), flow_term
