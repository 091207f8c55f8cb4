"""LPIPS through the weights resolver, against a naive implementation of Zhang et al.'s Eq. 1."""

import inspect
from pathlib import Path

import pytest
import skimage.data
import torch

from gen_common.weights import WeightsUnavailableError, resolve_weights
from sr_image.lpips import build_lpips, lpips


def _naive_lpips(alexnet, lins: dict, x, y):
    """d(x, y) = sum_l mean_hw || w_l * (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|) ||^2 on AlexNet's relu1..relu5."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    taps = [1, 4, 7, 9, 11]  # the ReLUs after conv1..conv5 in torchvision's alexnet.features
    fx, fy = ((2 * x - 1 - shift) / scale), ((2 * y - 1 - shift) / scale)
    total = 0.0
    for i, layer in enumerate(alexnet.features[: taps[-1] + 1]):
        fx, fy = layer(fx), layer(fy)
        if i in taps:
            k = taps.index(i)
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            w = lins[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
            total = total + (w * (nx - ny).pow(2)).sum(1).mean(dim=(1, 2))
    return total


def test_lpips_matches_eq_1_and_grows_with_the_distortion():
    torch.manual_seed(0)
    net = build_lpips("random")
    from torchmetrics.functional.image import lpips as tm_lpips

    shipped = Path(inspect.getfile(tm_lpips)).parent / "lpips_models" / "alex.pth"
    lins = torch.load(shipped, map_location="cpu", weights_only=True)
    alexnet = torch.nn.Module()  # the backbone the metric holds, rebuilt in torchvision's layout from its layers
    layers = {int(k): m for s in (net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5)
              for k, m in s.named_children()}  # fmt: skip
    alexnet.features = torch.nn.Sequential(*(layers[i] for i in range(12)))

    hr = torch.from_numpy(skimage.data.astronaut()[:96, :96].copy()).permute(2, 0, 1)[None].float() / 255
    g = torch.Generator().manual_seed(1)
    previous = -1.0
    for sigma in (0.0, 0.03, 0.1, 0.3):
        est = (hr + sigma * torch.randn(hr.shape, generator=g)).clamp(0, 1)
        got = lpips(net, est, hr)
        with torch.no_grad():
            torch.testing.assert_close(got, _naive_lpips(alexnet, lins, est, hr), rtol=1e-4, atol=1e-6)
        assert got.item() > previous
        previous = got.item()
    assert lpips(net, hr, hr).item() == pytest.approx(0.0, abs=1e-7)


def test_the_backbone_comes_from_the_resolver(tmp_path):
    """A local torchvision AlexNet file is used as given (here: a recognisable random one)."""
    torch.manual_seed(3)
    reference = resolve_weights("alexnet", "random")
    path = tmp_path / "alexnet.pth"
    torch.save(reference.state_dict(), path)
    net = build_lpips(str(path))
    torch.testing.assert_close(net.net.slice1[0].weight, reference.features[0].weight)
    torch.testing.assert_close(dict(net.net.slice5.named_children())["10"].weight, reference.features[10].weight)
    # random mode is seeded: two builds give the same metric (and leave the caller's RNG alone)
    state = torch.get_rng_state()
    torch.testing.assert_close(build_lpips("random").net.slice1[0].weight, build_lpips("random").net.slice1[0].weight)
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(WeightsUnavailableError, match="--lpips-weights"):
        build_lpips(str(tmp_path / "missing.pth"))
