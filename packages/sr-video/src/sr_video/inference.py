"""Streaming video super-resolution (thesis Sec. 3.3.5): one forward pass per frame, constant memory.

Frames are decoded, upscaled and encoded one at a time; only the previous LR frame and HR estimate are kept
(FRVSR), or a window of three LR frames (VSR). At a scene cut the recurrence restarts from a black estimate: a
warped estimate of another scene can only hurt. Sec. 3.5's "ground-truth HR frame every K-th frame" mode replaces
the previous estimate by the true HR frame every K frames; Fig. 3.7's red curve starts from the true HR frame of the
first frame instead of black (``initial_estimate``).
"""

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from sr_video.data import SCENE_CUT_THRESHOLD, scene_change
from sr_video.nets import FRVSR, SISR, VSR, warp

# The recurrence restarts where the training data would cut clips (sr_video.data's measure and threshold).
SCENE_CUT = SCENE_CUT_THRESHOLD


def _cut(prev: Tensor, cur: Tensor, threshold: float) -> bool:
    return scene_change(prev[0], cur[0]).item() > threshold  # one host sync per frame, outside any training loop


def stream_upscale(
    net: nn.Module,
    frames: Iterable[Tensor],
    device: str | torch.device = "cpu",
    bf16: bool = False,
    scene_cut: float | None = SCENE_CUT,
    hr_frames: Iterable[Tensor] | None = None,
    gt_every: int | None = None,
    initial_estimate: Tensor | None = None,
    compile: bool = False,
) -> Iterator[Tensor]:
    """Upscale LR frames (3, h, w) in [0, 1] one by one; yields HR frames (3, sh, sw) on the CPU, float32.

    Args:
        net: a trained FRVSR, VSR or SISR (eval mode is set here).
        frames: LR frames, h and w multiples of 8 (FNet's three poolings).
        device: where the network runs.
        bf16: autocast to bfloat16 (CUDA).
        scene_cut: restart threshold (mean absolute frame difference); None never restarts.
        hr_frames, gt_every: with both, every ``gt_every``-th previous estimate is replaced by the ground-truth HR
            frame (Sec. 3.5; FRVSR only): the output of frame t (0-based) starts from the true HR frame t-1 when t
            is a positive multiple of ``gt_every``.
        initial_estimate: (3, sh, sw) in [0, 1], the first frame's previous HR estimate instead of the black image
            of Sec. 3.3.5; Fig. 3.7's red curve passes the ground-truth HR frame 0 (FRVSR only). A restart at a scene
            cut starts from black.
        compile: ``torch.compile`` FNet and SRNet (one graph per frame size; :class:`gen_common.compiled.
            CompiledOrEager` falls back to eager, with a message, where the platform cannot compile; the compiled
            wrappers live on a shallow copy of ``net``). On CUDA ``net`` is moved to channels_last (in place, as
            ``.to(device)`` moves it); the convolutions then work in that layout.

    Raises:
        ValueError: ``gt_every`` without ``hr_frames``, ``gt_every`` < 1, or ``gt_every`` / ``initial_estimate``
            for a network without a previous estimate (SISR, VSR).
    """
    net = net.eval().to(device)
    if torch.device(device).type == "cuda":  # NHWC: the convolutions' fast layout on GPUs (outputs unchanged)
        net = net.to(memory_format=torch.channels_last)
    if compile:
        net = _compiled(net)
    if gt_every is not None and (hr_frames is None or not isinstance(net, FRVSR) or gt_every < 1):
        raise ValueError(f"gt_every needs hr_frames, an FRVSR network and a value >= 1 (got {gt_every})")
    if initial_estimate is not None and not isinstance(net, FRVSR):
        raise ValueError(f"initial_estimate needs an FRVSR network (a {type(net).__name__} has no previous estimate)")
    hr_iter = iter(hr_frames) if hr_frames is not None else None
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        if isinstance(net, VSR):
            yield from _stream_vsr(net, frames, device, scene_cut)
            return
        lr_prev = est_prev = None
        for t, frame in enumerate(frames):
            lr = frame.to(device, non_blocking=True)[None]  # (pinned frames: an asynchronous upload)
            hr_t = next(hr_iter).to(device)[None] if hr_iter is not None else None
            if isinstance(net, SISR):
                est = net.srnet(lr)
            else:
                if lr_prev is None and initial_estimate is not None:
                    lr_prev, est_prev = lr, _as_estimate(initial_estimate, net.black(lr))
                elif lr_prev is None or (scene_cut is not None and _cut(lr_prev, lr, scene_cut)):
                    lr_prev, est_prev = lr, net.black(lr)
                est, _ = net.step(lr_prev, lr, est_prev)
                lr_prev, est_prev = lr, est
                if gt_every and hr_t is not None and (t + 1) % gt_every == 0:
                    est_prev = hr_t.to(est.dtype)  # Sec. 3.5: the next frame starts from the true HR frame
            yield est[0].float().clamp(0, 1).cpu()


def _compiled(net: nn.Module) -> nn.Module:
    """The same network with its FNet / SRNet compiled (a shallow copy: the caller's modules stay uncompiled)."""
    import copy

    from gen_common.compiled import CompiledOrEager

    out = copy.copy(net)
    out._modules = dict(net._modules)
    for name in ("fnet", "srnet"):
        if name in out._modules:
            out._modules[name] = CompiledOrEager(net._modules[name], f"{type(net).__name__}'s {name}")
    return out


def _as_estimate(hr: Tensor, black: Tensor) -> Tensor:
    """``hr`` (3, sh, sw) as a previous estimate like ``black`` (1, 3, sh, sw): same shape, device and dtype."""
    if hr.shape != black.shape[1:]:
        raise ValueError(f"initial_estimate must be one HR frame {tuple(black.shape[1:])}, got {tuple(hr.shape)}")
    return hr.to(black.device, black.dtype)[None]


def _stream_vsr(net: VSR, frames: Iterable[Tensor], device, scene_cut: float | None) -> Iterator[Tensor]:
    """VSR needs the next frame: one frame of look-ahead; at a scene's ends the missing neighbour is the frame itself
    (as :class:`sr_video.nets.VSR` does at a clip's ends)."""

    def one(prev: Tensor, cur: Tensor, nxt: Tensor) -> Tensor:
        x = torch.cat([cur, warp(prev, net.fnet(prev, cur)), warp(nxt, net.fnet(nxt, cur))], dim=1)
        return net.srnet(x)[0].float().clamp(0, 1).cpu()

    prev = cur = None  # cur waits for its next frame
    for frame in frames:
        lr = frame.to(device)[None]
        if cur is not None and scene_cut is not None and _cut(cur, lr, scene_cut):
            yield one(prev, cur, cur)
            prev = cur = None
        if cur is not None:
            yield one(prev, cur, lr)
            prev = cur
        else:
            prev = lr
        cur = lr
    if cur is not None:
        yield one(prev, cur, cur)
