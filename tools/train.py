#!/usr/bin/env python
"""Train any model of the monorepo: ``python tools/train.py model=enhancenet_pat [key=value ...]``.

Thin on purpose: compose the config (Hydra), seed, instantiate data/model/callbacks/loggers/trainer, fit, test.
"""

import logging
import os
from pathlib import Path

import hydra
import lightning.pytorch as pl
from omegaconf import DictConfig, OmegaConf, open_dict

os.environ.setdefault("WANDB_SILENT", "true")
log = logging.getLogger("train")
CONF = str(Path(__file__).resolve().parents[1] / "conf")


def instantiate_all(group: DictConfig | None) -> list:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); empty for none."""
    return [hydra.utils.instantiate(c) for c in (group or {}).values() if c is not None and "_target_" in c]


def use_module_monitor(callbacks: DictConfig | None, model: pl.LightningModule) -> None:
    """Callbacks configured with ``monitor: module`` take the key and mode the LightningModule declares."""
    for c in (callbacks or {}).values():
        if c is not None and c.get("monitor") == "module":
            if not hasattr(model, "monitor"):
                raise ValueError(f"{type(model).__name__} declares no monitor key; set callbacks.*.monitor explicitly")
            with open_dict(c):
                c.monitor, c.mode = model.monitor


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) one run; returns the final logged metrics as floats."""
    pl.seed_everything(cfg.seed, workers=True)
    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
    model: pl.LightningModule = hydra.utils.instantiate(cfg.model)
    use_module_monitor(cfg.get("callbacks"), model)
    loggers = instantiate_all(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=instantiate_all(cfg.get("callbacks")), logger=loggers or False
    )
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test"):
        trainer.test(model, datamodule=datamodule, ckpt_path=None, verbose=True)
        metrics |= {k: float(v) for k, v in trainer.callback_metrics.items()}
    for cb in trainer.checkpoint_callbacks:
        if getattr(cb, "best_model_path", None):
            log.info("checkpoint (%s): %s", cb.monitor or "latest", cb.best_model_path)
    for lg in loggers:
        if hasattr(lg, "experiment") and hasattr(lg.experiment, "finish"):
            lg.experiment.finish()
    return metrics


@hydra.main(version_base="1.3", config_path=CONF, config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
