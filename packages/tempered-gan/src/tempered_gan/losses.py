"""Objectives of thesis ch. 4, one function per equation. Discriminator outputs are logits (see nets.py).

All losses are means over the batch (the thesis writes expectations; the norms of Eq. 4.9-4.11 are taken per
sample and averaged, as Mao et al.'s code does).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_TYPES = ("gan", "lsgan", "wgan_gp")


def lens_lambda(step: int | Tensor, k: int) -> float | Tensor:
    """Weight of the lens's adversarial loss at training step t, Eq. 4.4: 1 - sin(t pi / 2K) for t <= K, else 0.

    ``k = 0`` switches the schedule off (lambda = 0 from the start).
    """
    if k <= 0:
        return 0.0 if not isinstance(step, Tensor) else torch.zeros_like(step, dtype=torch.float32)
    if isinstance(step, Tensor):
        t = step.float().clamp(max=k)
        return 1 - torch.sin(t * math.pi / (2 * k))
    return 1 - math.sin(min(step, k) * math.pi / (2 * k))


LENS_RECON_REDUCTIONS = ("sum", "mean")


def lens_reconstruction_loss_4_2(x: Tensor, lensed: Tensor, reduction: str = "sum") -> Tensor:
    """L_L^R = ||X - L(X)||^2 (Eq. 4.2), per image, averaged over the batch.

    ``sum``: the squared norm as Eq. 4.2 writes it, summed over pixels and channels (32x32x1..3 = 1024..3072 terms
    next to lambda * L_L^A, a per-image scalar). ``mean``: the mean squared error instead (our earlier reading),
    which weakens L_L^R against lambda * L_L^A by that factor. Images in the networks' [-1, 1].
    """
    if reduction == "sum":
        return (x - lensed).pow(2).flatten(1).sum(1).mean()
    if reduction == "mean":
        return F.mse_loss(lensed, x)
    raise ValueError(f"lens_recon must be one of {', '.join(LENS_RECON_REDUCTIONS)}, not {reduction!r}")


# ---- classical GAN, Sec. 4.2.1 (D(x) = sigmoid(logit)) -------------------------------------------------------
def gan_generator_loss_4_5(fake_logits: Tensor) -> Tensor:
    """L_G = -log D(G(z)) (Eq. 4.5, the non-saturating loss)."""
    return F.softplus(-fake_logits).mean()


def gan_discriminator_loss_4_7(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """L_D = -log D(L(x)) - log(1 - D(G(z))) (Eq. 4.7; Eq. 4.6 when ``real_logits`` are of x itself)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def gan_lens_loss_4_8(lensed_logits: Tensor) -> Tensor:
    """L_L^A = -log(1 - D(L(x))) (Eq. 4.8): the lens pushes D's output on lensed data towards 'fake'."""
    return F.softplus(lensed_logits).mean()


# ---- LSGAN, Sec. 4.2.2 (D(x) = sigmoid(logit), squared distances) ---------------------------------------------
def lsgan_generator_loss_4_9(fake_logits: Tensor) -> Tensor:
    """L_G = ||D(G(z)) - 1||^2 (Eq. 4.9)."""
    return (torch.sigmoid(fake_logits) - 1).pow(2).mean()


def lsgan_discriminator_loss_4_10(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """L_D = ||D(G(z))||^2 + ||D(L(x)) - 1||^2 (Eq. 4.10)."""
    return torch.sigmoid(fake_logits).pow(2).mean() + (torch.sigmoid(real_logits) - 1).pow(2).mean()


def lsgan_lens_loss_4_11(lensed_logits: Tensor) -> Tensor:
    """L_L^A = ||D(L(x))||^2 (Eq. 4.11)."""
    return torch.sigmoid(lensed_logits).pow(2).mean()


# ---- WGAN-GP, Sec. 4.2.3 (unbounded critic scores) ------------------------------------------------------------
def wgan_generator_loss_4_12(fake_scores: Tensor) -> Tensor:
    """L_G = -D(G(z)) (Eq. 4.12)."""
    return -fake_scores.mean()


def wgan_critic_loss_4_13(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = D(G(z)) - D(L(x)) (Eq. 4.13), without the gradient penalty (:func:`gradient_penalty`)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_lens_loss_4_14(lensed_scores: Tensor) -> Tensor:
    """L_L^A = D(L(x)) (Eq. 4.14)."""
    return lensed_scores.mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP's penalty E[(||grad_x_hat D(x_hat)||_2 - 1)^2] (Gulrajani et al., 2017), without its weight.

    x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1] per sample. With a lens, ``real`` is L(X), the
    distribution the critic is asked to separate from G(Z) (Eq. 4.13), so the 1-Lipschitz constraint is enforced
    between the two distributions the critic actually compares; once L is the identity this is plain WGAN-GP.
    Both inputs are treated as constants (detach them); the graph is kept so that the penalty trains the critic.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


LOSSES = {
    "gan": (gan_generator_loss_4_5, gan_discriminator_loss_4_7, gan_lens_loss_4_8),
    "lsgan": (lsgan_generator_loss_4_9, lsgan_discriminator_loss_4_10, lsgan_lens_loss_4_11),
    "wgan_gp": (wgan_generator_loss_4_12, wgan_critic_loss_4_13, wgan_lens_loss_4_14),
}


def objectives(gan_type: str):
    """(generator loss, discriminator loss, lens adversarial loss) of one GAN variant (Sec. 4.2.1-4.2.3)."""
    if gan_type not in LOSSES:
        raise ValueError(f"unknown gan_type {gan_type!r}; choose one of {', '.join(GAN_TYPES)}")
    return LOSSES[gan_type]
