"""EnhanceNet: single-image super-resolution through automated texture synthesis (thesis ch. 2)."""

from sr_image.nets import EnhanceNetDiscriminator, EnhanceNetGenerator

__all__ = ["EnhanceNetDiscriminator", "EnhanceNetGenerator"]
