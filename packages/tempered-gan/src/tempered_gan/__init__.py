"""Tempered Adversarial Networks (thesis ch. 4): a lens for DCGAN, LSGAN and WGAN-GP."""

from gen_common.lazy import lazy_exports

_EXPORTS = dict.fromkeys(("Discriminator", "Generator", "Lens"), "tempered_gan.nets")
_EXPORTS |= dict.fromkeys(("gradient_penalty", "lens_lambda", "objectives"), "tempered_gan.losses")
_EXPORTS |= {"TemperedGAN": "tempered_gan.module", "GanDataModule": "tempered_gan.data"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
