#!/usr/bin/env python
"""Train any model of the monorepo: ``python tools/train.py model=enhancenet_pat [key=value ...]``.

Thin on purpose: compose the config (Hydra), check the run folder, seed, instantiate data/model/callbacks/
loggers/trainer, fit, test. A run resumes only from an explicit ``ckpt_path=PATH`` (or ``ckpt_path=last`` with
``hydra.run.dir=<run folder>``), always with ``weights_only=True``.

Exit codes: 0 trained; 2 the run cannot start as asked (a missing or unusable data folder, a batch size < 1, a
learning rate that is not a positive number, the folder holds another run, no such or an unreadable checkpoint,
pretrained weights that cannot be loaded); 3 training diverged (non-finite loss or weights; no checkpoint of the
diverged state is written). Both print one line ``error: ...`` (``HYDRA_FULL_ERROR=1`` shows the traceback);
config errors Hydra finds itself keep Hydra's report. In a sweep (``-m``) a failed run is reported the same way
and the other runs go on.

The return value (for Hydra sweepers such as Optuna) is the final value of ``optimized_metric``, by default the
metric the model is checkpointed by (its ``monitor``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from gen_common.finite import DivergenceError
from gen_common.runs import RunSetupError, check_run_settings, resolve_resume

if TYPE_CHECKING:  # torch and Lightning load in train(), so --help answers at once
    import lightning.pytorch as pl

os.environ.setdefault("WANDB_SILENT", "true")
log = logging.getLogger("train")
CONF = str(Path(__file__).resolve().parents[1] / "conf")


def per_model(choice: str, table, default):
    """``${per_model:${hydra:runtime.choices.model},{sisr:500000},2000000}``: a setting the thesis states per model
    (e.g. Sec. 3.4.1's SISR 500K vs VSR / FRVSR 2M steps), so one experiment config sweeps all its models."""
    return table.get(choice, default)


OmegaConf.register_new_resolver("per_model", per_model, replace=True)


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


def refuse_bases() -> None:
    """``model=base/gan`` composes (a file in the group) but is half a config: say so instead of a traceback."""
    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    for group in ("model", "data"):
        choice = str(choices.get(group) or "")
        if choice.startswith("base/"):
            options = sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))
            raise RunSetupError(
                f"{group}={choice} is a base the {group} options include, not an option itself: choose one of "
                f"{', '.join(options)} (python tools/train.py --help)"
            )


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


def setup_data(datamodule: pl.LightningDataModule) -> None:
    """Read the training and evaluation sets now, before W&B and the trainer start (Lightning calls ``setup``
    again inside ``fit``; our data modules keep what they read)."""
    try:
        datamodule.setup("fit")
        batches = len(datamodule.train_dataloader())  # (building a DataLoader starts no worker)
    except (ValueError, OSError) as err:  # an empty or unreadable folder, a missing dataset, an unusable size
        raise RunSetupError(f"the data cannot be used ({err})") from err
    except TypeError:  # an iterable-style dataset has no length: nothing to check
        return
    if batches == 0:  # Lightning would "train" 0 steps and exit 0
        hp = getattr(datamodule, "hparams", {})
        sizes = ", ".join(f"data.{k}={hp[k]}" for k in ("samples_per_epoch", "batch_size") if k in hp)
        raise RunSetupError(
            f"the training data gives no full batch per epoch ({sizes or type(datamodule).__name__}): lower "
            f"data.batch_size or give more samples"
        )


def train(cfg: DictConfig) -> tuple[dict[str, float], str | None]:
    """Fit (and test) one run.

    Returns:
        The final logged metrics as floats, and the key of the metric the run is judged by (``optimized_metric``,
        or the module's checkpoint monitor; ``None`` if neither).

    Raises:
        RunSetupError: a data folder, batch size or learning rate is wrong, the data cannot be read, the run
            folder holds another run, or ``ckpt_path`` names no readable checkpoint (all before any training).
        DivergenceError: a non-finite loss or checkpoint stopped the run.
    """
    import lightning.pytorch as pl

    from gen_common.loggers import quiet_library_noise
    from gen_common.weights import WeightsUnavailableError

    quiet_library_noise()
    refuse_bases()
    apply_debug_sizes(cfg)
    check_run_settings(cfg.data, cfg.model)
    ckpt_path = resolve_resume(cfg.paths.output_dir, cfg.get("ckpt_path"))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
    setup_data(datamodule)
    try:
        model: pl.LightningModule = hydra.utils.instantiate(cfg.model)
    except InstantiationException as err:  # Hydra wraps what the constructor raised
        if isinstance(err.__cause__, WeightsUnavailableError):  # e.g. VGG-19 for the perceptual loss, offline
            raise RunSetupError(str(err.__cause__)) from err
        raise
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
        kept = {cb.last_model_path or cb.best_model_path for cb in trainer.checkpoint_callbacks}
        kept = sorted(p for p in kept if p and Path(p).is_file())  # (a refused save leaves its name behind)
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
    return metrics, cfg.get("optimized_metric") or getattr(model, "monitor", (None,))[0]


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=CONF, config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics, key = train(cfg)
    except (RunSetupError, DivergenceError) as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(f"error: {err}\n")  # one write: DDP ranks' lines never interleave
        sys.stderr.flush()
        if _in_sweep():  # an exception fails this job only; sys.exit would end the whole sweep here
            raise
        sys.exit(2 if isinstance(err, RunSetupError) else 3)
    if key is None:
        return None
    if key not in metrics:
        log.warning("optimized_metric %s was not logged (logged: %s); returning None", key, ", ".join(metrics))
        return None
    return metrics[key]


if __name__ == "__main__":
    main()
