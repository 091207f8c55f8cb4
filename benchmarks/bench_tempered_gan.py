"""Speed of a Tempered-GAN training iteration (thesis ch. 4), with and without the lens, Lightning vs. plain PyTorch.

What is timed: one generator iteration of ``--gan`` (``dcgan``: classical GAN loss, batch norm in G and D, Adam;
``lsgan``: least-squares loss, no batch norm, Adam; ``wgan_gp``: critic loss + gradient penalty, batch norm in G
only, RMSprop, ``n_critic`` 5, latent 128; Sec. 4.2.4), each configuration with the lens off and on:

(L) Lightning: ``Trainer.fit`` on the real ``tempered_gan.module.TemperedGAN`` (manual optimisation; no
    validation, logger, checkpointing, progress bar or model summary).
(P) Plain PyTorch: a hand-written loop doing ``TemperedGAN.training_step``'s maths in its order with the same
    network classes (``Generator``, ``Discriminator``, ``Lens``), loss functions (``objectives``,
    ``gradient_penalty``, ``lens_lambda``, ``lens_reconstruction_loss_4_2``) and optimisers (Adam lr 1e-4, betas
    (0.5, 0.999) / RMSprop lr 1e-4). Per iteration: ``n_critic`` D steps (fake = G(z) and real = L(x) or x under
    ``no_grad``; D loss, + 10 GP for WGAN-GP), then the lens step (lambda L_adv(D(L(x))) + ||x - L(x)||^2, D frozen
    as ``toggle_optimizer`` freezes it), then the G step (L_G(D(G(z))), D frozen).

One batch holds ``n_critic`` mini-batches of ``--batch-size`` images in [0, 1] (``{"x": ...}``; the module maps
them to [-1, 1] and chunks them, one chunk per D step; the lens and G steps use the last chunk). Both loops start
from the same weights (the module is built under ``--seed``; the plain loop gets deep copies of its generator,
discriminator and lens, built before any training), read the same fixed list of images (drawn once from
``tempered_gan.data.build_dataset(--dataset, "train")``) through the same kind of DataLoader, and draw their noise
from the global RNG in the same order, seeded identically before each block. They run in alternating blocks
(per block: L off, P off, L on, P on), ``--blocks`` times; each block is a fresh ``Trainer.fit`` (fresh
optimisers, as Lightning creates them) with ``--warmup`` untimed iterations, then ``--steps`` timed ones. A step's
time is the time between consecutive batch starts (data loading, hooks, logging, all D / lens / G updates); on
CUDA the first timed start and the last step's end are synchronised, so the block mean is exact. After the last
block the two sides' weights (and batch-norm buffers) are compared: the loops did the same maths if they agree.

The module's own logging work is mirrored in the plain loop (detached losses, mean D outputs), including the
one extra no-grad D forward on the raw data that ``training_step`` runs with a lens whenever
``global_step % log_every_n_steps == 0``. The Trainer gets ``log_every_n_steps=10**9``, so this happens at
iteration 0 of each block only (a warm-up step unless ``--warmup 0``), in both loops.

Where the lens's cost comes from: G and D are small strided DCGAN networks (Fig. 4.3) working mostly at 4x4 to
16x16 (stride-2 4x4 (transposed) convolutions); the lens (Fig. 4.4) has 2 + 2 * 8 = 18 full-resolution (32x32)
3x3 convolutions at ``--lens-width`` channels (16 of them width -> width). With C = 64 and width 64 that is about
0.6 GMAC per image against about 0.02 GMAC for G or D, i.e. ~34x either network. The lens runs forward in every
D step (under ``no_grad``, to make D's "real" input) and forward + backward in the lens step (through D as well),
so it dominates the iteration. The script counts the multiply-adds of every Conv2d / ConvTranspose2d / Linear
layer (forward hooks on one input) and prints a FLOP model of one iteration (trained network: forward + backward
~ 3x forward; frozen network that is back-propagated through: 2x (input gradients only); ``no_grad``: 1x;
WGAN-GP's gradient penalty 6x a D forward: D(x_hat) 1x, its input gradient with ``create_graph`` 1x, the double
backward 4x; these factors agree with torch's FLOP counter (``torch.utils.flop_counter``) on these networks within
2%), so the measured lens cost can be compared with the MAC ratio. Small convolutions run below peak
speed (and per-op overheads weigh more), so the measured ratio is usually below the MAC ratio, the more so the
smaller the batch and the faster the device.

Usage:
    .venv/bin/python benchmarks/bench_tempered_gan.py [--gan dcgan|lsgan|wgan_gp] [--device cpu|cuda]
        [--steps N] [--warmup N] [--blocks N] [--batch-size B] [--width C] [--lens-width W] [--lens-blocks K]
        [--dataset color_digits|digits] [--precision 32-true|bf16-mixed] [--threads T] [--json out.json]
"""

import argparse
import contextlib
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
from timing import StepTimer, autocast  # benchmarks/timing.py, next to this script
from torch import Tensor, nn
from torch.utils.data import DataLoader

from tempered_gan.data import CHANNELS, TensorImages, build_dataset
from tempered_gan.losses import gradient_penalty, lens_lambda, lens_reconstruction_loss_4_2, objectives
from tempered_gan.module import TemperedGAN
from tempered_gan.nets import IMAGE_SIZE, Discriminator, Generator, Lens

LOG_EVERY = 10**9  # Trainer(log_every_n_steps): the module's extra logging D forward at iteration 0 only
GP_COST = 6  # WGAN-GP's penalty in D forwards (FLOP model only; see the docstring)

# Sec. 4.2.4 and conf/model/{dcgan,lsgan,wgan_gp}.yaml
GANS = {
    "dcgan": {"gan_type": "gan", "batch_norm_g": True, "batch_norm_d": True, "optimizer": "adam", "n_critic": 1,
              "latent_dim": 100},
    "lsgan": {"gan_type": "lsgan", "batch_norm_g": False, "batch_norm_d": False, "optimizer": "adam", "n_critic": 1,
              "latent_dim": 100},
    "wgan_gp": {"gan_type": "wgan_gp", "batch_norm_g": True, "batch_norm_d": False, "optimizer": "rmsprop",
                "n_critic": 5, "latent_dim": 128},
}  # fmt: skip
CONFIGS = ("off", "on")  # lens
LOOPS = ("lightning", "plain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gan", choices=list(GANS), default="dcgan")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true")
    p.add_argument("--dataset", choices=["color_digits", "digits"], default="color_digits", help="3 or 1 channels")
    p.add_argument("--batch-size", type=int, default=64, help="images per mini-batch (Sec. 4.2.4: 64)")
    p.add_argument("--width", type=int, default=64, help="C of Fig. 4.3")
    p.add_argument("--lens-width", type=int, default=64, help="feature channels of the lens (Fig. 4.4)")
    p.add_argument("--lens-blocks", type=int, default=8, help="residual blocks of the lens (Fig. 4.4: 8)")
    p.add_argument("--steps", type=int, default=20, help="timed generator iterations per block")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations at the start of each block")
    p.add_argument("--blocks", type=int, default=2, help="blocks per loop and configuration, interleaved")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    for name in ("batch_size", "width", "lens_width", "lens_blocks", "steps", "blocks"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.threads < 0:
        p.error("--warmup and --threads must be >= 0")
    return args


def module_kwargs(args: argparse.Namespace, lens: bool) -> dict:
    """The ``TemperedGAN`` arguments of one configuration."""
    return {
        **GANS[args.gan],
        "lens": lens,
        "channels": CHANNELS[args.dataset],
        "width": args.width,
        "lens_blocks": args.lens_blocks,
        "lens_width": args.lens_width,
        "embedding": "digits",  # built, never used (no validation here)
    }


# ---- FLOPs ---------------------------------------------------------------------------------------------------
def count_macs(net: nn.Module, x: Tensor) -> int:
    """Multiply-adds of one forward pass per input sample, summed over Conv2d / ConvTranspose2d / Linear layers."""
    total = 0

    def hook(m: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        n = inputs[0].shape[0]
        if isinstance(m, nn.ConvTranspose2d):  # every input element is scattered to k*k*C_out/groups outputs
            total += inputs[0].numel() // n * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Conv2d):
            total += out.numel() // n * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() // n * m.in_features

    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]
    handles = [m.register_forward_hook(hook) for m in layers]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(x)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return total


def flop_model(args: argparse.Namespace) -> dict:
    """MACs per image of G, D and L, and a model of one generator iteration's MACs with and without the lens."""
    hp, c = GANS[args.gan], CHANNELS[args.dataset]
    g = count_macs(Generator(hp["latent_dim"], c, args.width, hp["batch_norm_g"]), torch.randn(2, hp["latent_dim"]))
    image = torch.randn(2, c, IMAGE_SIZE, IMAGE_SIZE)
    d = count_macs(Discriminator(c, args.width, hp["batch_norm_d"]), image)
    lens = count_macs(Lens(c, args.lens_blocks, args.lens_width), image)
    k, gp = hp["n_critic"], GP_COST if hp["gan_type"] == "wgan_gp" else 0
    # per image of a mini-batch; trained: 3x forward, frozen but back-propagated through: 2x, no_grad: 1x
    d_step = g + 3 * 2 * d + gp * d  # G(z) no_grad; D on real and fake, trained; + the gradient penalty
    g_step = 3 * g + 2 * d  # G trained through the frozen D
    base = k * d_step + g_step
    extra = k * lens + (3 * lens + 2 * d)  # L(x) no_grad in every D step; lens step: L trained through frozen D
    return {
        "macs_per_image": {"generator": g, "discriminator": d, "lens": lens},
        "lens_over_d": lens / d,
        "lens_over_g": lens / g,
        "iteration_macs_per_image": {"off": base, "on": base + extra},
        "iteration_macs_lens_share": extra / (base + extra),
        "predicted_lens_cost": (base + extra) / base,
        "model": "trained net 3x fwd, frozen net back-propagated through 2x, no_grad 1x, WGAN-GP penalty "
        f"{GP_COST}x a D forward",
    }


# ---- the two loops -------------------------------------------------------------------------------------------
def fixed_images(dataset: str, n: int) -> Tensor:
    """The first ``n`` training images (cycled if the split is smaller), (n, C, 32, 32) in [0, 1]."""
    ds = build_dataset(dataset, "train")
    return torch.stack([ds[i % len(ds)]["x"] for i in range(n)])


def make_loader(images: Tensor, batch_size: int) -> DataLoader:
    return DataLoader(TensorImages(images), batch_size=batch_size, shuffle=False, drop_last=True, num_workers=0)


class PlainTemperedGAN:
    """``TemperedGAN.training_step`` as a plain-PyTorch loop: same networks (copied), losses, order and optimisers."""

    def __init__(self, like: TemperedGAN, device: torch.device, precision: str) -> None:
        self.hp, self.device, self.precision = like.hparams, device, precision
        self.loss_g, self.loss_d, self.loss_lens = objectives(self.hp.gan_type)
        # Deep copies of the module's freshly built networks: both loops start from the same weights.
        self.gen = copy.deepcopy(like.generator).to(device).train()
        self.disc = copy.deepcopy(like.discriminator).to(device).train()
        self.lens = copy.deepcopy(like.lens).to(device).train() if like.lens is not None else None
        self.lens_t = torch.zeros((), dtype=torch.long, device=device)  # Eq. 4.4's t, kept across blocks

    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        hp = self.hp

        def make(params):
            if hp.optimizer == "adam":
                return torch.optim.Adam(params, lr=hp.lr, betas=tuple(hp.betas))
            return torch.optim.RMSprop(params, lr=hp.lr)

        opts = [make(self.gen.parameters()), make(self.disc.parameters())]
        if self.lens is not None:
            opts.append(make(self.lens.parameters()))
        return tuple(opts)

    def sample_z(self, n: int) -> Tensor:
        return torch.randn(n, self.hp.latent_dim, device=self.device)

    def _d_value(self, out: Tensor) -> Tensor:
        out = out.detach().float()
        return (out if self.hp.gan_type == "wgan_gp" else torch.sigmoid(out)).mean()

    def _frozen(self, *nets: nn.Module | None) -> contextlib.ExitStack:
        """What ``toggle_optimizer`` does for the networks of the other optimisers (no gradient accumulated)."""
        stack = contextlib.ExitStack()
        for net in nets:
            if net is not None:
                net.requires_grad_(False)
                stack.callback(net.requires_grad_, True)
        return stack

    def discriminator_step(self, x: Tensor, opt_d) -> dict[str, Tensor]:
        with torch.no_grad():
            fake = self.gen(self.sample_z(x.shape[0]))
            real = self.lens(x) if self.lens is not None else x
        real_out, fake_out = self.disc(real), self.disc(fake)
        loss = self.loss_d(real_out, fake_out)
        logs = {"loss_d": loss.detach()}
        if self.hp.gan_type == "wgan_gp":
            gp = gradient_penalty(self.disc, real, fake)
            loss = loss + self.hp.gp_weight * gp
            logs["gp"] = gp.detach()
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        real_key = "d_lensed" if self.lens is not None else "d_real"
        return logs | {real_key: self._d_value(real_out), "d_fake": self._d_value(fake_out)}

    def lens_step(self, x: Tensor, opt_l) -> dict[str, Tensor]:
        lam = lens_lambda(self.lens_t, self.hp.lens_k)
        with self._frozen(self.gen, self.disc):
            lensed = self.lens(x)
            adversarial = self.loss_lens(self.disc(lensed))
            recon = lens_reconstruction_loss_4_2(x, lensed, self.hp.lens_recon)
            opt_l.zero_grad()
            (lam * adversarial + recon).backward()
            opt_l.step()
        self.lens_t += 1
        return {"loss_lens_adv": adversarial.detach(), "lens_recon": recon.detach(), "lambda": lam}

    def generator_step(self, n: int, opt_g) -> dict[str, Tensor]:
        with self._frozen(self.disc, self.lens):
            loss = self.loss_g(self.disc(self.gen(self.sample_z(n))))
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
        return {"loss_g": loss.detach()}

    def step(self, batch: dict[str, Tensor], step: int, opts) -> dict[str, Tensor]:
        opt_g, opt_d, *opt_l = opts
        with autocast(self.device, self.precision):
            chunks = (batch["x"] * 2 - 1).chunk(self.hp.n_critic)
            logs: dict[str, Tensor] = {}
            for x in chunks:
                logs |= self.discriminator_step(x, opt_d)
            if self.lens is not None:
                logs |= self.lens_step(chunks[-1], opt_l[0])
                if step % LOG_EVERY == 0:  # the module's logging D forward on the raw data
                    with torch.no_grad():
                        logs["d_real"] = self._d_value(self.disc(chunks[-1]))
            logs |= self.generator_step(chunks[-1].shape[0], opt_g)
        return logs

    def fit(self, loader: DataLoader, timer: StepTimer) -> None:
        opts = self.optimizers()  # fresh per block, as Trainer.fit calls configure_optimizers
        for batch_idx, batch in enumerate(loader):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            timer.on_train_batch_start(None, None, batch, batch_idx)
            self.step(batch, batch_idx, opts)  # one generator step per batch: step == global_step
            timer.on_train_batch_end(None, None, None, batch, batch_idx)


def lightning_fit(module: TemperedGAN, loader: DataLoader, timer: StepTimer, args: argparse.Namespace) -> None:
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_steps=len(loader),  # generator steps: one per batch
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=LOG_EVERY,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)


def max_diff(module: TemperedGAN, plain: PlainTemperedGAN) -> dict[str, float]:
    """Largest |difference| of the two sides' parameters and floating-point buffers (batch-norm statistics)."""
    pairs = [(module.generator, plain.gen), (module.discriminator, plain.disc)]
    if plain.lens is not None:
        pairs.append((module.lens, plain.lens))

    def diff(tensors) -> float:
        return max(
            ((a.detach().float() - b.detach().float()).abs().max().item() for a, b in tensors if a.is_floating_point()),
            default=0.0,
        )

    params = diff((a, b) for m, p in pairs for a, b in zip(m.parameters(), p.parameters(), strict=True))
    buffers = diff((a, b) for m, p in pairs for a, b in zip(m.buffers(), p.buffers(), strict=True))
    return {"parameters": params, "buffers": buffers}


def bench_training(args: argparse.Namespace, device: torch.device) -> dict:
    hp = GANS[args.gan]
    n = args.warmup + args.steps
    per_batch = args.batch_size * hp["n_critic"]
    loader = make_loader(fixed_images(args.dataset, n * per_batch), per_batch)
    modules, plains = {}, {}
    for cfg in CONFIGS:
        torch.manual_seed(args.seed)  # same G and D with and without the lens (the lens has its own RNG stream)
        modules[cfg] = TemperedGAN(**module_kwargs(args, cfg == "on"))
        plains[cfg] = PlainTemperedGAN(modules[cfg], device, args.precision)
    same_init = all(
        torch.equal(a, b)
        for net in ("generator", "discriminator")
        for a, b in zip(
            getattr(modules["off"], net).state_dict().values(),
            getattr(modules["on"], net).state_dict().values(),
            strict=True,
        )
    )
    keys = [(cfg, name) for cfg in CONFIGS for name in LOOPS]
    step_s: dict = {k: [] for k in keys}
    block_s: dict = {k: [] for k in keys}
    cpu_s: dict = {k: [] for k in keys}
    wall_s: dict = {k: [] for k in keys}
    for block in range(args.blocks):
        for cfg, name in keys:  # per block: L off, P off, L on, P on
            torch.manual_seed(args.seed + 1 + block)  # the same noise draws on both sides
            timer = StepTimer(args.warmup, n, device)
            t0 = time.perf_counter()
            if name == "lightning":
                lightning_fit(modules[cfg], loader, timer, args)
            else:
                plains[cfg].fit(loader, timer)
            wall_s[cfg, name].append(time.perf_counter() - t0)
            timed = timer.stamps[args.warmup :]
            step_s[cfg, name] += [b - a for a, b in zip(timed[:-1], timed[1:], strict=True)]
            block_s[cfg, name].append((timed[-1] - timed[0]) / args.steps)
            cpu = timer.cpu[args.warmup :]
            cpu_s[cfg, name] += [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    if torch.get_num_threads() != args.threads:
        warnings.warn(f"torch threads changed to {torch.get_num_threads()} during the run", stacklevel=1)

    res: dict = {"same_initial_g_d": same_init}
    for cfg in CONFIGS:
        r: dict = {}
        for name in LOOPS:
            k = (cfg, name)
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
        r["max_abs_diff"] = max_diff(modules[cfg], plains[cfg])
        r["lens_t"] = {"lightning": int(modules[cfg].lens_t), "plain": int(plains[cfg].lens_t)}
        res[cfg] = r
    res["lens_cost"] = {  # (time with lens) / (time without lens)
        name: {
            stat: res["on"][name][stat] / res["off"][name][stat]
            for stat in ("median_step_s", "median_block_mean_s", "median_step_cpu_s")
        }
        for name in LOOPS
    }
    return res


# ---- report ------------------------------------------------------------------------------------------------
def markdown(train: dict, flops: dict, args: argparse.Namespace) -> str:
    hp = GANS[args.gan]
    lines = [
        f"### {args.gan} ({args.dataset}, C={args.width}, lens {args.lens_blocks} blocks x {args.lens_width} ch, "
        f"batch {args.batch_size} x n_critic {hp['n_critic']}, {args.device}, {args.precision}, "
        f"{args.blocks}x({args.warmup} warm-up + {args.steps} timed) iterations per loop, interleaved)",
        "",
        "| lens | Lightning ms/it | plain ms/it | Lightning / plain | L CPU ms/it | P CPU ms/it | CPU L / P |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cfg in CONFIGS:
        r = train[cfg]
        lines.append(
            f"| {cfg} | {1e3 * r['lightning']['median_block_mean_s']:.1f} "
            f"| {1e3 * r['plain']['median_block_mean_s']:.1f} "
            f"| **{r['ratio_median_block_mean_s']:.3f}** | {1e3 * r['lightning']['median_step_cpu_s']:.1f} "
            f"| {1e3 * r['plain']['median_step_cpu_s']:.1f} | {r['ratio_median_step_cpu_s']:.3f} |"
        )
    cost = train["lens_cost"]
    m = flops["macs_per_image"]
    lines += [
        "",
        "ms/it: median over blocks of the block's mean time per generator iteration; CPU: median process CPU time "
        "per iteration (all threads).",
        "",
        "| lens cost (on / off) | wall (block mean) | CPU | MAC model |",
        "|---|---:|---:|---:|",
        f"| Lightning | **{cost['lightning']['median_block_mean_s']:.2f}x** "
        f"| {cost['lightning']['median_step_cpu_s']:.2f}x | {flops['predicted_lens_cost']:.2f}x |",
        f"| plain | **{cost['plain']['median_block_mean_s']:.2f}x** | {cost['plain']['median_step_cpu_s']:.2f}x "
        f"| {flops['predicted_lens_cost']:.2f}x |",
        "",
        f"MACs per image (forward): G {m['generator'] / 1e6:.1f} M, D {m['discriminator'] / 1e6:.1f} M, "
        f"lens {m['lens'] / 1e6:.1f} M ({flops['lens_over_d']:.1f}x D). Per iteration and image of a mini-batch: "
        f"{flops['iteration_macs_per_image']['off'] / 1e6:.0f} M without the lens, "
        f"{flops['iteration_macs_per_image']['on'] / 1e6:.0f} M with it "
        f"({100 * flops['iteration_macs_lens_share']:.0f}% in the lens) [{flops['model']}].",
        "",
        "Max |difference| Lightning vs. plain after all blocks (parameters / batch-norm buffers): "
        + "; ".join(
            f"lens {cfg}: {train[cfg]['max_abs_diff']['parameters']:g} / {train[cfg]['max_abs_diff']['buffers']:g}"
            for cfg in CONFIGS
        )
        + f". Same initial G and D with and without the lens: {train['same_initial_g_d']}.",
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
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # the frozen FID/PRD embedding
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    device = torch.device(args.device)

    flops = flop_model(args)
    t0 = time.perf_counter()
    train = bench_training(args, device)
    t_train = time.perf_counter() - t0

    print(markdown(train, flops, args))
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"\n{dev}, {args.threads} thread(s), torch {torch.__version__}, lightning {pl.__version__}; {t_train:.0f} s")
    tol = 0.0 if device.type == "cpu" else 1e-3  # GPU kernels may be non-deterministic
    for cfg in CONFIGS:
        if train[cfg]["max_abs_diff"]["parameters"] > tol:
            print(f"WARNING: lens {cfg}: Lightning and plain weights differ; the loops did not do the same maths")
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "module_kwargs": {cfg: module_kwargs(args, cfg == "on") for cfg in CONFIGS},
        "device": dev,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "flops": flops,
        "training": train,
        "total_s": t_train,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
