"""Table 6.1 shapes; Eq. 6.10-6.18 against closed forms; spectral norm; RAE-L2 touches only the decoder."""

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from rae.losses import (
    cv_vae_kl_loss_6_14,
    decoder_gradient_penalty_6_17,
    decoder_l2_loss_6_16,
    embedding_loss_6_14,
    imq_mmd_loss,
    reconstruction_loss_6_10,
    reparameterize_6_11,
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


def test_reconstruction_is_the_mean_squared_error_over_pixels_and_channels():
    # the official code's recon_loss_type "l2": Keras mse (mean over channels), then the mean over batch and pixels
    x, y = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    y[:, 0] = 0.5  # one channel off by 0.5: 0.25 / 3 per pixel
    assert reconstruction_loss_6_10(x, y).item() == pytest.approx(0.25 / 3)


def test_vae_kl_matches_torch_distributions_summed_or_averaged_over_dimensions():
    mu, log_var = torch.randn(5, 16), torch.randn(5, 16)
    per_dim = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(vae_kl_loss_6_12(mu, log_var), per_dim.sum(1).mean())  # the official reduction
    torch.testing.assert_close(vae_kl_loss_6_12(mu, log_var, reduction="mean"), per_dim.mean())
    assert vae_kl_loss_6_12(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0  # q = p
    with pytest.raises(ValueError, match="reduction"):
        vae_kl_loss_6_12(mu, log_var, reduction="batch")


def test_latent_penalties_rae_mean_and_cv_vae_half_sum():
    z = torch.randn(7, 16)
    squares = [float(v) ** 2 for v in z.flatten()]
    assert embedding_loss_6_14(z).item() == pytest.approx(sum(squares) / z.numel(), rel=1e-5)  # Eq. 6.15, official
    assert cv_vae_kl_loss_6_14(z).item() == pytest.approx(0.5 * sum(squares) / 7, rel=1e-5)  # Eq. 6.14 per code
    # the KL of Eq. 6.12 at a constant sigma differs from 1/2 ||mu||^2 by a constant only (the official CV-VAE)
    sigma = torch.full_like(z, 0.7)
    kl = kl_divergence(Normal(z, sigma), Normal(0.0, 1.0)).sum(1).mean()
    const = kl_divergence(Normal(torch.zeros_like(z), sigma), Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(kl - const, cv_vae_kl_loss_6_14(z))


def _linear_decoder(d_in: int = 4, d_out: int = 6) -> tuple[nn.Linear, torch.Tensor]:
    lin = nn.Linear(d_in, d_out, bias=False)
    return lin, lin.weight.detach()


def test_gradient_penalty_official_closed_form_on_a_linear_decoder():
    # D(z) = W z: grad_z ||D(z)||^2 = 2 W^T W z, so L_GP = 4 mean_{n,j} ((W^T W z_n)_j^2)
    lin, w = _linear_decoder()
    z = torch.randn(5, 4, requires_grad=True)
    expected = 4 * (z.detach() @ w.T @ w).pow(2).mean()
    torch.testing.assert_close(decoder_gradient_penalty_6_17(lin(z), z), expected)
    torch.testing.assert_close(decoder_gradient_penalty_6_17(lin(z), z, reading="official"), expected)
    big = (10 * z.detach()).requires_grad_()  # grows with |z|: x100 for a linear decoder
    torch.testing.assert_close(decoder_gradient_penalty_6_17(lin(big), big), 100 * expected)


def test_gradient_penalty_jacobian_reading_is_the_frobenius_norm_whatever_z():
    lin, w = _linear_decoder()
    torch.manual_seed(0)
    for scale in (0.1, 10.0):
        z = (scale * torch.randn(20000, 4)).requires_grad_()  # the mean of 20k one-probe estimates
        got = decoder_gradient_penalty_6_17(lin(z), z, reading="jacobian").item()
        assert got == pytest.approx(w.pow(2).sum().item(), rel=0.03)
    with pytest.raises(ValueError, match="official, jacobian"):
        decoder_gradient_penalty_6_17(lin(z), z, reading="hessian")


def test_gradient_penalty_trains_the_decoder_through_a_double_backward():
    lin, w = _linear_decoder()
    z = torch.randn(3, 4, requires_grad=True)
    decoder_gradient_penalty_6_17(lin(z), z).backward()
    # d/dW 4 mean((W^T W z)^2): compare with autograd on the closed form
    w2 = w.clone().requires_grad_()
    (4 * (z.detach() @ w2.T @ w2).pow(2).mean()).backward()
    torch.testing.assert_close(lin.weight.grad, w2.grad)


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


def test_official_kl_reduction_is_the_official_objective_divided_by_the_pixel_count():
    # official VAE: sum_pixels mse_channels + beta * KL summed over dimensions (per image, batch mean)
    torch.manual_seed(0)
    model = RegularizedAE("vae", base_channels=4, beta=0.312)
    x = torch.rand(6, 1, 32, 32)
    torch.manual_seed(1)
    total, parts = model.loss(x)
    torch.manual_seed(1)
    mu, log_var = model.encode(x)
    rec = model.decoder(reparameterize_6_11(mu, log_var))
    kl = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(1)
    official = ((x - rec).pow(2).flatten(1).sum(1) + 0.312 * kl).mean()  # the Keras VAE's loss, one channel
    torch.testing.assert_close(total, official / (32 * 32))
    mean_model = RegularizedAE("vae", base_channels=4, beta=0.312, kl_reduction="mean")
    mean_model.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    torch.testing.assert_close(mean_model.loss(x)[1]["kl"], kl.mean() / 16)  # the earlier per-dimension mean


def test_k_latent_samples_per_input_eq_6_8():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 32, 32)
    model = RegularizedAE("cv_vae", base_channels=4, cv_sigma=0.5, mc_samples=3)
    z, mu, _ = model.training_codes_of(x, 3)
    assert z.shape == (12, 16) and mu.shape == (4, 16)
    noise = (z - mu.repeat_interleave(3, 0)).view(4, 3, 16)  # rows grouped per input, independent draws
    assert noise.std().item() == pytest.approx(0.5, rel=0.2) and not torch.allclose(noise[:, 0], noise[:, 1])
    # without noise the k samples coincide, so the k-sample L_REC equals the one-sample one
    exact = RegularizedAE("cv_vae", base_channels=4, cv_sigma=0.0, mc_samples=3).eval()
    single = RegularizedAE("cv_vae", base_channels=4, cv_sigma=0.0).eval()
    single.load_state_dict(exact.state_dict())
    torch.testing.assert_close(exact.loss(x)[1]["rec"], single.loss(x)[1]["rec"])
    with pytest.raises(ValueError, match="only for the stochastic encoders"):
        RegularizedAE("rae", mc_samples=2)
    for bad in ({"gp": "hessian"}, {"kl_reduction": "sum"}):
        with pytest.raises(ValueError, match="model."):
            RegularizedAE("vae", base_channels=4, **bad)
