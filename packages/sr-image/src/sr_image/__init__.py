"""EnhanceNet: single-image super-resolution through automated texture synthesis (thesis ch. 2)."""

from gen_common.lazy import lazy_exports

_EXPORTS = {"EnhanceNetDiscriminator": "sr_image.nets", "EnhanceNetGenerator": "sr_image.nets"}
_EXPORTS |= {"EnhanceNet": "sr_image.module", "SRDataModule": "sr_image.data"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
