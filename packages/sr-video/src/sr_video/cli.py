"""``sr-video-upscale``: upscale a video file or frame folder with a trained FRVSR / VSR / SISR checkpoint.

Streams: one frame decoded, upscaled and encoded at a time, so memory does not grow with the video's length.
Exit codes: 0 written; 2 nothing written (bad arguments, missing or unreadable input, foreign checkpoint, existing
output).
"""

import argparse
import sys
from pathlib import Path

import torch

from sr_video.inference import SCENE_CUT, stream_upscale
from sr_video.module import load_net
from sr_video.video_io import VideoReadError, VideoWriter, read_frames, video_info


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-video-upscale", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="a video file (mp4, mkv, ...) or a folder of frames")
    p.add_argument("--ckpt", required=True, help="checkpoint written by `python tools/train.py model=frvsr` (etc.)")
    p.add_argument("-o", "--output", help="output video file or frame folder (default: INPUT_x4.mp4 / INPUT_x4)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    cut_help = f"restart the recurrence when consecutive frames differ more (default {SCENE_CUT}; <0: never)"
    p.add_argument("--scene-cut", type=float, default=SCENE_CUT, help=cut_help)
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    return p


def _crop8(frame: torch.Tensor) -> torch.Tensor:
    h, w = frame.shape[-2:]
    return frame[:, : h - h % 8, : w - w % 8]  # FNet needs multiples of 8; the thesis crops borders too


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        src = Path(args.input)
        if not Path(args.ckpt).is_file():
            raise FileNotFoundError(f"checkpoint {args.ckpt} does not exist")
        net = load_net(args.ckpt)
        info = video_info(src)
        default = src.with_name(f"{src.stem}_x{net.scale}" + (src.suffix if src.is_file() else ""))
        out = Path(args.output) if args.output else default
        frames = (_crop8(f) for f in read_frames(src, max_frames=args.max_frames))
        cut = None if args.scene_cut < 0 else args.scene_cut
        from tqdm import tqdm

        with VideoWriter(out, fps=info.get("fps") or 25.0) as writer:
            total = args.max_frames or info.get("num_frames")
            for hr in tqdm(stream_upscale(net, frames, args.device, args.bf16, cut), total=total, unit="frame"):
                writer.write(hr)
        print(f"{writer.num_frames} frames -> {out}")
        return 0
    except (OSError, ValueError, VideoReadError) as err:
        print(f"sr-video-upscale: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
