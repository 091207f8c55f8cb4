"""FRVSR inference speed (thesis Sec. 3.4.7): frames per second at 1080p output, sr_video's streaming path
side by side with a plain-PyTorch loop of the same networks, in one process.

Input: a moving random texture at LR 480x272 (HR 1920x1088, the 1080p case of Sec. 3.4.7), ``--frames`` timed
frames per repeat, after one untimed warm-up frame through each path. Paths, alternated ``--repeats`` times:

* sr_video: ``sr_video.inference.stream_upscale`` (what ``sr-video-upscale`` runs: scene-cut check, clamping, copy
  to the CPU per frame);
* plain: a hand-written loop ``flow = fnet(prev, cur); est = srnet(cat(cur, space_to_depth(warp(est, up(flow)))))``
  with the same module instances, output left on the device.

The outputs of the two paths must agree (checked). Reported: median seconds per frame and frames per second, and
the ratio sr_video / plain.

    .venv/bin/python benchmarks/bench_frvsr.py [--sizes 3-64,10-128] [--frames 3] [--device cpu|cuda] [--bf16]
        [--channels-last] [--compile] [--json out.json]
"""

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from sr_video.inference import stream_upscale
from sr_video.nets import FRVSR, space_to_depth, upscale_flow, warp


def frames(n: int, device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 272, 480, generator=g)
    return [torch.roll(base, t, dims=-1).to(device) for t in range(n)]


def plain_loop(net: FRVSR, lr_frames: list[torch.Tensor], fnet=None, srnet=None) -> list[torch.Tensor]:
    """The recurrence by hand; ``fnet`` / ``srnet``: replacements for the net's own (their compiled versions)."""
    fnet, srnet = (net.fnet if fnet is None else fnet), (net.srnet if srnet is None else srnet)
    outs, prev, est = [], None, None
    for lr in lr_frames:
        cur = lr[None]
        if prev is None:
            prev, est = cur, cur.new_zeros(1, 3, cur.shape[-2] * net.scale, cur.shape[-1] * net.scale)
        flow = fnet(prev, cur)
        est = srnet(torch.cat([cur, space_to_depth(warp(est, upscale_flow(flow, net.scale)), net.scale)], 1))
        outs.append(est[0])
        prev = cur
    return outs


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="3-64,10-128", help="blocks-filters of SRNet (Sec. 3.4.7)")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile FNet / SRNet on both paths (warm-up untimed)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    results = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "bf16": args.bf16,
               "channels_last": args.channels_last, "compile": args.compile}  # fmt: skip
    for size in args.sizes.split(","):
        blocks, filters = map(int, size.split("-"))
        torch.manual_seed(0)
        net = FRVSR(4, blocks, filters).eval().to(args.device)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
        lr = frames(args.frames, args.device)
        compiled = {}
        if args.compile:
            compiled = {
                "fnet": torch.compile(net.fnet, dynamic=False),
                "srnet": torch.compile(net.srnet, dynamic=False),
            }
        times = {"sr_video": [], "plain": []}
        autocast = torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16)
        with torch.inference_mode(), autocast:
            for _ in range(2):  # warm-up, both paths (compiling: the first frame and the recurrent second)
                list(stream_upscale(net, lr[:2], args.device, args.bf16, scene_cut=None, compile=args.compile))
                plain_loop(net, lr[:2], **compiled)
            for _ in range(args.repeats):
                for name in ("sr_video", "plain"):
                    sync(args.device)
                    t0 = time.perf_counter()
                    if name == "sr_video":
                        out = list(
                            stream_upscale(net, lr, args.device, args.bf16, scene_cut=None, compile=args.compile)
                        )
                    else:
                        out = [o.float().clamp(0, 1).cpu() for o in plain_loop(net, lr, **compiled)]
                    sync(args.device)
                    times[name].append((time.perf_counter() - t0) / len(lr))
                    results.setdefault(size, {})[f"{name}_out"] = out[-1]
        a, b = results[size].pop("sr_video_out"), results[size].pop("plain_out")
        torch.testing.assert_close(a, b, atol=2e-2 if args.bf16 else 1e-5, rtol=0)
        row = {k: statistics.median(v) for k, v in times.items()}
        results[size] = {"s_per_frame": row, "fps": {k: 1 / v for k, v in row.items()},
                         "ratio": row["sr_video"] / row["plain"], "all": times}  # fmt: skip
        print(f"FRVSR {size}: sr_video {1 / row['sr_video']:.3f} fps, plain {1 / row['plain']:.3f} fps, "
              f"ratio {row['sr_video'] / row['plain']:.3f} (1920x1088 output, {args.device})", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
