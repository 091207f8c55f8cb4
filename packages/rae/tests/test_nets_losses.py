"""Table 6.1 shapes; Eq. 6.10-6.18 against closed forms; spectral norm; RAE-L2 touches only the decoder."""

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from rae.losses import (
    decoder_gradient_penalty_6_17,
    decoder_l2_loss_6_16,
    embedding_loss_6_14,
    imq_mmd_loss,
    reconstruction_loss_6_10,
    vae_kl_loss_6_12,
)
from rae.module import RegularizedAE
from rae.nets import Decoder, Encoder

COLUMNS = {  # Table 6.1: channels, image size, latent, kernel, decoder ConvT widths
    "mnist": (1, 32, 16, 4, (512, 256)),
    "cifar10": (3, 32, 128, 4, (512, 256)),
    "celeba": (3, 64, 64, 5, (512, 256, 128)),
}


@pytest.mark.parametrize("column", list(COLUMNS))
def test_table_6_1_shapes(column):
    c, size, latent, k, ups = COLUMNS[column]
    enc = Encoder(c, latent, size, k, m=2)
    dec = Decoder(c, latent, k, ups)
    x = torch.rand(2, c, size, size) * 2 - 1
    h = enc(x)
    assert h.shape == (2, 2 * latent)  # M = 2 (VAE)
    out = dec(h[:, :latent])
    assert out.shape == (2, c, size, size) and 0 <= out.min() and out.max() <= 1  # sigmoid output
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 256, 512, 1024] and all(m.kernel_size == (k, k) for m in convs)
    assert all(m.stride == (2, 2) for m in convs)
    convts = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in convts] == list(ups) and dec.fc.out_features == 8 * 8 * 1024


def test_reconstruction_sums_channels_and_averages_pixels():
    x, y = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert reconstruction_loss_6_10(x, y).item() == pytest.approx(3 * 0.25)


def test_vae_kl_matches_torch_distributions():
    mu, log_var = torch.randn(5, 16), torch.randn(5, 16)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).mean()  # per dimension
    torch.testing.assert_close(vae_kl_loss_6_12(mu, log_var), expected)
    assert vae_kl_loss_6_12(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0  # q = p


def test_latent_penalty_is_the_mean_of_z_squared():
    z = torch.randn(7, 16)
    naive = sum(float(v) ** 2 for v in z.flatten()) / z.numel()
    assert embedding_loss_6_14(z).item() == pytest.approx(naive, rel=1e-5)


def test_gradient_penalty_closed_form_on_a_linear_decoder():
    # D(z) = A z: grad_z ||D(z)||^2 = 2 A^T A z, so L_GP = mean_n ||2 A^T A z_n||^2.
    lin = nn.Linear(4, 6, bias=False)
    z = torch.randn(5, 4, requires_grad=True)
    a = lin.weight.detach()
    expected = (2 * z.detach() @ a.T @ a).pow(2).sum(1).mean()
    torch.testing.assert_close(decoder_gradient_penalty_6_17(lin(z), z), expected)


def test_mmd_is_near_zero_for_the_prior_and_large_for_a_shift():
    gen = torch.Generator().manual_seed(0)
    prior = torch.randn(400, 8, generator=gen)
    same = imq_mmd_loss(torch.randn(400, 8, generator=gen), prior)
    shifted = imq_mmd_loss(torch.randn(400, 8, generator=gen) + 2, prior)
    assert abs(same.item()) < 0.05 < shifted.item()


def test_spectral_norm_keeps_each_decoder_layer_at_one():
    dec = Decoder(1, 16, 4, (32, 16), spectral=True, fc_width=32).train()
    for _ in range(30):  # power iterations advance with every training forward pass
        dec(torch.randn(8, 16))
    layers = [m for m in dec.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]
    assert len(layers) == 4
    for m in layers:
        w = m.weight.detach()
        mat = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w  # torch's SN uses dim 1 for ConvT
        assert torch.linalg.matrix_norm(mat.flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_rae_l2_decays_only_decoder_weights():
    model = RegularizedAE("rae_l2", base_channels=4)
    decoder_l2_loss_6_16(model.decoder).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    conv = model.decoder.body[2]  # the first transposed conv
    torch.testing.assert_close(conv.weight.grad, 2 * conv.weight.detach())  # d/dw ||w||^2
    assert conv.bias.grad is None  # biases are not decayed


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown variant"):
        RegularizedAE("beta_vae")
