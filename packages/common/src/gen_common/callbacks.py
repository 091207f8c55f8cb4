"""Callbacks every package reuses: sample grids, RNG state in checkpoints, metrics history, divergence guard."""

import json
import random
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor
from torchvision.utils import make_grid, save_image

from gen_common.files import atomic_output
from gen_common.finite import DivergenceError, nonfinite_tensors


def panels_to_grid(panels: list[Tensor], max_images: int = 4) -> Tensor:
    """Lay out panels side by side, one row per sample.

    Args:
        panels: P tensors of shape (N, C, H, W), same shape, values in [0, 1] (e.g. LR | bicubic | output | HR).
        max_images: rows kept.

    Returns:
        (C, rows*H', P*W') image grid in [0, 1].
    """
    n = min(max_images, panels[0].shape[0])
    rows = torch.stack([p[:n].detach().float().clamp(0, 1).cpu() for p in panels], dim=1)  # (n, P, C, H, W)
    return make_grid(rows.flatten(0, 1), nrow=len(panels), padding=2, pad_value=1.0)


def log_grid(trainer: pl.Trainer, key: str, grid: Tensor, caption: str | None = None) -> None:
    """Send an image grid to every logger of the trainer: W&B media, or a PNG in a file logger's folder."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[grid], step=trainer.global_step, caption=[caption or key])
        elif getattr(logger, "log_dir", None):
            path = Path(logger.log_dir) / "samples" / f"{key.replace('/', '_')}_{trainer.global_step:07d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(grid, path)


class SampleGridCallback(pl.Callback):
    """Log sample grids every ``every_n_steps`` training steps and for the first batch of each validation.

    The LightningModule provides ``sample_panels(batch) -> (list of (N, C, H, W) tensors, caption)``; this
    callback only lays them out and logs them, so modules never touch the logger (ARCHITECTURE.md).
    """

    def __init__(self, every_n_steps: int = 500, max_images: int = 4) -> None:
        self.every_n_steps = every_n_steps
        self.max_images = max_images

    def _log(self, trainer: pl.Trainer, module: pl.LightningModule, batch, key: str) -> None:
        if not trainer.is_global_zero or not trainer.loggers or not hasattr(module, "sample_panels"):
            return
        was_training = module.training
        module.eval()
        with torch.no_grad():
            panels, caption = module.sample_panels(batch)
        module.train(was_training)
        log_grid(trainer, key, panels_to_grid(panels, self.max_images), caption)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._log(trainer, pl_module, batch, "train/samples")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and not trainer.sanity_checking:
            self._log(trainer, pl_module, batch, "val/samples")


class RNGStateCallback(pl.Callback):
    """Save and restore the Python, NumPy and torch RNG states, so a resumed run draws what it would have.

    Stored as tensors and plain Python values so ``torch.load(weights_only=True)`` reads the checkpoint.
    """

    def state_dict(self) -> dict:
        np_state = np.random.get_state()  # noqa: NPY002 (the global state seed_everything sets)
        state = {
            "python": random.getstate(),
            "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "numpy_pos": int(np_state[2]),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        # Applied at on_train_start, not now: Lightning's dataloader set-up draws from the RNG between the
        # restore and the first batch, which the uninterrupted run did not do at this point.
        self._pending = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state, self._pending = getattr(self, "_pending", None), None
        if state is not None:
            self.apply(state)

    @staticmethod
    def apply(state: dict) -> None:
        """Set the Python, NumPy and torch RNGs to a state from :meth:`state_dict`."""
        random.setstate(state["python"])
        keys = state["numpy_keys"].numpy().astype(np.uint32)
        np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))  # noqa: NPY002
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class ChannelsLast(pl.Callback):
    """Move the module to channels_last memory format (faster convolutions with tensor cores)."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)


def _parse_row(line: str) -> dict | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row if isinstance(row, dict) else None


class MetricsHistory(pl.Callback):
    """Append every validation's and test's logged metrics to ``<dirpath>/metrics.jsonl``, whatever the logger.

    One JSON object per line: ``{"stage": "val" | "test", "step": global_step, "<key>": value, ...}`` with the
    ``val/*`` (or ``test/*``) keys. ``tools/report.py`` reads these files to compare the runs of a sweep.
    """

    def __init__(self, dirpath: str) -> None:
        self.path = Path(dirpath) / "metrics.jsonl"

    def _write(self, trainer: pl.Trainer, stage: str) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row = {"stage": stage, "step": trainer.global_step}
        row |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(f"{stage}/")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """On resume: drop the rows after the checkpoint's step (they belong to the abandoned continuation)."""
        if not trainer.ckpt_path or not trainer.is_global_zero or not self.path.is_file():
            return
        rows = [_parse_row(line) for line in self.path.read_text(errors="replace").splitlines()]
        # a line the killed run left half-written is dropped with the rest of the abandoned continuation
        kept = [r for r in rows if r and r.get("stage") == "val" and r.get("step", 0) <= trainer.global_step]
        with atomic_output(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "test")


def _lr_hints(module: pl.LightningModule) -> str:
    """The module's learning-rate settings, e.g. ``model.lr_g=1e+06``, for the divergence message."""
    hp = getattr(module, "hparams", {})
    lrs = [f"model.{k}={v:g}" for k, v in hp.items() if k in ("lr", "lr_g", "lr_d") and isinstance(v, int | float)]
    return ", ".join(lrs) or "model.lr"


class FiniteGuard(pl.Callback):
    """Stop a run at the first non-finite training loss; never let a checkpoint with NaN / inf be written.

    The ``train/*`` values the module logged are checked before the next step and before each validation (one
    host sync on the stacked values), so the step named is the one whose loss was non-finite; the weights are
    checked before each validation. Every checkpoint is checked tensor by tensor before it is written:
    ModelCheckpoint never writes a diverged state, so the best and last checkpoints stay the last good ones.
    With several processes (DDP) the decision is shared, so every rank stops at the same step.
    """

    @staticmethod
    def _stop_everywhere(trainer: pl.Trainer, bad: bool) -> bool:
        return trainer.strategy.reduce_boolean_decision(bad, all=False)  # any rank diverged: all stop

    def _check_losses(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        logged = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        # values logged on the CPU (counters) and on the GPU (losses) are checked in one sync on the module's device
        values = [torch.as_tensor(v).detach().float().reshape(-1).to(module.device) for v in logged.values()]
        bad = bool(values) and not bool(torch.isfinite(torch.cat(values)).all())
        if not self._stop_everywhere(trainer, bad):
            return
        names = ", ".join(f"{k} = {float(v)}" for k, v in logged.items() if not torch.isfinite(v).all())
        raise DivergenceError(
            f"training diverged at step {trainer.global_step}: {names or 'a loss on another process'}. Likely "
            f"cause: a learning rate too high for this model ({_lr_hints(module)}), or non-finite input data"
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._check_losses(trainer, pl_module)

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:  # (trainer.training is False in validation)
            return
        self._check_losses(trainer, pl_module)  # validation inside fit: the last step's losses, then the weights
        bad = nonfinite_tensors(pl_module.state_dict())
        if self._stop_everywhere(trainer, bool(bad)):
            raise DivergenceError(
                f"training diverged at step {trainer.global_step}: the update made {len(bad)} weight tensor(s) "
                f"non-finite ({', '.join(bad[:3])}) although the losses were finite. Likely cause: a learning "
                f"rate too high for this model ({_lr_hints(pl_module)}), or non-finite input data"
            )

    def on_train_end(self, trainer, pl_module) -> None:
        self._check_losses(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        bad = nonfinite_tensors({k: checkpoint.get(k) for k in ("state_dict", "optimizer_states")})
        if bad:
            raise DivergenceError(
                f"training diverged by step {trainer.global_step}: {len(bad)} tensor(s) of the checkpoint are "
                f"non-finite ({', '.join(bad[:3])}); it was not written. Likely cause: a learning rate too high "
                f"for this model ({_lr_hints(pl_module)}), or non-finite input data"
            )


class ExceptionCheckpoint(pl.Callback):
    """``<dirpath>/on_exception.ckpt`` when a run is interrupted (Ctrl-C, crash) after at least one step.

    Unlike Lightning's ``OnExceptionCheckpoint`` it is written only if the run trained (a start-up failure
    leaves nothing behind), never for a diverged state, and it does not make ``fit(ckpt_path=None)`` resume
    from "last" (Lightning does that for its own class): a run resumes only from an explicit ``ckpt_path``.
    """

    def __init__(self, dirpath: str, filename: str = "on_exception") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, DivergenceError) or trainer.global_step == 0:
            return
        optimizers = [o.state_dict() for o in trainer.optimizers]
        if nonfinite_tensors({"state_dict": pl_module.state_dict(), "optimizer_states": optimizers}):
            return
        trainer.save_checkpoint(self.path)


class TimedProgressBar(TQDMProgressBar):
    """Lightning's tqdm bars (train, validation, test), redrawn every ``refresh_seconds`` instead of every N batches.

    A count suits neither machine: 10 batches are minutes on a CPU and a blur of redraws on a GPU. The last batch
    of a stage is always drawn. Relies on ``TQDMProgressBar._should_update`` (Lightning 2.x; see pyproject's bound).
    """

    def __init__(self, refresh_seconds: float = 0.5, process_position: int = 0, leave: bool = False) -> None:
        super().__init__(refresh_rate=1, process_position=process_position, leave=leave)
        self.refresh_seconds = refresh_seconds
        self._last_draw = float("-inf")

    def _should_update(self, current: int, total: int) -> bool:
        if not self.is_enabled:
            return False
        now = time.monotonic()
        if current == total or now - self._last_draw >= self.refresh_seconds:
            self._last_draw = now
            return True
        return False
