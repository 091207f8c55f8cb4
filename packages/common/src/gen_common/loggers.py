"""Logger construction: W&B that never prompts or hangs, grouped per Hydra sweep."""

import netrc
import os
import socket
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
    mode = os.environ.get("WANDB_MODE", mode)
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
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        group=sweep_group() if group == "auto" else group,
        mode=resolved,
        tags=list(tags) if tags else None,
        log_model=False,
    )
