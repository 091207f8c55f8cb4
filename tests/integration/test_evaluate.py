"""tools/evaluate.py end to end: a tiny trained checkpoint, the markdown table, and its errors."""

import csv
import hashlib
import importlib.util
import json
import os
import re
import shutil
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


def read_hr8(path: Path, scale: int) -> np.ndarray:
    """An HR image as 8-bit RGB, bottom/right cropped to a multiple of ``scale`` (the benchmark convention)."""
    hr8 = np.asarray(Image.open(path).convert("RGB"))
    return hr8[: (hr8.shape[0] // scale) * scale, : (hr8.shape[1] // scale) * scale]


def skimage_psnr_y(hr8: np.ndarray, up8: np.ndarray, scale: int) -> float:
    """scikit-image's Y (BT.601, MATLAB's rgb2ycbcr) and PSNR of 8-bit RGB images, ``scale`` border pixels cropped."""
    c = slice(scale, -scale)
    return float(peak_signal_noise_ratio(rgb2ycbcr(hr8)[c, c, 0], rgb2ycbcr(up8)[c, c, 0], data_range=255))


def skimage_bicubic_psnr(folder: Path, scale: int) -> float:
    """Independent reference: bicubic down/up in torch, 8-bit, scikit-image's Y (BT.601) and PSNR, border crop."""
    values = []
    for path in sorted(folder.glob("*.png")):
        hr8 = read_hr8(path, scale)
        h, w = hr8.shape[:2]
        hr = torch.from_numpy(hr8.astype(np.float32) / 255).permute(2, 0, 1)[None]
        lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True).clamp(0, 1)
        up = F.interpolate(lr, scale_factor=scale, mode="bicubic", antialias=True).clamp(0, 1)
        up8 = up[0].permute(1, 2, 0).mul(255).round().byte().numpy()
        values.append(skimage_psnr_y(hr8, up8, scale))
    return float(np.mean(values))


def pil_bicubic_outputs(hr_folder: Path, out: Path, scale: int = 4) -> dict[str, Path]:
    """Someone else's "published results": PIL's bicubic down and up on the 8-bit HR images (independent of the
    tool's torch bicubic), named as other tools name them: ``<stem>.bmp`` for the first image, ``<stem>_x4.png`` for
    the others. Returns {HR file name: output file}."""
    out.mkdir(parents=True)
    files = {}
    for k, path in enumerate(sorted(hr_folder.glob("*.png"))):
        hr = Image.fromarray(read_hr8(path, scale))
        lr = hr.resize((hr.width // scale, hr.height // scale), Image.Resampling.BICUBIC)
        files[path.name] = out / (f"{path.stem}.bmp" if k == 0 else f"{path.stem}_x{scale}.png")
        lr.resize(hr.size, Image.Resampling.BICUBIC).save(files[path.name])
    return files


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

    assert main(["--ckpt", str(ckpt), "--device", "bogus"]) == 2  # was a RuntimeError traceback
    assert "--device bogus: not a device name" in capsys.readouterr().err

    assert main(["--ckpt", str(ckpt), "--recognition", str(missing)]) == 2
    assert f"recognition folder {missing} does not exist" in capsys.readouterr().err

    assert main(["--ckpt", str(ckpt), "--scale", "2"]) == 2
    assert "does not match the checkpoint's scale 4" in capsys.readouterr().err

    assert main(["--ckpt", f"a={ckpt}", "--ckpt", f"a={ckpt}"]) == 2
    assert "the label 'a' is repeated" in capsys.readouterr().err


# ---- other methods' outputs (--outputs), --csv, --save-images ----------------------------------------------------


def test_prior_outputs_scored_as_skimage_and_csv_equals_json(ckpt, hr_folder, tmp_path, capsys):
    """A folder of another method's results is paired by name and scored like the checkpoints: its PSNR equals
    scikit-image's on those files; a set it has no outputs for shows "—"; --csv holds the --json numbers."""
    prior = pil_bicubic_outputs(hr_folder, tmp_path / "pil_results")
    save_image(torch.rand(3, 24, 24), tmp_path / "pil_results" / "notes.png")  # pairs with nothing: ignored
    other = tmp_path / "Other"  # a second set without PIL outputs
    other.mkdir()
    first = sorted(hr_folder.glob("*.png"))[0]
    shutil.copy(first, other / first.name)
    js, cs, panels = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "p.png"
    args = ["--ckpt", f"m={ckpt}", "--sets", str(hr_folder), str(other), "--lpips-weights", "none", "--device", "cpu"]
    args += ["--outputs", f"PIL={hr_folder.name}:{prior[first.name].parent}", "--json", str(js), "--csv", str(cs)]
    assert evaluate_main()([*args, "--panels", str(panels), "--panel-size", "40"]) == 0
    out = capsys.readouterr().out
    assert "PIL: " in out and "2 outputs for TinySet, 1 unpaired ignored" in out
    tables = parse_tables(out)
    for table in tables.values():
        assert table["header"] == ["Bicubic", "m", "PIL"]
        assert table["Other"][3] == "—" and table["TinySet"][3] != "—"
    record = json.loads(js.read_text())
    ref = {name: skimage_psnr_y(read_hr8(hr_folder / name, 4), np.asarray(Image.open(f).convert("RGB")), 4)
           for name, f in prior.items()}  # fmt: skip
    per_image = record["sets"]["TinySet"]["PIL"]["per_image"]
    assert {name: v["psnr"] for name, v in per_image.items()} == pytest.approx(ref, abs=1e-4)
    assert float(tables["PSNR"]["TinySet"][3]) == pytest.approx(np.mean(list(ref.values())), abs=0.01)
    assert "PIL" not in record["sets"]["Other"]
    # the JSON records what changes the numbers: scoring conventions, checkpoint hash, outputs folder and pairing
    settings = record["settings"]
    scoring = settings["scoring"]
    assert scoring["scale"] == 4 and scoring["border_crop_px"] == 4 and scoring["lr_downsampler"] == "bicubic"
    assert scoring["y"].startswith("BT.601 studio range, as MATLAB rgb2ycbcr") and scoring["lpips"] is None
    assert settings["models"]["m"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    assert settings["outputs"]["PIL"]["TinySet"] | {"pairs": None} == {
        "path": str(prior[first.name].parent.resolve()), "files": 2, "unpaired_ignored": 1, "pairs": None,
    }  # fmt: skip
    assert settings["outputs"]["PIL"]["TinySet"]["pairs"] == {name: f.name for name, f in prior.items()}
    # --csv: a row per set and method, the --json numbers exactly
    rows = list(csv.DictReader(cs.open()))
    assert [(r["set"], r["method"], r["kind"]) for r in rows] == [
        ("TinySet", "Bicubic", "bicubic"), ("TinySet", "m", "checkpoint"), ("TinySet", "PIL", "outputs"),
        ("Other", "Bicubic", "bicubic"), ("Other", "m", "checkpoint"),
    ]  # fmt: skip
    for r in rows:
        scores = record["sets"][r["set"]][r["method"]]
        assert int(r["images"]) == scores["n"] == (2 if r["set"] == "TinySet" else 1)
        for key in ("psnr", "ssim", "hf_ratio"):
            assert (float(r[key]) if r[key] else None) == scores[key]
    assert "lpips" not in rows[0]
    # --panels: LR | Bicubic | m | PIL | HR for each of the 3 images (a white tile where PIL has none)
    assert Image.open(panels).size == (5 * 40 + 6 * 4, 3 * 40 + 4 * 4)
    # an existing --csv is refused before any work, and kept
    text = cs.read_text()
    assert evaluate_main()([*args, "--json", str(tmp_path / "r2.json")]) == 2
    assert "--csv" in (err := capsys.readouterr().err) and "already exists; pass --overwrite" in err
    assert cs.read_text() == text and not (tmp_path / "r2.json").exists()


def test_prior_outputs_errors_exit_2_before_the_work(ckpt, hr_folder, tmp_path, capsys):
    """Missing, ambiguous, wrong-size and unreadable outputs, or an unknown set: one line naming the problem, exit
    code 2, nothing printed or written."""
    good = pil_bicubic_outputs(hr_folder, tmp_path / "good")
    names = list(good)  # HR file names; the first output is <stem>.bmp, the second <stem>_x4.png
    js = tmp_path / "r.json"
    base = ["--ckpt", str(ckpt), "--sets", str(hr_folder), "--lpips-weights", "none", "--device", "cpu"]

    def variant(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(good[names[0]].parent, folder)
        return folder

    def fails(outputs: list[str], *expected: str, sets: list[str] | None = None) -> None:
        args = [*base, *(["--sets", *sets] if sets else []), "--json", str(js)]
        assert evaluate_main()([*args, *(a for o in outputs for a in ("--outputs", o))]) == 2
        out, err = capsys.readouterr()
        assert out == "" and not js.exists() and len(err.strip().splitlines()) == 1, err
        for text in expected:
            assert text in err, err

    missing = variant("missing")
    (missing / good[names[1]].name).unlink()
    fails([f"X={missing}"], "no output", "for 1 of the 2 HR image(s)", names[1])

    cropped = variant("cropped")  # a 4 px border already cropped off: 8 px smaller in each dimension
    target = cropped / good[names[1]].name
    img = Image.open(target)
    img.crop((4, 4, img.width - 4, img.height - 4)).save(target)
    fails([f"X={cropped}"], str(target), f"{img.height - 8}x{img.width - 8}", "8 px smaller", "border of 4 px")

    small = variant("small")  # the LR image instead of the output
    target = small / good[names[0]].name
    img = Image.open(target)
    img.resize((img.width // 4, img.height // 4)).save(target)
    fails([f"X={small}"], str(target), "4x smaller")

    broken = variant("broken")
    target = broken / good[names[1]].name
    target.write_bytes(target.read_bytes()[:200])  # a truncated PNG: its header still reads
    fails([f"X={broken}"], str(target), "cannot decode")

    twice = variant("twice")  # <stem>.bmp and <stem>_x4.png for one HR image
    shutil.copy(twice / good[names[0]].name, twice / f"{Path(names[0]).stem}_x4.png")
    fails([f"X={twice}"], "several outputs", names[0])

    good_folder = good[names[0]].parent
    fails([f"X=Set5:{good_folder}"], "'Set5' is none of the evaluated sets", "TinySet")
    fails([f"X={good_folder}"], "say which set", sets=["embedded", str(hr_folder), str(missing)])
    fails([f"Bicubic={good_folder}"], "'Bicubic' is reserved")
    fails([f"X={good_folder}", f"X=TinySet:{good_folder}"], "already has outputs for TinySet")
    fails([f"X={tmp_path / 'nope'}"], "nope does not exist")


def test_save_images_are_what_was_scored(ckpt, hr_folder, tmp_path, capsys):
    """--save-images writes one 8-bit PNG per image and method, the image that was scored: scikit-image's PSNR of
    the file is the tool's number, and the saved bicubic images scored back as --outputs give the Bicubic column,
    LPIPS too. An existing target is refused without --overwrite, an input is never a target."""
    saved = tmp_path / "sr"
    args = ["--ckpt", f"m={ckpt}", "--sets", str(hr_folder), "--lpips-weights", "random", "--device", "cpu"]
    assert evaluate_main()([*args, "--save-images", str(saved), "--json", str(tmp_path / "r.json")]) == 0
    assert f"4 PNG(s) in {saved}/<set>/<method>/" in capsys.readouterr().out
    record = json.loads((tmp_path / "r.json").read_text())
    hr_names = sorted(p.name for p in hr_folder.glob("*.png"))
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*")}
    assert files == {"TinySet", "TinySet/Bicubic", "TinySet/m"} | {f"TinySet/{m}/{n}" for m in ("Bicubic", "m")
                                                                  for n in hr_names}  # fmt: skip
    for method in ("Bicubic", "m"):
        for name in hr_names:
            png = Image.open(saved / "TinySet" / method / name)
            assert png.mode == "RGB"
            psnr = skimage_psnr_y(read_hr8(hr_folder / name, 4), np.asarray(png), 4)
            assert psnr == pytest.approx(record["sets"]["TinySet"][method]["per_image"][name]["psnr"], abs=1e-4)

    bicubic_pngs = saved / "TinySet" / "Bicubic"
    assert evaluate_main()([*args, "--outputs", f"again={bicubic_pngs}", "--json", str(tmp_path / "r2.json")]) == 0
    capsys.readouterr()
    again = json.loads((tmp_path / "r2.json").read_text())["sets"]["TinySet"]
    for key in ("psnr", "ssim", "hf_ratio", "lpips"):
        assert again["again"][key] == pytest.approx(again["Bicubic"][key], abs=1e-6)

    stamps = {p: p.stat().st_mtime_ns for p in saved.rglob("*.png")}
    assert evaluate_main()([*args, "--save-images", str(saved)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "already exists; pass --overwrite" in err and "(and 3 more)" in err
    more = ["--outputs", f"again={bicubic_pngs}", "--save-images", str(saved), "--overwrite"]
    assert evaluate_main()([*args, *more]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "is one of the input files" in err
    assert {p: p.stat().st_mtime_ns for p in saved.rglob("*.png")} == stamps


@pytest.mark.parametrize(
    ("hr", "files", "pairs"),
    [
        (["baby.png", "bird.png"], ["baby.bmp", "bird_x4.png"], {"baby.png": "baby.bmp", "bird.png": "bird_x4.png"}),
        (["baby.png"], ["baby_SR.png", "notes.png"], {"baby.png": "baby_SR.png"}),
        # the longest HR name wins: baby_2_x4 is baby_2's, not baby's with the suffix "_2_x4"
        (["baby.png", "baby_2.png"], ["baby_x4.png", "baby_2_x4.png"],
         {"baby.png": "baby_x4.png", "baby_2.png": "baby_2_x4.png"}),
        # SelfExSR layout: the HR name's _HR is replaced by the method's name
        (["img_001_SRF_4_HR.png"], ["img_001_SRF_4_A+.png"], {"img_001_SRF_4_HR.png": "img_001_SRF_4_A+.png"}),
        (["sub/baby.png"], ["sub/baby_x4.png", "baby_x4.png"], {"sub/baby.png": "sub/baby_x4.png"}),
        (["baby.png", "bird.png"], ["baby.png", "baby_x4.png", "bird.png"], "several outputs .* baby.png"),
        (["baby.png", "bird.png"], ["baby_x4.png"], "for 1 of the 2 HR image.*: bird.png"),
    ],
)  # fmt: skip
def test_pairing_rule(tmp_path, hr, files, pairs):
    """pair_outputs: exact name (any suffix), else the longest HR name followed by '_'; ambiguity is an error."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # pairing reads names only
    pair = evaluate_tool().pair_outputs
    if isinstance(pairs, str):
        with pytest.raises(ValueError, match=pairs):
            pair(tmp_path, hr)
        return
    found, unpaired = pair(tmp_path, hr)
    assert {k: v.relative_to(tmp_path).as_posix() for k, v in found.items()} == pairs
    assert len(unpaired) == len(files) - len(pairs)


def test_a_sweep_folder_is_one_column_per_run(ckpt, hr_folder, tmp_path, capsys):
    # The layout tools/train.py -m writes; two jobs holding the same checkpoint must score alike.
    for job, model in (("0", "enhancenet_e"), ("1", "enhancenet_pat")):
        (tmp_path / "sweep" / job / ".hydra").mkdir(parents=True)
        (tmp_path / "sweep" / job / ".hydra" / "overrides.yaml").write_text(f"- model={model}\n- trainer=debug\n")
        shutil.copytree(ckpt.parent, tmp_path / "sweep" / job / "checkpoints")
    args = ["--ckpt", f"single={ckpt}", "--ckpt", str(tmp_path / "sweep"), "--sets", str(hr_folder)]
    assert evaluate_main()([*args, "--device", "cpu", "--lpips-weights", "none"]) == 0
    psnr = parse_tables(capsys.readouterr().out)["PSNR"]
    assert psnr.pop("header") == ["Bicubic", "single", "enhancenet_e", "enhancenet_pat"]
    _n, _bicubic, single, e, pat = psnr["TinySet"]
    assert single == e == pat
