"""``sr-video-evaluate --outputs LABEL=FOLDER``: other methods' published frames scored as ours are (Table 3.2).

Real PNG videos of 8 frames at 32x48 (HR cropped to 32x32, LR 8x8), a tiny random SISR checkpoint for --ckpt.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gen_common.images import save_image
from sr_image.nets import bicubic_upsample
from sr_video import inference
from sr_video.data import VideoEvalDataset
from sr_video.evaluate import main as evaluate_main
from sr_video.nets import SISR
from sr_video.video_io import VideoWriter

T = 8


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A folder of one 8-frame video 'clip' (a texture moving one pixel per frame) and a tiny SISR checkpoint."""
    root = tmp_path_factory.mktemp("prior")
    g = torch.Generator().manual_seed(1)
    base = torch.rand(3, 32, 48, generator=g)
    with VideoWriter(root / "videos" / "clip") as w:
        for t in range(T):
            w.write(torch.roll(base, t, dims=-1))
    torch.manual_seed(0)
    net = SISR(scale=4, num_blocks=1, num_filters=8)
    spec = {"class": "sr_video.nets.SISR", "scale": 4, "num_blocks": 1, "num_filters": 8}
    ckpt = root / "sisr.ckpt"
    torch.save({"net": spec, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, ckpt)
    item = VideoEvalDataset([root / "videos" / "clip"])[0]  # the LR input and cropped HR the command makes
    return {"videos": root / "videos", "ckpt": ckpt, "lr": item["lr"], "hr": item["hr"]}


def _run(tmp_path, setup, *extra, flicker=False):
    out = tmp_path / "e.json"
    argv = ["--ckpt", f"S={setup['ckpt']}", "--videos", str(setup["videos"]), *map(str, extra)]
    argv += ["--json", str(out), "--csv", str(tmp_path / "e.csv"), "--overwrite"]
    assert evaluate_main(argv + ([] if flicker else ["--no-flicker"])) == 0
    return json.loads(out.read_text())


def _pil_bicubic(lr: torch.Tensor) -> list[np.ndarray]:
    """An independent bicubic: PIL's, on the 8-bit LR frames."""
    frames = lr.mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    return [np.asarray(Image.fromarray(f).resize((f.shape[1] * 4, f.shape[0] * 4), Image.BICUBIC)) for f in frames]


def _write(folder: Path, frames: list[np.ndarray], first: int = 0) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i + first}.png")  # unpadded numbers: sorted as numbers
    return folder.parent


def _psnr_y_by_hand(est: list[np.ndarray], hr: list[np.ndarray]) -> float:
    """Video PSNR on BT.601 Y (one MSE over all frames), numpy float64."""
    w = np.array([65.481, 128.553, 24.966]) / 255
    err = [(e.astype(np.float64) - h.astype(np.float64)) @ w for e, h in zip(est, hr, strict=True)]
    return 10 * np.log10(255**2 / np.mean(np.square(err)))


def test_pil_bicubic_outputs_score_as_by_hand_and_our_bicubic_saved_scores_as_the_bicubic_row(tmp_path, setup):
    pil = _pil_bicubic(setup["lr"])
    hr = [np.asarray(Image.open(p).convert("RGB"))[:, 8:40] for p in sorted((setup["videos"] / "clip").iterdir())]
    padded = []  # the uncropped HR size (32x48): cropped as the HR frames are (8 columns each side)
    for f in pil:
        big = np.zeros((32, 48, 3), np.uint8)
        big[:, 8:40] = f
        padded.append(big)
    ours = tmp_path / "ours" / "clip"
    for t, frame in enumerate(bicubic_upsample(setup["lr"], 4).clamp(0, 1)):
        save_image(frame, ours / f"{t:03d}.png")
    rec = _run(tmp_path, setup, "--outputs", f"PIL={_write(tmp_path / 'pil' / 'clip', pil, first=1)}",
               "--outputs", f"PAD={_write(tmp_path / 'pad' / 'clip', padded)}", "--outputs", f"OURS={ours.parent}",
               flicker=True)  # fmt: skip
    res = rec["results"]["clip"]
    assert res["PIL"]["psnr_y"] == pytest.approx(_psnr_y_by_hand(pil[2:-2], hr[2:-2]), abs=0.01)
    assert res["PAD"] == res["PIL"]
    assert res["OURS"] == res["bicubic"]  # the same 8-bit frames: every number, per-frame PSNR and flicker too
    assert rec["settings"]["prior_outputs"]["PIL"]["files"] == {"clip": T}
    assert rec["settings"]["prior_outputs"]["PIL"]["folder"] == str(tmp_path / "pil")
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["bicubic", "S", "PIL", "PAD", "OURS"]


def test_t_minus_4_frames_are_frames_2_to_t_minus_3_and_score_as_t_frames(tmp_path, setup):
    pil = _pil_bicubic(setup["lr"])
    full = _write(tmp_path / "full" / "clip", pil)
    short = _write(tmp_path / "short" / "clip", pil[2:-2], first=1)
    rec = _run(tmp_path, setup, "--outputs", f"FULL={full}", "--outputs", f"SHORT={short}", flicker=True)
    res = rec["results"]["clip"]
    for key in ("psnr_y", "ssim_y", "flicker"):
        assert res["SHORT"][key] == pytest.approx(res["FULL"][key], abs=1e-9), key
    assert res["SHORT"]["psnr_per_frame"][:2] == [None, None] and res["SHORT"]["psnr_per_frame"][-2:] == [None, None]
    assert res["SHORT"]["psnr_per_frame"][2:-2] == pytest.approx(res["FULL"]["psnr_per_frame"][2:-2])
    assert rec["settings"]["prior_outputs"]["SHORT"]["first_frame"] == {"clip": 2}


def test_every_error_exits_2_before_any_work(tmp_path, setup, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("upscaling started")

    monkeypatch.setattr(inference, "stream_upscale", no_work)
    pil = _pil_bicubic(setup["lr"])
    good = _write(tmp_path / "good" / "clip", pil)
    (tmp_path / "empty").mkdir()
    few = _write(tmp_path / "few" / "clip", pil[:5])
    bad = _write(tmp_path / "bad" / "clip", pil)
    (bad / "clip" / "frame_3.png").write_bytes(b"not a png")
    small = _write(tmp_path / "small" / "clip", [f[:16, :16] for f in pil])
    short = _write(tmp_path / "short" / "clip", pil[2:-2])
    for outputs, extra, message in (
        ([f"S={good}"], [], "'S' is also a --ckpt label"),
        ([f"bicubic={good}"], [], "'bicubic' is reserved"),
        ([f"A={good}", f"A={good}"], [], "'A' is repeated"),
        ([str(good)], [], "expected LABEL=FOLDER"),
        ([f"A={tmp_path / 'nowhere'}"], [], "does not exist"),
        ([f"A={tmp_path / 'empty'}"], [], "no subfolder clip/"),
        ([f"A={few}"], [], "holds 5 images but video clip has 8 frames"),
        ([f"A={bad}"], [], "frame_3.png"),
        ([f"A={small}"], [], "is 16x16 but the HR frames of clip are 32x32"),
        ([f"A={short}"], ["--skip-ends", "1"], "frames 1..6 are scored"),
    ):
        argv = ["--ckpt", f"S={setup['ckpt']}", "--videos", str(setup["videos"]), "--json", str(tmp_path / "x.json")]
        argv += [a for o in outputs for a in ("--outputs", o)] + extra
        assert evaluate_main(argv) == 2, outputs
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sr-video-evaluate: error: --outputs"), err
        assert message in err[0], (message, err)
    assert not (tmp_path / "x.json").exists()
