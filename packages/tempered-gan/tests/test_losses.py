"""Objectives of Sec. 4.2 against their closed forms, the lambda schedule (Eq. 4.4), the gradient penalty."""

import math

import pytest
import torch
from torch import nn

from tempered_gan.losses import (
    gradient_penalty,
    lens_lambda,
    lens_reconstruction_loss_4_2,
    objectives,
)
from tempered_gan.nets import Discriminator, Lens


def test_lambda_schedule_eq_4_4():
    k = 1000
    assert lens_lambda(0, k) == 1.0
    assert lens_lambda(k // 2, k) == pytest.approx(1 - math.sin(math.pi / 4))
    assert lens_lambda(k, k) == pytest.approx(0.0, abs=1e-12)
    assert lens_lambda(5 * k, k) == 0.0
    t = torch.tensor([0, 250, 500, 1000, 4000])
    expected = torch.tensor([1 - math.sin(min(s, k) * math.pi / (2 * k)) for s in t.tolist()])
    torch.testing.assert_close(lens_lambda(t, k), expected)
    values = [lens_lambda(s, k) for s in range(0, k + 1, 50)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # monotone from 1 to 0 (Fig. 4.2)


def test_gan_objectives_match_the_log_formulas():
    real, fake = torch.randn(7), torch.randn(7)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    g, d, lens = objectives("gan")
    torch.testing.assert_close(g(fake), -torch.log(d_fake).mean())  # Eq. 4.5
    torch.testing.assert_close(d(real, fake), (-torch.log(d_real) - torch.log(1 - d_fake)).mean())  # Eq. 4.7
    torch.testing.assert_close(lens(real), -torch.log(1 - d_real).mean())  # Eq. 4.8


def test_lsgan_and_wgan_objectives():
    real, fake = torch.randn(5), torch.randn(5)
    g, d, lens = objectives("lsgan")
    s_r, s_f = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(g(fake), ((s_f - 1) ** 2).mean())  # Eq. 4.9
    torch.testing.assert_close(d(real, fake), (s_f**2).mean() + ((s_r - 1) ** 2).mean())  # Eq. 4.10
    torch.testing.assert_close(lens(real), (s_r**2).mean())  # Eq. 4.11
    g, d, lens = objectives("wgan_gp")
    torch.testing.assert_close(g(fake), -fake.mean())  # Eq. 4.12
    torch.testing.assert_close(d(real, fake), fake.mean() - real.mean())  # Eq. 4.13
    torch.testing.assert_close(lens(real), real.mean())  # Eq. 4.14
    with pytest.raises(ValueError, match="unknown gan_type"):
        objectives("began")


def test_reconstruction_is_the_squared_norm_per_image_or_the_mean():
    x, y = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    y[0] = 0.5  # image 0: 48 pixels off by 0.5 -> ||.||^2 = 12; image 1 exact
    assert lens_reconstruction_loss_4_2(x, y).item() == pytest.approx(12 / 2)  # Eq. 4.2, batch mean
    assert lens_reconstruction_loss_4_2(x, y, "sum").item() == pytest.approx(6.0)
    assert lens_reconstruction_loss_4_2(x, y, "mean").item() == pytest.approx(0.25 / 2)
    with pytest.raises(ValueError, match="sum, mean"):
        lens_reconstruction_loss_4_2(x, y, "max")


@pytest.mark.parametrize("gan_type", ["gan", "lsgan", "wgan_gp"])
def test_a_lens_step_increases_the_discriminator_loss(gan_type):
    # L_L^A ~ -L_D (Sec. 4.2): descending the lens's adversarial loss must raise D's loss on (L(x), G(z)).
    torch.manual_seed(0)
    disc = Discriminator(channels=1, width=8, batch_norm=False)
    lens = Lens(channels=1, num_blocks=2, width=8)
    x, fake = torch.rand(16, 1, 32, 32) * 2 - 1, torch.rand(16, 1, 32, 32) * 2 - 1
    _, loss_d, loss_lens = objectives(gan_type)
    with torch.no_grad():
        before = loss_d(disc(lens(x)), disc(fake)).item()
    opt = torch.optim.SGD(lens.parameters(), lr=1e-3)
    loss_lens(disc(lens(x))).backward()
    opt.step()
    with torch.no_grad():
        after = loss_d(disc(lens(x)), disc(fake)).item()
    assert after > before


class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1) + 3.0


def test_gradient_penalty_closed_form_on_a_linear_critic():
    # D(x) = <w, x> + b has gradient w everywhere: the penalty is (||w|| - 1)^2 for any interpolate.
    w = torch.randn(3 * 4 * 4)
    critic = LinearCritic(w.clone())
    gp = gradient_penalty(critic, torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4))
    torch.testing.assert_close(gp, (w.norm() - 1) ** 2)
    gp.backward()  # the penalty trains the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.w.grad, 2 * (w.norm() - 1) * w / w.norm())
