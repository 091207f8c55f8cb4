#!/usr/bin/env python
"""Upscale images (EnhanceNet) or videos (FRVSR / VSR / SISR) with a checkpoint written by tools/train.py.

``python tools/upscale.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt INPUT [-o OUTPUT]``; see ``--help``.
The checkpoint decides: a video model runs ``sr-video-upscale`` (streaming, frame by frame), an EnhanceNet
checkpoint runs ``sr-upscale`` (tiled images).
"""

import sys

from _dispatch import video_checkpoint_given

if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]) and "--ckpt" not in " ".join(sys.argv[1:]):
        print("tools/upscale.py: an EnhanceNet checkpoint runs sr-upscale (below); a video checkpoint (FRVSR / VSR /")
        print("SISR) runs sr-video-upscale: see `sr-video-upscale --help`, or pass --ckpt VIDEO.ckpt --help.\n")
    if video_checkpoint_given(sys.argv[1:]):
        from sr_video.cli import main
    else:
        from sr_image.cli import upscale_main as main
    sys.exit(main())
