"""Integration-test harness: compose the real Hydra config and run tools/train.py in-process."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if not p.stem.startswith("_"))
IMAGE_MODELS = [m for m in MODELS if m.startswith("enhancenet_")]
GAN_MODELS = [m for m in MODELS if m.removeprefix("tan_") in ("dcgan", "lsgan", "wgan_gp")]
VIDEO_MODELS = [m for m in MODELS if m.startswith(("frvsr", "sisr", "vsr"))]
RAE_MODELS = [m for m in MODELS if m in ("vae", "cv_vae", "wae", "ae") or m.startswith("rae")]
# Small but real: every loss, network and callback runs; only sizes shrink (VGG is random: no download here).
TINY = [
    "trainer=debug",
    "model.num_blocks=2",
    "model.num_filters=8",
    "model.lr_patch_size=16",
    "model.vgg_weights=random",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.samples_per_epoch=8",
    "callbacks.sample_grid.every_n_steps=2",
]

# Video models: short clips of the embedded videos (first 40 frames decoded), a 6-frame evaluation video.
TINY_VIDEO = [
    "trainer=debug",
    "model.net.num_blocks=1",
    "model.net.num_filters=8",
    "data.batch_size=2",
    "data.clip_len=3",
    "data.crop=64",
    "data.num_workers=0",
    "data.samples_per_epoch=6",
    "data.max_train_frames=40",
    "data.max_eval_frames=6",
    "callbacks.sample_grid.every_n_steps=2",
]

# GANs: narrow networks, a 64-image reference set, one PRD clustering.
TINY_GAN = [
    "trainer=debug",
    "model.width=8",
    "model.lens_width=8",
    "model.lens_blocks=2",
    "model.prd_num_runs=1",
    "data.batch_size=4",
    "data.eval_samples=64",
    "callbacks.sample_grid.every_n_steps=2",
]

# Autoencoders: narrow networks (base 8 channels), 2 EM iterations, one test batch of 64 images.
TINY_RAE = [
    "trainer=debug",
    "model.base_channels=8",
    "model.gmm_max_iter=2",
    "data.batch_size=16",
    "data.eval_batch_size=64",
    "callbacks.sample_grid.every_n_steps=2",
]

os.environ.setdefault("WANDB_MODE", "offline")


def load_train_module():
    spec = importlib.util.spec_from_file_location("train_tool", ROOT / "tools" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compose_cfg(overrides: list[str], output_dir: Path | None = None):
    """The config tools/train.py would see; ``${hydra:...}`` and tools/train.py's resolvers resolve as in a run."""
    if not OmegaConf.has_resolver("per_model"):
        load_train_module()  # registers it
    with initialize_config_dir(config_dir=str(globals()["CONF"]), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture(scope="session")
def train_tool():
    return load_train_module()


@pytest.fixture
def run_train(train_tool, tmp_path):
    """Run one training in-process with the given overrides; returns (metrics, output_dir)."""

    def _run(overrides: list[str], output_dir: Path | None = None):
        out = output_dir or tmp_path / "run"
        cfg = compose_cfg(overrides, out)
        with open_dict(cfg):
            del cfg["hydra"]
        metrics, _monitor = train_tool.train(cfg)
        return metrics, out

    return _run


def python() -> str:
    return sys.executable
