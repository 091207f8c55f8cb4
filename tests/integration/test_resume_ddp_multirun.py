"""Resume restores everything training depends on; multirun sweeps share a W&B group; DDP on 2 CPU processes."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from harness import ROOT, TINY, TINY_GAN

# Two steps per epoch so the interruption falls on an epoch boundary, where Lightning restarts the data
# iterator; validation (and the checkpoint) every 2 steps.
RESUME = [
    "model=enhancenet_eat",
    *TINY,
    "logger=none",
    "test=false",
    "data.samples_per_epoch=4",
    "trainer.val_check_interval=2",
    "data.num_workers=1",  # a real worker process: its seed must come back too
]


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_continues_exactly(run_train, tmp_path):
    run_train([*RESUME, "trainer.max_steps=4"], tmp_path / "straight")
    run_train([*RESUME, "trainer.max_steps=2"], tmp_path / "first")
    first = _state(tmp_path / "first" / "checkpoints" / "last.ckpt")
    assert first["global_step"] == 2
    resumed_from = str(tmp_path / "first" / "checkpoints" / "last.ckpt")
    run_train([*RESUME, "trainer.max_steps=4", f"ckpt_path={resumed_from}"], tmp_path / "resumed")

    straight = _state(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    resumed = _state(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 4
    for key in ("d_steps", "acc_real", "acc_fake"):  # discriminator-gate state continued
        assert torch.equal(resumed["state_dict"][key], straight["state_dict"][key]), key
    # Same weights and optimiser moments as the uninterrupted run: optimisers, RNG and data order restored.
    for name, value in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], value, msg=name)
    assert not any(k.startswith("vgg.") for k in resumed["state_dict"])  # the frozen VGG is not stored
    for s_opt, r_opt in zip(straight["optimizer_states"], resumed["optimizer_states"], strict=True):  # G and D
        for idx, s_state in s_opt["state"].items():
            torch.testing.assert_close(r_opt["state"][idx]["exp_avg_sq"], s_state["exp_avg_sq"])


@pytest.mark.parametrize("model", ["tan_dcgan", "tan_wgan_gp"])
def test_gan_resume_restores_the_lens_schedule(model, run_train, tmp_path):
    args = [f"model={model}", *TINY_GAN, "logger=none", "test=false", "trainer.val_check_interval=2"]
    args += ["model.lens_k=6"]  # lambda still moving at the interruption
    run_train([*args, "trainer.max_steps=4"], tmp_path / "straight")
    run_train([*args, "trainer.max_steps=2"], tmp_path / "first")
    first = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert int(_state(first)["state_dict"]["lens_t"]) == 2
    run_train([*args, "trainer.max_steps=4", f"ckpt_path={first}"], tmp_path / "resumed")
    straight = _state(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    resumed = _state(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert int(resumed["state_dict"]["lens_t"]) == 4  # t of Eq. 4.4 continued, not restarted
    for name, value in straight["state_dict"].items():  # G, D, lens: the same run as without interruption
        torch.testing.assert_close(resumed["state_dict"][name], value, msg=name)


def _cli(args, tmp_path, **kw):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, **kw
    )


def test_multirun_sweep_shares_a_wandb_group(tmp_path):
    proc = _cli(["-m", "model=enhancenet_e,enhancenet_p", "seed=0", *TINY, "test=false"], tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(tmp_path.glob("logs/train/multiruns/*/*/wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2, runs
    sweep = runs[0].parents[3]
    group = f"{sweep.parent.name}-{sweep.name}".encode()
    assert all(group in r.read_bytes() for r in runs)  # the group is recorded in each run's log


@pytest.mark.parametrize("model", ["enhancenet_e", "enhancenet_pa"])  # pa: the gated D under DDP too
def test_ddp_two_cpu_processes(model, tmp_path):
    args = [f"model={model}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *TINY[1:]]
    args += ["trainer.max_steps=2", "trainer.val_check_interval=2", "logger=csv"]
    args += ["test=false", f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = _cli(args, tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    ckpt = _state(tmp_path / "ddp" / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2


def test_gan_with_lens_under_ddp_two_cpu_processes(tmp_path):
    # Three optimisers in manual optimisation, FID/PRD features gathered from both processes.
    args = ["model=tan_dcgan", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *TINY_GAN[1:]]
    args += ["trainer.max_steps=2", "trainer.val_check_interval=2", "logger=none", "test=false"]
    args += [f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = _cli(args, tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = _state(tmp_path / "ddp" / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2 and int(ckpt["state_dict"]["lens_t"]) == 2
    (row,) = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert row["step"] == 2 and row["val/fid"] > 0


def test_missing_vgg_weights_stop_the_run_at_start_up(tmp_path):
    # Really offline: an empty torch cache and HTTPS sent to a closed local port.
    env = {
        "TORCH_HOME": str(tmp_path / "torch"),
        "https_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    args = ["model=enhancenet_pat", "trainer=debug", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert "vgg19 pretrained weights are needed" in line and "model.vgg_weights=random" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained


def test_ddp_divergence_stops_every_process_together(tmp_path):
    """lr 1e6 under DDP: both processes stop at the same step with the message (no rank left waiting)."""
    args = ["model=enhancenet_e", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *TINY[1:]]
    args += ["model.lr_g=1e6", "trainer.max_steps=9", "trainer.val_check_interval=1", "logger=none", "test=false"]
    args += [f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = _cli(args, tmp_path, timeout=300)
    assert proc.returncode == 3, proc.stderr[-3000:]
    steps = re.findall(r"error: training diverged at step (\d+)", proc.stderr)
    assert len(steps) == 2 and len(set(steps)) == 1, proc.stderr[-3000:]  # one line per process, the same step


def test_a_failed_run_of_a_sweep_does_not_end_the_sweep(tmp_path):
    """sys.exit in one job ended the whole -m sweep; now that job fails with its error line and the next runs."""
    args = ["-m", "model=enhancenet_e", "model.lr_g=nan,1e-4", *TINY, "logger=none", "test=false"]
    args += ["trainer.max_steps=2", "trainer.val_check_interval=2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = _cli(args, tmp_path, timeout=300)
    assert "error: model.lr_g must be a positive finite learning rate (nan)" in proc.stderr
    assert proc.returncode != 0  # Hydra reports the failed job when the sweep ends
    assert (tmp_path / "sweep" / "1" / "checkpoints" / "last.ckpt").is_file()  # the second job ran
    assert not (tmp_path / "sweep" / "0" / "checkpoints").exists()
