"""Shared callbacks and logger helpers."""

import random
import time

import numpy as np
import torch

from gen_common.callbacks import RNGStateCallback, TimedProgressBar, panels_to_grid
from gen_common.loggers import wandb_mode


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))  # noqa: NPY002


def test_rng_state_roundtrip_through_weights_only_checkpoint(tmp_path):
    cb = RNGStateCallback()
    torch.save(cb.state_dict(), tmp_path / "rng.pt")
    expected = _draw()
    _draw()
    cb.apply(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draw() == expected


def test_panels_to_grid_layout():
    panels = [torch.full((5, 3, 8, 8), v) for v in (0.0, 0.25, 0.5, 1.0)]
    grid = panels_to_grid(panels, max_images=2)
    pad = 2
    assert grid.shape == (3, pad + 2 * (8 + pad), pad + 4 * (8 + pad))
    # second panel of the first row sits right of the first one
    assert torch.all(grid[:, pad : pad + 8, 2 * pad + 8 : 2 * pad + 16] == 0.25)


def test_wandb_is_offline_without_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode("auto") == "disabled"


def test_channels_last_callback_converts_conv_weights():
    import lightning.pytorch as pl

    from gen_common.callbacks import ChannelsLast

    module = pl.LightningModule()
    module.conv = torch.nn.Conv2d(3, 8, 3)
    ChannelsLast().setup(None, module, "fit")
    assert module.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not module.conv.weight.is_contiguous()


def test_progress_bar_redraws_by_time_not_by_batch_count():
    """A CPU run sat at 0/10 for minutes with Lightning's count-based refresh (every 10 batches)."""
    bar = TimedProgressBar(refresh_seconds=0.2)
    assert bar._should_update(1, 100)  # the first batch is drawn at once
    assert not bar._should_update(2, 100)  # a moment later: not yet
    assert bar._should_update(100, 100)  # the last batch always
    time.sleep(0.25)
    assert bar._should_update(3, 100)  # after refresh_seconds: drawn whatever the count
    bar.disable()
    time.sleep(0.25)
    assert not bar._should_update(4, 100)
