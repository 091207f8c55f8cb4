"""Timing pieces the Lightning-vs-plain benchmarks share (imported by the bench_*.py scripts next to it)."""

import contextlib
import time

import lightning.pytorch as pl
import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """The plain loops' counterpart of Lightning's precision plugin: bf16 autocast for ``bf16-mixed``."""
    if precision == "bf16-mixed":
        # cache_enabled=False as Lightning: a network is used again after its update within the same step
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


class StepTimer(pl.Callback):
    """Time stamps at every batch start and at the end of the last batch (synchronised on CUDA).

    Wall clock, and this process's CPU time (all threads), which other processes on a shared machine disturb less.
    """

    def __init__(self, warmup: int, n_batches: int, device: torch.device) -> None:
        self.warmup, self.n_batches, self.device = warmup, n_batches, device
        self.stamps: list[float] = []
        self.cpu: list[float] = []

    def _stamp(self) -> None:
        self.stamps.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            sync(self.device)
        self._stamp()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.n_batches - 1:
            sync(self.device)
            self._stamp()
