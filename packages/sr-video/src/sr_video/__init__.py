"""Frame-recurrent video super-resolution (thesis ch. 3): FRVSR and its SISR / VSR baselines."""

from gen_common.lazy import lazy_exports

_EXPORTS = dict.fromkeys(
    ("FNet", "FRVSR", "SISR", "SRNet", "VSR", "space_to_depth", "upscale_flow", "warp"), "sr_video.nets"
)
_EXPORTS |= {"VideoSR": "sr_video.module", "VideoDataModule": "sr_video.data"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
