"""``sr-video-evaluate``: FRVSR / VSR / SISR checkpoints and bicubic on whole videos (thesis Sec. 3.4, Table 3.2).

    sr-video-evaluate --ckpt FRVSR=runs/frvsr/checkpoints/last.ckpt --ckpt SISR=runs/sisr/checkpoints/last.ckpt \
        [--videos embedded | /data/Vid4] [--skip-ends 2] [--noise-sigma 0.025 | --jpeg-quality 40 [--seed 0]] \
        [--gt-first] [--gt-every K] [--start-frame N] [--profiles DIR] [--json out.json] [--csv out.csv] \
        [--save-frames DIR] [--outputs LABEL=FOLDER ...] [--overwrite] [--wandb PROJECT]

Per video and method: video PSNR on Y (one MSE over all scored frames), mean SSIM on Y, and the motion-compensated
flicker measure of :func:`sr_video.metrics.temporal_consistency`; then the average over videos. The LR input is made
from the HR video by the training degradation (Sec. 3.3.5), the borders cropped so that it is a multiple of 8
(:class:`sr_video.data.VideoEvalDataset`), with optional noise or JPEG (Table 3.1). The first and last ``--skip-ends``
frames are not scored (Table 3.2: 2). ``--gt-first`` (Fig. 3.7's red curve) and ``--gt-every`` (Sec. 3.5) change
FRVSR's previous estimate; ``--start-frame`` (Fig. 3.8) starts every method later in the video. ``--profiles`` writes
the temporal profiles of Fig. 3.6; ``--json`` every setting and number, the PSNR of every frame included (Fig. 3.7,
3.8); ``--csv`` one row per video and method; ``--save-frames`` every method's output frames. ``--outputs
LABEL=FOLDER`` scores another method's published SR frames (Table 3.2: "the output images provided by the
corresponding authors") as one more method, see :func:`check_prior_outputs`. Exit codes: 0 done, 2 nothing written
(bad arguments, inputs or outputs).
"""

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gen_common.files import atomic_output
from sr_video.cli import DEVICE_HELP, REFRESH_S, resolve_device

# sr_video.data.SIGMA (Sec. 3.4.2) and SKIP_ENDS (Table 3.2), written out so that --help loads no torch;
# tests/test_cli.py checks they agree.
SIGMA = 1.5
SKIP_ENDS = 2
BICUBIC = "bicubic"
CSV_FIELDS = ("video", "method", "psnr_y", "ssim_y", "flicker", "frames_scored")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-video-evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--ckpt",
        action="append",
        required=True,
        metavar="[LABEL=]PATH",
        help="a checkpoint; repeatable. A sweep folder (tools/train.py -m) gives one row per run's "
        "checkpoints/last.ckpt, named by what differs (e.g. frvsr)",
    )
    p.add_argument("--videos", default="embedded", help="'embedded' (carphone) or a folder of videos / frame folders")
    p.add_argument("--sigma", type=float, default=SIGMA, help="blur of the LR degradation (Sec. 3.4.2: 1.5)")
    p.add_argument(
        "--skip-ends",
        type=int,
        default=SKIP_ENDS,
        help=f"frames not scored at each end (Table 3.2's protocol: {SKIP_ENDS}; 0 scores all). A video of "
        f"2 x that many frames or fewer is scored whole, with a note",
    )
    p.add_argument(
        "--noise-sigma", type=float, default=0.0, help="Gaussian noise std on the LR input (Table 3.1: 0.025, 0.075)"
    )
    p.add_argument("--jpeg-quality", type=int, help="JPEG-compress the LR input at this quality (Table 3.1: 40, 70)")
    p.add_argument("--seed", type=int, default=0, help="seed of the LR noise (video i uses seed + i; default 0)")
    p.add_argument(
        "--gt-first",
        action="store_true",
        help="FRVSR's first previous estimate is the ground-truth HR frame instead of black (Fig. 3.7's red curve); "
        "SISR / VSR have none and run as usual",
    )
    p.add_argument(
        "--gt-every",
        type=int,
        metavar="K",
        help="FRVSR's previous estimate is the ground-truth HR frame after every K-th frame (Sec. 3.5); SISR / VSR "
        "run as usual",
    )
    p.add_argument(
        "--start-frame",
        type=int,
        default=1,
        metavar="N",
        help="every method starts at the video's N-th frame (1-based; Fig. 3.8 compares 1 and 11); earlier frames "
        "are not fed",
    )
    p.add_argument("--max-frames", type=int, help="only the video's first frames (counted from frame 1; quick runs)")
    p.add_argument("--no-flicker", action="store_true", help="skip the temporal-consistency measure (slow on CPU)")
    p.add_argument("--profiles", help="folder for the temporal-profile PNGs (Fig. 3.6)")
    p.add_argument("--json", help="write every setting and number, per-frame PSNR included, here")
    p.add_argument("--csv", help="write one row per video and method (psnr_y, ssim_y, flicker) here")
    p.add_argument(
        "--save-frames", metavar="DIR", help="each method's output frames as DIR/<video>/<method>/000000.png ..."
    )
    p.add_argument(
        "--outputs",
        action="append",
        default=[],
        metavar="LABEL=FOLDER",
        help="another method's published SR frames, scored as the checkpoints are (Table 3.2); repeatable. FOLDER "
        "holds one subfolder per evaluated video (FOLDER/calendar/...), its images in frame order by name (numbers "
        "compared as numbers); exactly the video's T frames, or T-4 taken as frames 2..T-3 (methods that omit the "
        "first and last two). Each of the cropped HR size or the uncropped HR size (then cropped as HR is)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing --json / --csv / --profiles / frames")
    p.add_argument("--wandb", metavar="PROJECT", help="also log the table and profiles to W&B (offline without a key)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Numbers out of range, refused before any work (ValueError, exit 2)."""
    bad = [
        (args.skip_ends < 0, "--skip-ends", args.skip_ends, "must be >= 0 (Table 3.2's protocol: 2)"),
        (args.sigma < 0, "--sigma", args.sigma, "must be >= 0"),
        (args.noise_sigma < 0, "--noise-sigma", args.noise_sigma, "must be >= 0 (Table 3.1: 0.025, 0.075)"),
        (args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 100, "--jpeg-quality", args.jpeg_quality,
         "must be in 1..100 (Table 3.1: 40, 70)"),
        (args.gt_every is not None and args.gt_every < 1, "--gt-every", args.gt_every, "must be >= 1"),
        (args.start_frame < 1, "--start-frame", args.start_frame, "is 1-based: the first frame is 1"),
        (args.max_frames is not None and args.max_frames < args.start_frame, "--max-frames", args.max_frames,
         f"must be >= --start-frame ({args.start_frame}); it counts from the video's first frame"),
    ]  # fmt: skip
    for failed, option, value, fix in bad:
        if failed:
            raise ValueError(f"{option} ({value}) {fix}")


def parse_ckpts(values: list[str]) -> dict[str, str]:
    """``[LABEL=]PATH`` arguments (a checkpoint, or a sweep folder: one row per run) -> {label: path}."""
    from gen_common.runs import checkpoint_args

    return {label: str(path) for label, path in checkpoint_args(values, reserved=BICUBIC).items()}


OMITTED_ENDS = 2  # frames a T-4 output set leaves out at each end (e.g. B1,2,3+T, Table 3.2)


def parse_prior_outputs(values: list[str], ckpt_labels: list[str]) -> dict[str, Path]:
    """``--outputs LABEL=FOLDER`` arguments -> {label: folder}; labels unique, not a checkpoint's, not 'bicubic'."""
    outputs: dict[str, Path] = {}
    for value in values:
        label, sep, folder = value.partition("=")
        why = (
            "expected LABEL=FOLDER"
            if not sep or not folder
            else "the label is empty"
            if not label
            else "the label 'bicubic' is reserved"
            if label == BICUBIC
            else f"the label {label!r} is also a --ckpt label"
            if label in ckpt_labels
            else f"the label {label!r} is repeated"
            if label in outputs
            else f"the label {label!r} holds a path separator"
            if "/" in label or "\\" in label or label in (".", "..")
            else ""
        )
        if why:
            raise ValueError(f"--outputs {value}: {why}; give each method its own LABEL=FOLDER")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"--outputs {value}: the folder {path} does not exist; give a folder of "
                                    f"<video>/ subfolders of SR frames")  # fmt: skip
        outputs[label] = path
    return outputs


def _natural(name: str) -> list:
    """Sort key: digit runs compared as numbers (frame_2 before frame_10), the rest as text."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def count_frames(path: Path) -> int:
    """The exact frame count of a video: a frame folder's files, a video file decoded (headers can be off)."""
    from sr_video.video_io import read_frames, video_info

    if path.is_dir():
        return video_info(path)["num_frames"]
    return sum(1 for _ in read_frames(path, as_uint8=True))


def check_prior_outputs(
    outputs: dict[str, Path], data, start: int, max_frames: int | None, skip_ends: int
) -> dict[str, dict[str, dict]]:
    """Match every ``--outputs`` folder with the evaluated videos and decode every file, before any upscaling.

    ``FOLDER/<video>/`` holds the method's frames as images, in frame order when sorted by name (digit runs as
    numbers; the numbering may start at 0 or 1, only the order counts). The video has T frames; the folder holds
    exactly T (frame t is the t-th file) or T - 4, taken as frames 2..T-3 (a method that omits the first and last
    two, which Table 3.2's skip-ends 2 does not score anyway). Every scored frame must be present. A file is of the
    cropped HR size (the centred crop to ``scale * 8``) or of the video's uncropped size (then cropped the same way).

    Returns:
        {label: {video: {"files": [Path, ...], "first": video index of the first file}}}.

    Raises:
        ValueError / OSError: a missing subfolder, a wrong count, an unreadable file, a wrong size, a scored frame
            missing; the message names the folder or file.
    """
    from gen_common.images import IMAGE_SUFFIXES, read_image
    from sr_video.data import effective_skip_ends
    from sr_video.video_io import video_info

    multiple = data.scale * data.lr_multiple
    checked: dict[str, dict[str, dict]] = {}
    for label, folder in outputs.items():
        checked[label] = {}
        for path, name in zip(data.paths, data.names, strict=True):
            where = f"--outputs {label}={folder}"
            sub = folder / name
            if not sub.is_dir():
                raise FileNotFoundError(f"{where}: no subfolder {name}/ for the evaluated video {name}")
            files = sorted((p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                           key=lambda p: _natural(p.name))  # fmt: skip
            total = count_frames(path)
            if len(files) == total:
                first = 0
            elif len(files) == total - 2 * OMITTED_ENDS > 0:
                first = OMITTED_ENDS
            else:
                raise ValueError(f"{where}: {sub} holds {len(files)} images but video {name} has {total} frames; "
                                 f"give {total} (or {total - 2 * OMITTED_ENDS}, frames 2..T-3)")  # fmt: skip
            n = (total if max_frames is None else min(total, max_frames)) - start
            skip = effective_skip_ends(n, skip_ends)
            scored = range(start + skip, start + n - skip)
            if scored and (scored[0] < first or scored[-1] >= first + len(files)):
                raise ValueError(
                    f"{where}: {sub} holds frames {first}..{first + len(files) - 1} of video {name}, but frames "
                    f"{scored[0]}..{scored[-1]} are scored; use --skip-ends {OMITTED_ENDS} (Table 3.2)"
                )
            info = video_info(path)
            full = (info["height"], info["width"])
            cropped = (full[0] - full[0] % multiple, full[1] - full[1] % multiple)
            for file in files:
                try:
                    hw = tuple(read_image(file).shape[-2:])  # decoded once: a truncated file fails here
                except OSError as err:
                    raise type(err)(f"{where}: {err}") from None
                if hw not in (cropped, full):
                    raise ValueError(
                        f"{where}: {file} is {hw[0]}x{hw[1]} but the HR frames of {name} are {cropped[0]}x{cropped[1]} "
                        f"(cropped to a multiple of {multiple}; uncropped {full[0]}x{full[1]})"
                    )
            checked[label][name] = {"files": files, "first": first}
    return checked


def read_prior_frames(entry: dict, frames: list[int], multiple: int):
    """The method's frames among the fed ``frames`` (video indices), cropped as HR is: (positions in ``frames``,
    (N, 3, H, W) tensor)."""
    import torch

    from gen_common.images import read_image
    from sr_video.data import crop_to_multiple

    first, files = entry["first"], entry["files"]
    pos = [i for i, t in enumerate(frames) if first <= t < first + len(files)]
    est = torch.stack([crop_to_multiple(read_image(files[frames[i] - first]), multiple) for i in pos])
    return pos, est


def sha256_16(path: str | Path) -> str:
    """The first 16 hex digits of the file's SHA-256 (which checkpoint produced the numbers)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _header_frames(paths: list[Path], max_frames: int | None) -> list[int | None]:
    """Frames per video as the headers state them (no decoding), for the progress bar's total."""
    from sr_video.video_io import video_info

    counts = [video_info(p).get("num_frames") for p in paths]
    return [c if c is None or max_frames is None else min(c, max_frames) for c in counts]


def method_notes(args: argparse.Namespace, kinds: dict[str, str]) -> dict[str, str]:
    """How each checkpoint ran when --gt-first / --gt-every are given (the table and the JSON say so)."""
    modes = [m for m, on in (("GT first", args.gt_first), (f"GT every {args.gt_every}", args.gt_every)) if on]
    if not modes:
        return {}
    return {label: ", ".join(modes) if kind == "FRVSR" else "as usual: no previous estimate"
            for label, kind in kinds.items()}  # fmt: skip


def evaluate(args: argparse.Namespace, frames_dir: Path | None = None) -> dict:
    """Run every method on every video.

    Returns ``{"results": {video: {method: {psnr_y, ssim_y, flicker, psnr_per_frame}}}, "videos": {video: {frames,
    frames_scored, skip_ends, note}}, "methods": [...], "checkpoints": {label: {path, sha256, class}}, "profiles":
    {video: (3, T, W')}}``. ``psnr_per_frame`` has one value per frame in ``frames`` (0-based indices of the video's
    frames that were fed, from ``--start-frame``); the video PSNR, SSIM and flicker use ``frames_scored``. With
    ``frames_dir``, each method's output frames are written to ``frames_dir/<video>/<method>/<index>.png``.

    A bar on stderr counts frames, with frames/s and the ETA: each checkpoint's frames as they are upscaled, then
    every method's (bicubic too) when they are measured (the flicker measure can take longer than upscaling).
    """
    import torch
    from tqdm import tqdm

    from sr_image.nets import bicubic_upsample
    from sr_video.data import VideoEvalDataset, effective_skip_ends
    from sr_video.inference import stream_upscale
    from sr_video.metrics import psnr_per_frame, temporal_profile
    from sr_video.module import load_net
    from sr_video.nets import FRVSR
    from sr_video.video_io import embedded_videos, list_videos

    ckpts = parse_ckpts(args.ckpt)
    prior = parse_prior_outputs(args.outputs, list(ckpts))
    nets = {}
    for label, path in ckpts.items():
        if not Path(path).expanduser().is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        nets[label] = load_net(str(Path(path).expanduser()))
    checkpoints = {
        label: {"path": path, "sha256": sha256_16(Path(path).expanduser()), "class": type(nets[label]).__name__}
        for label, path in ckpts.items()
    }
    notes = method_notes(args, {label: c["class"] for label, c in checkpoints.items()})
    device = resolve_device(args.device)
    videos = embedded_videos("eval") if args.videos == "embedded" else list_videos(args.videos)
    scale = next(iter(nets.values())).scale
    if any(net.scale != scale for net in nets.values()):
        raise ValueError("all checkpoints must have one scale")
    data = VideoEvalDataset(
        videos, scale, args.sigma, args.noise_sigma, args.jpeg_quality, max_frames=args.max_frames, seed=args.seed
    )
    start = args.start_frame - 1
    prior_checked = check_prior_outputs(prior, data, start, args.max_frames, args.skip_ends)
    prior_settings = {
        label: {"folder": str(prior[label]), "files": {v: len(e["files"]) for v, e in per.items()},
                "first_frame": {v: e["first"] for v, e in per.items()}}
        for label, per in prior_checked.items()
    }  # fmt: skip
    counts = _header_frames(data.paths, args.max_frames)
    for name, count in zip(data.names, counts, strict=True):
        if count is not None and count <= start:
            raise ValueError(f"--start-frame ({args.start_frame}) is past the end of video {name} ({count} frames)")
    counts = [None if c is None else c - start for c in counts]
    per_frame = 2 * len(nets) + 1 + len(prior)  # upscaled by each checkpoint; measured for every method
    total = None if None in counts else sum(counts) * per_frame
    bar = tqdm(total=total, unit="frame", file=sys.stderr, mininterval=REFRESH_S, dynamic_ncols=True)
    results, profiles, info = {}, {}, {}
    with bar:
        for item, expected in zip(data, counts, strict=True):
            lr, hr, name = item["lr"], item["hr"], item["name"]
            if name in results:
                raise ValueError(f"two evaluation videos are named {name}; rename one (results are keyed by name)")
            if len(lr) <= start:
                raise ValueError(f"--start-frame ({args.start_frame}) is past the end of video {name} "
                                 f"({len(lr)} frames)")  # fmt: skip
            # Fig. 3.8: the frames before the start are not fed (the LR input of the rest is the same in every run)
            lr, hr = lr[start:], hr[start:]
            n = len(lr)
            if bar.total is not None:
                bar.total += (n - expected) * per_frame  # a header's count can be off
            skip = effective_skip_ends(n, args.skip_ends)
            note = None
            if skip != args.skip_ends:
                note = f"{n} frames, too few to skip {args.skip_ends} at each end (Table 3.2); all {n} scored"
                tqdm.write(f"note: {name}: {note}", file=sys.stderr)
            frames = list(range(start, start + n))
            info[name] = {"frames": frames, "frames_scored": frames[skip : n - skip], "skip_ends": skip, "note": note}
            outs = {BICUBIC: bicubic_upsample(lr, scale).clamp(0, 1)}
            for label, net in nets.items():
                bar.set_description(f"{name}: upscaling {label}", refresh=False)
                kwargs = {}
                if isinstance(net, FRVSR):  # SISR / VSR have no previous estimate: they run as usual
                    if args.gt_first:  # Fig. 3.7's red curve
                        kwargs["initial_estimate"] = hr[0]
                    if args.gt_every:  # Sec. 3.5
                        kwargs.update(hr_frames=hr, gt_every=args.gt_every)
                estimates = []
                for est in stream_upscale(net, lr, device, scene_cut=None, **kwargs):
                    estimates.append(est)
                    bar.update()
                outs[label] = torch.stack(estimates)
            partial = {}  # --outputs that omit frames: {label: (positions in frames, their estimates)}
            for label, per in prior_checked.items():
                pos, est = read_prior_frames(per[name], frames, data.scale * data.lr_multiple)
                if len(pos) == n:
                    outs[label] = est
                else:
                    partial[label] = (pos, est)
            results[name] = {}
            for method, (pos, est) in partial.items():
                # scored on the scored frames (check_prior_outputs made sure they are all present), as the others
                bar.set_description(f"{name}: measuring {method}")
                a = pos.index(skip)
                scored_est, scored_hr = est[a : a + n - 2 * skip], hr[skip : n - skip]
                per_psnr = dict(zip(pos, psnr_per_frame(est, hr[pos]).tolist(), strict=True))
                psnrs = [per_psnr.get(i) for i in range(n)]  # null where the method has no frame
                results[name][method] = _measure(scored_est, scored_hr, psnrs, args.no_flicker)
                if frames_dir is not None:
                    _save_frames(frames_dir / name / method, [frames[i] for i in pos], est)
                bar.update(len(est))
            for method, est in outs.items():
                bar.set_description(f"{name}: measuring {method}")
                scored_est, scored_hr = est[skip : n - skip], hr[skip : n - skip]
                psnrs = psnr_per_frame(est, hr).tolist()
                results[name][method] = _measure(scored_est, scored_hr, psnrs, args.no_flicker)
                if frames_dir is not None:
                    _save_frames(frames_dir / name / method, frames, est)
                bar.update(len(est))
            results[name] = {m: results[name][m] for m in [BICUBIC, *nets, *prior]}  # the table's order
            # a method with frames missing has no full profile: left out of the picture
            profiles[name] = torch.cat([temporal_profile(v) for v in [*outs.values(), hr]], dim=-1)
    return {
        "results": results,
        "videos": info,
        "profiles": profiles,
        "methods": [BICUBIC, *nets, *prior],
        "checkpoints": checkpoints,
        "notes": notes,
        "prior_outputs": prior_settings,
    }


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def table(results: dict, methods: list[str], notes: dict[str, str] | None = None) -> str:
    """Markdown: one row per video and method, then the averages over videos; ``notes`` follow a method's name."""
    notes = notes or {}
    has_flicker = all("flicker" in r for v in results.values() for r in v.values())
    head = "| video | method | PSNR (Y) | SSIM (Y) |" + (" flicker |" if has_flicker else "")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name in [*results, "average"]:
        for m in methods:
            rows = list(results.values()) if name == "average" else [results[name]]
            keys = [k for k in ("psnr_y", "ssim_y", "flicker") if k in rows[0][m]]
            vals = {k: _mean([r[m][k] for r in rows]) for k in keys}
            label = f"{m} ({notes[m]})" if m in notes else m
            line = f"| {name} | {label} | {vals['psnr_y']:.2f} | {vals['ssim_y']:.4f} |"
            if has_flicker:
                line += f" {vals['flicker']:.2f} |" if vals["flicker"] is not None else " n/a |"
            lines.append(line)
    return "\n".join(lines)


def check_file_path(option: str, value: str | None, overwrite: bool) -> None:
    """A --json / --csv target, checked before the (long) evaluation."""
    if not value:
        return
    path = Path(value).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{option} {path} already exists; pass --overwrite to replace it, or choose another path")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
        raise FileNotFoundError(f"{option} folder {path.parent} does not exist or is not writable")


def check_json_path(value: str | None, overwrite: bool) -> None:
    """The --json target, checked before the (long) evaluation."""
    check_file_path("--json", value, overwrite)


def check_profiles_folder(value: str | None, overwrite: bool) -> None:
    """The --profiles folder, checked before the evaluation: writable, and no earlier profiles replaced silently."""
    if not value:
        return
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--profiles {folder} is a file; give a folder name")
    old = sorted(folder.glob("*_profile.png")) if folder.is_dir() else []
    if old and not overwrite:
        raise FileExistsError(
            f"--profiles {folder} already holds profiles ({old[0].name}, ...); pass --overwrite to replace them, "
            f"or choose another folder"
        )
    parent = folder if folder.is_dir() else folder.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise FileNotFoundError(f"--profiles folder {parent} does not exist or is not writable")


def is_saved_frames_folder(folder: Path) -> bool:
    """True for a folder laid out as --save-frames writes it: <video>/<method>/ folders of 000000.png ... only."""
    from sr_video.video_io import is_written_frame_folder

    return folder.is_dir() and all(
        video.is_dir() and all(is_written_frame_folder(method) for method in video.iterdir())
        for video in folder.iterdir()
    )


def check_frames_folder(value: str | None, overwrite: bool) -> None:
    """The --save-frames folder, checked before the evaluation: writable; an existing, non-empty one is replaced only
    with --overwrite, and only when it holds nothing but frames this command writes (never another folder)."""
    if not value:
        return
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--save-frames {folder} is a file; give a folder name")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"--save-frames {folder} already exists; pass --overwrite to replace it, or choose "
                                  f"another folder")  # fmt: skip
        if not is_saved_frames_folder(folder):
            raise FileExistsError(
                f"--save-frames {folder} holds files this command did not write; --overwrite replaces only a folder "
                f"of <video>/<method>/000000.png ... frames: remove it yourself, or choose another folder"
            )
    parent = folder.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise FileNotFoundError(f"--save-frames folder {parent} does not exist or is not writable")


def check_outputs(args: argparse.Namespace) -> None:
    """Every output, before any work: distinct, not a checkpoint, writable, nothing replaced without --overwrite."""
    named = {o: v for o, v in (("--json", args.json), ("--csv", args.csv), ("--profiles", args.profiles),
                               ("--save-frames", args.save_frames)) if v}  # fmt: skip
    resolved = {o: Path(v).expanduser().resolve() for o, v in named.items()}
    if len(set(resolved.values())) < len(resolved):
        raise ValueError(f"{' / '.join(named)} must name different paths (given {', '.join(named.values())})")
    inputs = {Path(path).resolve() for path in parse_ckpts(args.ckpt).values()}
    for option, path in resolved.items():
        if path in inputs:
            raise ValueError(f"{option} {named[option]} is one of the --ckpt files; choose another path")
    check_file_path("--json", args.json, args.overwrite)
    check_file_path("--csv", args.csv, args.overwrite)
    check_profiles_folder(args.profiles, args.overwrite)
    check_frames_folder(args.save_frames, args.overwrite)


@contextmanager
def atomic_folder(dst: Path) -> Iterator[Path]:
    """A hidden temporary folder next to ``dst`` to fill; it replaces ``dst`` when the block completes, and is
    deleted on any error or interrupt (``dst`` left as it was). :func:`check_frames_folder` vets ``dst`` first."""
    tmp = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if dst.exists():  # replaced only now, when the new frames are complete
            aside = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, aside)
            os.replace(tmp, dst)
            shutil.rmtree(aside)
        else:
            os.replace(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_profiles(profiles: dict, value: str) -> None:
    """One PNG per video, each written all or nothing (after the whole evaluation succeeded)."""
    from gen_common.images import save_image

    folder = Path(value).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for name, profile in profiles.items():
        with atomic_output(folder / f"{name}_profile.png") as tmp:
            save_image(profile, tmp)


def write_csv(results: dict, videos: dict, value: str) -> None:
    """One row per video and method (``CSV_FIELDS``), all or nothing; a missing flicker is an empty cell."""
    with atomic_output(Path(value).expanduser()) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for name, rows in results.items():
            for method, row in rows.items():
                flicker = row.get("flicker")
                writer.writerow({
                    "video": name,
                    "method": method,
                    "psnr_y": f"{row['psnr_y']:.4f}",
                    "ssim_y": f"{row['ssim_y']:.6f}",
                    "flicker": "" if flicker is None else f"{flicker:.4f}",
                    "frames_scored": len(videos[name]["frames_scored"]),
                })  # fmt: skip


def _measure(scored_est, scored_hr, per_frame: list, no_flicker: bool) -> dict:
    """One method on one video: video PSNR / SSIM (Y) and flicker over the scored frames, per-frame PSNR of all."""
    from sr_video.metrics import temporal_consistency, video_psnr_y, video_ssim_y

    row = {
        "psnr_y": video_psnr_y(scored_est, scored_hr).item(),
        "ssim_y": video_ssim_y(scored_est, scored_hr).item(),
        "psnr_per_frame": per_frame,
    }
    if not no_flicker:  # it needs two scored frames
        row["flicker"] = temporal_consistency(scored_est, scored_hr).item() if len(scored_est) > 1 else None
    return row


def _save_frames(folder: Path, indices: list[int], frames) -> None:
    from gen_common.images import save_image

    folder.mkdir(parents=True)
    for t, frame in zip(indices, frames, strict=True):
        save_image(frame, folder / f"{t:06d}.png")


def _strict(obj):
    """NaN / inf (the PSNR of a frame reproduced exactly) as null, so the file is valid JSON."""
    from gen_common.files import json_safe

    return json_safe(obj)


def main(argv: list[str] | None = None) -> int:
    """``sr-video-evaluate --ckpt LABEL=PATH ...``; returns the exit status (0 done, 2 nothing written)."""
    args = _parser().parse_args(argv)
    from sr_video.video_io import VideoReadError  # after parsing: PyAV and torch take seconds to load

    try:
        check_args(args)
        check_outputs(args)
        args.device = resolve_device(args.device)  # "auto" -> cuda or cpu, as the JSON records it
        if args.save_frames:
            with atomic_folder(Path(args.save_frames).expanduser()) as tmp:
                out = evaluate(args, frames_dir=tmp)
        else:
            out = evaluate(args)
    except (OSError, ValueError, VideoReadError) as err:
        print(f"sr-video-evaluate: error: {err}", file=sys.stderr)
        return 2
    print(table(out["results"], out["methods"], out["notes"]))
    if args.profiles:
        write_profiles(out["profiles"], args.profiles)
    if args.csv:
        write_csv(out["results"], out["videos"], args.csv)
    if args.json:
        import torch

        record = {
            "settings": vars(args)
            | {"checkpoints": out["checkpoints"], "method_notes": out["notes"], "prior_outputs": out["prior_outputs"]},
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
            "videos": out["videos"],
            "results": out["results"],
        }
        with atomic_output(Path(args.json).expanduser()) as tmp:
            tmp.write_text(json.dumps(_strict(record), indent=1, allow_nan=False))
    if args.wandb:
        import wandb

        from gen_common.loggers import wandb_mode

        with wandb.init(project=args.wandb, mode=wandb_mode(), config=vars(args)) as run:
            for name, profile in out["profiles"].items():
                run.log({f"eval/{name}/profile": wandb.Image(profile.permute(1, 2, 0).numpy())})
            run.log({f"eval/{v}/{m}/psnr_y": r["psnr_y"] for v, rs in out["results"].items() for m, r in rs.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
