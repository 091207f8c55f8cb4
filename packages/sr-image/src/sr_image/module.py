"""EnhanceNet LightningModule: wiring of nets and losses (thesis Sec. 2.4), no tensor maths of its own."""

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.core.optimizer import do_nothing_closure
from torch import Tensor
from torchmetrics import MeanMetric

from gen_common.finite import check_finite_state
from sr_image.losses import (
    TEXTURE_PATCH_UNITS,
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
from sr_image.metrics import psnr_y, ssim_y
from sr_image.nets import ENET_INPUT_MEAN, EnhanceNetDiscriminator, EnhanceNetGenerator, bicubic_upsample


class EnhanceNet(pl.LightningModule):
    """EnhanceNet with any combination of L_E, L_P, L_T and L_A (Table 2.2).

    A loss is active when its weight is non-zero. The discriminator exists only when ``adversarial_weight > 0``
    and is trained in a step only if the gate of Sec. 2.4.2 is open (its accuracy on the previous batch's real
    or generated images was below ``gate_threshold``). The gate statistics are buffers, so they are in every
    checkpoint and a resumed run continues with them.

    ``trainer.global_step`` counts generator steps: discriminator steps go through the strategy's
    ``optimizer_step`` (precision-aware) without advancing Lightning's step counter, so ``max_steps`` means
    the same for every variant whatever the gate does.

    ``texture_patch_units`` picks the reading of the 16x16 texture patch (:func:`sr_image.losses.
    texture_patch_positions`); ``grad_norm_every`` > 0 logs ``train/gradnorm_{e,p,t,a}`` every that many steps:
    the norm of each weighted term's gradient with respect to the output image, i.e. how the terms balance.
    """

    monitor = ("val/psnr_y", "max")  # the checkpoint key of tools/train.py

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 10,
        num_filters: int = 64,
        input_mean: tuple[float, float, float] | None = ENET_INPUT_MEAN,
        bicubic_base: str = "pytorch",
        pixel_weight: float = 1.0,
        perceptual_weights: dict[str, float] | None = None,
        texture_weights: dict[str, float] | None = None,
        texture_patch_size: int = 16,
        texture_patch_units: str = "image",
        adversarial_weight: float = 0.0,
        vgg_weights: str = "imagenet",
        vgg_feature_norm: bool = True,
        lr_patch_size: int = 32,
        gate_threshold: float = 0.8,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        compile: bool = False,
        grad_norm_every: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if texture_patch_units not in TEXTURE_PATCH_UNITS:
            raise ValueError(f"texture_patch_units must be one of {TEXTURE_PATCH_UNITS}, got {texture_patch_units!r}")
        self.automatic_optimization = False
        self.generator = EnhanceNetGenerator(scale, num_blocks, num_filters, input_mean, bicubic_base)
        self.perceptual_weights = dict(perceptual_weights or {})
        self.texture_weights = dict(texture_weights or {})
        vgg_layers = sorted(set(self.perceptual_weights) | set(self.texture_weights))
        self.vgg = VGGFeatures(vgg_layers, vgg_weights) if vgg_layers else None
        # D sees the HR training crops: lr_patch_size * scale (32 * 4 = 128 px, Table 2.1 right).
        hr_patch = lr_patch_size * scale
        self.discriminator = EnhanceNetDiscriminator(hr_patch) if adversarial_weight > 0 else None
        # Gate state: D's accuracy on the previous batch (0 at start, so D trains in the first step).
        self.register_buffer("acc_real", torch.zeros(()))
        self.register_buffer("acc_fake", torch.zeros(()))
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))
        self.val_metrics = torch.nn.ModuleDict(
            {k: MeanMetric() for k in ("psnr_y", "ssim_y", "psnr_y_bicubic", "ssim_y_bicubic")}
        )

    # The frozen VGG-19 stays out of checkpoints (76 MB of weights the config already names); on load it is taken
    # from the configured ``vgg_weights``, so resuming never swaps the loss network silently.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("vgg.")]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.vgg is not None:
            checkpoint["state_dict"].update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.generator.compile()
            if self.discriminator is not None:
                self.discriminator.compile()

    def forward(self, lr: Tensor) -> Tensor:
        return self.generator(lr)

    def configure_optimizers(self):
        # Adam, fixed lr 1e-4 (Sec. 2.5.8); equal G/D rates as training re-implementations recommend.
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr_g)
        if self.discriminator is None:
            return opt_g
        return opt_g, torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr_d)

    # ---- training -------------------------------------------------------------------------------------------
    def generator_loss(self, est: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted sum of the active losses (Table 2.2) and the unweighted terms for logging."""
        weighted, parts = self.weighted_terms(est, hr)
        return sum(weighted.values(), est.new_zeros(())), parts

    def weighted_terms(self, est: Tensor, hr: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Each active loss term as it enters the generator's total (weights applied; L_P and L_T carry their
        per-layer weights) and the same terms as logged (``loss_p`` / ``loss_t`` weighted per layer, ``loss_e`` /
        ``loss_a`` unweighted)."""
        hp, parts, weighted = self.hparams, {}, {}
        if hp.pixel_weight:
            parts["loss_e"] = pixel_loss(est, hr)
            weighted["e"] = hp.pixel_weight * parts["loss_e"]
        if self.vgg is not None:
            est_f = self.vgg(est)
            with torch.no_grad():
                hr_f = self.vgg(hr)
            if hp.vgg_feature_norm:
                for name in est_f:
                    est_f[name], hr_f[name] = normalize_features(est_f[name], hr_f[name])
            if self.perceptual_weights:
                weighted["p"] = parts["loss_p"] = perceptual_loss(est_f, hr_f, self.perceptual_weights)
            if self.texture_weights:
                weighted["t"] = parts["loss_t"] = texture_loss(
                    est_f, hr_f, self.texture_weights, hp.texture_patch_size, hp.get("texture_patch_units", "image")
                )
        if self.discriminator is not None:
            parts["loss_a"] = adversarial_loss(self.discriminator(est))
            weighted["a"] = hp.adversarial_weight * parts["loss_a"]
        return weighted, parts

    def term_grad_norms(self, est: Tensor, weighted: dict[str, Tensor]) -> dict[str, Tensor]:
        """||d term / d I_est|| of each weighted term: how hard each loss pulls on the output image, the measure
        of whether Table 2.2's weights balance the terms (one extra backward pass through VGG / D per term)."""
        norms = {}
        for name, term in weighted.items():
            (grad,) = torch.autograd.grad(term, est, retain_graph=True)
            norms[f"gradnorm_{name}"] = grad.detach().float().norm()
        return norms

    def discriminator_step(self, hr: Tensor, est: Tensor) -> dict[str, Tensor]:
        """One gated D update on real ``hr`` and detached generated ``est``; returns logging values."""
        opt_d = self.optimizers()[1]
        train_d = discriminator_gate(self.acc_real, self.acc_fake, self.hparams.gate_threshold)
        # The one host sync per step (on the previous batch's statistics): skipping D's update is the gate's point.
        train_d = bool(train_d)
        self.toggle_optimizer(opt_d)
        with torch.set_grad_enabled(train_d):  # no graph when D does not train
            real_logits, fake_logits = self.discriminator(hr), self.discriminator(est)
            loss_d = discriminator_loss(real_logits, fake_logits)
        if train_d:
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            self.trainer.strategy.optimizer_step(opt_d.optimizer, do_nothing_closure, model=self)
        self.untoggle_optimizer(opt_d)
        acc = torch.stack(discriminator_accuracy(real_logits.detach(), fake_logits.detach()))
        # Accuracy over the global batch: under DDP every rank then takes the same gate decision (a rank that
        # skipped D's backward while another ran it would stall the gradient all-reduce).
        acc_real, acc_fake = self.trainer.strategy.reduce(acc, reduce_op="mean")
        self.acc_real.copy_(acc_real)
        self.acc_fake.copy_(acc_fake)
        self.d_steps += int(train_d)
        return {
            "loss_d": loss_d.detach(),
            "d_acc_real": acc_real,
            "d_acc_fake": acc_fake,
            "d_trained": torch.tensor(float(train_d), device=self.device),
        }

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        lr, hr = batch["lr"], batch["hr"]
        est = self.generator(lr)
        logs = {}
        if self.discriminator is not None:
            logs |= self.discriminator_step(hr, est.detach())
        opts = self.optimizers()
        opt_g = opts[0] if isinstance(opts, list | tuple) else opts
        self.toggle_optimizer(opt_g)
        weighted, parts = self.weighted_terms(est, hr)
        loss_g = sum(weighted.values(), est.new_zeros(()))
        every = self.hparams.get("grad_norm_every", 0)
        if every and self.global_step % every == 0:
            logs |= self.term_grad_norms(est, weighted)
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        logs |= {"loss_g": loss_g.detach(), **{k: v.detach() for k, v in parts.items()}}
        self.log_dict({f"train/{k}": v.float() for k, v in logs.items()}, prog_bar=False, on_step=True)
        self.log("train/loss", loss_g.detach(), prog_bar=True)

    # ---- evaluation -----------------------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        lr, hr, s = batch["lr"], batch["hr"], self.hparams.scale
        est = self.generator(lr).clamp(0, 1)
        bicubic = bicubic_upsample(lr, s).clamp(0, 1)
        m = self.val_metrics
        m["psnr_y"].update(psnr_y(est, hr, crop=s))
        m["ssim_y"].update(ssim_y(est, hr, crop=s))
        m["psnr_y_bicubic"].update(psnr_y(bicubic, hr, crop=s))
        m["ssim_y_bicubic"].update(ssim_y(bicubic, hr, crop=s))

    def on_validation_epoch_end(self) -> None:
        stage = "test" if self.trainer.testing else "val"
        for name, metric in self.val_metrics.items():
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name == "psnr_y", sync_dist=False)
            metric.reset()

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def sample_panels(self, batch: dict) -> tuple[list[Tensor], str]:
        """LR nearest-upsampled | bicubic | output | HR, for the sample-grid callback."""
        lr, hr, s = batch["lr"], batch["hr"], self.hparams.scale
        panels = [F.interpolate(lr, scale_factor=s, mode="nearest"), bicubic_upsample(lr, s), self(lr), hr]
        return [p.clamp(0, 1) for p in panels], "LR (nearest) | bicubic | EnhanceNet | HR"


class CheckpointError(ValueError):
    """A file is not an EnhanceNet checkpoint; the message names it."""


_TF_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # the last 8 bytes of a TF (V1) checkpoint / SSTable


def checkpoint_origin(path: str) -> dict:
    """``{"imported_from": {...}}`` (source, file, SHA-256, licence) for a checkpoint of ``sr-image import-official``,
    else ``{}``."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {"imported_from": ckpt["imported_from"]} if isinstance(ckpt, dict) and "imported_from" in ckpt else {}


def load_generator(path: str, map_location: str | torch.device = "cpu") -> EnhanceNetGenerator:
    """The trained generator of an EnhanceNet checkpoint, in eval mode (no VGG or discriminator is built).

    Reads with ``torch.load(weights_only=True)``. Accepts checkpoints of ``tools/train.py`` and those of
    ``sr-image import-official`` (the authors' ENet-PAT, :mod:`sr_image.official`).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not a Lightning checkpoint of :class:`EnhanceNet` (e.g. another model's), or
            its generator holds NaN / inf (a diverged run).
    """
    from pathlib import Path

    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(f.tell() - 8, 0))
        if f.read() == _TF_TABLE_MAGIC:
            raise CheckpointError(
                f"{path} is a TensorFlow checkpoint (the authors' EnhanceNet-Code `weights`?): convert it first with "
                f"`sr-image import-official {path} -o enet_pat_official.ckpt` and pass that file"
            )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from err
    hp = ckpt.get("hyper_parameters", {}) if isinstance(ckpt, dict) else {}
    state = ckpt.get("state_dict", {}) if isinstance(ckpt, dict) else {}
    gen_state = {k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")}
    if not gen_state or "scale" not in hp:
        kind = hp.get("_class_path") or ", ".join(sorted({k.split(".")[0] for k in state})[:5]) or "unknown content"
        raise CheckpointError(
            f"{path} is not an EnhanceNet checkpoint (found: {kind}); pass a checkpoint written by "
            f"`python tools/train.py model=enhancenet_*` (logs/train/runs/<run>/checkpoints/last.ckpt)"
        )
    try:
        gen = EnhanceNetGenerator(
            hp["scale"], hp["num_blocks"], hp["num_filters"], hp.get("input_mean"), hp.get("bicubic_base", "pytorch")
        )
        gen.load_state_dict(gen_state)
    except (KeyError, RuntimeError, TypeError, ValueError) as err:  # a setting missing, or weights of other sizes
        settings = {k: hp.get(k) for k in ("scale", "num_blocks", "num_filters")}
        raise CheckpointError(
            f"{path}: its generator weights do not match its settings {settings} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160]}): the file was modified or written by another version"
        ) from err
    try:
        check_finite_state(gen_state, path)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    return gen.eval()
