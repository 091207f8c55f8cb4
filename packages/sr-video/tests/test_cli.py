"""``sr-video-upscale`` and ``sr-video-evaluate`` on real files: outputs, errors, constant memory when streaming."""

import json
import subprocess
import sys

import pytest
import torch

from sr_video import cli, evaluate
from sr_video.cli import main as upscale_main
from sr_video.data import SIGMA, SKIP_ENDS
from sr_video.evaluate import main as evaluate_main
from sr_video.inference import SCENE_CUT
from sr_video.nets import FRVSR
from sr_video.video_io import VideoWriter, read_frames, video_info


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A checkpoint in the layout VideoSR.on_save_checkpoint writes (a tiny FRVSR)."""
    torch.manual_seed(0)
    net = FRVSR(scale=4, num_blocks=1, num_filters=8)
    path = tmp_path_factory.mktemp("ckpt") / "frvsr.ckpt"
    spec = {"class": "sr_video.nets.FRVSR", "scale": 4, "num_blocks": 1, "num_filters": 8}
    torch.save({"net": spec, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def _video(path, frames, size=(32, 48)):
    torch.manual_seed(1)
    base = torch.rand(3, *size)
    with VideoWriter(path, fps=10) as w:
        for t in range(frames):
            w.write(torch.roll(base, t, dims=-1))
    return path


def test_upscale_writes_a_video_of_the_same_length_and_fps(tmp_path, ckpt):
    src = _video(tmp_path / "in.mp4", 6, size=(36, 52))  # not multiples of 8: cropped to 32x48
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(tmp_path / "out.mp4")]) == 0
    info = video_info(tmp_path / "out.mp4")
    assert (info["width"], info["height"]) == (192, 128) and info["fps"] == pytest.approx(10)
    assert len(list(read_frames(tmp_path / "out.mp4"))) == 6
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(tmp_path / "out.mp4")]) == 2  # no overwrite


def test_upscale_errors(tmp_path, ckpt, capsys):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert upscale_main([str(tmp_path / "bad.mp4"), "--ckpt", str(ckpt)]) == 2
    assert "bad.mp4" in capsys.readouterr().err
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    src = _video(tmp_path / "in.mp4", 2)
    assert upscale_main([str(src), "--ckpt", str(tmp_path / "other.ckpt")]) == 2
    assert "not a sr-video checkpoint" in capsys.readouterr().err


_PEAK = """
import resource, sys
from sr_video.cli import main
main([sys.argv[1], "--ckpt", sys.argv[2], "-o", sys.argv[3]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow  # ~1-3 min on 2 cores; the fast proxy is test_inference.py::test_stream_is_lazy
def test_streaming_memory_does_not_grow_with_length(tmp_path, ckpt):
    peaks = {}
    for frames in (30, 300):
        src = _video(tmp_path / f"v{frames}.mp4", frames, size=(64, 96))
        out = subprocess.run([sys.executable, "-c", _PEAK, str(src), str(ckpt), str(tmp_path / f"o{frames}")],
                             capture_output=True, text=True, check=True)  # fmt: skip
        peaks[frames] = int(out.stdout.split()[-1])
    # 300 output frames of 256x384 would add ~350 MB if kept; streaming keeps the peak within 10 %
    assert peaks[300] < 1.1 * peaks[30], peaks


def test_help_defaults_are_the_librarys():
    """The parsers write these out (so that --help loads no torch); they must stay the library's values."""
    assert cli.SCENE_CUT == SCENE_CUT and evaluate.SIGMA == SIGMA and evaluate.SKIP_ENDS == SKIP_ENDS


def test_evaluate_prints_a_table_and_writes_per_frame_psnr(tmp_path, ckpt, capsys):
    argv = ["--ckpt", f"FRVSR={ckpt}", "--max-frames", "4", "--no-flicker", "--json", str(tmp_path / "e.json")]
    assert evaluate_main([*argv, "--profiles", str(tmp_path / "prof")]) == 0
    out, err = capsys.readouterr()
    assert "| carphone_pristine | bicubic |" in out and "| average | FRVSR |" in out
    # progress on stderr: 4 frames upscaled by FRVSR, then measured for bicubic and FRVSR
    assert "carphone_pristine: measuring FRVSR" in err and "12/12" in err and "frame/s" in err
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["settings"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # --device auto
    results = record["results"]["carphone_pristine"]
    assert len(results["FRVSR"]["psnr_per_frame"]) == 4 and 15 < results["bicubic"]["psnr_y"] < 40
    assert (tmp_path / "prof" / "carphone_pristine_profile.png").exists()
    assert evaluate_main(["--ckpt", str(tmp_path / "missing.ckpt")]) == 2
    # an existing --json is refused before any work, and kept
    before = (tmp_path / "e.json").read_text()
    assert evaluate_main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "e.json").read_text() == before
    # existing profiles too (they were replaced silently); with --overwrite both are replaced
    profile = tmp_path / "prof" / "carphone_pristine_profile.png"
    profile.write_bytes(b"an earlier profile")
    assert evaluate_main(["--ckpt", f"FRVSR={ckpt}", "--max-frames", "4", "--profiles", str(tmp_path / "prof")]) == 2
    assert "already holds profiles" in capsys.readouterr().err and profile.read_bytes() == b"an earlier profile"
    assert evaluate_main([*argv, "--profiles", str(tmp_path / "prof"), "--overwrite"]) == 0
    assert profile.read_bytes()[:4] == b"\x89PNG"


def test_a_truncated_input_leaves_no_output(tmp_path, ckpt, capsys):
    """The first half of a real mp4: decoding fails midway; before, a valid-looking shorter video remained."""
    src = _video(tmp_path / "in.mp4", 30, size=(32, 48))
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    assert upscale_main([str(cut), "--ckpt", str(ckpt), "-o", str(out)]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "in.mp4"]


def test_a_corrupt_frame_leaves_no_partial_folder(tmp_path, ckpt, capsys):
    frames = tmp_path / "frames"
    _video(frames, 4, size=(32, 48))  # a folder of PNG frames
    (frames / "000002.png").write_bytes((frames / "000002.png").read_bytes()[:200])  # header intact
    assert upscale_main([str(frames), "--ckpt", str(ckpt), "-o", str(tmp_path / "up")]) == 2
    assert "000002.png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_outputs_and_arguments_are_checked_before_any_work(tmp_path, ckpt, capsys):
    src = _video(tmp_path / "in.mp4", 2)
    cases = [
        (["-o", str(tmp_path / "x.webm")], ".webm cannot hold"),
        (["-o", str(tmp_path / "x.png")], "is an image name"),
        (["-o", str(tmp_path / "no" / "x.mp4")], "output folder"),
        (["--max-frames", "0"], "--max-frames must be >= 1"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "CUDA is not available"))
    for extra, message in cases:
        assert upscale_main([str(src), "--ckpt", str(ckpt), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_unreadable_or_mismatched_checkpoints_are_one_line_errors(tmp_path, ckpt, capsys):
    src = _video(tmp_path / "in.mp4", 2)
    data = ckpt.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.ckpt").write_bytes(torch.randint(0, 255, (5000,), dtype=torch.uint8).numpy().tobytes())
    changed = torch.load(ckpt, weights_only=True)
    changed["net"] = {**changed["net"], "num_blocks": 2}  # settings no longer match the weights
    torch.save(changed, tmp_path / "changed.ckpt")
    for name, message in (("cut", "not a readable checkpoint"), ("random", "not a readable checkpoint"),
                          ("changed", "do not match its network settings")):  # fmt: skip
        assert upscale_main([str(src), "--ckpt", str(tmp_path / f"{name}.ckpt")]) == 2
        err = capsys.readouterr().err
        assert message in err and f"{name}.ckpt" in err, err


def test_overwrite_replaces_only_a_complete_output(tmp_path, ckpt):
    src = _video(tmp_path / "in.mp4", 3)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the user's file")
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(out)]) == 2
    assert out.read_bytes() == b"the user's file"
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(out), "--overwrite"]) == 0
    assert len(list(read_frames(out))) == 3


def test_overwrite_replaces_a_frame_folder_but_never_another_folder_or_the_input(tmp_path, ckpt, capsys):
    src = _video(tmp_path / "in.mp4", 3)
    frames = tmp_path / "frames"
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(frames), "--max-frames", "2"]) == 0
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(frames), "--overwrite"]) == 0  # our frames: replaced
    assert sorted(p.name for p in frames.iterdir()) == ["000000.png", "000001.png", "000002.png"]

    photos = tmp_path / "photos"  # a folder of the user's: --overwrite must not delete it
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"irreplaceable")
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(photos), "--overwrite"]) == 2
    assert "does not replace" in capsys.readouterr().err
    assert (photos / "holiday.jpg").read_bytes() == b"irreplaceable"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial left

    assert upscale_main([str(frames), "--ckpt", str(ckpt), "-o", str(frames), "--overwrite"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert len(list(frames.iterdir())) == 3


def test_an_unknown_device_is_one_line_before_any_work(tmp_path, ckpt, capsys):
    src = _video(tmp_path / "in.mp4", 2)
    assert upscale_main([str(src), "--ckpt", str(ckpt), "--device", "bogus"]) == 2
    assert "--device bogus: not a device name" in capsys.readouterr().err
    assert evaluate_main(["--ckpt", f"F={ckpt}", "--max-frames", "3", "--device", "bogus"]) == 2
    assert "--device bogus: not a device name" in capsys.readouterr().err


def test_the_pipelined_upscaler_writes_the_frames_of_the_plain_loop_in_order(tmp_path, ckpt):
    # decode and encode run in background threads; a lossless PNG folder must hold exactly the plain loop's frames
    from sr_video.inference import stream_upscale
    from sr_video.module import load_net

    src = _video(tmp_path / "in.mp4", 12)
    assert upscale_main([str(src), "--ckpt", str(ckpt), "-o", str(tmp_path / "frames")]) == 0
    written = list(read_frames(tmp_path / "frames", as_uint8=True))
    plain = [(f * 255).round().to(torch.uint8) for f in stream_upscale(load_net(ckpt), read_frames(src))]
    assert len(written) == len(plain) == 12
    for t, (a, b) in enumerate(zip(written, plain, strict=True)):
        assert (a.int() - b.int()).abs().max() <= 1, t  # (8-bit rounding of the same float frame)
