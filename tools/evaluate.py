#!/usr/bin/env python
"""Evaluate an EnhanceNet checkpoint as thesis Tables 2.3-2.5 do, with bicubic alongside.

Video checkpoints (FRVSR / VSR / SISR) go to ``sr-video-evaluate`` instead (``--ckpt LABEL=PATH``, repeatable).

    python tools/evaluate.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt \
        [--sets embedded /data/Set5 /data/Set14 ...] [--scale 4] \
        [--recognition /data/imagenet_val_labelled --resnet-weights imagenet|random|/path/resnet50.pth] \
        [--device auto]

Per benchmark set: mean PSNR (Y) and SSIM (Y) with ``scale`` border pixels cropped (Sec. 2.5.4). A set is a
folder of HR images (Set5/Set14/BSD100/Urban100 layout; the LR input is made by bicubic downsampling) or
``embedded`` for the held-out embedded photographs. ``--recognition`` adds the ResNet-50 object-recognition
benchmark (Sec. 2.5.5) on a labelled folder (one subfolder per ImageNet class index, e.g. ``281/cat.jpg``).
Markdown tables go to stdout, progress to stderr; a bad input ends with a one-line error and exit code 2.
"""

import argparse
import logging
import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from gen_common.weights import WeightsUnavailableError, resolve_weights
from sr_image.data import FullImageDataset, HRImages
from sr_image.metrics import LabelledImages, evaluate_recognition, psnr_y, ssim_y
from sr_image.module import load_generator
from sr_image.nets import bicubic_upsample

EMBEDDED = "embedded"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", required=True, help="EnhanceNet checkpoint written by tools/train.py (e.g. last.ckpt)")
    p.add_argument(
        "--sets",
        nargs="+",
        default=[EMBEDDED],
        metavar="SET",
        help=f"'{EMBEDDED}' (held-out embedded photographs) and/or folders of HR images (default: {EMBEDDED})",
    )
    p.add_argument(
        "--scale", type=int, default=None, help="upscaling factor; default and only valid value: the checkpoint's"
    )
    p.add_argument("--recognition", metavar="FOLDER", help="labelled folder for the ResNet-50 benchmark (Sec. 2.5.5)")
    p.add_argument(
        "--resnet-weights", default="imagenet", help="ResNet-50 weights: imagenet | random | path to a state_dict"
    )
    p.add_argument("--size", type=int, default=224, help="recognition image side (224 in the thesis)")
    p.add_argument("--max-images", type=int, default=None, help="recognition: only the first N images (thesis: 1000)")
    p.add_argument("--batch-size", type=int, default=16, help="recognition batch size")
    p.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N | mps")
    return p.parse_args(argv)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


def load_sets(names: list[str], scale: int) -> dict[str, FullImageDataset]:
    """Every set listed up front, so a mistyped folder fails before any work is done."""
    sets = {}
    for name in names:
        if name == EMBEDDED:
            images, label = HRImages(None, "eval", 4 * scale), EMBEDDED
        else:
            folder = Path(name).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"benchmark folder {folder} does not exist (given in --sets)")
            images, label = HRImages(folder, "eval", 4 * scale), folder.resolve().name
        if label in sets:
            label = name
        sets[label] = FullImageDataset(images, scale)
    return sets


@torch.inference_mode()
def evaluate_set(generator: torch.nn.Module, data: FullImageDataset, name: str, device: torch.device) -> dict:
    """Mean PSNR (Y) and SSIM (Y) of the generator and of bicubic upsampling on one set (crop = scale)."""
    s = data.scale
    sums = dict.fromkeys(("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"), 0.0)
    for i in tqdm(range(len(data)), desc=name, unit="img", file=sys.stderr, leave=False):
        item = data[i]
        lr, hr = item["lr"][None].to(device), item["hr"][None].to(device)
        est = generator(lr).float().clamp(0, 1)
        bicubic = bicubic_upsample(lr, s).clamp(0, 1)
        sums["psnr"] += psnr_y(est, hr, crop=s).item()
        sums["ssim"] += ssim_y(est, hr, crop=s).item()
        sums["psnr_bicubic"] += psnr_y(bicubic, hr, crop=s).item()
        sums["ssim_bicubic"] += ssim_y(bicubic, hr, crop=s).item()
    return {"n": len(data)} | {k: v / len(data) for k, v in sums.items()}


def sr_table(results: dict[str, dict], scale: int) -> str:
    rows = [
        f"| {scale}x | Images | PSNR (Y) Bicubic | PSNR (Y) ENet | SSIM (Y) Bicubic | SSIM (Y) ENet |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['n']} | {r['psnr_bicubic']:.2f} | {r['psnr']:.2f} | "
            f"{r['ssim_bicubic']:.3f} | {r['ssim']:.3f} |"
        )
    return "\n".join(rows)


def recognition_table(scores: dict[str, dict[str, float]], scale: int, size: int) -> str:
    rows = [
        f"| ResNet-50, {size // scale}->{size} | Bicubic | ENet | Baseline ({size}x{size}) |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("top1_error", "Top-1 error"), ("top5_error", "Top-5 error"), ("confidence", "Confidence")):
        # confidence is nan when no image is classified correctly
        cells = [f"{v:.3f}" if math.isfinite(v := scores[m][key]) else "n/a" for m in ("bicubic", "enet", "baseline")]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    rows.append("")
    rows.append("Confidence: mean softmax probability of the true class on correctly classified images (Table 2.5).")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        device = resolve_device(args.device)
        generator = load_generator(args.ckpt).to(device)
        scale = generator.scale
        if args.scale is not None and args.scale != scale:
            raise ValueError(f"--scale {args.scale} does not match the checkpoint's scale {scale}; omit --scale")
        sets = load_sets(args.sets, scale)
        if args.recognition:  # fail fast: folder layout and weights before the (long) SR pass
            if not Path(args.recognition).expanduser().is_dir():
                raise FileNotFoundError(
                    f"recognition folder {args.recognition} does not exist (given as --recognition)"
                )
            LabelledImages(args.recognition, args.size, args.max_images)
            classifier = resolve_weights("resnet50", args.resnet_weights, option="--resnet-weights").to(device)
        print(f"checkpoint: {args.ckpt} ({scale}x, device {device})\n")
        results = {name: evaluate_set(generator, data, name, device) for name, data in sets.items()}
        print(sr_table(results, scale))
        if args.recognition:
            fns = {"bicubic": lambda lr: bicubic_upsample(lr, scale), "enet": generator}
            scores = evaluate_recognition(
                fns,
                args.recognition,
                classifier=classifier,
                scale=scale,
                size=args.size,
                batch_size=args.batch_size,
                max_images=args.max_images,
            )
            n = scores["baseline"]["n"]
            print(f"\nObject recognition on {n} image(s) of {args.recognition} (weights: {args.resnet_weights})\n")
            print(recognition_table(scores, scale, args.size))
    except (OSError, ValueError, WeightsUnavailableError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from _dispatch import video_checkpoint_given

    if video_checkpoint_given(sys.argv[1:]):  # FRVSR / VSR / SISR: the video evaluation (Sec. 3.4)
        from sr_video.evaluate import main as video_main

        sys.exit(video_main())
    sys.exit(main())
