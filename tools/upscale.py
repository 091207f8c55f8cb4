#!/usr/bin/env python
"""Upscale images with a trained EnhanceNet checkpoint (same as the ``sr-upscale`` console script).

``python tools/upscale.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt INPUT [-o OUTPUT]``; see ``--help``.
"""

import sys

from sr_image.cli import upscale_main

if __name__ == "__main__":
    sys.exit(upscale_main())
