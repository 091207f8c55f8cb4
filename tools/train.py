#!/usr/bin/env python
"""Train any model of the monorepo: ``python tools/train.py model=enhancenet_pat [key=value ...]``.

Thin on purpose: compose the config (Hydra), check the run folder, seed, instantiate data/model/callbacks/
loggers/trainer, fit, test. A run resumes only from an explicit ``ckpt_path=PATH`` (or ``ckpt_path=last`` with
``hydra.run.dir=<run folder>``), always with ``weights_only=True``.

Exit codes: 0 trained; 2 the run cannot start as asked (a missing data folder, a batch size < 1, a learning rate
that is not a positive number, the folder holds another run, no such checkpoint);
3 training diverged (non-finite loss or weights; no checkpoint of the diverged state is written). Both print one
line ``error: ...`` (``HYDRA_FULL_ERROR=1`` shows the traceback); other failures keep Hydra's report.
"""

import logging
import os
import sys
from pathlib import Path

import hydra
import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from gen_common.finite import DivergenceError
from gen_common.runs import RunSetupError, check_run_settings, resolve_resume

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


def apply_debug_sizes(cfg: DictConfig) -> None:
    """``debug=...`` presets: the small sizes listed for the model's and the data's ``_target_``
    (``conf/debug/default.yaml``), except for keys the command line sets itself."""
    sizes = cfg.get("debug_sizes") or {}
    explicit = set()
    if HydraConfig.initialized():
        explicit = {o.lstrip("+~").split("=", 1)[0] for o in HydraConfig.get().overrides.task}
    for group in ("model", "data"):
        flat = _dotted(sizes.get(cfg[group].get("_target_")) or {}, group)
        for key, value in flat.items():
            if key not in explicit:
                OmegaConf.update(cfg, key, value, force_add=True)


def _dotted(tree, prefix: str) -> dict:
    """{"a": {"b": 1}} -> {"<prefix>.a.b": 1}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict | DictConfig):
            out |= _dotted(value, f"{prefix}.{key}")
        else:
            out[f"{prefix}.{key}"] = value
    return out


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) one run; returns the final logged metrics as floats.

    Raises:
        RunSetupError: a data folder, batch size or learning rate is wrong, the run folder holds another run, or
            ``ckpt_path`` names no checkpoint (all before any work).
        DivergenceError: a non-finite loss or checkpoint stopped the run.
    """
    apply_debug_sizes(cfg)
    check_run_settings(cfg.data, cfg.model)
    ckpt_path = resolve_resume(cfg.paths.output_dir, cfg.get("ckpt_path"))
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
    try:
        # weights_only=True whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says: a checkpoint file cannot run code
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except DivergenceError as err:
        kept = sorted({cb.last_model_path or cb.best_model_path for cb in trainer.checkpoint_callbacks} - {""})
        last_good = f"; the last good checkpoint: {', '.join(kept)}" if kept else "; no checkpoint was written"
        raise DivergenceError(f"{err}{last_good}") from err
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
    try:
        train(cfg)
    except (RunSetupError, DivergenceError) as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2 if isinstance(err, RunSetupError) else 3)


if __name__ == "__main__":
    main()
