#!/usr/bin/env python
"""Evaluate EnhanceNet checkpoints as thesis Tables 2.3-2.5 do, side by side, with bicubic alongside.

Video checkpoints (FRVSR / VSR / SISR) go to ``sr-video-evaluate`` instead (``--ckpt LABEL=PATH``, repeatable).

    python tools/evaluate.py --ckpt [LABEL=]PATH [--ckpt OFFICIAL=enet_pat_official.ckpt ...] \
        [--sets embedded /data/Set5 /data/Set14 ...] [--downsample bicubic|pil_lanczos] [--scale 4] \
        [--recognition /data/imagenet_val_labelled --resnet-weights imagenet|random|/path/resnet50.pth] \
        [--outputs VDSR=Set5:/results/vdsr/Set5 ...] [--json results.json] [--csv results.csv] \
        [--save-images sr_images/] [--panels panels.png [--panel-size 160]] [--overwrite] [--device auto]

Per benchmark set and model: mean PSNR (Y) and SSIM (Y) with ``scale`` border pixels cropped (Sec. 2.5.4), the
high-frequency energy ratio (mean |Laplacian| of Y, output / HR) and LPIPS-Alex (Zhang et al. 2018; the AlexNet
weights through the resolver: ``--lpips-weights imagenet | PATH | random | none``). A set is a folder of HR images
(Set5/Set14/BSD100/Urban100 layout; LR inputs are made by ``--downsample``), ``embedded`` for the held-out
embedded photographs or ``embedded-train`` for the embedded training photographs. Checkpoints of
``tools/train.py`` and of ``sr-image import-official`` (the authors' ENet-PAT; evaluate it with
``--downsample pil_lanczos``, its training input) are accepted. ``--recognition`` adds the
ResNet-50 object-recognition benchmark (Sec. 2.5.5) on a labelled folder (one subfolder per ImageNet class index,
e.g. ``281/cat.jpg``).

Published results of other methods (BasicSR / mmagic style) join the tables with ``--outputs LABEL=SET:FOLDER``
(repeatable; ``LABEL=FOLDER`` when exactly one folder set is evaluated): a folder of someone else's SR outputs for one
set, paired with the HR images by name (see ``pair_outputs``) and scored exactly as the checkpoints are (8-bit, Y,
border crop, LPIPS); a method without outputs for a set shows "—" there. ``--csv`` writes one row per set and method,
``--save-images DIR`` every method's output as ``DIR/<set>/<method>/<name>.png`` (the 8-bit images scored).

Markdown tables go to stdout, progress to stderr; a bad input ends with a one-line error and exit code 2 before any
work is done; every output file is written whole or not at all, and an existing one only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gen_common.files import atomic_output
from gen_common.runs import checkpoint_args

if TYPE_CHECKING:  # torch and the sr_image modules load after parsing, so --help answers at once
    import torch

    from sr_image.data import FullImageDataset

EMBEDDED = "embedded"
# sr_image.data.DOWNSAMPLERS' names, written out so that --help loads no torch (test_evaluate.py checks they agree)
DOWNSAMPLE_METHODS = ("bicubic", "pil_lanczos")
EMBEDDED_SPLITS = {EMBEDDED: "eval", "embedded-train": "train"}  # set name -> gen_common.embedded split
BICUBIC = "Bicubic"
REFRESH_S = 0.5  # progress bars redraw at most this often (tqdm's mininterval)
MISSING = "—"  # a table cell of a method without outputs for that set
MEASURES = ("psnr", "ssim", "hf_ratio", "lpips")  # the keys of --json's per-set scores and --csv's columns
# What the numbers depend on besides the inputs, recorded in --json (the conventions of thesis Sec. 2.5.4)
Y_CONVENTION = "BT.601 studio range, as MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1]"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--ckpt",
        action="append",
        required=True,
        metavar="[LABEL=]PATH",
        help="EnhanceNet checkpoint (tools/train.py or sr-image import-official); repeatable. LABEL names its\n"
        "column (default: the run folder, or the file name). A sweep folder (tools/train.py -m) gives one\n"
        "column per run's checkpoints/last.ckpt, named by what differs (e.g. enhancenet_e)",
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
    p.add_argument(
        "--outputs",
        action="append",
        default=[],
        metavar="LABEL=[SET:]FOLDER",
        help="another method's published SR results for one set, scored as the checkpoints are: a column\n"
        "LABEL (repeat the LABEL for its other sets; '—' where it has none). SET: a --sets entry or its table\n"
        "name (Set5, embedded); may be left out when exactly one folder set is evaluated. Pairing by name:\n"
        "HR baby.png <- baby.<any image suffix>, else baby_<anything> (baby_x4.png, baby_SR.png; an HR name\n"
        "ending in _HR also without it); the longest HR name wins; two candidates for one HR image are an\n"
        "error, unpaired files are ignored. Every HR image needs an output of its size (cropped to a multiple\n"
        "of the scale)",
    )
    p.add_argument("--json", metavar="PATH", help="also write every number and setting to this JSON file")
    p.add_argument(
        "--csv",
        metavar="PATH",
        help="also write the numbers as CSV: one row per set and method (set, method, kind, images, psnr,\n"
        "ssim, hf_ratio[, lpips]; full precision, empty for a non-finite value, as null in --json)",
    )
    p.add_argument(
        "--save-images",
        metavar="DIR",
        help="also write every method's output (bicubic, checkpoints, --outputs) as the 8-bit PNG that was\n"
        "scored: DIR/<set>/<method>/<image name>.png",
    )
    p.add_argument(
        "--panels",
        metavar="PNG",
        help="also write a picture: per image a central crop of LR (nearest) | Bicubic | each method | HR",
    )
    p.add_argument("--panel-size", type=int, default=160, help="HR side of the --panels crops (default 160)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace existing --json / --csv / --panels / --save-images files"
    )
    p.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N | mps")
    return p.parse_args(argv)


def parse_ckpts(values: list[str]) -> dict[str, str]:
    """``[LABEL=]PATH`` arguments (a checkpoint, or a sweep folder: one column per run) -> {label: path}."""
    return {label: str(path) for label, path in checkpoint_args(values, reserved=BICUBIC).items()}


def resolve_device(name: str) -> torch.device:
    """``--device`` (gen_common.devices.resolve_device: auto, or a device name torch knows)."""
    from gen_common.devices import resolve_device as resolve

    return resolve(name)


def load_sets(names: list[str], scale: int, downsample: str = "bicubic") -> dict[str, FullImageDataset]:
    """Every set listed up front, so a mistyped folder fails before any work is done."""
    return load_sets_with_roots(names, scale, downsample)[0]


def load_sets_with_roots(
    names: list[str], scale: int, downsample: str = "bicubic"
) -> tuple[dict[str, FullImageDataset], dict[str, tuple[str, Path | None]]]:
    """:func:`load_sets`, and per set (table name) the ``--sets`` entry it came from and its folder (None: embedded)."""
    from sr_image.data import FullImageDataset, HRImages

    sets, sources = {}, {}
    for name in names:
        if name in EMBEDDED_SPLITS:
            images, label, root = HRImages(None, EMBEDDED_SPLITS[name], 4 * scale), name, None
        else:
            root = Path(name).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"benchmark folder {root} does not exist (given in --sets)")
            images, label = HRImages(root, "eval", 4 * scale, verify=True), root.resolve().name
        if label in sets:
            label = name
        sets[label] = FullImageDataset(images, scale, downsample)
        sources[label] = (name, root)
    return sets, sources


# ---- other methods' published outputs (--outputs) -------------------------------------------------------------


def parse_outputs(
    values: list[str], taken: set[str], sources: dict[str, tuple[str, Path | None]]
) -> dict[str, dict[str, Path]]:
    """``--outputs LABEL=[SET:]FOLDER`` arguments -> {label: {set name: folder}}, every folder checked to exist.

    SET (the text before the first ':') is a set's table name (``Set5``, ``embedded``) or its ``--sets`` entry as
    typed; when it is none of them the whole value after '=' is the folder, which then belongs to the only folder set
    (an error when there are several or none). ``taken``: the labels already in use (checkpoints).
    """

    def set_named(ref: str) -> str | None:
        for name, (arg, root) in sources.items():
            if ref in (name, arg) or (root is not None and ref and Path(ref).expanduser().resolve() == root.resolve()):
                return name
        return None

    listing = ", ".join(sources)
    outputs: dict[str, dict[str, Path]] = {}
    for value in values:
        label, sep, rest = value.partition("=")  # the label ends at the first '='
        if not sep or not label or not rest:
            raise ValueError(f"--outputs {value}: expected LABEL=SET:FOLDER (or LABEL=FOLDER for the only folder set)")
        if label == BICUBIC or label in taken:
            what = "is reserved" if label == BICUBIC else "is a --ckpt label"
            raise ValueError(f"--outputs {value}: the label {label!r} {what}; give the method its own LABEL")
        ref, colon, folder = rest.partition(":")
        set_name = set_named(ref) if colon else None
        if set_name is None:  # no SET part: the folder is the whole value
            folder = rest
            if colon and not Path(rest).expanduser().is_dir():
                raise ValueError(
                    f"--outputs {value}: {ref!r} is none of the evaluated sets ({listing}); write LABEL=SET:FOLDER "
                    f"with SET one of them (add the set to --sets)"
                )
            folder_sets = [name for name, (_, root) in sources.items() if root is not None]
            if len(folder_sets) != 1:
                example = folder_sets[0] if folder_sets else next(iter(sources))
                raise ValueError(
                    f"--outputs {value}: say which set these outputs are for (sets: {listing}), "
                    f"e.g. --outputs {label}={example}:{rest}"
                )
            set_name = folder_sets[0]
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"--outputs {value}: the folder {path} does not exist; give a folder of SR images")
        root = sources[set_name][1]
        if root is not None and path.resolve() == root.resolve():
            raise ValueError(f"--outputs {value}: {path} is the HR folder of {set_name}; give the method's outputs")
        if set_name in outputs.setdefault(label, {}):
            raise ValueError(f"--outputs {value}: {label} already has outputs for {set_name}; give each set once")
        outputs[label][set_name] = path
    return outputs


def _image_key(relative: Path) -> str:
    """A file's name without its suffix, with its subfolders (``sub/baby``): what pairing compares."""
    return relative.with_suffix("").as_posix()


def pair_outputs(folder: Path, hr_names: list[str]) -> tuple[dict[str, Path], list[Path]]:
    """Pair the image files below ``folder`` with the HR images of a set, by name.

    An output file pairs with the HR image of the same name without suffix (``baby.png`` <- ``baby.bmp``), else
    with the longest HR name that its name continues with ``_`` (``baby_x4.png``, ``baby_SR.png``,
    ``baby_EDSR_x4.png``); an HR name ending in ``_HR`` (the SelfExSR benchmark layout) also pairs without it
    (``img_001_SRF_4_HR.png`` <- ``img_001_SRF_4_A+.png``). Subfolders must match. Files that pair with nothing
    are returned unpaired (and ignored).

    Returns:
        ({HR name: output file} for the HR images with exactly one output, unpaired files).

    Raises:
        ValueError: an HR image without an output, or with several (all of them named, one line).
    """
    from gen_common.images import list_image_files

    bases: dict[str, list[str]] = {}  # prefix an output's name may start with -> the HR names it stands for
    exact = {}
    for name in hr_names:
        key = _image_key(Path(name))
        exact[key] = name
        keys = [key] + ([key[:-3]] if key.lower().endswith("_hr") and len(key) > 3 else [])
        for k in keys:
            bases.setdefault(k, []).append(name)
    claims: dict[str, list[Path]] = {name: [] for name in hr_names}
    unpaired, clashes = [], []
    for path in list_image_files(folder):
        key = _image_key(path.relative_to(folder))
        if key in exact:
            claims[exact[key]].append(path)
            continue
        prefixes = [
            b for b in bases if key == b or (key.startswith(b + "_") and "/" not in key[len(b) + 1 :])
        ]  # fmt: skip
        if not prefixes:
            unpaired.append(path)
            continue
        best = max(prefixes, key=len)
        if len(bases[best]) > 1:
            clashes.append(f"{path.relative_to(folder)} ({' or '.join(bases[best])})")
            continue
        claims[bases[best][0]].append(path)
    if clashes:
        raise ValueError(f"outputs in {folder} that fit several HR images: {_listed(clashes)}; rename them")
    missing = [name for name, files in claims.items() if not files]
    if missing:
        raise ValueError(
            f"no output in {folder} for {len(missing)} of the {len(hr_names)} HR image(s): {_listed(missing)} "
            f"(an output pairs by name: baby.png <- baby.<suffix> or baby_<anything>.<suffix>)"
        )
    several = [
        f"{name} ({', '.join(str(f.relative_to(folder)) for f in files)})"
        for name, files in claims.items()
        if len(files) > 1
    ]
    if several:
        raise ValueError(f"several outputs in {folder} pair with one HR image: {_listed(several)}; keep one each")
    return {name: files[0] for name, files in claims.items()}, unpaired


def _listed(items: list[str], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def size_mismatch(out_hw: tuple[int, int], hr_hw: tuple[int, int], full_hw: tuple[int, int], scale: int) -> str:
    """Why an output of size ``out_hw`` cannot be scored against an HR image of ``hr_hw`` (``full_hw`` uncropped)."""
    (h, w), (hh, hw) = out_hw, hr_hw
    dh, dw = hh - h, hw - w
    if dh == dw and dh > 0 and dh % 2 == 0:
        return (
            f"{dh} px smaller in each dimension, as if a border of {dh // 2} px had been cropped off; give outputs "
            f"without a border crop (the {scale} px crop is applied here)"
        )
    if (h, w) == tuple(full_hw):
        return (
            f"the HR image's size before it is cropped to a multiple of {scale}: the outputs must be upscaled from "
            f"the LR image of the cropped HR image (bottom and right rows and columns dropped)"
        )
    if h and w and hh % h == 0 and hw % w == 0 and hh // h == hw // w > 1:
        return f"{hh // h}x smaller: an LR image, or a result at another scale than {scale}x?"
    return "a different size; give the method's outputs for this set at this scale"


def check_prior_outputs(
    outputs: dict[str, dict[str, Path]],
    sets: dict[str, FullImageDataset],
    sources: dict[str, tuple[str, Path | None]],
    scale: int,
) -> dict[str, dict[str, dict]]:
    """Pair every ``--outputs`` folder with its set and decode every paired file, sizes checked, before the work.

    Returns:
        {label: {set name: {"folder": Path, "pairs": {HR name: file}, "unpaired": int}}}.
    """
    from gen_common.images import image_header, read_image

    checked: dict[str, dict[str, dict]] = {}
    for label, per_set in outputs.items():
        for set_name, folder in per_set.items():
            data, root = sets[set_name], sources[set_name][1]
            where = f"--outputs {label}={set_name}:{folder}"
            try:
                pairs, unpaired = pair_outputs(folder, list(data.images.names))
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
            for i, name in enumerate(data.images.names):
                full = image_header(root / name)[:2] if root is not None else tuple(data.images[i].shape[-2:])
                hr_hw = (full[0] - full[0] % scale, full[1] - full[1] % scale)
                try:
                    out_hw = tuple(read_image(pairs[name]).shape[-2:])  # decoded once: a truncated file fails here
                except OSError as err:
                    raise type(err)(f"{where}: {err}") from None
                if out_hw != hr_hw:
                    raise ValueError(
                        f"{where}: {pairs[name]} is {out_hw[0]}x{out_hw[1]} but HR {set_name}/{name} is "
                        f"{hr_hw[0]}x{hr_hw[1]} (cropped to a multiple of {scale}): "
                        + size_mismatch(out_hw, hr_hw, full, scale)
                    )
            checked.setdefault(label, {})[set_name] = {"folder": folder, "pairs": pairs, "unpaired": len(unpaired)}
    return checked


def path_component(label: str) -> str:
    """A set or method name as one folder name of --save-images (path separators become '_')."""
    name = label.replace("/", "_").replace("\\", "_")
    return f"_{name}" if name in (".", "..", "") else name


def image_file_name(name: str) -> Path:
    """An HR image's name (``sub/baby.jpg``, embedded ``chelsea``) as the PNG --save-images writes."""
    from gen_common.images import IMAGE_SUFFIXES

    path = Path(name)
    return path.with_suffix(".png") if path.suffix.lower() in IMAGE_SUFFIXES else path.with_name(path.name + ".png")


def save_image_plan(
    folder: Path, sets: dict[str, FullImageDataset], methods: dict[str, list[str]]
) -> dict[tuple[str, str, str], Path]:
    """{(set, method, image name): target PNG} for --save-images; ``methods``: the method names per set."""
    return {
        (set_name, method, name): folder / path_component(set_name) / path_component(method) / image_file_name(name)
        for set_name, data in sets.items()
        for method in methods[set_name]
        for name in data.images.names
    }


def check_save_images(folder: Path, targets: list[Path], inputs: set[Path], overwrite: bool) -> None:
    """Every --save-images target before the work: distinct, not an input, creatable, existing ones only with
    ``overwrite``."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--save-images {folder} is a file; give a folder")
    seen: dict[Path, Path] = {}
    for path in targets:
        resolved = path.resolve()
        if resolved in seen:
            raise ValueError(f"--save-images: two images would be written to {path}; give them different names")
        if resolved in inputs:
            raise ValueError(f"--save-images: {path} is one of the input files; choose another folder")
        if path.is_dir():
            raise IsADirectoryError(f"--save-images: {path} is a folder; remove it or choose another folder")
        seen[resolved] = path
    for parent in {p.parent for p in targets} | {folder}:
        existing = next(d for d in [parent, *parent.parents] if d.exists())
        if not existing.is_dir():
            raise NotADirectoryError(f"--save-images: {existing} is a file, so {parent} cannot be made a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"--save-images folder {existing} is not writable; choose another folder")
    there = [p for p in targets if p.exists()]
    if there and not overwrite:
        more = f" (and {len(there) - 1} more)" if len(there) > 1 else ""
        raise FileExistsError(
            f"--save-images: {there[0]}{more} already exists; pass --overwrite to replace, or choose another folder"
        )


def sha256_prefix(path: str | Path, digits: int = 16) -> str:
    """The first ``digits`` hex digits of a file's SHA-256 (which checkpoint was scored)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:digits]


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
    outputs: dict[str, dict[str, Path]] | None = None,
    save_to: dict[tuple[str, str], Path] | None = None,
    columns: list[str] | None = None,
) -> tuple[dict[str, dict], list[torch.Tensor]]:
    """Per method (bicubic first, then each generator, then each of ``outputs``): mean PSNR (Y), SSIM (Y), HF-energy
    ratio and, with ``lpips_net``, LPIPS (all on the output rounded to 8 bits, ``scale`` border pixels cropped), and
    the same per image (``per_image``).

    Args:
        outputs: {method: {HR image name: file}}, other methods' results (``check_prior_outputs``), read as they are.
        save_to: {(method, HR image name): PNG}: write each scored output there (all or nothing per file).
        columns: the panel columns (all methods of all sets); a method without an output here gets a white tile.

    With ``panel_size`` > 0 also one row of central crops per image: LR (nearest) | methods | HR.
    """
    import torch
    from tqdm import tqdm

    from gen_common.images import read_image, save_image
    from sr_image.lpips import lpips
    from sr_image.metrics import hf_energy_ratio, psnr_y, ssim_y
    from sr_image.nets import bicubic_upsample

    s = data.scale
    outputs = outputs or {}
    upscalers = {BICUBIC: lambda lr: bicubic_upsample(lr, s)} | generators
    methods = [*upscalers, *outputs]
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
            ests = {}
            for method in methods:
                if method in upscalers:
                    est = upscalers[method](lr).float()
                else:
                    est = read_image(outputs[method][item["name"]])[None].to(device)
                # 8 bits, as a saved result: every measure (LPIPS too) sees what --save-images writes
                est = est.clamp(0, 1).mul(255).round().div(255)
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
                if save_to is not None:
                    with atomic_output(save_to[method, item["name"]]) as tmp:
                        save_image(est[0], tmp)
                ests[method] = est
            if panel_size:
                blank = torch.ones_like(hr)
                row = [torch.nn.functional.interpolate(lr, scale_factor=s, mode="nearest")]
                row += [ests.get(m, blank) for m in columns or methods] + [hr]
                panels.append(torch.cat([centre_crop(x, panel_size) for x in row]).cpu())
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
    """Table 2.3-style markdown: one table per measure, a row per set, a column per method ("—": not for this set)."""
    methods = list(dict.fromkeys(m for r in results.values() for m in r))
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
            cells = [fmt.format(r[m][key]) if m in r else MISSING for m in methods]
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


def write_csv(path: Path, results: dict[str, dict[str, dict]], kinds: dict[str, str]) -> None:
    """One row per set and method: set, method, kind (bicubic | checkpoint | outputs), images, then the measures
    (``repr`` of the float, so a reader gets the --json value exactly; empty where --json has null). All or nothing.
    """
    first = next(iter(next(iter(results.values())).values()))
    keys = [k for k in MEASURES if k in first]
    with atomic_output(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["set", "method", "kind", "images", *keys])
        for set_name, per_method in results.items():
            for method, r in per_method.items():
                cells = [repr(float(r[k])) if math.isfinite(r[k]) else "" for k in keys]
                writer.writerow([set_name, method, kinds[method], r["n"], *cells])


def write_json(path: Path, record: dict) -> None:
    """All or nothing: a temporary file in the same folder, renamed when complete."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_strict(record), indent=2, allow_nan=False))


def _strict(obj):
    """NaN / inf (e.g. the HF ratio of a flat HR image) as null, so the file is valid JSON."""
    from gen_common.files import json_safe

    return json_safe(obj)


def check_outputs(args: argparse.Namespace, ckpts: dict[str, str]) -> dict[str, Path]:
    """The --json / --csv / --panels targets ({option: path}), checked before any work: distinct, not an input,
    writable."""
    given = (("--json", args.json), ("--csv", args.csv), ("--panels", args.panels))
    outputs = {opt: Path(v).expanduser() for opt, v in given if v}
    inputs = {Path(p).expanduser().resolve() for p in ckpts.values()}
    if len({p.resolve() for p in outputs.values()}) < len(outputs):
        raise ValueError(f"{' / '.join(outputs)} name the same file; give them different paths")
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
    """The evaluation on parsed arguments: tables on stdout, --json / --csv / --panels / --save-images written;
    returns 0.

    Raises:
        OSError, ValueError, gen_common.weights.WeightsUnavailableError: bad inputs, outputs or weights.
    """
    import torch

    from gen_common.weights import cached_weights_path, resolve_weights
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
    sets, sources = load_sets_with_roots(args.sets, scale, args.downsample)
    prior = check_prior_outputs(parse_outputs(args.outputs, set(ckpts), sources), sets, sources, scale)
    methods = {name: [BICUBIC, *ckpts, *(m for m in prior if name in prior[m])] for name in sets}
    columns = list(dict.fromkeys(m for ms in methods.values() for m in ms))
    inputs = {Path(p).expanduser().resolve() for p in ckpts.values()}
    inputs |= {(root / n).resolve() for name, (_, root) in sources.items() if root for n in sets[name].images.names}
    inputs |= {f.resolve() for per_set in prior.values() for o in per_set.values() for f in o["pairs"].values()}
    plan = {}
    if args.save_images:
        save_dir = Path(args.save_images).expanduser()
        plan = save_image_plan(save_dir, sets, methods)
        inputs |= {p.resolve() for p in outputs.values()}  # (--panels is a PNG too)
        check_save_images(save_dir, list(plan.values()), inputs, args.overwrite)
    if args.recognition:  # fail fast: folder layout and weights before the (long) SR pass
        if not Path(args.recognition).expanduser().is_dir():
            raise FileNotFoundError(f"recognition folder {args.recognition} does not exist (given as --recognition)")
        LabelledImages(args.recognition, args.size, args.max_images)
        classifier = resolve_weights("resnet50", args.resnet_weights, option="--resnet-weights").to(device)
    lpips_net = None if args.lpips_weights == "none" else build_lpips(args.lpips_weights).to(device)
    for label, path in ckpts.items():
        base = generators[label].bicubic_base
        print(f"{label}: {path} ({scale}x, bicubic base {base})")
    for label, per_set in prior.items():
        for name, o in per_set.items():
            print(f"{label}: {o['folder']} ({len(o['pairs'])} outputs for {name}, {o['unpaired']} unpaired ignored)")
    print(f"LR inputs: {args.downsample} downsampling; device {device}\n")
    results, panels = {}, []
    for name, data in sets.items():
        panel_size = args.panel_size if args.panels else 0
        files = {label: per_set[name]["pairs"] for label, per_set in prior.items() if name in per_set}
        save_to = {(m, n): path for (s, m, n), path in plan.items() if s == name} if plan else None
        results[name], rows = evaluate_set(
            generators, data, name, device, panel_size, lpips_net, files, save_to, columns
        )  # fmt: skip
        panels += rows
    print(sr_tables(results, scale))
    models = {
        label: {"path": path, "sha256": sha256_prefix(path), "bicubic_base": generators[label].bicubic_base}
        | checkpoint_origin(path)
        for label, path in ckpts.items()
    }
    prior_record = {
        label: {
            name: {
                "path": str(o["folder"].resolve()),
                "files": len(o["pairs"]),
                "unpaired_ignored": o["unpaired"],
                "pairs": {hr: str(f.relative_to(o["folder"])) for hr, f in o["pairs"].items()},
            }
            for name, o in per_set.items()
        }
        for label, per_set in prior.items()
    }
    lpips_record: dict = {"net": "alex, torchmetrics' learned linear layers", "weights": args.lpips_weights}
    weights_file = (
        None if args.lpips_weights in ("none", "random")
        else cached_weights_path("alexnet") if args.lpips_weights == "imagenet"
        else Path(args.lpips_weights).expanduser()
    )  # fmt: skip
    if weights_file is not None and weights_file.is_file():
        lpips_record |= {"file": str(weights_file), "sha256": sha256_prefix(weights_file)}
    scoring = {
        "scale": scale,
        "border_crop_px": scale,
        "hr_crop": f"bottom and right rows / columns dropped to a multiple of {scale}",
        "y": Y_CONVENTION,
        "quantisation": "every output rounded to 8 bits per channel before every measure",
        "lr_downsampler": args.downsample,
        "ssim": "Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, mean over the valid region",
        "hf_ratio": "mean |3x3 Laplacian| of Y (interior pixels), output / HR",
        "lpips": lpips_record if lpips_net is not None else None,
    }
    set_folders = {
        name: str(root.resolve()) if root else f"gen_common.embedded {EMBEDDED_SPLITS[arg]!r} split"
        for name, (arg, root) in sources.items()
    }
    record = {
        "settings": vars(args)
        | {
            "ckpt": ckpts,
            "models": models,
            "outputs": prior_record,
            "scoring": scoring,
            "set_folders": set_folders,
            "scale": scale,
            "device": str(device),
        },
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
    if "--csv" in outputs:
        kinds = {BICUBIC: "bicubic"} | dict.fromkeys(ckpts, "checkpoint") | dict.fromkeys(prior, "outputs")
        write_csv(outputs["--csv"], results, kinds)
    if "--panels" in outputs:
        save_panels(panels, outputs["--panels"])
        print(f"\npanels: {outputs['--panels']} (LR nearest | {' | '.join(columns)} | HR; white: no output)")
    if plan:
        print(f"\nimages: {len(plan)} PNG(s) in {save_dir}/<set>/<method>/")
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
