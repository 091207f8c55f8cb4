"""Logger construction: W&B that never prompts or hangs, grouped per Hydra sweep."""

import logging
import netrc
import os
import socket
import warnings
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def _reachable(host: str = "api.wandb.ai", port: int = 443, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wandb_mode(mode: str = "auto") -> str:
    """``"online"`` only when asked for (or ``auto``) and an API key and the network are both there."""
    mode = os.environ.get("WANDB_MODE") or mode  # (an empty WANDB_MODE= is unset, not a mode)
    if mode == "auto":
        return "online" if _has_wandb_key() and _reachable() else "offline"
    return mode


def sweep_group() -> str | None:
    """Name shared by all runs of one Hydra multirun (its sweep folder), None for a single run."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    if hc.mode != RunMode.MULTIRUN:
        return None
    return "-".join(Path(hc.sweep.dir).parts[-2:])


def wandb_logger(
    project: str,
    save_dir: str,
    name: str | None = None,
    group: str | None = "auto",
    mode: str = "auto",
    tags: list[str] | None = None,
) -> WandbLogger:
    """A Lightning ``WandbLogger`` that is offline unless a key and the network are there.

    Args:
        group: ``"auto"`` groups the runs of one Hydra sweep under the sweep's folder name.
        mode: ``auto`` | ``online`` | ``offline`` | ``disabled`` (``$WANDB_MODE`` wins).
    """
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    resolved = wandb_mode(mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        group=sweep_group() if group == "auto" else group,
        mode=resolved,
        tags=list(tags) if tags else None,
        log_model=False,
    )
    # Lightning always passes anonymous=None, which W&B >= 0.19 answers with "The anonymous setting has no effect"
    logger._wandb_init.pop("anonymous", None)
    return logger


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")  # Lightning's advertisement for its cloud logger


def quiet_library_noise() -> None:
    """Silence, at their source, the messages every run printed that say nothing about the run.

    Lightning's own console handler (its messages then appear once, through Hydra's log and train.log), its
    litlogger tip, and its use of a torch pytree API that torch deprecated (Lightning's code, not ours). Real
    warnings are untouched.
    """
    if logging.getLogger().hasHandlers():  # Hydra configured logging: Lightning's handler would print twice
        logging.getLogger("lightning").handlers.clear()
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropTips())
    leafspec = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
    warnings.filterwarnings("ignore", message=leafspec, category=FutureWarning)
