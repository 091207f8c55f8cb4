"""LPIPS (Zhang et al. 2018), the learned perceptual distance perceptual-SR results are reported with beside PSNR /
SSIM (BasicSR, mmagic): AlexNet features, unit-normalised per channel, weighted by learned 1x1 layers, averaged.

torchmetrics ships the learned layers (``lpips_models/alex.pth``, the official v0.1 weights) but fetches the AlexNet
backbone from torchvision itself, which would download behind our back (or hang offline). So the metric is built
with a random backbone and the backbone's ImageNet weights come through :func:`gen_common.weights.resolve_weights`
(cache, local file, or an explicit ``random`` for tests), like every other pretrained network of the project.
"""

import torch
from torch import Tensor, nn


def build_lpips(weights: str = "imagenet", option: str = "--lpips-weights") -> nn.Module:
    """LPIPS-Alex as torchmetrics defines it, its backbone loaded from ``weights`` (imagenet | random | PATH).

    Raises:
        WeightsUnavailableError: the AlexNet weights cannot be had (the message lists the fixes).
    """
    # torchmetrics' network class (the public metric class would download the backbone; see the module docstring)
    from torchmetrics.functional.image.lpips import _LPIPS

    from gen_common.weights import resolve_weights

    with torch.random.fork_rng():  # a random backbone (tests) is the same in every run; the caller's RNG untouched
        torch.manual_seed(0)
        alexnet = resolve_weights("alexnet", weights, option=option)
        # torchmetrics' flags: pretrained= loads its shipped 1x1 layers; pnet_rand= builds the torchvision backbone
        # with weights=None (no download); the backbone's weights come from the resolver just below
        net = _LPIPS(pretrained=True, net="alex", pnet_rand=True)
    for stage in (net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5):
        for index, layer in stage.named_children():  # the slices hold torchvision's features[index] layers
            layer.load_state_dict(alexnet.features[int(index)].state_dict())
    return net.eval().requires_grad_(False)


@torch.no_grad()
def lpips(net: nn.Module, est: Tensor, hr: Tensor) -> Tensor:
    """LPIPS distance per image, (N,), for RGB images (N, 3, H, W) in [0, 1]; 0 for identical images."""
    return net(est.clamp(0, 1).float(), hr.clamp(0, 1).float(), normalize=True).flatten()
