#!/usr/bin/env python
"""Upscale images (EnhanceNet) or videos (FRVSR / VSR / SISR) with a checkpoint written by tools/train.py.

``python tools/upscale.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt INPUT [-o OUTPUT]``; see ``--help``.
The checkpoint decides: a video model runs ``sr-video-upscale`` (streaming, frame by frame), an EnhanceNet
checkpoint runs ``sr-upscale`` (tiled images).
"""

import sys

import torch


def _is_video_checkpoint(argv: list[str]) -> bool:
    path = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--ckpt"), None)
    path = path or next((a.split("=", 1)[1] for a in argv if a.startswith("--ckpt=")), None)
    try:
        return path is not None and "net" in torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing or foreign file: the image command reports it properly
        return False


if __name__ == "__main__":
    if _is_video_checkpoint(sys.argv[1:]):
        from sr_video.cli import main
    else:
        from sr_image.cli import upscale_main as main
    sys.exit(main())
