"""tools/evaluate.py end to end: a tiny trained checkpoint, the markdown table, and its errors."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness import compose_cfg, load_train_module
from omegaconf import open_dict
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio

from gen_common.embedded import embedded_images
from gen_common.images import save_image

ROOT = Path(__file__).resolve().parents[2]
EVALUATE = ROOT / "tools" / "evaluate.py"
ENV = os.environ | {"PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "2"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A 3-step EnhanceNet-E with a tiny generator, trained by tools/train.py (in-process, via the harness) as
    ``tools/train.py model=enhancenet_e trainer=debug logger=none ... test=false hydra.run.dir=<tmp>`` would."""
    out = tmp_path_factory.mktemp("run")
    overrides = [
        "model=enhancenet_e",
        "trainer=debug",
        "logger=none",
        "data.batch_size=2",
        "data.num_workers=0",
        "model.num_blocks=2",
        "model.num_filters=8",
        "test=false",
    ]
    cfg = compose_cfg(overrides, out)
    with open_dict(cfg):
        del cfg["hydra"]
    load_train_module().train(cfg)
    path = out / "checkpoints" / "last.ckpt"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    """Two small 8-bit HR images whose sizes are not multiples of 4 (exercises the crop)."""
    root = tmp_path_factory.mktemp("bench") / "TinySet"
    (name_a, a), _, (name_b, b) = embedded_images("eval")
    save_image(a[:, :101, :143], root / f"{name_a}.png")
    save_image(b[:, 50:170, 30:227], root / f"{name_b}.png")
    return root


def evaluate_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", EVALUATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate_main():
    return evaluate_tool().main


def test_downsample_choices_are_the_librarys():
    """The parser writes the names out (so that --help loads no torch); they must stay sr_image.data's."""
    from sr_image.data import DOWNSAMPLERS

    assert set(evaluate_tool().DOWNSAMPLE_METHODS) == set(DOWNSAMPLERS)


def skimage_bicubic_psnr(folder: Path, scale: int) -> float:
    """Independent reference: bicubic down/up in torch, 8-bit, scikit-image's Y (BT.601) and PSNR, border crop."""
    values = []
    for path in sorted(folder.glob("*.png")):
        hr8 = np.asarray(Image.open(path).convert("RGB"))
        h, w = (hr8.shape[0] // scale) * scale, (hr8.shape[1] // scale) * scale
        hr8 = hr8[:h, :w]
        hr = torch.from_numpy(hr8.astype(np.float32) / 255).permute(2, 0, 1)[None]
        lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True).clamp(0, 1)
        up = F.interpolate(lr, scale_factor=scale, mode="bicubic", antialias=True).clamp(0, 1)
        up8 = up[0].permute(1, 2, 0).mul(255).round().byte().numpy()
        c = slice(scale, -scale)
        y_hr, y_up = rgb2ycbcr(hr8)[c, c, 0], rgb2ycbcr(up8)[c, c, 0]
        values.append(peak_signal_noise_ratio(y_hr, y_up, data_range=255))
    return float(np.mean(values))


def parse_tables(stdout: str) -> dict[str, dict[str, list[str]]]:
    """The markdown tables by measure ("PSNR", "SSIM", "HF"): header cells and rows by set name."""
    tables, current = {}, None
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[1] == "Images":
            current = tables.setdefault(cells[0].split()[1], {"header": cells[2:]})
        elif current is not None and len(cells) > 2 and re.fullmatch(r"\d+", cells[1]):
            current[cells[0]] = cells[1:]
    return tables


def test_evaluate_table_matches_skimage(ckpt, hr_folder, tmp_path, capsys):
    # In-process (the CLI entry itself is exercised by the subprocess test below): saves an interpreter start.
    args = ["--ckpt", str(ckpt), "--ckpt", f"again={ckpt}", "--sets", "embedded", str(hr_folder), "--device", "cpu"]
    args += ["--lpips-weights", "random"]  # (no ImageNet AlexNet offline; the metric itself: sr-image test_lpips)
    assert evaluate_main()([*args, "--json", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()
    tables = parse_tables(out)
    assert "TinySet: " in err and "img" in err  # a progress bar per set, on stderr (cleared when done)
    assert set(tables) == {"PSNR", "SSIM", "HF", "LPIPS"}
    run = ckpt.parent.parent.name  # default label: the run folder
    for table in tables.values():
        assert table.pop("header") == ["Bicubic", run, "again"]
        assert set(table) == {"embedded", "TinySet"}
        assert table["embedded"][0] == "3" and table["TinySet"][0] == "2"
        for _n, _bicubic, ours, again in table.values():
            assert ours == again  # the same checkpoint twice
    for _n, bicubic, ours, _ in tables["PSNR"].values():
        assert 15 < float(bicubic) < 60 and float(ours) > 0
    for _n, bicubic, ours, _ in tables["SSIM"].values():
        assert 0 < float(bicubic) <= 1 and -1 <= float(ours) <= 1
    assert float(tables["PSNR"]["TinySet"][1]) == pytest.approx(skimage_bicubic_psnr(hr_folder, 4), abs=0.01)
    for _n, bicubic, ours, _ in tables["LPIPS"].values():
        assert float(bicubic) > 0 and float(ours) > 0  # a distance: > 0 for an image that is not the HR one
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["settings"]["ckpt"] == {run: str(ckpt), "again": str(ckpt)}
    assert record["settings"]["downsample"] == "bicubic"
    assert float(tables["HF"]["TinySet"][1]) == pytest.approx(
        record["sets"]["TinySet"]["Bicubic"]["hf_ratio"], abs=5e-4
    )

    # all or nothing: an existing --json is refused before any work, and kept
    assert evaluate_main()([*args, "--json", str(tmp_path / "r.json")]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text()) == record


def test_pil_lanczos_inputs_and_panels(ckpt, tmp_path, capsys):
    """--downsample pil_lanczos (the authors' inputs): other LR images, so other numbers. --panels: one row of
    LR | Bicubic | model | HR crops per image."""
    psnr = {}
    for method in ("bicubic", "pil_lanczos"):
        panels = tmp_path / f"{method}.png"
        args = ["--ckpt", f"m={ckpt}", "--downsample", method, "--panels", str(panels), "--panel-size", "40"]
        args += ["--lpips-weights", "none"]
        assert evaluate_main()(args) == 0
        out = capsys.readouterr().out
        assert f"LR inputs: {method} downsampling" in out and "LR nearest | Bicubic | m | HR" in out
        psnr[method] = parse_tables(out)["PSNR"]["embedded"]
        assert "LPIPS" not in parse_tables(out)
        assert Image.open(panels).size == (4 * 40 + 5 * 4, 3 * 40 + 4 * 4)  # 4 columns, 3 images, 4 px padding
    assert psnr["bicubic"] != psnr["pil_lanczos"]
    assert evaluate_main()(["--ckpt", str(ckpt), "--panels", str(tmp_path / "p.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_foreign_checkpoint_exit_2(tmp_path):
    """Through the real command line: exit code 2, one line naming the file, no traceback."""
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"foo.weight": torch.zeros(1)}}, path)
    proc = subprocess.run(
        [sys.executable, str(EVALUATE), "--ckpt", str(path)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "not an EnhanceNet checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_lpips_weights_unavailable_offline_exit_2_before_the_work(ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache; downloads go to a closed port
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert evaluate_main()(["--ckpt", str(ckpt), "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "alexnet pretrained weights are needed for LPIPS" in err and "--lpips-weights=random" in err
    assert "--lpips-weights" in err and not (tmp_path / "r.json").exists()


def test_missing_inputs_exit_2(ckpt, tmp_path, capsys):
    main = evaluate_main()
    missing = tmp_path / "Set5"
    assert main(["--ckpt", str(ckpt), "--sets", "embedded", str(missing)]) == 2
    assert f"benchmark folder {missing} does not exist" in capsys.readouterr().err

    assert main(["--ckpt", str(tmp_path / "nope.ckpt")]) == 2
    assert "nope.ckpt does not exist" in capsys.readouterr().err

    assert main(["--ckpt", str(ckpt), "--recognition", str(missing)]) == 2
    assert f"recognition folder {missing} does not exist" in capsys.readouterr().err

    assert main(["--ckpt", str(ckpt), "--scale", "2"]) == 2
    assert "does not match the checkpoint's scale 4" in capsys.readouterr().err

    assert main(["--ckpt", f"a={ckpt}", "--ckpt", f"a={ckpt}"]) == 2
    assert "the label 'a' is repeated" in capsys.readouterr().err
