"""The benchmarks read the model settings from conf/ by hand (no Hydra run): they must see what tools/train.py
composes, so a renamed or moved config file fails here rather than in a user's benchmark run."""

import importlib.util
import sys

import pytest
from harness import ROOT, compose_cfg
from omegaconf import OmegaConf


def _bench(name: str, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(ROOT / "benchmarks"), *sys.path])  # as `python benchmarks/<name>.py`
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _composed_model(overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose_cfg(overrides).model, resolve=True)


@pytest.mark.parametrize("model", ["e", "pat"])
def test_bench_enhancenet_reads_the_composed_model_config(model, monkeypatch):
    hp = _bench("bench_enhancenet", monkeypatch).model_hparams(model)
    composed = _composed_model([f"model=enhancenet_{model}"])
    for key, value in hp.items():
        if key not in ("vgg_weights", "input_mean"):  # (random VGG offline; the mean as a tuple)
            assert composed[key] == value, key
    assert set(composed) - set(hp) <= {"_target_", "_convert_"}


@pytest.mark.parametrize("variant", ["vae", "cv_vae", "rae_gp", "rae_sn"])
def test_bench_rae_reads_the_composed_model_config(variant, monkeypatch):
    hp = _bench("bench_rae", monkeypatch).config_hparams(variant)
    composed = _composed_model([f"model={variant}"])
    assert hp == {k: composed[k] for k in hp} and {"beta", "gp", "kl_reduction"} <= set(hp)
