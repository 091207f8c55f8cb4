#!/usr/bin/env python
"""Peak memory of ``sr-upscale`` on a large photo, against the float flow it replaced, in two fresh processes.

    python benchmarks/bench_upscale_memory.py --ckpt CKPT [--size 4000x3000] [--tile 512]

``new``: ``sr-upscale`` as shipped (tiles quantised into a uint8 result, saved without a float copy). ``old``: a
float32 result saved through a float copy (the code before). Both write the same PNG (compared). The network's
size changes the time, not the buffers: a tiny checkpoint measures the same peak as ENet-PAT.
"""

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time
import torch
mode, ckpt, src, dst, tile = sys.argv[1:]
t = time.time()
if mode == "new":
    from sr_image.cli import upscale_main
    assert upscale_main(["--ckpt", ckpt, src, "-o", dst, "--device", "cpu", "--tile", tile]) == 0
else:
    from gen_common.images import read_image, save_image
    from sr_image.inference import upscale_tiled
    from sr_image.module import load_generator
    save_image(upscale_tiled(load_generator(ckpt), read_image(src), tile=int(tile)), dst)
print(f"{time.time() - t:.0f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f}")
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--size", default="4000x3000", help="input WxH (a resized scikit-image photograph)")
    p.add_argument("--tile", default="512")
    args = p.parse_args()
    import numpy as np
    import skimage.data
    from PIL import Image

    w, h = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.png"
        Image.fromarray(np.asarray(Image.fromarray(skimage.data.astronaut()).resize((w, h), Image.BICUBIC))).save(src)
        print("| flow | input | output | time (s) | peak RSS (GiB) |\n|---|---|---|---:|---:|")
        outs = []
        for mode in ("new", "old"):
            dst = Path(tmp) / f"{mode}.png"
            res = subprocess.run([sys.executable, "-c", CHILD, mode, args.ckpt, str(src), str(dst), args.tile],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            secs, peak = res.stdout.split()[-2:]
            print(f"| {mode} | {w}x{h} | {4 * w}x{4 * h} | {secs} | {peak} |")
            outs.append(dst)
        print(f"\nsame PNG: {filecmp.cmp(*outs, shallow=False)}")


if __name__ == "__main__":
    main()
