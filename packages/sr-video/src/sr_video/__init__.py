"""Frame-recurrent video super-resolution (thesis ch. 3): FRVSR and its SISR / VSR baselines."""

from gen_common.lazy import lazy_exports

_NAMES = ("FNet", "FRVSR", "SISR", "SRNet", "VSR", "space_to_depth", "upscale_flow", "warp")
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_NAMES, "sr_video.nets"))
