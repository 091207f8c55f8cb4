"""``sr-video-evaluate``: FRVSR / VSR / SISR checkpoints and bicubic on whole videos (thesis Sec. 3.4, Table 3.2).

    sr-video-evaluate --ckpt FRVSR=runs/frvsr/checkpoints/last.ckpt --ckpt SISR=runs/sisr/checkpoints/last.ckpt \
        [--videos embedded | /data/Vid4] [--skip-ends 2] [--profiles DIR] [--json out.json] [--wandb PROJECT]

Per video and method: video PSNR on Y (one MSE over all frames), mean SSIM on Y, and the motion-compensated
flicker measure of :func:`sr_video.metrics.temporal_consistency`; then the average over videos. ``--profiles``
writes the temporal profiles of Fig. 3.6 (one PNG per video: bicubic | each model | HR); ``--json`` adds the PSNR
of every frame (Fig. 3.7). The LR input is made from the HR video by the training degradation (Sec. 3.3.5).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from gen_common.files import atomic_output
from sr_video.cli import DEVICE_HELP, REFRESH_S, resolve_device

# sr_video.data.SIGMA (Sec. 3.4.2), written out so that --help loads no torch; tests/test_cli.py checks they agree.
SIGMA = 1.5


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-video-evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", action="append", required=True, metavar="LABEL=PATH", help="a checkpoint; repeatable")
    p.add_argument("--videos", default="embedded", help="'embedded' (carphone) or a folder of videos / frame folders")
    p.add_argument("--sigma", type=float, default=SIGMA, help="blur of the LR degradation (Sec. 3.4.2: 1.5)")
    p.add_argument("--skip-ends", type=int, default=0, help="frames skipped at each end (Table 3.2's protocol: 2)")
    p.add_argument("--max-frames", type=int, help="only the first frames of each video (quick CPU runs)")
    p.add_argument("--no-flicker", action="store_true", help="skip the temporal-consistency measure (slow on CPU)")
    p.add_argument("--profiles", help="folder for the temporal-profile PNGs (Fig. 3.6)")
    p.add_argument("--json", help="write all numbers, per-frame PSNR included, here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file / --profiles")
    p.add_argument("--wandb", metavar="PROJECT", help="also log the table and profiles to W&B (offline without a key)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    return p


def _header_frames(paths: list[Path], max_frames: int | None) -> list[int | None]:
    """Frames per video as the headers state them (no decoding), for the progress bar's total."""
    from sr_video.video_io import video_info

    counts = [video_info(p).get("num_frames") for p in paths]
    return [c if c is None or max_frames is None else min(c, max_frames) for c in counts]


def evaluate(args) -> dict:
    """Run every method on every video; returns ``{video: {method: {psnr_y, ssim_y, flicker, psnr_per_frame}}}``.

    A bar on stderr counts frames, with frames/s and the ETA: each checkpoint's frames as they are upscaled, then
    every method's (bicubic too) when they are measured (the flicker measure can take longer than upscaling).
    """
    import torch
    from tqdm import tqdm

    from sr_image.nets import bicubic_upsample
    from sr_video.data import VideoEvalDataset
    from sr_video.inference import stream_upscale
    from sr_video.metrics import psnr_per_frame, temporal_consistency, temporal_profile, video_psnr_y, video_ssim_y
    from sr_video.module import load_net
    from sr_video.video_io import embedded_videos, list_videos

    nets = {}
    for spec in args.ckpt:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = Path(spec).parent.parent.name or spec, spec
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        nets[label] = load_net(path)
    device = resolve_device(args.device)
    videos = embedded_videos("eval") if args.videos == "embedded" else list_videos(args.videos)
    scale = next(iter(nets.values())).scale
    if any(net.scale != scale for net in nets.values()):
        raise ValueError("all checkpoints must have one scale")
    data = VideoEvalDataset(videos, scale, args.sigma, max_frames=args.max_frames)
    counts = _header_frames(data.paths, args.max_frames)
    per_frame = 2 * len(nets) + 1  # upscaled by each checkpoint; measured for each checkpoint and bicubic
    total = None if None in counts else sum(counts) * per_frame
    bar = tqdm(total=total, unit="frame", file=sys.stderr, mininterval=REFRESH_S, dynamic_ncols=True)
    results, profiles = {}, {}
    with bar:
        for item, expected in zip(data, counts, strict=True):
            lr, hr, name = item["lr"], item["hr"], item["name"]
            if bar.total is not None:
                bar.total += (len(lr) - expected) * per_frame  # a header's count can be off
            outs = {"bicubic": bicubic_upsample(lr, scale).clamp(0, 1)}
            for label, net in nets.items():
                bar.set_description(f"{name}: upscaling {label}", refresh=False)
                estimates = []
                for est in stream_upscale(net, lr, device, scene_cut=None):
                    estimates.append(est)
                    bar.update()
                outs[label] = torch.stack(estimates)
            results[name] = {}
            for method, est in outs.items():
                bar.set_description(f"{name}: measuring {method}")
                row = {
                    "psnr_y": video_psnr_y(est, hr, skip_ends=args.skip_ends).item(),
                    "ssim_y": video_ssim_y(est, hr, skip_ends=args.skip_ends).item(),
                    "psnr_per_frame": psnr_per_frame(est, hr).tolist(),
                }
                if not args.no_flicker:
                    row["flicker"] = temporal_consistency(est, hr).item()
                results[name][method] = row
                bar.update(len(est))
            profiles[name] = torch.cat([temporal_profile(v) for v in [*outs.values(), hr]], dim=-1)
    return {"results": results, "profiles": profiles, "methods": list(outs)}


def table(results: dict, methods: list[str]) -> str:
    """Markdown: one row per video and method, then the averages over videos."""
    has_flicker = all("flicker" in r for v in results.values() for r in v.values())
    head = "| video | method | PSNR (Y) | SSIM (Y) |" + (" flicker |" if has_flicker else "")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name in [*results, "average"]:
        for m in methods:
            rows = list(results.values()) if name == "average" else [results[name]]
            keys = [k for k in ("psnr_y", "ssim_y", "flicker") if k in rows[0][m]]
            vals = {k: sum(r[m][k] for r in rows) / len(rows) for k in keys}
            line = f"| {name} | {m} | {vals['psnr_y']:.2f} | {vals['ssim_y']:.4f} |"
            lines.append(line + (f" {vals['flicker']:.2f} |" if has_flicker else ""))
    return "\n".join(lines)


def check_json_path(value: str | None, overwrite: bool) -> None:
    """The --json target, checked before the (long) evaluation."""
    if not value:
        return
    path = Path(value).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"--json {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"--json {path} already exists; pass --overwrite to replace it, or choose another path")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
        raise FileNotFoundError(f"--json folder {path.parent} does not exist or is not writable")


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


def write_profiles(profiles: dict, value: str) -> None:
    """One PNG per video, each written all or nothing (after the whole evaluation succeeded)."""
    from gen_common.images import save_image

    folder = Path(value).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for name, profile in profiles.items():
        with atomic_output(folder / f"{name}_profile.png") as tmp:
            save_image(profile, tmp)


def main(argv: list[str] | None = None) -> int:
    """``sr-video-evaluate --ckpt LABEL=PATH ...``; returns the exit status (0 done, 2 nothing written)."""
    args = _parser().parse_args(argv)
    from sr_video.video_io import VideoReadError  # after parsing: PyAV and torch take seconds to load

    try:
        check_json_path(args.json, args.overwrite)
        check_profiles_folder(args.profiles, args.overwrite)
        args.device = resolve_device(args.device)  # "auto" -> cuda or cpu, as the JSON records it
        out = evaluate(args)
    except (OSError, ValueError, VideoReadError) as err:
        print(f"sr-video-evaluate: error: {err}", file=sys.stderr)
        return 2
    print(table(out["results"], out["methods"]))
    if args.profiles:
        write_profiles(out["profiles"], args.profiles)
    if args.json:
        with atomic_output(Path(args.json).expanduser()) as tmp:
            tmp.write_text(json.dumps({"settings": vars(args), "results": out["results"]}, indent=1))
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
