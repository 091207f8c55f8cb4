"""Regularised autoencoders (thesis ch. 6): RAE-GP/L2/SN, RAE, AE, VAE, CV-VAE, WAE and ex-post density estimation."""

from gen_common.lazy import lazy_exports

_EXPORTS = dict.fromkeys(("Encoder", "Decoder"), "rae.nets")
_EXPORTS |= dict.fromkeys(("RegularizedAE", "VARIANTS"), "rae.module")
_EXPORTS |= {"AEDataModule": "rae.data"}
_EXPORTS |= dict.fromkeys(("FullGaussian", "GaussianMixture", "StandardNormal"), "rae.density")
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
