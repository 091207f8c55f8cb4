"""Losses of thesis ch. 6, one function per equation, with the official code's normalisation.

The weights of the official code (quoted in the configs) assume: reconstruction = mean over batch and pixels of
the per-pixel sum over channels of the squared error; embedding loss = mean over latent dimensions of z^2;
gradient penalty = mean of the squared gradient of ||D(z)||^2 w.r.t. z. These functions follow that, so the
weights carry over.
"""

import torch
from torch import Tensor, nn


def reconstruction_loss_6_10(x: Tensor, x_rec: Tensor) -> Tensor:
    """L_REC = ||x - D(E(x))||^2 (Eq. 6.10): squared error summed over channels, averaged over batch and pixels."""
    return (x - x_rec).pow(2).sum(1).mean()


def reparameterize_6_11(mu: Tensor, log_var: Tensor) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (Eq. 6.11); the encoder outputs log sigma^2 for stability."""
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)


def vae_kl_loss_6_12(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) (Eq. 6.12, closed form), averaged over latent dimensions and batch.

    Per dimension 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2). (Eq. 6.12 as printed has "+ D" and sigma where the
    closed form has "- D" and sigma^2; this is the closed form.) Averaged over dimensions like the embedding loss
    (:func:`embedding_loss_6_14`); the official normalisation of this term is not known to us. With the official
    weight 0.312 the VAE's posterior collapsed on the digits with either reduction (packages/rae/README.md).
    """
    return 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).mean()


def cv_vae_sample_6_13(mu: Tensor, sigma: float) -> Tensor:
    """z = mu + eps, eps ~ N(0, sigma I) (Eq. 6.13): the constant-variance encoder's noise.

    ``sigma`` is the noise's standard deviation (the official code's ``cv_sigma``, e.g. 0.7 on MNIST).
    """
    return mu + sigma * torch.randn_like(mu)


def embedding_loss_6_14(z: Tensor) -> Tensor:
    """L_KL^CV = L_KL^RAE = 1/2 ||z||^2 (Eq. 6.14, 6.15) in the official normalisation: the mean of z^2 over latent
    dimensions and batch (the 1/2 and the dimension count are absorbed in beta)."""
    return z.pow(2).mean()


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


def decoder_gradient_penalty_6_17(decoded: Tensor, z: Tensor) -> Tensor:
    """L_GP = ||grad_z D(z)||^2 (Eq. 6.17) as the official code computes it: the squared norm of the gradient of
    ||D(z)||^2 with respect to z, averaged over the batch.

    Args:
        decoded: D(z), computed from ``z`` with autograd on (the reconstruction of the same step: no second pass).
        z: the codes (a non-leaf output of the encoder is fine).

    The graph is kept so that the penalty trains D (and E through z): a double backward.
    """
    (grad,) = torch.autograd.grad(decoded.pow(2).flatten(1).sum(1).sum(), z, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


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
