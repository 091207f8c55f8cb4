"""``sr-video-upscale``: upscale a video file or frame folder with a trained FRVSR / VSR / SISR checkpoint.

Streams: frames are decoded, upscaled and encoded one at a time, so memory does not grow with the video's length;
decoding and encoding run in background threads with a few frames queued (gen_common.pipeline), so the network does
not wait for PyAV, and the output keeps the input's frame order.
Exit codes: 0 written; 2 nothing written (bad arguments, missing or unreadable input, foreign checkpoint, existing
output without ``--overwrite``, an unwritable output folder); 130 interrupted (nothing written). The output appears
only when the whole video was upscaled (a truncated input or Ctrl-C leaves nothing behind).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch, PyAV and Lightning load after parsing, so --help answers at once
    import torch


DEVICE_HELP = "auto (cuda if available, else cpu) | cpu | cuda | cuda:N"
REFRESH_S = 0.5  # progress bars redraw at most this often (tqdm's mininterval): live rate and ETA, no cost
# sr_video.inference.SCENE_CUT (the training data's clip cut), written out so that --help loads no torch;
# tests/test_cli.py checks the two agree.
SCENE_CUT = 0.12
WRITABLE_VIDEO = (".mp4", ".mkv", ".mov", ".avi")  # the containers libx264 / mpeg4 fit (VideoWriter)
QUEUED_FRAMES = 4  # decoded frames waiting for the network, and upscaled ones waiting for the encoder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-video-upscale", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="a video file (mp4, mkv, ...) or a folder of frames")
    p.add_argument("--ckpt", required=True, help="checkpoint written by `python tools/train.py model=frvsr` (etc.)")
    p.add_argument("-o", "--output", help="output video file or frame folder (default: INPUT_x4.mp4 / INPUT_x4)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    compile_help = "torch.compile the networks (one graph per frame size; the first frames wait for it; eager with a "
    p.add_argument("--compile", action="store_true", help=compile_help + "note where the platform cannot compile)")
    cut_help = f"restart the recurrence when consecutive frames differ more (default {SCENE_CUT}; <0: never)"
    p.add_argument("--scene-cut", type=float, default=SCENE_CUT, help=cut_help)
    p.add_argument("--max-frames", type=int, help="stop after this many frames (>= 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (only once it is complete)")
    return p


def resolve_device(name: str) -> str:
    """The ``--device`` option as a device name: ``auto`` is cuda when CUDA is available, else cpu.

    Raises:
        ValueError: an unknown device name, or CUDA asked for on a machine without it.
    """
    from gen_common.devices import resolve_device as resolve

    return str(resolve(name))


def _crop8(frame: torch.Tensor) -> torch.Tensor:
    h, w = frame.shape[-2:]
    return frame[:, : h - h % 8, : w - w % 8]  # FNet needs multiples of 8; the thesis crops borders too


def _check_output(out: Path, overwrite: bool) -> None:
    """Everything about the output that can fail, checked before any frame is computed."""
    from sr_video.video_io import VIDEO_SUFFIXES

    suffix = out.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise ValueError(
            f"output {out} is an image name, but a video model writes a video: use a video file "
            f"({', '.join(WRITABLE_VIDEO)}) or a folder name for PNG frames"
        )
    if suffix in VIDEO_SUFFIXES and suffix not in WRITABLE_VIDEO:
        raise ValueError(f"output {out}: {suffix} cannot hold H.264 / MPEG-4 video; use {', '.join(WRITABLE_VIDEO)}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"output {out} already exists: pass --overwrite to replace it, or choose another -o")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder {parent} does not exist: create it, or choose another -o")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {parent} is not writable: choose another -o")


def _upscale(args: argparse.Namespace) -> int:
    """Check everything, then stream the video through the network; the output appears only when complete."""
    from tqdm import tqdm

    from gen_common.pipeline import OrderedSink, prefetch
    from sr_video.inference import stream_upscale
    from sr_video.module import load_net
    from sr_video.video_io import VideoWriter, read_frames, video_info

    src = Path(args.input)
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1 (got {args.max_frames}); leave it out for the whole video")
    device = resolve_device(args.device)
    if not Path(args.ckpt).is_file():
        raise FileNotFoundError(f"checkpoint {args.ckpt} does not exist")
    net = load_net(args.ckpt)
    info = video_info(src)
    default = src.with_name(f"{src.stem}_x{net.scale}" + (src.suffix if src.is_file() else ""))
    out = Path(args.output) if args.output else default
    if out.resolve() == src.resolve():
        raise ValueError(f"output {out} is the input: choose another -o (the input is never replaced)")
    _check_output(out, args.overwrite)
    w, h = info.get("width"), info.get("height")
    if w and h and (w < 8 or h < 8):
        raise ValueError(f"input {src} is {w}x{h}: the networks need frames of at least 8x8 pixels")
    if w and h and (w % 8 or h % 8):
        print(f"note: {src} is {w}x{h}; FNet needs multiples of 8, so the frames are cropped to "
              f"{w - w % 8}x{h - h % 8} (bottom / right)", file=sys.stderr)  # fmt: skip
    pin = device.startswith("cuda")  # pinned host frames: asynchronous uploads
    decoded = (_crop8(f) for f in read_frames(src, max_frames=args.max_frames))
    frames = prefetch(decoded, depth=QUEUED_FRAMES, transform=(lambda f: f.pin_memory()) if pin else None)
    cut = None if args.scene_cut < 0 else args.scene_cut
    with VideoWriter(out, fps=info.get("fps") or 25.0, overwrite=args.overwrite) as writer:
        known = [n for n in (args.max_frames, info.get("num_frames")) if n is not None]
        hr_frames = stream_upscale(net, frames, device, args.bf16, cut, compile=args.compile)
        bar = tqdm(hr_frames, total=min(known, default=None), unit="frame", file=sys.stderr, mininterval=REFRESH_S)
        with OrderedSink(writer.write, depth=QUEUED_FRAMES) as encoder:  # encodes while the next frame computes
            for hr in bar:
                encoder.put(hr)
    print(f"{writer.num_frames} frames -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``sr-video-upscale INPUT --ckpt CKPT [-o OUTPUT] ...``; returns the exit status (0, 2 or 130)."""
    args = _parser().parse_args(argv)
    from sr_video.video_io import VideoReadError  # after parsing: PyAV and torch take seconds to load

    try:
        return _upscale(args)
    except (OSError, ValueError, VideoReadError) as err:
        print(f"sr-video-upscale: error: {err} (nothing was written)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sr-video-upscale: interrupted (nothing was written)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
