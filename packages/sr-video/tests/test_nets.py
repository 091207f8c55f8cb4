"""FRVSR operators and networks against the thesis: Eq. 3.5, warping, black first frame, gradients through time."""

import math

import pytest
import torch
import torch.nn.functional as F

from sr_image.nets import bicubic_upsample
from sr_video.losses import flow_loss, sr_loss
from sr_video.nets import FRVSR, SISR, VSR, FNet, SRNet, space_to_depth, upscale_flow, warp

SMALL = {"scale": 4, "num_blocks": 1, "num_filters": 8}


@pytest.mark.parametrize("s", [2, 4])
def test_space_to_depth_is_equation_3_5(s):
    x = torch.rand(2, 3, 4 * s, 3 * s)
    out = space_to_depth(x, s)
    assert out.shape == (2, 3 * s * s, 4, 3)
    # Eq. 3.5 in (H, W, C) indexing, zero-based: S(I)[i, j, k] = I[s i + k % s, s j + (k / s) % s, k / s^2]
    for k in range(3 * s * s):
        for i in range(4):
            for j in range(3):
                assert out[1, k, i, j] == x[1, k // (s * s), s * i + k % s, s * j + (k // s) % s]
    # pixel_unshuffle holds the same values with the two offsets swapped
    ref = F.pixel_unshuffle(x, s).view(2, 3, s, s, 4, 3).transpose(2, 3).reshape(2, 3 * s * s, 4, 3)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    with pytest.raises(ValueError, match="divisible"):
        space_to_depth(torch.rand(1, 3, 9, 8), 4)


def test_warp_zero_flow_is_identity_and_integer_shift_is_exact():
    img = torch.rand(2, 3, 16, 24)
    torch.testing.assert_close(warp(img, torch.zeros(2, 2, 16, 24)), img, rtol=0, atol=1e-6)
    dx, dy = 3, 2  # read from 3 px right and 2 px down: out[y, x] = img[y + 2, x + 3]
    flow = torch.zeros(2, 2, 16, 24)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(img, flow)
    torch.testing.assert_close(out[..., : 16 - dy, : 24 - dx], img[..., dy:, dx:], rtol=0, atol=1e-5)


def test_upscaled_flow_moves_the_hr_image_as_the_lr_one():
    # One LR pixel of motion is s HR pixels (Eq. 3.2 with flows in pixels).
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 1.0  # one LR pixel to the right
    up = upscale_flow(flow, 4)
    assert up.shape == (1, 2, 32, 32)
    hr = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(warp(hr, up)[..., :, :28], hr[..., :, 4:], rtol=0, atol=1e-5)


def test_fnet_range_and_size_check():
    net = FNet()
    flow = net(torch.rand(2, 3, 16, 24), torch.rand(2, 3, 16, 24))
    assert flow.shape == (2, 2, 16, 24) and flow.abs().max() <= net.max_flow == 24  # pixels, |F| <= max_flow
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 12, 16), torch.rand(1, 3, 12, 16))


def test_srnet_adds_the_bicubic_upsampling():
    net = SRNet(3 + 3 * 16, **SMALL)
    x = torch.rand(2, 51, 8, 8)
    assert net(x).shape == (2, 3, 32, 32)
    last = net.body[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    torch.testing.assert_close(net(x), bicubic_upsample(x[:, :3], 4))


def test_first_frame_uses_a_black_previous_estimate():
    torch.manual_seed(0)
    model = FRVSR(**SMALL)
    lr = torch.rand(2, 3, 3, 8, 8)
    est, _ = model(lr)
    assert est.shape == (2, 3, 3, 32, 32)
    black = torch.zeros(2, 3 * 16, 8, 8)  # S_s of a black image, warped or not
    torch.testing.assert_close(est[:, 0], model.srnet(torch.cat([lr[:, 0], black], dim=1)))
    # later frames do see the previous estimate
    assert not torch.allclose(est[:, 1], model.srnet(torch.cat([lr[:, 1], black], dim=1)))


def test_loss_of_frame_10_reaches_the_flow_of_frame_2():
    torch.manual_seed(0)
    model = FRVSR(**SMALL)
    flows = []

    def keep(module, args, out):  # returns None: the output is left as it is
        out.retain_grad()
        flows.append(out)

    model.fnet.register_forward_hook(keep)
    lr, hr = torch.rand(1, 10, 3, 8, 8), torch.rand(1, 10, 3, 32, 32)
    est, _ = model(lr)
    sr_loss(est[:, -1], hr[:, -1]).backward()  # the loss of frame 10 only
    assert len(flows) == 10
    assert flows[1].grad.abs().sum() > 0  # frame 2's flow warps frame 1's estimate, which frame 10 depends on
    assert flows[0].grad.abs().sum() == 0  # frame 1's flow warps the black image: nothing depends on it
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.fnet.parameters())


def test_flow_loss_is_equation_3_8():
    torch.manual_seed(1)
    model = FRVSR(**SMALL)
    lr = torch.rand(2, 4, 3, 8, 8)
    _, term = model(lr)
    flows = [model.fnet(lr[:, t - 1], lr[:, t]) for t in range(1, 4)]
    manual = torch.stack([((warp(lr[:, t], f) - lr[:, t + 1]) ** 2).mean() for t, f in enumerate(flows)]).mean()
    torch.testing.assert_close(term, manual)
    assert flow_loss(lr[:, 0], lr[:, 0]).abs().max() == 0


def test_baselines_shapes_and_inputs():
    lr = torch.rand(2, 5, 3, 8, 8)
    est, term = SISR(**SMALL)(lr)
    assert est.shape == (2, 5, 3, 32, 32) and term == 0
    torch.manual_seed(0)
    vsr = VSR(**SMALL)
    est, term = vsr(lr)
    assert est.shape == (2, 5, 3, 32, 32) and term > 0
    # frame t depends on frames t-1 and t+1 only
    lr2 = lr.clone()
    lr2[:, 4] += 0.1
    est2, _ = vsr(lr2)
    torch.testing.assert_close(est2[:, :3], est[:, :3])
    assert not torch.allclose(est2[:, 3], est[:, 3])


@pytest.mark.parametrize("build", [lambda: SRNet(3 + 48, 4, 2, 16), FNet], ids=["SRNet", "FNet"])
def test_every_conv_and_transposed_conv_is_xavier_initialised(build):
    net = build()
    # Sec. 3.3.5: Xavier initialisation; Glorot's bound a = sqrt(6 / (fan_in + fan_out)), zero biases
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in layers) == isinstance(net, SRNet)
    for m in layers:
        w = m.weight
        a = math.sqrt(6 / ((w.shape[0] + w.shape[1]) * w[0, 0].numel()))
        assert w.abs().max() <= a and w.abs().max() > 0.9 * a
        assert torch.equal(m.bias, torch.zeros_like(m.bias))
