"""The shared Xavier initialisation against Glorot & Bengio's formula, drawn by hand in module order."""

import math

import pytest
import torch
from torch import nn

from gen_common.init import XAVIER_LAYERS, xavier_init


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ConvTranspose2d(8, 4, 4, stride=2),
        nn.Sequential(nn.Flatten(), nn.Linear(16, 5, bias=False)),
        nn.Linear(5, 1),
    )


def _bound(weight: torch.Tensor) -> float:
    # Glorot & Bengio (2010): U(-a, a), a = sqrt(6 / (fan_in + fan_out)); a conv's fans count its kernel taps.
    # fan_in + fan_out is symmetric in the two channel dims, so Conv2d's (out, in, k, k) and ConvTranspose2d's
    # (in, out, k, k) layouts need no distinction.
    taps = weight[0, 0].numel() if weight.ndim > 2 else 1
    return math.sqrt(6 / ((weight.shape[0] + weight.shape[1]) * taps))


def test_xavier_init_draws_glorot_uniform_in_module_order():
    net = _net()
    bn_before = {k: v.clone() for k, v in net[1].state_dict().items()}
    torch.manual_seed(7)
    xavier_init(net)
    torch.manual_seed(7)  # the same draws by hand: U(-a, a) per layer, in net.modules() order
    for m in (net[0], net[2], net[3][1], net[4]):
        a = _bound(m.weight)
        ref = torch.empty_like(m.weight).uniform_(-a, a)
        torch.testing.assert_close(m.weight, ref, rtol=0, atol=1e-7)
        assert m.weight.abs().max() <= a
        if m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
    for k, v in net[1].state_dict().items():  # batch norm keeps its own init
        assert torch.equal(v, bn_before[k])


def test_xavier_init_layer_types_select_and_order_the_draws():
    net = _net()
    conv_t_before = net[2].weight.clone()
    xavier_init(net, (nn.Conv2d, nn.Linear))
    assert torch.equal(net[2].weight, conv_t_before)  # transposed convs left alone
    assert nn.ConvTranspose2d in XAVIER_LAYERS and not issubclass(nn.ConvTranspose2d, nn.Conv2d)


def test_xavier_weights_have_the_glorot_variance():
    layer = nn.Linear(300, 200)
    xavier_init(layer)
    # Var U(-a, a) = a^2 / 3 = 2 / (fan_in + fan_out)
    assert layer.weight.var().item() == pytest.approx(2 / 500, rel=0.02)
