"""Losses of thesis ch. 6, one function per equation, with the official code's normalisation.

The weights of the official code (quoted in the configs) assume its reductions, which these functions follow:
reconstruction = mean squared error over batch, pixels and channels (its ``recon_loss_type: l2``, Keras ``mse``);
RAE embedding loss = mean over latent dimensions of z^2; gradient penalty = mean over batch and latent dimensions
of the squared gradient of ||D(z)||^2 w.r.t. z. Its VAE and CV-VAE sum instead: the squared error over pixels and
the KL over latent dimensions (see :func:`vae_kl_loss_6_12`; the module divides that objective by the pixel count
so that every variant logs the same reconstruction loss).
"""

import torch
from torch import Tensor, nn


def reconstruction_loss_6_10(x: Tensor, x_rec: Tensor) -> Tensor:
    """L_REC = ||x - D(E(x))||^2 (Eq. 6.10) as the official code's ``l2``: the mean squared error over batch,
    pixels and channels (Keras ``mse`` over channels, then the mean over batch and pixels)."""
    return (x - x_rec).pow(2).mean()


def reparameterize_6_11(mu: Tensor, log_var: Tensor) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (Eq. 6.11); the encoder outputs log sigma^2 for stability."""
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)


def vae_kl_loss_6_12(mu: Tensor, log_var: Tensor, reduction: str = "sum") -> Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) (Eq. 6.12, closed form), averaged over the batch.

    Per dimension 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2). (Eq. 6.12 as printed has "+ D" and sigma where the
    closed form has "- D" and sigma^2; this is the closed form.) ``reduction="sum"`` sums over latent dimensions,
    the KL itself and the official code's (``0.5 * K.sum(..., axis=1)``); ``"mean"`` averages over them (our
    earlier reading, with which the official weight 0.312 collapsed the VAE: packages/rae/README.md).
    """
    per_dim = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
    return per_dim.sum(1).mean() if reduction == "sum" else per_dim.mean()


def cv_vae_sample_6_13(mu: Tensor, sigma: float) -> Tensor:
    """z = mu + eps, eps ~ N(0, sigma I) (Eq. 6.13): the constant-variance encoder's noise.

    ``sigma`` is the noise's standard deviation (the official code's ``cv_sigma``, e.g. 0.7 on MNIST).
    """
    return mu + sigma * torch.randn_like(mu)


def embedding_loss_6_14(z: Tensor) -> Tensor:
    """L_KL^RAE = 1/2 ||z||^2 (Eq. 6.15) in the official RAE normalisation: the mean of z^2 over latent dimensions
    and batch (the 1/2 and the dimension count are absorbed in beta)."""
    return z.pow(2).mean()


def cv_vae_kl_loss_6_14(mu: Tensor) -> Tensor:
    """L_KL^CV = 1/2 ||mu||^2 (Eq. 6.14) as written and as the official CV-VAE computes it (the KL of Eq. 6.12 at a
    constant sigma, up to a constant): summed over latent dimensions, averaged over the batch."""
    return 0.5 * mu.pow(2).sum(1).mean()


def decoder_l2_loss_6_16(decoder: nn.Module) -> Tensor:
    """L_L2 = ||theta||^2 (Eq. 6.16): the sum of squares of the decoder's weights (conv / linear kernels).

    Only the decoder (RAE-L2 decays nothing else); biases and batch-norm parameters are left out, as weight decay
    usually does. Spectral-normalised layers contribute their original (unnormalised) weights.
    """
    total = None
    for m in decoder.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            term = w.pow(2).sum()
            total = term if total is None else total + term
    if total is None:
        raise ValueError("the decoder has no conv / linear weights")
    return total


GP_READINGS = ("official", "jacobian")


def decoder_gradient_penalty_6_17(decoded: Tensor, z: Tensor, reading: str = "official") -> Tensor:
    """L_GP = ||grad_z D(z)||^2 (Eq. 6.17) in one of two readings.

    ``official``: as the official code computes it, g = grad_z ||D(z)||^2 (per sample), and L_GP = the mean of g^2
    over batch *and* latent dimensions. For a linear decoder D(z) = W z: 4 * mean_j((W^T W z)_j^2). It grows with
    |z| (quadratically for a linear decoder). ``jacobian``: the squared Frobenius norm of the decoder's Jacobian,
    ||dD/dz||_F^2 (W: ||W||_F^2, whatever z), estimated without bias by one random projection per sample
    (Hutchinson: E_v ||J^T v||^2 = ||J||_F^2 for v ~ N(0, I); exact per sample without batch-coupled layers, i.e.
    BatchNorm in eval mode), averaged over the batch. The two readings are not proportional, so ``jacobian`` needs
    its own lambda (the official weights are calibrated for ``official``).

    Args:
        decoded: D(z), computed from ``z`` with autograd on (the reconstruction of the same step: no second pass).
        z: the codes (a non-leaf output of the encoder is fine).
        reading: ``official`` or ``jacobian``.

    The graph is kept so that the penalty trains D (and E through z): a double backward.
    """
    if reading == "official":
        (grad,) = torch.autograd.grad(decoded.pow(2).sum(), z, create_graph=True)
        return grad.pow(2).mean()
    if reading == "jacobian":
        v = torch.randn_like(decoded)
        (jtv,) = torch.autograd.grad((decoded * v).sum(), z, create_graph=True)
        return jtv.pow(2).flatten(1).sum(1).mean()
    raise ValueError(f"gp reading must be one of {', '.join(GP_READINGS)}, not {reading!r}")


def imq_mmd_loss(z: Tensor, prior: Tensor, scale: float = 1.0) -> Tensor:
    """WAE-MMD's penalty (Tolstikhin et al., 2018): the unbiased MMD^2 between codes ``z`` and prior samples with the
    inverse multiquadratics kernel k(a, b) = C / (C + ||a - b||^2), summed over C = scale * 2d * {.1, .2, .5, 1, 2,
    5, 10} as in their code (d = latent size, 2d = the expected squared distance of two N(0, I) samples)."""
    n, d = z.shape
    if n < 2:
        raise ValueError("the MMD needs at least 2 codes per batch")
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    d_zz, d_pp, d_zp = torch.cdist(z, z).pow(2), torch.cdist(prior, prior).pow(2), torch.cdist(z, prior).pow(2)
    total = z.new_zeros(())
    for c in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = c * 2 * d * scale
        k_zz, k_pp, k_zp = c / (c + d_zz), c / (c + d_pp), c / (c + d_zp)
        total = total + k_zz[off].mean() + k_pp[off].mean() - 2 * k_zp.mean()
    return total
