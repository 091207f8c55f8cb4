"""Tempered Adversarial Networks (thesis ch. 4): a lens for DCGAN, LSGAN and WGAN-GP."""

from tempered_gan.losses import gradient_penalty, lens_lambda, objectives
from tempered_gan.nets import Discriminator, Generator, Lens

__all__ = ["Discriminator", "Generator", "Lens", "gradient_penalty", "lens_lambda", "objectives"]
