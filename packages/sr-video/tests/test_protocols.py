"""Chapter 3's evaluation protocols through ``sr-video-evaluate`` and ``stream_upscale``, on real short videos.

Table 3.2 (skip-ends, multiple-of-8 crop), Table 3.1 (noise / JPEG of the LR input, seeded), Fig. 3.7 (ground-truth
first estimate), Fig. 3.8 (start frame), Sec. 3.5 (ground truth every K frames), and the --csv / --save-frames /
--json outputs. Tiny networks on 32x48 frames (LR 8x12).
"""

import csv
import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from sr_video import data as data_mod
from sr_video import metrics
from sr_video.data import SKIP_ENDS, VideoEvalDataset, effective_skip_ends, jpeg_compress
from sr_video.evaluate import main as evaluate_main
from sr_video.inference import stream_upscale
from sr_video.metrics import psnr_per_frame, video_psnr_y
from sr_video.module import VideoSR, load_net
from sr_video.nets import FRVSR, SISR, VSR
from sr_video.video_io import VideoWriter, read_frames

SMALL = {"scale": 4, "num_blocks": 1, "num_filters": 8}
OFFSET = 10  # 8-bit levels the offset network adds to bicubic
ROOT = Path(__file__).resolve().parents[3]


def _save(net, path):
    spec = {"class": f"sr_video.nets.{type(net).__name__}", **SMALL}
    torch.save({"net": spec, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """Tiny random FRVSR / SISR / VSR checkpoints, and an FRVSR whose output is bicubic + OFFSET/255 exactly."""
    folder = tmp_path_factory.mktemp("ckpts")
    out = {}
    for cls in (FRVSR, SISR, VSR):
        torch.manual_seed(0)
        out[cls.__name__] = _save(cls(**SMALL), folder / f"{cls.__name__.lower()}.ckpt")
    torch.manual_seed(0)
    offset = FRVSR(**SMALL)
    with torch.no_grad():  # the last conv outputs its bias whatever its input: a known, fixed error
        offset.srnet.body[-1].weight.zero_()
        offset.srnet.body[-1].bias.fill_(OFFSET / 255)
    out["offset"] = _save(offset, folder / "offset.ckpt")
    return out


def _textured(root: Path, frames: int = 6, name: str = "clip") -> Path:
    """A folder ``root`` holding one PNG-frame video: a random texture moving one pixel per frame (32x48)."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(3, 32, 48, generator=g)
    with VideoWriter(root / name) as w:
        for t in range(frames):
            w.write(torch.roll(base, t, dims=-1))
    return root


def _grey(root: Path, levels: list[int]) -> Path:
    """One PNG-frame video of flat grey frames at the given 8-bit levels (blur and bicubic keep them exactly)."""
    with VideoWriter(root / "grey") as w:
        for k in levels:
            w.write(torch.full((3, 32, 48), k / 255))
    return root


def _run(tmp_path, *argv, name="e.json"):
    path = tmp_path / name
    assert evaluate_main([*map(str, argv), "--no-flicker", "--json", str(path), "--overwrite"]) == 0
    return json.loads(path.read_text())


# --- Table 3.2: skip the first and last two frames; LR a multiple of 8 ------------------------------------------------


def test_skip_ends_default_is_table_3_2s_and_the_psnr_is_over_the_middle_frames_only(tmp_path, ckpts):
    # ends at level 250: the +10 offset clips at 255, an error of 5 levels; middle frames: an error of 10 levels
    levels = [250, 250, 100, 110, 120, 130, 250, 250]
    videos = _grey(tmp_path / "v", levels)
    rec = _run(tmp_path, "--ckpt", f"X={ckpts['offset']}", "--videos", videos)
    y_err = [(65.481 + 128.553 + 24.966) / 255 * (min(k + OFFSET, 255) - k) for k in levels]  # BT.601 Y of grey
    by_hand = 10 * math.log10(255**2 / (sum(e**2 for e in y_err[2:-2]) / 4))  # frames 2..T-3
    assert rec["settings"]["skip_ends"] == 2
    assert rec["results"]["grey"]["X"]["psnr_y"] == pytest.approx(by_hand, abs=1e-4)
    assert rec["videos"]["grey"]["frames_scored"] == [2, 3, 4, 5] and rec["videos"]["grey"]["skip_ends"] == 2
    everything = _run(tmp_path, "--ckpt", f"X={ckpts['offset']}", "--videos", videos, "--skip-ends", "0")
    all_frames = 10 * math.log10(255**2 / (sum(e**2 for e in y_err) / 8))
    assert everything["results"]["grey"]["X"]["psnr_y"] == pytest.approx(all_frames, abs=1e-4)
    assert all_frames > by_hand + 1  # the ends' smaller error no longer counts
    # per-frame PSNR (Fig. 3.7) keeps every frame
    per_frame = [10 * math.log10(255**2 / e**2) for e in y_err]
    assert rec["results"]["grey"]["X"]["psnr_per_frame"] == pytest.approx(per_frame, abs=1e-4)


def test_a_video_too_short_to_skip_is_scored_whole_with_a_note(tmp_path, ckpts, capsys):
    videos = _grey(tmp_path / "v", [100, 110, 120, 130])
    rec = _run(tmp_path, "--ckpt", f"X={ckpts['offset']}", "--videos", videos)
    assert "grey: 4 frames, too few to skip 2 at each end" in capsys.readouterr().err
    assert rec["videos"]["grey"]["skip_ends"] == 0 and rec["videos"]["grey"]["frames_scored"] == [0, 1, 2, 3]
    assert rec["videos"]["grey"]["note"].startswith("4 frames")
    assert effective_skip_ends(5) == 2 and effective_skip_ends(4) == 0 and effective_skip_ends(4, 1) == 1
    with pytest.raises(ValueError, match=">= 0"):
        effective_skip_ends(5, -1)


def test_the_lr_input_is_cropped_to_a_multiple_of_8(tmp_path):
    with VideoWriter(tmp_path / "v" / "odd") as w:  # 44x70 HR: 4x8 = 32-multiples are 32x64, LR 8x16
        for _ in range(2):
            w.write(torch.rand(3, 44, 70))
    item = VideoEvalDataset([tmp_path / "v" / "odd"])[0]
    assert item["lr"].shape[-2:] == (8, 16) and item["hr"].shape[-2:] == (32, 64)


def test_lightning_default_is_table_3_2s_and_short_videos_fall_back(ckpts):
    assert OmegaConf.load(ROOT / "conf/model/base/video.yaml").eval_skip_ends == SKIP_ENDS == 2
    module = VideoSR(load_net(str(ckpts["FRVSR"])))
    assert module.hparams.eval_skip_ends == 2
    hr = torch.rand(1, 6, 3, 32, 64)
    lr = data_mod.degrade(hr)
    module.validation_step({"lr": lr, "hr": hr}, 0)
    with torch.no_grad():
        est = module(lr).clamp(0, 1)
    expected = video_psnr_y(est[0, 2:4], hr[0, 2:4])  # the 6-frame video of the tiny test configs: frames 2, 3
    torch.testing.assert_close(module.val_metrics["psnr_y"].compute(), expected.float())
    module.val_metrics["psnr_y"].reset()
    with pytest.warns(UserWarning, match="too short to skip 2"):  # 4 frames: all scored
        module.validation_step({"lr": lr[:, :4], "hr": hr[:, :4]}, 0)
    torch.testing.assert_close(module.val_metrics["psnr_y"].compute(), video_psnr_y(est[0, :4], hr[0, :4]).float())
    with pytest.raises(ValueError, match="eval_skip_ends must be >= 0"):
        VideoSR(FRVSR(**SMALL), eval_skip_ends=-1)


# --- Fig. 3.7: the ground-truth HR frame as the first previous estimate ----------------------------------------------


def test_initial_estimate_replaces_the_black_first_estimate():
    torch.manual_seed(1)
    net = FRVSR(**SMALL).eval()
    lr, hr = torch.rand(3, 3, 8, 16), torch.rand(3, 3, 32, 64)
    normal = torch.stack(list(stream_upscale(net, lr, scene_cut=None)))
    given = torch.stack(list(stream_upscale(net, lr, scene_cut=None, initial_estimate=hr[0])))
    other = torch.stack(list(stream_upscale(net, lr, scene_cut=None, initial_estimate=hr[1])))
    with torch.no_grad():
        by_hand, _ = net.step(lr[:1], lr[:1], hr[:1])  # frame 0: its own LR as the previous one, HR 0 as estimate
    torch.testing.assert_close(given[0], by_hand[0].clamp(0, 1))
    assert not torch.allclose(given[0], normal[0]) and not torch.allclose(given[0], other[0])
    for cls in (SISR, VSR):
        with pytest.raises(ValueError, match="needs an FRVSR network"):
            next(stream_upscale(cls(**SMALL), lr, initial_estimate=hr[0]))
    with pytest.raises(ValueError, match="one HR frame"):
        next(stream_upscale(net, lr, initial_estimate=hr[0, :, :16]))


def test_gt_first_changes_frvsr_only_and_the_table_says_so(tmp_path, ckpts, capsys):
    videos = _textured(tmp_path / "v")
    argv = ["--ckpt", f"FRVSR={ckpts['FRVSR']}", "--ckpt", f"SISR={ckpts['SISR']}", "--videos", videos]
    normal = _run(tmp_path, *argv, name="n.json")["results"]["clip"]
    capsys.readouterr()
    gt = _run(tmp_path, *argv, "--gt-first", name="g.json")["results"]["clip"]
    out = capsys.readouterr().out
    assert "| clip | FRVSR (GT first) |" in out and "| clip | SISR (as usual: no previous estimate) |" in out
    assert gt["FRVSR"]["psnr_per_frame"][0] != pytest.approx(normal["FRVSR"]["psnr_per_frame"][0], abs=1e-6)
    assert gt["SISR"] == normal["SISR"] and gt["bicubic"] == normal["bicubic"]


# --- Fig. 3.8: start at the N-th frame --------------------------------------------------------------------------------


def test_start_frame_feeds_the_video_from_frame_n(tmp_path, ckpts):
    videos = _textured(tmp_path / "v", frames=7)
    frames_dir = tmp_path / "frames"
    rec = _run(tmp_path, "--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", videos, "--start-frame", 3,
               "--skip-ends", 0, "--save-frames", frames_dir)  # fmt: skip
    info = rec["videos"]["clip"]
    assert info["frames"] == [2, 3, 4, 5, 6] and info["frames_scored"][0] == 2  # N - 1, 0-based
    # the same as the network run on the video cut before frame N-1
    item = VideoEvalDataset([videos / "clip"])[0]
    out = torch.stack(list(stream_upscale(load_net(str(ckpts["FRVSR"])), item["lr"][2:], scene_cut=None)))
    per_frame = rec["results"]["clip"]["FRVSR"]["psnr_per_frame"]
    assert per_frame == pytest.approx(psnr_per_frame(out, item["hr"][2:]).tolist(), abs=1e-6)
    saved = sorted(p.name for p in (frames_dir / "clip" / "FRVSR").iterdir())
    assert saved == [f"{t:06d}.png" for t in range(2, 7)]  # named by the video's frame index
    torch.testing.assert_close(torch.stack(list(read_frames(frames_dir / "clip" / "FRVSR"))),
                               out.mul(255).round().div(255), atol=1e-6, rtol=0)  # fmt: skip
    # and the same numbers as a video that physically starts there
    with VideoWriter(tmp_path / "cut" / "clip") as w:
        w.write(item["hr"][2:])
    cut = _run(tmp_path, "--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", tmp_path / "cut", "--skip-ends", 0,
               name="cut.json")  # fmt: skip
    assert cut["results"]["clip"]["FRVSR"]["psnr_per_frame"] == pytest.approx(per_frame, abs=1e-6)
    assert cut["results"]["clip"]["FRVSR"]["psnr_y"] == pytest.approx(rec["results"]["clip"]["FRVSR"]["psnr_y"])


def test_start_frame_errors(tmp_path, ckpts, capsys):
    videos = _textured(tmp_path / "v", frames=3)
    for extra, message in (
        (["--start-frame", "4"], "--start-frame (4) is past the end of video clip (3 frames)"),
        (["--start-frame", "0"], "--start-frame (0) is 1-based"),
        (["--start-frame", "3", "--max-frames", "2"], "--max-frames (2) must be >= --start-frame (3)"),
        (["--gt-every", "0"], "--gt-every (0) must be >= 1"),
        (["--jpeg-quality", "0"], "--jpeg-quality (0) must be in 1..100"),
        (["--noise-sigma", "-1"], "--noise-sigma (-1.0) must be >= 0"),
        (["--skip-ends", "-1"], "--skip-ends (-1) must be >= 0"),
    ):
        assert evaluate_main(["--ckpt", str(ckpts["FRVSR"]), "--videos", str(videos), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)


# --- Sec. 3.5: the ground-truth HR frame every K-th frame -------------------------------------------------------------


def test_gt_every_k_changes_the_frames_after_each_multiple_of_k():
    torch.manual_seed(1)
    net = FRVSR(**SMALL).eval()
    lr, hr = torch.rand(6, 3, 8, 16), torch.rand(6, 3, 32, 64)
    normal = torch.stack(list(stream_upscale(net, lr, scene_cut=None)))
    k3 = torch.stack(list(stream_upscale(net, lr, scene_cut=None, hr_frames=hr, gt_every=3)))
    torch.testing.assert_close(k3[:3], normal[:3])  # before the first replacement: the normal mode
    assert not torch.allclose(k3[3], normal[3])
    with torch.no_grad():
        by_hand, _ = net.step(lr[2:3], lr[3:4], hr[2:3])  # frame 3 starts from the true HR frame 2
    torch.testing.assert_close(k3[3], by_hand[0].clamp(0, 1))
    with pytest.raises(ValueError, match="gt_every needs"):
        next(stream_upscale(SISR(**SMALL), lr, hr_frames=hr, gt_every=3))


def test_gt_every_through_the_command(tmp_path, ckpts, capsys):
    videos = _textured(tmp_path / "v")
    argv = ["--ckpt", f"FRVSR={ckpts['FRVSR']}", "--ckpt", f"VSR={ckpts['VSR']}", "--videos", videos]
    normal = _run(tmp_path, *argv, name="n.json")["results"]["clip"]
    k2 = _run(tmp_path, *argv, "--gt-every", 2, name="k.json")
    assert "| clip | FRVSR (GT every 2) |" in capsys.readouterr().out
    got, ref = k2["results"]["clip"]["FRVSR"]["psnr_per_frame"], normal["FRVSR"]["psnr_per_frame"]
    assert got[:2] == pytest.approx(ref[:2], abs=1e-9) and got[2] != pytest.approx(ref[2], abs=1e-6)
    assert k2["results"]["clip"]["VSR"] == normal["VSR"]
    assert k2["settings"]["method_notes"] == {"FRVSR": "GT every 2", "VSR": "as usual: no previous estimate"}


# --- Table 3.1: noise and JPEG of the LR input --------------------------------------------------------------------


def test_noise_is_seeded_and_jpeg_changes_the_input(tmp_path, ckpts):
    videos = _textured(tmp_path / "v")
    argv = ["--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", videos]
    a = _run(tmp_path, *argv, "--noise-sigma", 0.05, "--seed", 3, name="a.json")
    b = _run(tmp_path, *argv, "--noise-sigma", 0.05, "--seed", 3, name="b.json")
    c = _run(tmp_path, *argv, "--noise-sigma", 0.05, "--seed", 4, name="c.json")
    clean = _run(tmp_path, *argv, name="clean.json")
    assert a["results"] == b["results"] and a["settings"]["seed"] == 3 and a["settings"]["noise_sigma"] == 0.05
    for method in ("bicubic", "FRVSR"):
        assert c["results"]["clip"][method]["psnr_y"] != a["results"]["clip"][method]["psnr_y"]
        assert clean["results"]["clip"][method]["psnr_y"] > a["results"]["clip"][method]["psnr_y"]
    jpeg = _run(tmp_path, *argv, "--jpeg-quality", 20, name="j.json")
    assert jpeg["results"]["clip"]["bicubic"]["psnr_y"] < clean["results"]["clip"]["bicubic"]["psnr_y"]
    # the dataset the command builds: JPEG applied to the blurred, subsampled frames
    plain, coded = VideoEvalDataset([videos / "clip"])[0], VideoEvalDataset([videos / "clip"], jpeg_quality=20)[0]
    torch.testing.assert_close(coded["lr"], jpeg_compress(plain["lr"], 20))
    assert (coded["lr"] - plain["lr"]).abs().max() > 0.01


# --- outputs: --json, --csv, --save-frames, --overwrite ---------------------------------------------------------------


def test_json_records_checkpoint_hashes_and_frames(tmp_path, ckpts):
    rec = _run(tmp_path, "--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", _textured(tmp_path / "v"))
    sha = hashlib.sha256(Path(ckpts["FRVSR"]).read_bytes()).hexdigest()[:16]
    assert rec["settings"]["checkpoints"]["FRVSR"] == {"path": str(ckpts["FRVSR"]), "sha256": sha, "class": "FRVSR"}
    assert rec["videos"]["clip"]["frames"] == list(range(6)) and rec["videos"]["clip"]["frames_scored"] == [2, 3]
    for key in ("noise_sigma", "jpeg_quality", "seed", "gt_first", "gt_every", "start_frame", "skip_ends", "csv"):
        assert key in rec["settings"]


def test_csv_has_one_row_per_video_and_method(tmp_path, ckpts):
    videos = _textured(tmp_path / "v", frames=6)
    _textured(videos, frames=5, name="other")
    out = tmp_path / "t.csv"
    argv = ["--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", str(videos), "--json", str(tmp_path / "e.json")]
    assert evaluate_main([*argv, "--csv", str(out)]) == 0  # with the flicker measure
    rows = list(csv.DictReader(out.open()))
    pairs = [(v, m) for v in ("clip", "other") for m in ("bicubic", "FRVSR")]
    assert [(r["video"], r["method"]) for r in rows] == pairs
    rec = json.loads((tmp_path / "e.json").read_text())["results"]
    for r in rows:
        got = rec[r["video"]][r["method"]]
        assert float(r["psnr_y"]) == pytest.approx(got["psnr_y"], abs=1e-4)
        assert float(r["ssim_y"]) == pytest.approx(got["ssim_y"], abs=1e-6)
    # clip: 6 frames, 2 scored -> a flicker value; other: 5 frames, 1 scored -> no flicker (it needs two)
    assert [r["frames_scored"] for r in rows] == ["2", "2", "1", "1"]
    assert rows[0]["flicker"] != "" and rows[2]["flicker"] == "" and rec["other"]["FRVSR"]["flicker"] is None
    before = out.read_text()
    assert evaluate_main([*argv[:4], "--csv", str(out)]) == 2 and out.read_text() == before  # no --overwrite


def test_save_frames_is_all_or_nothing_and_overwrite_replaces_only_our_frames(tmp_path, ckpts, capsys, monkeypatch):
    videos = _textured(tmp_path / "v", frames=6)
    _textured(videos, frames=6, name="other")
    dst = tmp_path / "frames"
    argv = ["--ckpt", f"FRVSR={ckpts['FRVSR']}", "--videos", str(videos), "--no-flicker", "--save-frames", str(dst)]
    assert evaluate_main(argv) == 0
    for video in ("clip", "other"):
        for method in ("bicubic", "FRVSR"):
            assert sorted(p.name for p in (dst / video / method).iterdir()) == [f"{t:06d}.png" for t in range(6)]
    stamp = (dst / "clip" / "FRVSR" / "000000.png").stat().st_mtime_ns
    assert evaluate_main(argv) == 2 and "pass --overwrite" in capsys.readouterr().err  # kept
    assert (dst / "clip" / "FRVSR" / "000000.png").stat().st_mtime_ns == stamp

    # a failure during the second video: nothing new appears, the old frames stay
    calls = {"n": 0}
    real = metrics.psnr_per_frame

    def failing(est, hr, crop=0):
        calls["n"] += 1
        if calls["n"] > 2:  # bicubic and FRVSR of the first video pass
            raise ValueError("simulated failure")
        return real(est, hr, crop)

    monkeypatch.setattr(metrics, "psnr_per_frame", failing)
    assert evaluate_main([*argv, "--overwrite"]) == 2 and "simulated failure" in capsys.readouterr().err
    monkeypatch.undo()
    assert (dst / "clip" / "FRVSR" / "000000.png").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "v"]  # no partial folder left

    assert evaluate_main([*argv, "--overwrite"]) == 0  # replaced when complete
    assert (dst / "clip" / "FRVSR" / "000000.png").stat().st_mtime_ns != stamp

    mine = tmp_path / "mine"  # a folder of the user's is never replaced
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert evaluate_main([*argv[:-1], str(mine), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep"


def test_outputs_must_differ_and_labels_must_be_unique(tmp_path, ckpts, capsys):
    base = ["--ckpt", f"A={ckpts['FRVSR']}", "--videos", str(_textured(tmp_path / "v", frames=2))]
    same = str(tmp_path / "x")
    for extra, message in (
        (["--json", same, "--csv", same], "must name different paths"),
        (["--csv", str(ckpts["FRVSR"]), "--overwrite"], "is one of the --ckpt files"),
        (["--ckpt", f"A={ckpts['SISR']}"], "'A' is repeated"),
        (["--ckpt", f"bicubic={ckpts['SISR']}"], "'bicubic' is reserved"),
        (["--ckpt", f"a/b={ckpts['SISR']}"], "holds a path separator"),
    ):
        assert evaluate_main([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
