"""Trustworthy runs: no silent resume, no checkpoint of a diverged or never-started run, no code in a checkpoint."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harness import ROOT, TINY

from gen_common.finite import DivergenceError, nonfinite_tensors
from gen_common.runs import RunFolderError, RunSetupError
from sr_image.cli import upscale_main

BASE = ["model=enhancenet_e", *TINY, "logger=none", "test=false", "data.samples_per_epoch=6"]


def _ckpts(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "checkpoints").glob("*.ckpt"))}


def test_a_second_run_into_a_folder_is_refused_and_an_explicit_resume_continues(run_train, tmp_path):
    run = tmp_path / "run"
    run_train(BASE, run)  # 3 steps, validation + checkpoints at step 3
    before, history = _ckpts(run), (run / "metrics.jsonl").read_text()
    assert "last.ckpt" in before and history.count("\n") == 1

    with pytest.raises(RunFolderError) as err:  # e.g. the README's command run twice, or a typo'd retry
        run_train([*BASE, "model.num_blocks=3", "seed=1"], run)
    assert "already holds another run" in str(err.value) and f"ckpt_path=last hydra.run.dir={run}" in str(err.value)
    assert _ckpts(run) == before and (run / "metrics.jsonl").read_text() == history  # untouched

    run_train([*BASE, "trainer.max_steps=6", "ckpt_path=last"], run)  # the explicit resume
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 6
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6]  # one run's history

    with pytest.raises(RunFolderError, match="no checkpoint"):
        run_train([*BASE, "ckpt_path=last"], tmp_path / "empty")
    with pytest.raises(RunFolderError, match="does not exist"):
        run_train([*BASE, f"ckpt_path={tmp_path / 'nope.ckpt'}"], tmp_path / "fresh")


def test_ckpt_path_last_takes_an_interrupted_runs_latest_state(run_train, tmp_path):
    """A run interrupted before its first validation holds only on_exception.ckpt: the refusal's advice
    (ckpt_path=last) resumes it; of last.ckpt and on_exception.ckpt the newer is taken."""
    run = tmp_path / "run"
    run_train(BASE, run)
    ckpts = run / "checkpoints"
    for other in ckpts.glob("step*.ckpt"):
        other.unlink()
    (ckpts / "last.ckpt").rename(ckpts / "on_exception.ckpt")  # what ExceptionCheckpoint leaves at step 3
    with pytest.raises(RunFolderError) as err:
        run_train(BASE, run)
    assert f"ckpt_path=last hydra.run.dir={run}" in str(err.value)
    run_train([*BASE, "trainer.max_steps=6", "ckpt_path=last"], run)
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 6  # continued from step 3


def test_a_folder_with_only_a_history_suggests_what_works(run_train, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"stage": "val", "step": 3}\n')
    with pytest.raises(RunFolderError) as err:
        run_train(BASE, run)
    assert "wrote no checkpoint to resume from, remove" in str(err.value) and "ckpt_path=last" not in str(err.value)


def test_a_half_written_history_line_does_not_stop_a_resume(run_train, tmp_path):
    run = tmp_path / "run"
    run_train(BASE, run)
    history = run / "metrics.jsonl"
    history.write_text(history.read_text() + '{"stage": "val", "step": 4, "val/ps')  # killed while writing
    run_train([*BASE, "trainer.max_steps=6", "ckpt_path=last"], run)
    steps = [json.loads(line)["step"] for line in history.read_text().splitlines()]
    assert steps == [3, 6]


def test_unusable_checkpoints_are_named_before_anything_starts(run_train, tmp_path):
    run = tmp_path / "run"
    run_train(BASE, run)
    data = (run / "checkpoints" / "last.ckpt").read_bytes()
    cut, weights = tmp_path / "cut.ckpt", tmp_path / "weights.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    torch.save({"state_dict": {}}, weights)  # e.g. an imported model: weights, no training state
    for path, message in ((cut, "cannot be read"), (weights, "is not a training checkpoint")):
        with pytest.raises(RunFolderError, match=message) as err:
            run_train([*BASE, f"ckpt_path={path}"], tmp_path / f"resume_{path.stem}")
        assert str(path) in str(err.value)
        assert not (tmp_path / f"resume_{path.stem}" / "checkpoints").exists()


def test_a_failure_before_the_first_step_writes_no_checkpoint(run_train, tmp_path):
    run, empty = tmp_path / "run", tmp_path / "no_images"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(RunSetupError, match="the data cannot be used .*no_images"):  # read before the trainer
        run_train([*BASE, "data=image_folder", f"data.root={empty}", "data.num_workers=0"], run)
    assert _ckpts(run) == {}
    run_train(BASE, run)  # so the folder is still free for the corrected command


BAD_SETTINGS = [
    ("data.root=/no/such/folder", "data.root does not exist (/no/such/folder)"),
    ("data.eval_root=/no/such/set14", "data.eval_root does not exist"),
    ("data.batch_size=0", "data.batch_size must be a positive integer (0)"),
    ("data.batch_size=-2", "data.batch_size must be a positive integer (-2)"),
    ("model.lr_g=nan", "model.lr_g must be a positive finite learning rate (nan)"),
    ("data=image_folder", "data.root is required"),
    ("model=base/enhancenet", "model=base/enhancenet is a base the model options include, not an option"),
    ("data.root='~/no_such_photos'", "data.root does not exist (~/no_such_photos)"),
    (
        "data.samples_per_epoch=8",
        "the training data gives no full batch per epoch (data.samples_per_epoch=8, data.batch_size=16)",
    ),  # fmt: skip
]


@pytest.mark.parametrize("override,message", BAD_SETTINGS)
def test_bad_settings_stop_before_anything_is_built(override, message, run_train, tmp_path):
    """In-process (the command line of two of them below): the error names the setting; nothing was created."""
    with pytest.raises(RunSetupError) as err:
        run_train(["model=enhancenet_e", "trainer=debug", "logger=wandb", override], tmp_path / "run")
    assert message in str(err.value)
    assert not (tmp_path / "run").exists() or sorted(p.name for p in (tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize("override,message", [BAD_SETTINGS[0], BAD_SETTINGS[-1]])
def test_bad_settings_through_the_command_exit_2_with_one_line(override, message, tmp_path):
    """Through the real command: exit 2, one `error:` line, no traceback, and no W&B / checkpoint folders."""
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    args = ["model=enhancenet_e", "trainer=debug", "logger=wandb", override, f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".hydra", "train.log"]


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(run_train, tmp_path):
    """lr 1e6: step 1 is finite (checkpointed), then the weights or the loss turn NaN: the run stops there."""
    run = tmp_path / "run"
    args = [*BASE, "model.lr_g=1e6", "trainer.max_steps=9", "trainer.val_check_interval=1"]
    with pytest.raises(DivergenceError) as err:
        run_train(args, run)
    message = str(err.value)
    assert "training diverged at step 2: " in message and "model.lr_g=1e+06" in message
    assert "train/loss_e = nan" in message or "weight tensor(s) non-finite (generator." in message
    assert "the last good checkpoint" in message
    written = sorted((run / "checkpoints").glob("*.ckpt"))
    assert written and all(str(p) in message for p in written)
    for path in written:  # no written checkpoint holds a non-finite tensor
        ckpt = torch.load(path, weights_only=True)
        assert nonfinite_tensors({k: ckpt[k] for k in ("state_dict", "optimizer_states")}) == [], path


def test_the_diverged_cli_run_exits_3_with_one_line(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    args = [*BASE, "model.lr_g=1e6", "trainer.max_steps=9", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "diverged" in errors[0] and "Traceback" not in proc.stderr


class _Marker:
    """A pickle that writes a file when loaded without weights_only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "code ran"))


def test_resume_never_runs_code_from_a_checkpoint(run_train, tmp_path, monkeypatch):
    marker, crafted = tmp_path / "marker", tmp_path / "crafted.ckpt"
    with crafted.open("wb") as f:
        pickle.dump({"state_dict": {}, "payload": _Marker(marker)}, f)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # would make a plain torch.load unpickle it
    with pytest.raises(RunFolderError, match="could run code"):
        run_train([*BASE, f"ckpt_path={crafted}"], tmp_path / "run")
    assert not marker.exists()


def test_a_diverged_checkpoint_is_refused_for_inference(run_train, tmp_path, capsys):
    run_train(BASE, tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["state_dict"]["generator.head.0.weight"][0, 0, 0, 0] = float("nan")
    bad = tmp_path / "nan.ckpt"
    torch.save(ckpt, bad)
    image = tmp_path / "img.png"
    from PIL import Image

    Image.new("RGB", (20, 16), (120, 60, 30)).save(image)
    assert upscale_main(["--ckpt", str(bad), str(image), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "non-finite weights (head.0.weight)" in err and str(bad) in err
    assert not (tmp_path / "img_x4.png").exists()
