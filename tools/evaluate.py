#!/usr/bin/env python
"""Evaluate EnhanceNet checkpoints as thesis Tables 2.3-2.5 do, side by side, with bicubic alongside.

Video checkpoints (FRVSR / VSR / SISR) go to ``sr-video-evaluate`` instead (``--ckpt LABEL=PATH``, repeatable).

    python tools/evaluate.py --ckpt [LABEL=]PATH [--ckpt OFFICIAL=enet_pat_official.ckpt ...] \
        [--sets embedded /data/Set5 /data/Set14 ...] [--downsample bicubic|pil_lanczos] [--scale 4] \
        [--recognition /data/imagenet_val_labelled --resnet-weights imagenet|random|/path/resnet50.pth] \
        [--json results.json] [--panels panels.png [--panel-size 160]] [--overwrite] [--device auto]

Per benchmark set and model: mean PSNR (Y) and SSIM (Y) with ``scale`` border pixels cropped (Sec. 2.5.4), the
high-frequency energy ratio (mean |Laplacian| of Y, output / HR) and LPIPS-Alex (Zhang et al. 2018; the AlexNet
weights through the resolver: ``--lpips-weights imagenet | PATH | random | none``). A set is a folder of HR images
(Set5/Set14/BSD100/Urban100 layout; LR inputs are made by ``--downsample``), ``embedded`` for the held-out
embedded photographs or ``embedded-train`` for the embedded training photographs. Checkpoints of
``tools/train.py`` and of ``sr-image import-official`` (the authors' ENet-PAT; evaluate it with
``--downsample pil_lanczos``, its training input) are accepted. ``--recognition`` adds the
ResNet-50 object-recognition benchmark (Sec. 2.5.5) on a labelled folder (one subfolder per ImageNet class index,
e.g. ``281/cat.jpg``). Markdown tables go to stdout, progress to stderr; a bad input ends with a one-line error and
exit code 2 before any work is done.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gen_common.files import atomic_output

if TYPE_CHECKING:  # torch and the sr_image modules load after parsing, so --help answers at once
    import torch

    from sr_image.data import FullImageDataset

EMBEDDED = "embedded"
# sr_image.data.DOWNSAMPLERS' names, written out so that --help loads no torch (test_evaluate.py checks they agree)
DOWNSAMPLE_METHODS = ("bicubic", "pil_lanczos")
EMBEDDED_SPLITS = {EMBEDDED: "eval", "embedded-train": "train"}  # set name -> gen_common.embedded split
BICUBIC = "Bicubic"
REFRESH_S = 0.5  # progress bars redraw at most this often (tqdm's mininterval)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--ckpt",
        action="append",
        required=True,
        metavar="[LABEL=]PATH",
        help="EnhanceNet checkpoint (tools/train.py or sr-image import-official); repeatable. LABEL names its\n"
        "column (default: the run folder, or the file name)",
    )
    p.add_argument(
        "--sets",
        nargs="+",
        default=[EMBEDDED],
        metavar="SET",
        help=f"'{EMBEDDED}' (the 3 held-out embedded photographs), 'embedded-train' (the 7 training ones: fair only\n"
        f"for models not trained here, e.g. the authors'), folders of HR images (default: {EMBEDDED})",
    )
    p.add_argument(
        "--downsample",
        choices=DOWNSAMPLE_METHODS,
        default="bicubic",
        help="how the sets' LR inputs are made from the HR images: bicubic (antialiased, our training\n"
        "degradation; default) | pil_lanczos (Pillow's Lanczos on 8-bit images: the authors' ENet-PAT input);\n"
        "--recognition keeps Sec. 2.5.5's bicubic",
    )
    p.add_argument(
        "--scale", type=int, default=None, help="upscaling factor; default and only valid value: the checkpoints'"
    )
    p.add_argument("--recognition", metavar="FOLDER", help="labelled folder for the ResNet-50 benchmark (Sec. 2.5.5)")
    p.add_argument(
        "--resnet-weights", default="imagenet", help="ResNet-50 weights: imagenet | random | path to a state_dict"
    )
    p.add_argument(
        "--lpips-weights",
        default="imagenet",
        help="LPIPS-Alex beside PSNR / SSIM (Zhang et al. 2018): the AlexNet weights, imagenet | PATH | random (tests) "
        "| none (no LPIPS column)",
    )
    p.add_argument("--size", type=int, default=224, help="recognition image side (224 in the thesis)")
    p.add_argument("--max-images", type=int, default=None, help="recognition: only the first N images (thesis: 1000)")
    p.add_argument("--batch-size", type=int, default=16, help="recognition batch size")
    p.add_argument("--json", metavar="PATH", help="also write every number and setting to this JSON file")
    p.add_argument(
        "--panels",
        metavar="PNG",
        help="also write a picture: per image a central crop of LR (nearest) | Bicubic | each checkpoint | HR",
    )
    p.add_argument("--panel-size", type=int, default=160, help="HR side of the --panels crops (default 160)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json / --panels files")
    p.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N | mps")
    return p.parse_args(argv)


def parse_ckpts(values: list[str]) -> dict[str, str]:
    """``[LABEL=]PATH`` arguments -> {label: path}; labels must be unique and not 'Bicubic'."""
    ckpts = {}
    for value in values:
        label, sep, path = value.partition("=")  # the label ends at the first '='; paths may hold more
        if not sep or Path(value).expanduser().is_file():  # a bare path (possibly itself containing '=')
            p = Path(value).expanduser()
            label, path = (p.parent.parent.name if p.parent.name == "checkpoints" else p.stem), value
        why = (
            "is empty" if not label else "is reserved" if label == BICUBIC else "is repeated" if label in ckpts else ""
        )
        if why:
            raise ValueError(f"--ckpt {value}: the label {label!r} {why}; give each checkpoint its own LABEL=PATH")
        ckpts[label] = path
    return ckpts


def resolve_device(name: str) -> torch.device:
    """``--device``: ``auto`` is cuda when available, else cpu; CUDA asked for without CUDA is a ValueError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


def load_sets(names: list[str], scale: int, downsample: str = "bicubic") -> dict[str, FullImageDataset]:
    """Every set listed up front, so a mistyped folder fails before any work is done."""
    from sr_image.data import FullImageDataset, HRImages

    sets = {}
    for name in names:
        if name in EMBEDDED_SPLITS:
            images, label = HRImages(None, EMBEDDED_SPLITS[name], 4 * scale), name
        else:
            folder = Path(name).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"benchmark folder {folder} does not exist (given in --sets)")
            images, label = HRImages(folder, "eval", 4 * scale, verify=True), folder.resolve().name
        if label in sets:
            label = name
        sets[label] = FullImageDataset(images, scale, downsample)
    return sets


def centre_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of (N, C, H, W) images (smaller images are kept whole)."""
    h, w = img.shape[-2:]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return img[..., top : top + size, left : left + size]


def evaluate_set(
    generators: dict[str, torch.nn.Module],
    data: FullImageDataset,
    name: str,
    device: torch.device,
    panel_size: int = 0,
    lpips_net: torch.nn.Module | None = None,
) -> tuple[dict[str, dict], list[torch.Tensor]]:
    """Per method (bicubic first, then each generator): mean PSNR (Y), SSIM (Y), HF-energy ratio and, with
    ``lpips_net``, LPIPS (all with ``scale`` border pixels cropped), and the same per image (``per_image``).

    With ``panel_size`` > 0 also one row of central crops per image: LR (nearest) | bicubic | generators | HR.
    """
    import torch
    from tqdm import tqdm

    from sr_image.lpips import lpips
    from sr_image.metrics import hf_energy_ratio, psnr_y, ssim_y
    from sr_image.nets import bicubic_upsample

    s = data.scale
    methods = {BICUBIC: lambda lr: bicubic_upsample(lr, s)} | generators
    keys = ("psnr", "ssim", "hf_ratio") + (("lpips",) if lpips_net is not None else ())
    sums = {m: dict.fromkeys(keys, 0.0) for m in methods}
    per_image: dict[str, dict] = {m: {} for m in methods}
    panels = []
    with torch.inference_mode():
        # images/s (s/img below one a second), redrawn at most every REFRESH_S seconds
        bar = tqdm(range(len(data)), desc=name, unit="img", file=sys.stderr, leave=False, mininterval=REFRESH_S)
        for i in bar:
            item = data[i]
            lr, hr = item["lr"][None].to(device), item["hr"][None].to(device)
            row = [torch.nn.functional.interpolate(lr, scale_factor=s, mode="nearest")]
            for method, fn in methods.items():
                est = fn(lr).float().clamp(0, 1)
                scores = {
                    "psnr": psnr_y(est, hr, crop=s).item(),
                    "ssim": ssim_y(est, hr, crop=s).item(),
                    "hf_ratio": hf_energy_ratio(est, hr, crop=s).item(),
                }
                if lpips_net is not None:
                    crop = (..., slice(s, -s or None), slice(s, -s or None))
                    scores["lpips"] = lpips(lpips_net, est[crop], hr[crop]).item()
                per_image[method][item["name"]] = scores
                for k, v in scores.items():
                    sums[method][k] += v
                row.append(est)
            if panel_size:
                panels.append(torch.cat([centre_crop(x, panel_size) for x in [*row, hr]]).cpu())
    means = {m: {"n": len(data)} | {k: v / len(data) for k, v in sums[m].items()} for m in methods}
    return {m: means[m] | {"per_image": per_image[m]} for m in methods}, panels


def save_panels(rows: list[torch.Tensor], path: Path) -> None:
    """One grid row per image (equal crop sizes), written to a temporary PNG and renamed when complete."""
    import torch
    from torchvision.utils import make_grid

    from gen_common.images import save_image

    size = min(min(r.shape[-2:]) for r in rows)
    grid = make_grid(torch.cat([centre_crop(r, size) for r in rows]), nrow=rows[0].shape[0], padding=4, pad_value=1)
    with atomic_output(path) as tmp:
        save_image(grid, tmp)


def sr_tables(results: dict[str, dict[str, dict]], scale: int) -> str:
    """Table 2.3-style markdown: one table per measure, a row per set, a column per method."""
    methods = list(next(iter(results.values())))
    blocks = []
    for key, title, fmt in (
        ("psnr", "PSNR (Y)", "{:.2f}"),
        ("ssim", "SSIM (Y)", "{:.3f}"),
        ("hf_ratio", "HF energy ratio (mean abs Laplacian of Y, output / HR)", "{:.3f}"),
        ("lpips", "LPIPS (AlexNet; lower is better)", "{:.3f}"),
    ):
        if key not in next(iter(results.values()))[methods[0]]:
            continue
        rows = [f"| {scale}x {title} | Images | " + " | ".join(methods) + " |", "|---|---:|" + "---:|" * len(methods)]
        for name, r in results.items():
            cells = [fmt.format(r[m][key]) for m in methods]
            rows.append(f"| {name} | {r[methods[0]]['n']} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def recognition_table(scores: dict[str, dict[str, float]], scale: int, size: int) -> str:
    methods = [m for m in scores if m != "baseline"]
    rows = [
        f"| ResNet-50, {size // scale}->{size} | " + " | ".join(methods) + f" | Baseline ({size}x{size}) |",
        "|---|" + "---:|" * (len(methods) + 1),
    ]
    for key, label in (("top1_error", "Top-1 error"), ("top5_error", "Top-5 error"), ("confidence", "Confidence")):
        # confidence is nan when no image is classified correctly
        cells = [f"{v:.3f}" if math.isfinite(v := scores[m][key]) else "n/a" for m in [*methods, "baseline"]]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    rows.append("")
    rows.append("Confidence: mean softmax probability of the true class on correctly classified images (Table 2.5).")
    return "\n".join(rows)


def write_json(path: Path, record: dict) -> None:
    """All or nothing: a temporary file in the same folder, renamed when complete."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_strict(record), indent=2, allow_nan=False))


def _strict(obj):
    """NaN / inf (e.g. the HF ratio of a flat HR image) as null, so the file is valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    return obj


def check_outputs(args: argparse.Namespace, ckpts: dict[str, str]) -> dict[str, Path]:
    """The --json / --panels targets ({option: path}), checked before any work: distinct, not an input, writable."""
    outputs = {opt: Path(v).expanduser() for opt, v in (("--json", args.json), ("--panels", args.panels)) if v}
    inputs = {Path(p).expanduser().resolve() for p in ckpts.values()}
    if len({p.resolve() for p in outputs.values()}) < len(outputs):
        raise ValueError("--json and --panels name the same file; give them different paths")
    for opt, path in outputs.items():
        if path.resolve() in inputs:
            raise ValueError(f"{opt} {path} is one of the --ckpt files; choose another path")
        if path.is_dir():
            raise IsADirectoryError(f"{opt} {path} is a folder; give a file name")
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{opt} {path} already exists; pass --overwrite to replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"{opt} folder {path.parent} does not exist")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(f"{opt} folder {path.parent} is not writable; choose another path")
    return outputs


def run(args: argparse.Namespace) -> int:
    """The evaluation on parsed arguments: tables on stdout, --json / --panels written; returns 0.

    Raises:
        OSError, ValueError, gen_common.weights.WeightsUnavailableError: bad inputs, outputs or weights.
    """
    import torch

    from gen_common.weights import resolve_weights
    from sr_image.lpips import build_lpips
    from sr_image.metrics import LabelledImages, evaluate_recognition
    from sr_image.module import checkpoint_origin, load_generator
    from sr_image.nets import bicubic_upsample

    device = resolve_device(args.device)
    ckpts = parse_ckpts(args.ckpt)
    outputs = check_outputs(args, ckpts)
    if args.panels and (Path(args.panels).suffix.lower() != ".png" or args.panel_size < 8):
        raise ValueError(f"--panels {args.panels} must end in .png and --panel-size be >= 8")
    generators = {label: load_generator(path).to(device) for label, path in ckpts.items()}
    scales = {label: g.scale for label, g in generators.items()}
    scale = next(iter(scales.values()))
    if len(set(scales.values())) > 1:
        raise ValueError(f"the checkpoints have different scales {scales}; evaluate them separately")
    if args.scale is not None and args.scale != scale:
        raise ValueError(f"--scale {args.scale} does not match the checkpoint's scale {scale}; omit --scale")
    sets = load_sets(args.sets, scale, args.downsample)
    if args.recognition:  # fail fast: folder layout and weights before the (long) SR pass
        if not Path(args.recognition).expanduser().is_dir():
            raise FileNotFoundError(f"recognition folder {args.recognition} does not exist (given as --recognition)")
        LabelledImages(args.recognition, args.size, args.max_images)
        classifier = resolve_weights("resnet50", args.resnet_weights, option="--resnet-weights").to(device)
    lpips_net = None if args.lpips_weights == "none" else build_lpips(args.lpips_weights).to(device)
    for label, path in ckpts.items():
        base = generators[label].bicubic_base
        print(f"{label}: {path} ({scale}x, bicubic base {base})")
    print(f"LR inputs: {args.downsample} downsampling; device {device}\n")
    results, panels = {}, []
    for name, data in sets.items():
        panel_size = args.panel_size if args.panels else 0
        results[name], rows = evaluate_set(generators, data, name, device, panel_size, lpips_net)
        panels += rows
    print(sr_tables(results, scale))
    models = {
        label: {"path": path, "bicubic_base": generators[label].bicubic_base} | checkpoint_origin(path)
        for label, path in ckpts.items()
    }
    record = {
        "settings": vars(args) | {"ckpt": ckpts, "models": models, "scale": scale, "device": str(device)},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "sets": results,
    }
    if args.recognition:
        fns = {BICUBIC: lambda lr: bicubic_upsample(lr, scale)} | generators
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
        record["recognition"] = scores
    if "--json" in outputs:
        write_json(outputs["--json"], record)
    if "--panels" in outputs:
        save_panels(panels, outputs["--panels"])
        print(f"\npanels: {outputs['--panels']} (LR nearest | {' | '.join(next(iter(results.values())))} | HR)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python tools/evaluate.py --ckpt [LABEL=]PATH ...``; returns the exit status (0 done, 2 nothing written)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    from gen_common.weights import WeightsUnavailableError  # after parsing: torch takes seconds to load

    try:
        return run(args)
    except (OSError, ValueError, WeightsUnavailableError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from _dispatch import video_checkpoint_given

    if video_checkpoint_given(sys.argv[1:]):  # FRVSR / VSR / SISR: the video evaluation (Sec. 3.4)
        from sr_video.evaluate import main as video_main

        sys.exit(video_main())
    sys.exit(main())
