"""Frame-recurrent video super-resolution (thesis ch. 3): FRVSR and its SISR / VSR baselines."""

from sr_video.nets import FRVSR, SISR, VSR, FNet, SRNet, space_to_depth, upscale_flow, warp

__all__ = ["FNet", "FRVSR", "SISR", "SRNet", "VSR", "space_to_depth", "upscale_flow", "warp"]
