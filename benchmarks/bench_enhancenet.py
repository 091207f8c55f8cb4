"""Speed of EnhanceNet (thesis ch. 2), Lightning side by side with plain PyTorch, in one process.

(a) Generator inference (4x): a plain ``EnhanceNetGenerator`` call vs. the ``EnhanceNet`` LightningModule's
    ``forward``, both under ``torch.inference_mode``, same weights; the outputs must match exactly.
(b) One full training step of ENet-PAT (Table 2.2: L_P + L_T + L_A with the gated discriminator of Sec. 2.4.2)
    or ENet-E: ``Trainer.fit`` on the real ``EnhanceNet`` module vs. a plain-PyTorch loop doing the same maths
    with the same network classes, loss functions, gate and Adam optimisers (lr 1e-4). Both read the same fixed
    list of crops (drawn once from ``sr_image.data.RandomCropDataset`` on the embedded images) through the same
    kind of DataLoader, start from the same weights, and are run in alternating blocks (L P L P ...) so that
    machine noise hits both alike. Per block: ``--warmup`` untimed steps, then ``--steps`` timed ones.

A step's time is the time between consecutive batch starts (everything: data loading, hooks, logging, D and G
updates); on CUDA the first timed start and the last step's end are synchronised, so the block mean is exact.
After the last block the two models' weights are compared: the loops did the same maths if they agree.

Usage:
    .venv/bin/python benchmarks/bench_enhancenet.py [--device cpu|cuda] [--steps N] [--batch-size B]
        [--model pat|e] [--precision 32-true|bf16-mixed] [--threads T] [--json out.json]
"""

import argparse
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
from torch.utils.data import DataLoader, Dataset

from sr_image.data import HRImages, RandomCropDataset
from sr_image.losses import (
    VGGFeatures,
    adversarial_loss,
    discriminator_accuracy,
    discriminator_gate,
    discriminator_loss,
    normalize_features,
    perceptual_loss,
    pixel_loss,
    texture_loss,
)
from sr_image.module import EnhanceNet
from sr_image.nets import EnhanceNetDiscriminator, EnhanceNetGenerator

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--model", choices=["pat", "e"], default="pat", help="ENet-PAT or ENet-E (Table 2.2)")
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true")
    p.add_argument("--batch-size", type=int, default=4, help="training crops per step (thesis: 16)")
    p.add_argument("--steps", type=int, default=2, help="timed training steps per block")
    p.add_argument("--warmup", type=int, default=1, help="untimed training steps at the start of each block")
    p.add_argument("--repeats", type=int, default=3, help="blocks per loop, interleaved Lightning/plain")
    p.add_argument("--infer-sizes", default="32,128", help="LR sides for the inference benchmark")
    p.add_argument("--infer-batch", type=int, default=2, help="LR images per inference call")
    p.add_argument("--infer-repeats", type=int, default=4, help="timed calls per inference path and size")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    for name in ("batch_size", "steps", "repeats", "infer_batch", "infer_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.threads < 0:
        p.error("--warmup and --threads must be >= 0")
    return args


def model_hparams(model: str) -> dict:
    """The EnhanceNet arguments of ``conf/model/enhancenet_<model>.yaml``, with random VGG weights (offline)."""
    cfg = OmegaConf.merge(
        OmegaConf.load(CONF / "base" / "enhancenet.yaml"), OmegaConf.load(CONF / f"enhancenet_{model}.yaml")
    )
    hp = {k: v for k, v in OmegaConf.to_container(cfg).items() if not k.startswith("_") and k != "defaults"}
    hp["vgg_weights"] = "random"  # no network here; the speed does not depend on the weights' values
    hp["input_mean"] = tuple(hp["input_mean"])
    return hp


# ---- (a) inference -----------------------------------------------------------------------------------------
def bench_inference(module: EnhanceNet, plain: EnhanceNetGenerator, args, device) -> list[dict]:
    module.eval().to(device)
    plain.eval().to(device)
    paths = {"plain": plain, "lightning": module}
    rows = []
    for side in (int(s) for s in args.infer_sizes.split(",")):
        gen = torch.Generator().manual_seed(args.seed)
        lr = torch.rand(args.infer_batch, 3, side, side, generator=gen).to(device)
        times: dict[str, list[float]] = {k: [] for k in paths}
        with torch.inference_mode(), autocast(device, args.precision):
            outs = {k: f(lr) for k, f in paths.items()}  # warm-up, and the sanity check
            diff = (outs["plain"].float() - outs["lightning"].float()).abs().max().item()
            tol = 0.0 if device.type == "cpu" and args.precision == "32-true" else 1e-2  # GPU kernels may vary
            if diff > tol:
                raise AssertionError(f"LightningModule.forward differs from the plain generator by {diff}")
            for rep in range(args.infer_repeats):
                order = list(paths.items()) if rep % 2 == 0 else list(paths.items())[::-1]
                for name, f in order:  # interleaved, first one alternating (ABBA): no order bias
                    sync(device)
                    t0 = time.perf_counter()
                    f(lr)
                    sync(device)
                    times[name].append(time.perf_counter() - t0)
        for name in paths:
            ms = 1e3 * statistics.median(times[name]) / args.infer_batch
            rows.append(
                {"path": name, "lr": side, "hr": side * module.hparams.scale, "batch": args.infer_batch,
                 "ms_per_image": ms, "images_per_s": 1e3 / ms, "max_abs_diff": diff}
            )  # fmt: skip
    return rows


# ---- (b) training ------------------------------------------------------------------------------------------
class CropList(Dataset):
    """A fixed list of crops, so that both loops read exactly the same data in the same order."""

    def __init__(self, samples: list[dict[str, Tensor]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.samples[i]


def fixed_crops(hp: dict, n: int, seed: int) -> list[dict[str, Tensor]]:
    images = HRImages(None, "train", hp["lr_patch_size"] * hp["scale"])
    ds = RandomCropDataset(images, hp["scale"], hp["lr_patch_size"], length=n)
    torch.manual_seed(seed)
    return [ds[i] for i in range(n)]


def make_loader(crops: list[dict[str, Tensor]], batch_size: int) -> DataLoader:
    return DataLoader(CropList(crops), batch_size=batch_size, shuffle=False, drop_last=True, num_workers=0)


class PlainEnhanceNet:
    """``EnhanceNet.training_step`` as a plain-PyTorch loop: same networks, losses, gate and optimisers."""

    def __init__(self, hp: dict, like: EnhanceNet, device: torch.device, precision: str) -> None:
        self.hp, self.device, self.precision = hp, device, precision
        self.gen = EnhanceNetGenerator(hp["scale"], hp["num_blocks"], hp["num_filters"], hp["input_mean"])
        self.pw, self.tw = dict(hp["perceptual_weights"]), dict(hp["texture_weights"])
        layers = sorted(set(self.pw) | set(self.tw))
        self.vgg = VGGFeatures(layers, hp["vgg_weights"]) if layers else None
        hr_patch = hp["lr_patch_size"] * hp["scale"]
        self.disc = EnhanceNetDiscriminator(hr_patch) if hp["adversarial_weight"] > 0 else None
        # Start from the Lightning module's weights, so that the two runs can be compared at the end.
        self.gen.load_state_dict(like.generator.state_dict())
        if self.vgg is not None:
            self.vgg.load_state_dict(like.vgg.state_dict())
        if self.disc is not None:
            self.disc.load_state_dict(like.discriminator.state_dict())
        for net in (self.gen, self.vgg, self.disc):
            if net is not None:
                net.to(device).train()
        self.acc_real = torch.zeros((), device=device)
        self.acc_fake = torch.zeros((), device=device)
        self.d_steps = torch.zeros((), dtype=torch.long, device=device)

    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | None]:
        opt_g = torch.optim.Adam(self.gen.parameters(), lr=self.hp["lr_g"])
        opt_d = torch.optim.Adam(self.disc.parameters(), lr=self.hp["lr_d"]) if self.disc is not None else None
        return opt_g, opt_d

    def generator_loss(self, est: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        hp, parts = self.hp, {}
        total = est.new_zeros(())
        if hp["pixel_weight"]:
            parts["loss_e"] = pixel_loss(est, hr)
            total = total + hp["pixel_weight"] * parts["loss_e"]
        if self.vgg is not None:
            est_f = self.vgg(est)
            with torch.no_grad():
                hr_f = self.vgg(hr)
            if hp["vgg_feature_norm"]:
                for name in est_f:
                    est_f[name], hr_f[name] = normalize_features(est_f[name], hr_f[name])
            if self.pw:
                parts["loss_p"] = perceptual_loss(est_f, hr_f, self.pw)
                total = total + parts["loss_p"]
            if self.tw:
                parts["loss_t"] = texture_loss(est_f, hr_f, self.tw, hp["texture_patch_size"])
                total = total + parts["loss_t"]
        if self.disc is not None:
            parts["loss_a"] = adversarial_loss(self.disc(est))
            total = total + hp["adversarial_weight"] * parts["loss_a"]
        return total, parts

    def step(self, batch: dict[str, Tensor], opt_g, opt_d) -> dict[str, Tensor]:
        lr, hr = batch["lr"], batch["hr"]
        logs: dict[str, Tensor] = {}
        with autocast(self.device, self.precision):
            est = self.gen(lr)
            if self.disc is not None:
                train_d = discriminator_gate(self.acc_real, self.acc_fake, self.hp["gate_threshold"])
                real_logits, fake_logits = self.disc(hr), self.disc(est.detach())
                loss_d = discriminator_loss(real_logits, fake_logits)
                if train_d:  # host sync, as in the module
                    opt_d.zero_grad()
                    loss_d.backward()
                    opt_d.step()
                acc_real, acc_fake = discriminator_accuracy(real_logits.detach(), fake_logits.detach())
                self.acc_real.copy_(acc_real)
                self.acc_fake.copy_(acc_fake)
                self.d_steps += train_d.long()
                logs |= {
                    "loss_d": loss_d.detach(),
                    "d_acc_real": acc_real,
                    "d_acc_fake": acc_fake,
                    "d_trained": train_d,
                }
                self.disc.requires_grad_(False)  # what Lightning's toggle_optimizer(opt_g) does
            loss_g, parts = self.generator_loss(est, hr)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            if self.disc is not None:
                self.disc.requires_grad_(True)
        logs |= {"loss_g": loss_g.detach(), **{k: v.detach() for k, v in parts.items()}}
        return logs

    def fit(self, loader: DataLoader, timer: StepTimer) -> None:
        opt_g, opt_d = self.optimizers()  # fresh per block, as Trainer.fit calls configure_optimizers
        for batch_idx, batch in enumerate(loader):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            timer.on_train_batch_start(None, None, batch, batch_idx)
            self.step(batch, opt_g, opt_d)
            timer.on_train_batch_end(None, None, None, batch, batch_idx)


def lightning_fit(module: EnhanceNet, loader: DataLoader, timer: StepTimer, args) -> None:
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_steps=len(loader),
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)


def bench_training(module: EnhanceNet, plain: PlainEnhanceNet, hp: dict, args, device) -> dict:
    n = args.warmup + args.steps
    loader = make_loader(fixed_crops(hp, n * args.batch_size, args.seed), args.batch_size)
    step_s: dict[str, list[float]] = {"lightning": [], "plain": []}
    block_s: dict[str, list[float]] = {"lightning": [], "plain": []}
    cpu_s: dict[str, list[float]] = {"lightning": [], "plain": []}
    wall_s: dict[str, list[float]] = {"lightning": [], "plain": []}
    for _ in range(args.repeats):
        for name in ("lightning", "plain"):  # ABAB
            timer = StepTimer(args.warmup, n, device)
            t0 = time.perf_counter()
            if name == "lightning":
                lightning_fit(module, loader, timer, args)
            else:
                plain.fit(loader, timer)
            wall_s[name].append(time.perf_counter() - t0)
            timed = timer.stamps[args.warmup :]
            step_s[name] += [b - a for a, b in zip(timed[:-1], timed[1:], strict=True)]
            block_s[name].append((timed[-1] - timed[0]) / args.steps)
            cpu = timer.cpu[args.warmup :]
            cpu_s[name] += [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    if torch.get_num_threads() != args.threads:
        warnings.warn(f"torch threads changed to {torch.get_num_threads()} during the run", stacklevel=1)
    # Same maths => same weights after the same steps on the same data (up to reduction order on GPUs).
    pairs = [(module.generator, plain.gen)] + ([(module.discriminator, plain.disc)] if plain.disc else [])
    weight_diff = max(
        (a.detach().float() - b.detach().float()).abs().max().item()
        for m, p in pairs
        for a, b in zip(m.parameters(), p.parameters(), strict=True)
    )
    res: dict = {}
    for name in step_s:
        res[name] = {
            "median_step_s": statistics.median(step_s[name]),
            "median_block_mean_s": statistics.median(block_s[name]),
            "min_block_mean_s": min(block_s[name]),
            "median_step_cpu_s": statistics.median(cpu_s[name]),
            "fit_wall_s": wall_s[name],
            "step_s": step_s[name],
        }
    res["ratio_median_step"] = res["lightning"]["median_step_s"] / res["plain"]["median_step_s"]
    res["ratio_block_mean"] = res["lightning"]["median_block_mean_s"] / res["plain"]["median_block_mean_s"]
    res["ratio_median_step_cpu"] = res["lightning"]["median_step_cpu_s"] / res["plain"]["median_step_cpu_s"]
    res["max_weight_diff"] = weight_diff
    res["d_steps"] = {"lightning": int(module.d_steps), "plain": int(plain.d_steps)}
    return res


# ---- report ------------------------------------------------------------------------------------------------
def markdown(infer: list[dict], train: dict, args, hp_name: str) -> str:
    lines = [
        f"### Inference (EnhanceNetGenerator 4x, batch {args.infer_batch}, {args.device}, {args.precision})",
        "",
        "| path | LR -> HR | ms/image | images/s |",
        "|---|---|---:|---:|",
    ]
    for r in infer:
        lines.append(f"| {r['path']} | {r['lr']}² -> {r['hr']}² | {r['ms_per_image']:.1f} | {r['images_per_s']:.2f} |")
    lines.append(f"\nLightningModule.forward vs plain call: max |diff| = {max(r['max_abs_diff'] for r in infer):g}\n")
    lines += [
        f"### Training step ({hp_name}, batch {args.batch_size}, {args.device}, {args.precision}, "
        f"{args.repeats}x({args.warmup} warm-up + {args.steps} timed) steps per loop, interleaved)",
        "",
        "| loop | median s/step | block mean s/step (median) | block mean s/step (min) | median CPU s/step |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("plain", "lightning"):
        r = train[name]
        lines.append(
            f"| {name} | {r['median_step_s']:.3f} | {r['median_block_mean_s']:.3f} | {r['min_block_mean_s']:.3f} "
            f"| {r['median_step_cpu_s']:.3f} |"
        )
    lines += [
        f"| **Lightning / plain** | **{train['ratio_median_step']:.3f}** | **{train['ratio_block_mean']:.3f}** "
        f"| {train['lightning']['min_block_mean_s'] / train['plain']['min_block_mean_s']:.3f} "
        f"| **{train['ratio_median_step_cpu']:.3f}** |",
        "",
        f"Max |weight difference| after all blocks: {train['max_weight_diff']:g}; "
        f"D updates: Lightning {train['d_steps']['lightning']}, plain {train['d_steps']['plain']}.",
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
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # the frozen VGG, on purpose
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    device = torch.device(args.device)

    hp = model_hparams(args.model)
    torch.manual_seed(args.seed)
    module = EnhanceNet(**hp)
    plain = PlainEnhanceNet(hp, module, device, args.precision)
    plain_gen = EnhanceNetGenerator(hp["scale"], hp["num_blocks"], hp["num_filters"], hp["input_mean"])
    plain_gen.load_state_dict(module.generator.state_dict())

    t0 = time.perf_counter()
    infer = bench_inference(module, plain_gen, args, device)
    t_infer = time.perf_counter() - t0
    module.train()
    t0 = time.perf_counter()
    train = bench_training(module, plain, hp, args, device)
    t_train = time.perf_counter() - t0

    hp_name = {"pat": "ENet-PAT", "e": "ENet-E"}[args.model]
    print(markdown(infer, train, args, hp_name))
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"\n{dev}, {args.threads} thread(s), torch {torch.__version__}, lightning {pl.__version__}; "
          f"inference {t_infer:.0f} s, training {t_train:.0f} s")  # fmt: skip
    if args.device == "cpu" and train["ratio_median_step"] > 1.10:
        print("NOTE: Lightning's per-step overhead is above 10% in this run (noisy machine? rerun with more --steps)")
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "model": hp_name,
        "device": dev,
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "inference": infer,
        "training": train,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
