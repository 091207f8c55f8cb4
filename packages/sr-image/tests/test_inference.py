"""Tiled upscaling (sr_image.inference) and the sr-upscale CLI (sr_image.cli)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from sr_image.cli import upscale_main
from sr_image.inference import context_margin, upscale_tiled
from sr_image.nets import EnhanceNetGenerator, bicubic_upsample

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convs on a shared 2-core machine: one thread avoids OpenMP contention (about 10x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_generator(scale: int = 4, num_blocks: int = 2, seed: int = 0) -> EnhanceNetGenerator:
    """Random weights and (unlike xavier_init) non-zero biases, so every layer shapes the output."""
    torch.manual_seed(seed)
    gen = EnhanceNetGenerator(scale, num_blocks, num_filters=8)
    for m in gen.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.bias, 0.05, 0.05)
    return gen.eval()


@pytest.mark.parametrize("scale,num_blocks", [(4, 2), (2, 1), (4, 0)])
def test_context_margin_is_the_receptive_field(scale, num_blocks):
    """Independent check: the support of d(HR pixel)/d(LR) reaches exactly context_margin pixels away."""
    gen = random_generator(scale, num_blocks).double()
    margin = context_margin(gen)
    n, c, reach = 2 * margin + 7, margin + 3, 0
    for y in range(scale):  # every HR pixel phase within one LR pixel
        lr = torch.rand(1, 3, n, n, dtype=torch.float64, requires_grad=True)
        gen(lr)[0, :, c * scale + y, c * scale + y].sum().backward()
        reach = max(reach, int((lr.grad.abs().sum((0, 1)).nonzero() - c).abs().max()))
    assert reach == margin == 2 * num_blocks + 3


@pytest.mark.parametrize("tile,overlap", [(24, None), (31, 10)])
def test_tiled_equals_whole_image(tile, overlap):
    gen = random_generator()
    lr = torch.rand(1, 3, 70, 53)
    with torch.no_grad():
        ref = gen(lr).clamp(0, 1)
    out = upscale_tiled(gen, lr, tile=tile, overlap=overlap)
    assert out.shape == (1, 3, 280, 212)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_too_small_overlap_shows_seams():
    """The equality test above is not vacuous: without context the tiles differ from the whole image."""
    gen = random_generator()
    lr = torch.rand(1, 3, 70, 53)
    with torch.no_grad():
        ref = gen(lr).clamp(0, 1)
    assert (upscale_tiled(gen, lr, tile=24, overlap=0) - ref).abs().max() > 1e-3


def test_zero_residual_gives_bicubic_through_tiles():
    gen = random_generator()
    torch.nn.init.zeros_(gen.to_residual.weight)
    torch.nn.init.zeros_(gen.to_residual.bias)
    lr = torch.rand(3, 70, 53)
    out = upscale_tiled(gen, lr, tile=24)  # (3, H, W) in, (3, sH, sW) out
    assert out.shape == (3, 280, 212)
    torch.testing.assert_close(out, bicubic_upsample(lr[None], 4)[0].clamp(0, 1), atol=1e-6, rtol=0)


def test_uint8_output_is_the_saved_quantisation():
    gen, lr = random_generator(), torch.rand(1, 3, 37, 29)
    as_float = upscale_tiled(gen, lr, tile=30)
    as_uint8 = upscale_tiled(gen, lr, tile=30, out_dtype=torch.uint8)
    assert as_uint8.dtype == torch.uint8 and as_uint8.shape == as_float.shape
    assert torch.equal(as_uint8, as_float.mul(255).round().to(torch.uint8))  # what save_image writes


def test_small_image_runs_whole_and_bad_input_raises():
    gen = random_generator()
    lr = torch.rand(1, 3, 5, 9)
    out = upscale_tiled(gen, lr, tile=16, overlap=100)  # fits in one tile: overlap is irrelevant
    assert out.shape == (1, 3, 20, 36) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="shape"):
        upscale_tiled(gen, torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="2 \\* overlap"):
        upscale_tiled(gen, torch.rand(1, 3, 40, 40), tile=14, overlap=7)


# ---- CLI ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real EnhanceNet checkpoint from a 3-step run of tools/train.py (tiny network)."""
    run = tmp_path_factory.mktemp("train_run")
    cmd = [sys.executable, "tools/train.py", "model=enhancenet_e", "trainer=debug", "logger=none"]
    cmd += ["data.batch_size=2", "data.num_workers=0", "model.num_blocks=2", "model.num_filters=8", "test=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, f"hydra.run.dir={run}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(skdata.camera()[100:145, 200:251]).save(folder / "grey.png")  # mode L, 45x51
    Image.fromarray(skdata.logo()[150:187, 150:190]).save(folder / "sub" / "rgba.png")  # mode RGBA, 37x40
    (folder / "broken.png").write_bytes(np.random.default_rng(0).bytes(500))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_folder(checkpoint, image_folder, capsys):
    inputs = snapshot(image_folder)
    args = ["--ckpt", str(checkpoint), str(image_folder), "--tile", "24", "--device", "cpu"]
    assert upscale_main(args) == 1
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "skipped 1" in captured.err
    out = image_folder.parent / "photos_x4"  # default output folder
    assert Image.open(out / "grey.png").size == (51 * 4, 45 * 4)
    assert Image.open(out / "sub" / "rgba.png").size == (40 * 4, 37 * 4)
    assert Image.open(out / "grey.png").mode == "RGB"
    assert sorted(snapshot(out)) == ["grey.png", "sub/rgba.png"]
    assert snapshot(image_folder) == inputs

    outputs = snapshot(out)
    assert upscale_main(args) == 2  # outputs exist and no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert snapshot(out) == outputs and snapshot(image_folder) == inputs
    assert upscale_main([*args, "--overwrite"]) == 1
    assert snapshot(out) == outputs  # deterministic: the same bytes again


def test_cli_single_file_and_errors(checkpoint, image_folder, tmp_path, capsys):
    ckpt = ["--ckpt", str(checkpoint), "--device", "cpu"]
    assert upscale_main([*ckpt, str(image_folder / "grey.png")]) == 0
    assert Image.open(image_folder / "grey_x4.png").size == (204, 180)
    assert upscale_main([*ckpt, str(image_folder / "grey.png")]) == 2
    assert "grey_x4.png already exists" in capsys.readouterr().err

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}, "hyper_parameters": {}}, foreign)
    changed, truncated = tmp_path / "changed.ckpt", tmp_path / "truncated.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    state["hyper_parameters"]["num_blocks"] = 3  # settings no longer those of the weights
    torch.save(state, changed)
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    cases = [
        (["--ckpt", str(foreign), str(image_folder)], "not an EnhanceNet checkpoint"),
        (["--ckpt", str(changed), str(image_folder)], "do not match its settings {'scale': 4, 'num_blocks': 3"),
        (["--ckpt", str(truncated), str(image_folder)], "not a readable PyTorch checkpoint"),
        (["--ckpt", str(tmp_path / "missing.ckpt"), str(image_folder)], "does not exist"),
        ([*ckpt, str(tmp_path / "nowhere")], "nowhere does not exist"),
        ([*ckpt, str(image_folder / "broken.png")], "broken.png"),
        ([*ckpt, str(image_folder / "grey.png"), "-o", str(tmp_path / "x.jpg")], "must end in .png"),
        ([*ckpt, str(image_folder / "grey.png"), "-o", str(image_folder / "grey.png"), "--overwrite"], "input"),
    ]
    for argv, message in cases:
        assert upscale_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_cli_residual_images_of_fig_2_12(checkpoint, tmp_path, capsys):
    """A generator whose residual branch is zero outputs its bicubic base: its residual image is mid-grey."""
    ckpt = torch.load(checkpoint, weights_only=True)
    for key in ("generator.to_residual.weight", "generator.to_residual.bias"):
        ckpt["state_dict"][key].zero_()
    zero = tmp_path / "zero.ckpt"
    torch.save(ckpt, zero)
    src = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()[:40, :48]).save(src)
    assert upscale_main(["--ckpt", str(zero), str(src), "--residual", "--device", "cpu"]) == 0
    residual = np.asarray(Image.open(tmp_path / "astronaut_x4_residual.png")).astype(int)
    assert residual.shape == (160, 192, 3) and np.abs(residual - 128).max() <= 1  # 0.5 (+ the output's rounding)
    # the trained checkpoint adds something, so its residual image is not flat; both outputs are checked up front
    assert upscale_main(["--ckpt", str(checkpoint), str(src), "--residual", "--overwrite"]) == 0
    assert np.asarray(Image.open(tmp_path / "astronaut_x4_residual.png")).std() > 0.5
    (tmp_path / "astronaut_x4.png").unlink()
    assert upscale_main(["--ckpt", str(checkpoint), str(src), "--residual"]) == 2  # the residual file exists
    assert "astronaut_x4_residual.png already exists" in capsys.readouterr().err


def test_cli_compile_falls_back_to_eager_with_a_note_and_the_same_output(checkpoint, image_folder, tmp_path,
                                                                        capsys, monkeypatch):  # fmt: skip
    # (compiled == eager itself: sr-video's test_inference, through the same gen_common.compiled wrapper)
    from gen_common import compiled

    src = str(image_folder / "grey.png")
    base = ["--ckpt", str(checkpoint), "--device", "cpu", src, "--tile", "24"]
    assert upscale_main([*base, "-o", str(tmp_path / "eager.png")]) == 0

    def cannot_compile(module, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("inductor: no working C++ compiler")

        return run

    monkeypatch.setattr(compiled.torch, "compile", cannot_compile)
    assert upscale_main([*base, "-o", str(tmp_path / "compiled.png"), "--compile"]) == 0
    err = capsys.readouterr().err
    assert err.count("torch.compile of the EnhanceNet generator failed") == 1 and "running it eagerly" in err
    assert (tmp_path / "compiled.png").read_bytes() == (tmp_path / "eager.png").read_bytes()
