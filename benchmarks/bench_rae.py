"""Speed of the ch. 6 autoencoders: training step per variant (Lightning vs. plain PyTorch), evaluation protocol.

Part 1, training (default; ``--variants`` picks a subset of ``rae.module.VARIANTS``: vae, cv_vae, wae, rae_gp,
rae_l2, rae_sn, rae, ae). What is timed: one training step (forward, loss, backward, Adam update) on a mini-batch
of ``--batch-size`` digits (Sec. 6.8: 100), 1x32x32 in [0, 1], with the networks of Table 6.1 (MNIST column:
latent 16, 4x4 kernels, decoder ConvT widths 4 and 2 x ``--base-channels``; Table 6.1: 128):

(L) Lightning: ``Trainer.fit`` on the real ``rae.module.RegularizedAE`` (automatic optimisation: ``training_step``
    returns the loss; Lightning runs it, zeroes the gradients, back-propagates and steps Adam). No validation
    (``limit_val_batches=0``, no sanity check, so ``on_validation_epoch_end``'s density refit never runs), logger,
    checkpointing, progress bar or model summary.
(P) Plain PyTorch: a hand-written loop computing ``RegularizedAE.loss`` with the same loss functions of
    ``rae.losses`` and the same weights, on deep copies of the module's freshly built ``encoder`` and ``decoder``,
    with ``torch.optim.Adam(lr=1e-3)`` over the encoder's then the decoder's parameters (the order of
    ``RegularizedAE.parameters()`` in ``configure_optimizers``; the densities hold buffers only).

The loss weights (beta, lambda = ``reg_weight``, the CV-VAE's sigma) and lr are read from
``conf/model/base/rae.yaml`` + ``conf/model/<variant>.yaml`` (the official code's MNIST values), the architecture from
``conf/data/rae_digits.yaml``. Both loops start from the same weights, read the same fixed tensor of training
digits (``rae.data.build_splits("digits")[0]``: 749 images, cycled to fill the steps) through the same kind of
DataLoader (``{"x": images}``, no shuffling), and draw their noise (the VAE's reparameterisation, Eq. 6.11; the
CV-VAE's constant-variance noise, Eq. 6.13; the WAE's prior samples) from the global RNG in the same order, seeded
identically before each block. Blocks alternate (per block and variant: L, then P), ``--blocks`` times; each
block is a fresh ``Trainer.fit`` (fresh optimiser, as Lightning creates it) with ``--warmup`` untimed steps, then
``--steps`` timed ones. A step's time is the time between consecutive batch starts (data loading, hooks, logging,
forward, backward, update); on CUDA the first timed start and the last step's end are synchronised, so the block
mean is exact. After the last block the two sides' weights and buffers (batch-norm statistics, spectral-norm
vectors) are compared: the loops did the same maths if they agree.

Reported per variant: ms/step of L and P (median over blocks of the block mean), their ratio L / P, process CPU
time per step (all threads; disturbed less by other processes on a shared machine), each loop's step time
relative to the AE's (the cost of the variant's regulariser), and the FLOPs of one step per image counted by
``torch.utils.flop_counter`` (forward + backward, double backward included; batch of 2, per image) relative to
the AE's, the prediction for the time ratio.

Where the cost differs: every variant does E forward, D forward and one backward through both (about 3x the
forward FLOPs; with Table 6.1's widths D has ~10x E's multiply-adds: its two transposed convolutions run at 8x8
and 16x16 with 1024 -> 512 -> 256 channels). The latent terms (KL, ||z||^2, MMD on 16-d codes) and RAE-L2's sum of
squared decoder weights are negligible; RAE-SN adds one power iteration per layer and step. RAE-GP's penalty
(Eq. 6.17) needs the gradient of ||D(z)||^2 with respect to z with ``create_graph=True`` (an input-gradient
backward through D, ~1 D forward, whose graph is kept), and the loss's backward then goes through the decoder
twice: through the forward graph and through that gradient graph (the double backward, ~2 D forwards). So RAE-GP
costs about 3 D forwards more per step: ~1.9x the AE's FLOPs at ``--base-channels 128`` (the counter gives 13.6
vs. 7.1 GFLOP per image).

Part 2, evaluation (``--eval``, or ``--eval-only`` to skip part 1): per variant, on a randomly initialised model
(built under ``--seed``; the work hardly depends on the weights' values, except in the iterative fits that stop
at convergence: the GMM's EM, at most ``gmm_max_iter`` = 100 iterations, and PRD's k-means), in fp32:

(a) the ex-post density fit (Sec. 6.5), as ``RegularizedAE.fit_densities`` does it: encode the 749 training digits
    (mu, eval mode, ``predict_dataloader``), then fit the full-covariance Gaussian (``rae.density.FullGaussian``;
    nothing to fit for the VAE / WAE prior N(0, I)) and the 10-component GMM (``GaussianMixture``: scikit-learn's
    EM, on the CPU whatever the device). Timed separately: encode / Gaussian / GMM. The fitted densities are
    loaded into the model, as a trained checkpoint holds them.
(b) the test protocol of Sec. 6.8.1 as the module runs it: ``Trainer.test(model, datamodule=AEDataModule("digits"))``
    (data loaded once beforehand, not timed). ``on_test_epoch_start`` encodes the validation digits and builds four
    PRD / FID metrics; each test batch embeds the real images and four kinds of generated ones (reconstructions,
    samples of N / the fitted Gaussian, GMM samples, slerp midpoints) with the digits embedding (built on the
    model's first batch), up to ``--eval-samples`` images (default 899 = the whole digits test set; Sec. 6.8.1
    uses 10k); ``on_test_epoch_end`` computes the four PRD curves (20-cluster k-means, 10 runs each) and FIDs.
    Timed: the whole ``trainer.test`` wall clock, and its phases via a callback: setup (``on_test_epoch_start``),
    batches (embedding + generation + metric updates), compute (``on_test_epoch_end``: PRD + FID).
    If the densities were not fitted, ``on_test_epoch_start`` would do (a) first: a model's full evaluation costs
    (a) + (b) when its checkpoint has no fitted densities, (b) alone otherwise.

``--eval-warmup`` untimed runs of (a) + (b) on a throwaway model go first (imports, first-call overheads);
``--eval-repeats`` timed rounds over all variants, reported as medians.

Usage:
    .venv/bin/python benchmarks/bench_rae.py [--variants vae,...,ae] [--device cpu|cuda] [--steps N] [--warmup N]
        [--blocks N] [--batch-size B] [--base-channels C] [--precision 32-true|bf16-mixed] [--threads T]
        [--eval | --eval-only] [--eval-samples N] [--eval-repeats N] [--eval-warmup N] [--json out.json]
"""

import argparse
import copy
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from omegaconf import OmegaConf
from timing import StepTimer, autocast, sync  # benchmarks/timing.py, next to this script
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from rae.data import AEDataModule, ImageItems, build_splits
from rae.density import FullGaussian, GaussianMixture
from rae.losses import (
    cv_vae_kl_loss_6_14,
    cv_vae_sample_6_13,
    decoder_gradient_penalty_6_17,
    decoder_l2_loss_6_16,
    embedding_loss_6_14,
    imq_mmd_loss,
    reconstruction_loss_6_10,
    reparameterize_6_11,
    vae_kl_loss_6_12,
)
from rae.module import VARIANTS, RegularizedAE

CONF = Path(__file__).resolve().parents[1] / "conf"
DATASET = "digits"
LOOPS = ("lightning", "plain")
FLOP_BATCH = 2  # images per FLOP count (FLOPs per image do not depend on the batch size, except the tiny MMD)
HP_KEYS = ("beta", "reg_weight", "gp", "kl_reduction", "cv_sigma", "lr", "gmm_components", "gmm_max_iter")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true", help="training only")
    p.add_argument("--batch-size", type=int, default=100, help="images per training step (Sec. 6.8: 100)")
    p.add_argument("--base-channels", type=int, default=128, help="the encoder's first width (Table 6.1: 128)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per block")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each block")
    p.add_argument("--blocks", type=int, default=2, help="blocks per loop and variant, interleaved")
    p.add_argument("--eval", action="store_true", help="also time the evaluation protocol (part 2)")
    p.add_argument("--eval-only", action="store_true", help="time the evaluation protocol only")
    p.add_argument("--eval-samples", type=int, default=899, help="test images per FID / PRD (Sec. 6.8.1: 10k)")
    p.add_argument("--eval-repeats", type=int, default=1, help="timed evaluation rounds over all variants")
    p.add_argument("--eval-warmup", type=int, default=1, help="untimed evaluations on a throwaway model first")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants:
        p.error(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    for name in ("batch_size", "base_channels", "steps", "blocks", "eval_samples", "eval_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.batch_size < 2 and "wae" in args.variants:
        p.error("--batch-size must be >= 2 for the WAE (the MMD needs 2 codes)")
    if args.warmup < 0 or args.threads < 0 or args.eval_warmup < 0:
        p.error("--warmup, --eval-warmup and --threads must be >= 0")
    args.eval = args.eval or args.eval_only
    return args


def config_hparams(variant: str) -> dict:
    """Loss weights, lr and GMM settings of ``conf/model/base/rae.yaml`` + ``conf/model/<variant>.yaml``.

    Keys a config leaves out keep ``RegularizedAE``'s defaults (``cv_sigma`` is set for the CV-VAE only).
    """
    model = CONF / "model"
    cfg = OmegaConf.merge(OmegaConf.load(model / "base" / "rae.yaml"), OmegaConf.load(model / f"{variant}.yaml"))
    return {k: cfg[k] for k in HP_KEYS if k in cfg}


def module_kwargs(args: argparse.Namespace, variant: str) -> dict:
    """The ``RegularizedAE`` arguments of one variant on the digits (MNIST's column of Table 6.1)."""
    data = OmegaConf.load(CONF / "data" / "rae_digits.yaml")
    arch = OmegaConf.to_container(data.architecture)
    return {
        "variant": variant,
        "channels": int(data.channels),
        "latent_dim": arch["latent_dim"],
        "image_size": arch["image_size"],
        "kernel": arch["kernel"],
        "up_channels": tuple(arch["up_channels"]),
        "base_channels": args.base_channels,
        **config_hparams(variant),
        "embedding": str(data.embedding),
        "eval_samples": args.eval_samples,
    }


# ---- FLOPs ---------------------------------------------------------------------------------------------------
def step_flops(kwargs: dict, seed: int) -> float:
    """FLOPs of one training step's loss + backward per image (``torch.utils.flop_counter``, on the CPU)."""
    torch.manual_seed(seed)
    model = RegularizedAE(**kwargs).train()
    x = torch.rand(FLOP_BATCH, kwargs["channels"], kwargs["image_size"], kwargs["image_size"])
    with FlopCounterMode(display=False) as counter:
        total, _ = model.loss(x)
        total.backward()
    return counter.get_total_flops() / FLOP_BATCH


# ---- the two training loops ----------------------------------------------------------------------------------
def fixed_images(n: int) -> Tensor:
    """The first ``n`` training digits, cycling through the 749 of the split: (n, 1, 32, 32) in [0, 1]."""
    train = build_splits(DATASET)[0].tensors[0]
    return train[torch.arange(n) % train.shape[0]]


def make_loader(images: Tensor, batch_size: int) -> DataLoader:
    return DataLoader(
        ImageItems(TensorDataset(images)), batch_size=batch_size, shuffle=False, drop_last=True, num_workers=0
    )


class PlainAE:
    """``RegularizedAE``'s training step as a plain-PyTorch loop: copied networks, same losses, weights and Adam."""

    def __init__(self, like: RegularizedAE, device: torch.device, precision: str) -> None:
        self.hp, self.device, self.precision = like.hparams, device, precision
        n_params = len(list(like.encoder.parameters())) + len(list(like.decoder.parameters()))
        if len(list(like.parameters())) != n_params:
            raise RuntimeError("RegularizedAE has parameters outside encoder and decoder; update the plain loop")
        # Deep copies of the module's freshly built networks: both loops start from the same weights.
        self.encoder = copy.deepcopy(like.encoder).to(device).train()
        self.decoder = copy.deepcopy(like.decoder).to(device).train()
        self.logs: dict[str, Tensor] = {}

    def parameters(self):
        """Encoder, then decoder: the order of ``RegularizedAE.parameters()``."""
        yield from self.encoder.parameters()
        yield from self.decoder.parameters()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(z, mu, log_var) with the training noise, as ``RegularizedAE.training_codes_of(x)`` (k = 1)."""
        h = self.encoder(x * 2 - 1)
        if self.hp.variant == "vae":
            mu, log_var = h.chunk(2, dim=1)
            return reparameterize_6_11(mu, log_var), mu, log_var
        if self.hp.variant == "cv_vae":
            return cv_vae_sample_6_13(h, self.hp.cv_sigma), h, None
        return h, h, None

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``RegularizedAE.loss``: L_REC + beta * latent term + lambda * decoder regulariser."""
        hp, v = self.hp, self.hp.variant
        z, mu, log_var = self.encode(x)
        rec = self.decoder(z)
        total = rec_loss = reconstruction_loss_6_10(x, rec)
        parts = {"rec": rec_loss}
        pixels = x.shape[-2] * x.shape[-1]  # the module's default kl_reduction=official
        if v == "vae":
            parts["kl"] = vae_kl_loss_6_12(mu, log_var, "sum") / pixels
        elif v == "cv_vae":
            parts["kl"] = cv_vae_kl_loss_6_14(mu) / pixels
        elif v == "wae":
            parts["mmd"] = imq_mmd_loss(z, torch.randn_like(z))
        elif v != "ae":
            parts["emb"] = embedding_loss_6_14(z)
        if v == "rae_gp":
            parts["gp"] = decoder_gradient_penalty_6_17(rec, z, hp.gp)
        if v == "rae_l2":
            parts["l2"] = decoder_l2_loss_6_16(self.decoder)
        for name in ("kl", "mmd", "emb"):  # the module's order of additions
            if name in parts:
                total = total + hp.beta * parts[name]
        for name in ("gp", "l2"):
            if name in parts:
                total = total + hp.reg_weight * parts[name]
        return total, parts

    def fit(self, loader: DataLoader, timer: StepTimer) -> None:
        opt = torch.optim.Adam(self.parameters(), lr=self.hp.lr)  # fresh per block, as Trainer.fit creates it
        for batch_idx, batch in enumerate(loader):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            timer.on_train_batch_start(None, None, batch, batch_idx)
            with autocast(self.device, self.precision):  # Lightning autocasts training_step only
                total, parts = self.loss(batch["x"])
                self.logs = {k: v.detach() for k, v in parts.items()} | {"loss": total.detach()}  # module's logging
            opt.zero_grad()  # Lightning's order: training_step, zero_grad, backward, step
            total.backward()
            opt.step()
            timer.on_train_batch_end(None, None, None, batch, batch_idx)


def lightning_fit(module: RegularizedAE, loader: DataLoader, timer: StepTimer, args: argparse.Namespace) -> None:
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_steps=len(loader),
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)


def max_diff(module: RegularizedAE, plain: PlainAE) -> dict[str, float]:
    """Largest |difference| of the two sides' parameters and floating-point buffers (BN statistics, SN vectors)."""
    pairs = [(module.encoder, plain.encoder), (module.decoder, plain.decoder)]

    def diff(tensors) -> float:
        return max(
            (
                (a.detach().float().cpu() - b.detach().float().cpu()).abs().max().item()
                for a, b in tensors
                if a.is_floating_point()
            ),
            default=0.0,
        )

    params = diff((a, b) for m, p in pairs for a, b in zip(m.parameters(), p.parameters(), strict=True))
    buffers = diff((a, b) for m, p in pairs for a, b in zip(m.buffers(), p.buffers(), strict=True))
    return {"parameters": params, "buffers": buffers}


def bench_training(args: argparse.Namespace, device: torch.device) -> dict:
    n = args.warmup + args.steps
    loader = make_loader(fixed_images(n * args.batch_size), args.batch_size)
    modules, plains, flops = {}, {}, {}
    for v in args.variants:
        kwargs = module_kwargs(args, v)
        flops[v] = step_flops(kwargs, args.seed)
        torch.manual_seed(args.seed)
        modules[v] = RegularizedAE(**kwargs)
        plains[v] = PlainAE(modules[v], device, args.precision)
    keys = [(v, name) for v in args.variants for name in LOOPS]
    step_s: dict = {k: [] for k in keys}
    block_s: dict = {k: [] for k in keys}
    cpu_s: dict = {k: [] for k in keys}
    wall_s: dict = {k: [] for k in keys}
    for block in range(args.blocks):
        for v, name in keys:  # per block and variant: L, then P
            torch.manual_seed(args.seed + 1 + block)  # the same noise draws on both sides
            timer = StepTimer(args.warmup, n, device)
            t0 = time.perf_counter()
            if name == "lightning":
                lightning_fit(modules[v], loader, timer, args)
            else:
                plains[v].fit(loader, timer)
            wall_s[v, name].append(time.perf_counter() - t0)
            timed = timer.stamps[args.warmup :]
            step_s[v, name] += [b - a for a, b in zip(timed[:-1], timed[1:], strict=True)]
            block_s[v, name].append((timed[-1] - timed[0]) / args.steps)
            cpu = timer.cpu[args.warmup :]
            cpu_s[v, name] += [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    if torch.get_num_threads() != args.threads:
        warnings.warn(f"torch threads changed to {torch.get_num_threads()} during the run", stacklevel=1)

    res: dict = {}
    for v in args.variants:
        r: dict = {"module_kwargs": module_kwargs(args, v), "step_flops_per_image": flops[v]}
        for name in LOOPS:
            k = (v, name)
            r[name] = {
                "median_step_s": statistics.median(step_s[k]),
                "median_block_mean_s": statistics.median(block_s[k]),
                "min_block_mean_s": min(block_s[k]),
                "median_step_cpu_s": statistics.median(cpu_s[k]),
                "block_mean_s": block_s[k],
                "fit_wall_s": wall_s[k],
                "step_s": step_s[k],
            }
        for stat in ("median_step_s", "median_block_mean_s", "median_step_cpu_s"):
            r[f"ratio_{stat}"] = r["lightning"][stat] / r["plain"][stat]  # Lightning / plain
        r["max_abs_diff"] = max_diff(modules[v], plains[v])
        res[v] = r
    if "ae" in res:  # the regulariser's cost: (time of the variant) / (time of the AE)
        for v in args.variants:
            res[v]["over_ae"] = {
                name: {
                    stat: res[v][name][stat] / res["ae"][name][stat]
                    for stat in ("median_step_s", "median_block_mean_s", "median_step_cpu_s")
                }
                for name in LOOPS
            } | {"flops": flops[v] / flops["ae"]}
    return res


# ---- evaluation protocol -------------------------------------------------------------------------------------
class PhaseTimer(pl.Callback):
    """Stamps of ``Trainer.test``'s phases (synchronised on CUDA). Callback hooks run before the module's."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stamps: dict[str, float] = {}

    def _stamp(self, name: str) -> None:
        sync(self.device)
        self.stamps[name] = time.perf_counter()

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._stamp("epoch_start")  # before the module's on_test_epoch_start

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._stamp("first_batch")  # after the module's on_test_epoch_start

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._stamp("last_batch_end")

    def on_test_end(self, trainer, pl_module) -> None:
        self._stamp("end")  # after the module's on_test_epoch_end


def timed_density_fit(model: RegularizedAE, dm: AEDataModule, device: torch.device) -> dict[str, float]:
    """``RegularizedAE.fit_densities`` step by step, timed; loads the fitted densities into ``model``."""
    hp = model.hparams
    model.to(device).eval()
    sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        codes = torch.cat([model.encode(b["x"].to(device))[0] for b in dm.predict_dataloader()]).float()
    sync(device)
    t1 = time.perf_counter()
    gauss = type(model.density_n)(hp.latent_dim).to(device).fit(codes)  # StandardNormal (VAE, WAE): no-op
    sync(device)
    t2 = time.perf_counter()
    gmm = GaussianMixture(hp.latent_dim, hp.gmm_components, hp.gmm_max_iter).to(device).fit(codes)
    sync(device)
    t3 = time.perf_counter()
    model.density_n.load_state_dict(gauss.state_dict())
    model.density_gmm.load_state_dict(gmm.state_dict())
    model.train()
    return {
        "encode_s": t1 - t0,
        "gaussian_s": t2 - t1,
        "gmm_s": t3 - t2,
        "fit_s": t3 - t0,
        "num_codes": codes.shape[0],
        "gaussian_fitted": isinstance(gauss, FullGaussian),
    }


def timed_test(model: RegularizedAE, dm: AEDataModule, device: torch.device) -> dict:
    """Wall clock of ``Trainer.test`` (the Sec. 6.8.1 protocol) and of its phases."""
    timer = PhaseTimer(device)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    sync(device)
    t0 = time.perf_counter()
    trainer.test(model, datamodule=dm, verbose=False)
    sync(device)
    total = time.perf_counter() - t0
    s = timer.stamps
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    return {
        "test_s": total,
        "setup_s": s["first_batch"] - s["epoch_start"],
        "batches_s": s["last_batch_end"] - s["first_batch"],
        "compute_s": s["end"] - s["last_batch_end"],
        "num_samples": int(metrics.get("test/num_samples", 0)),
        "metrics": metrics,
    }


def bench_eval(args: argparse.Namespace, device: torch.device) -> dict:
    dm_kwargs = {
        k: v for k, v in OmegaConf.load(CONF / "data" / "base" / "rae.yaml").items() if k in ("eval_batch_size",)
    }
    dm = AEDataModule(DATASET, batch_size=args.batch_size, **dm_kwargs)
    dm.setup()  # load the data once, outside the timing
    for _ in range(args.eval_warmup):  # imports, allocator, first-call overheads: on a throwaway model
        torch.manual_seed(args.seed)
        model = RegularizedAE(**module_kwargs(args, args.variants[0]))
        timed_density_fit(model, dm, device)
        timed_test(model, dm, device)
    models = {}
    for v in args.variants:
        torch.manual_seed(args.seed)
        models[v] = RegularizedAE(**module_kwargs(args, v))  # random weights: timing only
    runs: dict = {v: [] for v in args.variants}
    for _ in range(args.eval_repeats):
        for v in args.variants:
            fit = timed_density_fit(models[v], dm, device)
            test = timed_test(models[v], dm, device)
            runs[v].append(fit | test | {"total_s": fit["fit_s"] + test["test_s"]})
    res: dict = {}
    for v in args.variants:
        keys = ("encode_s", "gaussian_s", "gmm_s", "fit_s", "test_s", "setup_s", "batches_s", "compute_s", "total_s")
        res[v] = {f"median_{k}": statistics.median(r[k] for r in runs[v]) for k in keys}
        res[v] |= {"num_samples": runs[v][-1]["num_samples"], "metrics": runs[v][-1]["metrics"], "runs": runs[v]}
    res["eval_batch_size"] = dm.hparams.eval_batch_size
    return res


# ---- report ------------------------------------------------------------------------------------------------
def markdown_training(train: dict, args: argparse.Namespace) -> str:
    lines = [
        f"### Training step ({DATASET}, base channels {args.base_channels}, batch {args.batch_size}, {args.device}, "
        f"{args.precision}, {args.blocks}x({args.warmup} warm-up + {args.steps} timed) steps per loop, interleaved)",
        "",
        "| variant | Lightning ms/step | plain ms/step | L / P | L CPU ms | P CPU ms | CPU L / P "
        "| L / AE | P / AE | GFLOP/img | FLOPs / AE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in args.variants:
        r = train[v]
        rel = r.get("over_ae")
        rel_cells = (
            f"{rel['lightning']['median_block_mean_s']:.2f}x | {rel['plain']['median_block_mean_s']:.2f}x "
            f"| {r['step_flops_per_image'] / 1e9:.3g} | {rel['flops']:.2f}x"
            if rel
            else f"- | - | {r['step_flops_per_image'] / 1e9:.3g} | -"
        )
        lines.append(
            f"| {v} | {1e3 * r['lightning']['median_block_mean_s']:.1f} "
            f"| {1e3 * r['plain']['median_block_mean_s']:.1f} "
            f"| **{r['ratio_median_block_mean_s']:.3f}** | {1e3 * r['lightning']['median_step_cpu_s']:.1f} "
            f"| {1e3 * r['plain']['median_step_cpu_s']:.1f} | {r['ratio_median_step_cpu_s']:.3f} | {rel_cells} |"
        )
    lines += [
        "",
        "ms/step: median over blocks of the block's mean time per step; CPU: median process CPU time per step (all "
        "threads); / AE: the variant's step time (block mean) over the AE's in the same loop; GFLOP/img: one step's "
        f"forward + backward FLOPs per image (torch.utils.flop_counter, batch {FLOP_BATCH}).",
        "",
        "Max |difference| Lightning vs. plain after all blocks (parameters / buffers): "
        + "; ".join(
            f"{v}: {train[v]['max_abs_diff']['parameters']:g} / {train[v]['max_abs_diff']['buffers']:g}"
            for v in args.variants
        )
        + ".",
    ]
    return "\n".join(lines)


def markdown_eval(ev: dict, args: argparse.Namespace) -> str:
    lines = [
        f"### Evaluation protocol per model ({DATASET}, base channels {args.base_channels}, {args.device}, fp32, "
        f"random weights, eval batch {ev['eval_batch_size']}, median of {args.eval_repeats} round(s))",
        "",
        "| variant | encode train s | Gaussian s | GMM s | **density fit s** | test setup s | test batches s "
        "| test compute s | **trainer.test s** | fit + test s | samples |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in args.variants:
        r = ev[v]
        lines.append(
            f"| {v} | {r['median_encode_s']:.3f} | {r['median_gaussian_s']:.3f} | {r['median_gmm_s']:.3f} "
            f"| **{r['median_fit_s']:.2f}** | {r['median_setup_s']:.3f} | {r['median_batches_s']:.2f} "
            f"| {r['median_compute_s']:.2f} | **{r['median_test_s']:.2f}** | {r['median_total_s']:.2f} "
            f"| {r['num_samples']} |"
        )
    lines += [
        "",
        "density fit: encode the training set + fit the Gaussian (none for VAE / WAE) and the 10-component GMM; "
        "trainer.test: the whole Sec. 6.8.1 protocol with fitted densities (setup: validation codes and metrics; "
        "batches: embedding the real and 4 x generated images, metric updates; compute: 4 x PRD + FID).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    if args.precision == "bf16-mixed" and args.device == "cpu":
        warnings.warn("bf16-mixed on CPU is supported but usually slower than 32-true", stacklevel=1)
    args.threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # lightning 2.6 vs torch 2.14, not ours
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    device = torch.device(args.device)

    train = ev = None
    t0 = time.perf_counter()
    if not args.eval_only:
        train = bench_training(args, device)
        print(markdown_training(train, args))
    t_train = time.perf_counter() - t0
    if args.eval:
        ev = bench_eval(args, device)
        print(("\n" if train else "") + markdown_eval(ev, args))
    t_total = time.perf_counter() - t0

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"\n{dev}, {args.threads} thread(s), torch {torch.__version__}, lightning {pl.__version__}; {t_total:.0f} s")
    if train:
        tol = 0.0 if device.type == "cpu" else 1e-3  # GPU kernels may be non-deterministic
        for v in args.variants:
            if train[v]["max_abs_diff"]["parameters"] > tol:
                print(f"WARNING: {v}: Lightning and plain weights differ; the loops did not do the same maths")
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "module_kwargs": {v: module_kwargs(args, v) for v in args.variants},
        "device": dev,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "training": train,
        "training_s": t_train if train else None,
        "eval": ev,
        "total_s": t_total,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
