#!/usr/bin/env python
"""Upscale images (EnhanceNet) or videos (FRVSR / VSR / SISR) with a checkpoint written by tools/train.py.

``python tools/upscale.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt INPUT [-o OUTPUT]``; see ``--help``.
The checkpoint decides: a video model runs ``sr-video-upscale`` (streaming, frame by frame), an EnhanceNet
checkpoint runs ``sr-upscale`` (tiled images).
"""

import sys

from _dispatch import video_checkpoint_given

if __name__ == "__main__":
    if video_checkpoint_given(sys.argv[1:]):
        from sr_video.cli import main
    else:
        from sr_image.cli import upscale_main as main
    sys.exit(main())
