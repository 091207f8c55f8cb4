"""debug=... presets: any model config becomes a quick check (small widths, few steps, no loggers)."""

import time

import pytest
import torch
from harness import MODELS, compose_cfg

FAMILIES = {  # one model per family, the sizes debug=default gives it
    "enhancenet_pat": {"model.num_filters": 8, "model.vgg_weights": "random", "data.batch_size": 2},
    "frvsr": {"model.net.num_filters": 8, "data.clip_len": 3, "data.max_eval_frames": 6},
    "tan_dcgan": {"model.width": 8, "model.prd_num_runs": 1, "data.eval_samples": 64},
    "rae_l2": {"model.base_channels": 8, "data.eval_batch_size": 64},
}


def _get(cfg, dotted):
    for key in dotted.split("."):
        cfg = cfg[key]
    return cfg


@pytest.mark.parametrize("model", list(FAMILIES))
def test_debug_default_shrinks_the_model_and_keeps_explicit_settings(model, train_tool):
    cfg = compose_cfg([f"model={model}", "debug=default", "seed=3"])
    train_tool.apply_debug_sizes(cfg)
    assert cfg.trainer.max_steps == 3 and not cfg.logger
    for key, value in FAMILIES[model].items():
        assert _get(cfg, key) == value, key
    key = next(iter(FAMILIES[model]))
    cfg = compose_cfg([f"model={model}", "debug=default", f"{key}=16"])  # the command line wins
    train_tool.apply_debug_sizes(cfg)
    assert _get(cfg, key) == 16


@pytest.mark.parametrize("model", MODELS)  # all 25 in ~50 s in-process on 2 cores (0.4-5 s each)
def test_debug_default_runs_every_model_config(model, run_train):
    start = time.perf_counter()
    metrics, out = run_train([f"model={model}", "debug=default"])
    assert time.perf_counter() - start < 60
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3  # it trained
    assert any(k.startswith("test/") for k in metrics)  # and the test protocol ran, capped


def _tensors(item):
    return [v for v in (item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else [item])
            if isinstance(v, torch.Tensor)]  # fmt: skip


@pytest.mark.parametrize("model", list(FAMILIES))
def test_debug_overfit_repeats_the_same_batch(model, train_tool):
    """overfit_batches only stops the shuffling: a dataset that draws a random crop per read (EnhanceNet's) would
    give a new batch every step, and "the loss must fall" would test nothing."""
    import hydra

    cfg = compose_cfg([f"model={model}", "debug=overfit"])
    train_tool.apply_debug_sizes(cfg)
    assert "csv" in cfg.logger  # the loss curve is kept
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    dataset = datamodule.train_dataloader().dataset
    first, again = _tensors(dataset[0]), _tensors(dataset[0])
    assert first and all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
