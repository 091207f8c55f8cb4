"""TemperedGAN LightningModule: G, D and the optional lens wired with the objectives of Sec. 4.2 (no maths here).

One training step is one generator iteration: ``n_critic`` discriminator steps (each on its own mini-batch),
one lens step (Sec. 4.2.4: "once per iteration regardless of the GAN variant") and one generator step.
``trainer.global_step`` counts generator steps only: D and lens steps go through the strategy's precision-aware
``optimizer_step`` without advancing Lightning's counter, so ``max_steps`` means generator iterations.
"""

import lightning.pytorch as pl
import torch
from lightning.pytorch.core.optimizer import do_nothing_closure
from torch import Tensor
from torchvision.utils import make_grid

from prd_metric.suite import log_values
from tempered_gan.losses import (
    LENS_RECON_REDUCTIONS,
    gradient_penalty,
    lens_lambda,
    lens_reconstruction_loss_4_2,
    objectives,
)
from tempered_gan.metrics import build_eval_metric, to_unit
from tempered_gan.nets import Discriminator, Generator, build_lens_with_own_rng

OPTIMIZERS = ("adam", "rmsprop")


class TemperedGAN(pl.LightningModule):
    """A GAN (``gan_type`` gan | lsgan | wgan_gp) with or without the lens of Sec. 4.2.

    Args:
        gan_type: objectives of Sec. 4.2.1 (``gan``), 4.2.2 (``lsgan``) or 4.2.3 (``wgan_gp``).
        lens: add the lens L between the real data and D (Fig. 4.1).
        latent_dim, channels, width: z size, image channels, C of Fig. 4.3.
        batch_norm_g, batch_norm_d: batch norm in G / D (DCGAN both; LSGAN none; WGAN-GP only G).
        lens_blocks, lens_width, lens_identity_init: see :class:`tempered_gan.nets.Lens`.
        lens_seed: seed of the lens's initialisation; None derives it from the global seed. The lens is built
            from its own RNG stream, so G and D start from the same weights with and without it (Sec. 4.4).
        lens_k: K of Eq. 4.4 (lambda goes from 1 to 0 in K generator steps). Default 10k: Fig. 4.2 ("K=10k in
            all experiments") and Fig. 4.9, which the experiments follow, over Sec. 4.2's "K = 10^5 unless
            specified otherwise".
        lens_recon: reduction of L_L^R (Eq. 4.2): ``sum`` (the squared norm as written) or ``mean``.
        fixed_lambda: a constant lambda instead of the schedule (the lambda = 1 run of Fig. 4.5, top).
        optimizer: ``adam`` (DCGAN / LSGAN) or ``rmsprop`` (WGAN-GP, Sec. 4.2.4); used for G, D and L.
        lr: learning rate of all three networks (Sec. 4.2.4: 1e-4).
        betas: Adam's betas.
        n_critic: D steps per generator step.
        gp_weight: gradient-penalty weight (WGAN-GP only).
        embedding, embedding_weights: the FID / PRD features (:func:`tempered_gan.metrics.build_eval_metric`).
        prd_num_runs: clusterings averaged in PRD (Sec. 5.4: 10).
        eval_metrics: what each evaluation computes and logs (:data:`prd_metric.suite.METRICS`): the thesis's PRD
            and FID by default; ``kid``, ``knn`` (k-NN precision / recall, density / coverage) and ``is`` (with an
            embedding that classifies) beside them.
        compile: ``torch.compile`` G, D and L.
    """

    monitor = ("val/fid", "min")  # the checkpoint key of tools/train.py (FID: lower is better)

    def __init__(
        self,
        gan_type: str = "gan",
        lens: bool = False,
        latent_dim: int = 100,
        channels: int = 1,
        width: int = 64,
        batch_norm_g: bool = True,
        batch_norm_d: bool = True,
        lens_blocks: int = 8,
        lens_width: int = 64,
        lens_identity_init: bool = False,
        lens_seed: int | None = None,
        lens_k: int = 10_000,
        lens_recon: str = "sum",
        fixed_lambda: float | None = None,
        optimizer: str = "adam",
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        n_critic: int = 1,
        gp_weight: float = 10.0,
        embedding: str = "digits",
        embedding_weights: str | None = None,
        prd_num_runs: int = 10,
        eval_metrics: tuple[str, ...] = ("prd", "fid"),
        compile: bool = False,
    ) -> None:
        super().__init__()
        if "fid" not in eval_metrics:
            raise ValueError(
                f"model.eval_metrics={list(eval_metrics)} must include fid: val/fid is the checkpoint monitor"
            )
        if lens_recon not in LENS_RECON_REDUCTIONS:
            raise ValueError(f"model.lens_recon={lens_recon!r}: choose one of {', '.join(LENS_RECON_REDUCTIONS)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if gan_type == "wgan_gp" and batch_norm_d:
            raise ValueError(
                "WGAN-GP's per-sample gradient penalty is invalid with batch norm in D; batch_norm_d=false"
            )
        self.loss_g, self.loss_d, self.loss_lens = objectives(gan_type)
        if lens_seed is None:
            lens_seed = (torch.initial_seed() + 1) % 2**63
        self.save_hyperparameters()
        self.automatic_optimization = False
        # G and D first, from the global RNG; the lens from its own (paired runs, Sec. 4.4).
        self.generator = Generator(latent_dim, channels, width, batch_norm_g)
        self.discriminator = Discriminator(channels, width, batch_norm_d)
        self.lens = (
            build_lens_with_own_rng(
                lens_seed, channels=channels, num_blocks=lens_blocks, width=lens_width, identity_init=lens_identity_init
            )
            if lens
            else None
        )
        # The schedule's t (Eq. 4.4) as a buffer: in every checkpoint, so a resumed run continues the schedule.
        self.register_buffer("lens_t", torch.zeros((), dtype=torch.long))
        self.eval_metric = build_eval_metric(embedding, embedding_weights, num_runs=prd_num_runs, metrics=eval_metrics)

    def configure_model(self) -> None:
        if self.hparams.compile:
            for net in (self.generator, self.discriminator, self.lens):
                if net is not None:
                    net.compile()

    def configure_optimizers(self):
        hp = self.hparams

        def make(params):
            if hp.optimizer == "adam":
                return torch.optim.Adam(params, lr=hp.lr, betas=tuple(hp.betas))
            return torch.optim.RMSprop(params, lr=hp.lr)

        opts = [make(self.generator.parameters()), make(self.discriminator.parameters())]
        if self.lens is not None:
            opts.append(make(self.lens.parameters()))
        return opts

    def forward(self, z: Tensor) -> Tensor:
        """Samples G(z) in [0, 1]."""
        return to_unit(self.generator(z))

    def current_lambda(self) -> Tensor:
        """lambda of Eq. 4.4 at the lens's step t (or the fixed value)."""
        if self.hparams.fixed_lambda is not None:
            return torch.tensor(float(self.hparams.fixed_lambda), device=self.device)
        return lens_lambda(self.lens_t, self.hparams.lens_k)

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I) on the module's device; from ``generator`` (a CPU generator) when given."""
        if generator is None:
            return torch.randn(n, self.hparams.latent_dim, device=self.device)
        return torch.randn(n, self.hparams.latent_dim, generator=generator).to(self.device)

    def _step(self, opt, loss: Tensor) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        self.trainer.strategy.optimizer_step(opt.optimizer, do_nothing_closure, model=self)

    # ---- training -------------------------------------------------------------------------------------------
    def discriminator_step(self, x: Tensor) -> dict[str, Tensor]:
        """One D update on L(x) (or x without lens) versus G(z), Eq. 4.7 / 4.10 / 4.13 (+ gradient penalty)."""
        opt_d = self.optimizers()[1]
        with torch.no_grad():
            fake = self.generator(self.sample_z(x.shape[0]))
            real = self.lens(x) if self.lens is not None else x
        self.toggle_optimizer(opt_d)
        real_out, fake_out = self.discriminator(real), self.discriminator(fake)
        loss = self.loss_d(real_out, fake_out)
        logs = {"loss_d": loss.detach()}
        if self.hparams.gan_type == "wgan_gp":
            logs["gp"] = gradient_penalty(self.discriminator, real, fake)
            loss = loss + self.hparams.gp_weight * logs["gp"]
            logs["gp"] = logs["gp"].detach()
        self._step(opt_d, loss)
        self.untoggle_optimizer(opt_d)
        real_key = "d_lensed" if self.lens is not None else "d_real"
        logs |= {real_key: self._d_value(real_out), "d_fake": self._d_value(fake_out)}
        return logs

    def lens_step(self, x: Tensor) -> dict[str, Tensor]:
        """One lens update: lambda * L_L^A + L_L^R (Eq. 4.3), D fixed."""
        opt_l = self.optimizers()[2]
        lam = self.current_lambda()
        self.toggle_optimizer(opt_l)
        lensed = self.lens(x)
        adversarial = self.loss_lens(self.discriminator(lensed))
        recon = lens_reconstruction_loss_4_2(x, lensed, self.hparams.lens_recon)
        self._step(opt_l, lam * adversarial + recon)
        self.untoggle_optimizer(opt_l)
        self.lens_t += 1
        return {"loss_lens_adv": adversarial.detach(), "lens_recon": recon.detach(), "lambda": lam}

    def generator_step(self, n: int) -> dict[str, Tensor]:
        """One G update, Eq. 4.5 / 4.9 / 4.12 (unchanged by the lens); advances ``global_step``."""
        opt_g = self.optimizers()[0]
        self.toggle_optimizer(opt_g)
        loss = self.loss_g(self.discriminator(self.generator(self.sample_z(n))))
        opt_g.zero_grad()
        self.manual_backward(loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        return {"loss_g": loss.detach()}

    def _d_value(self, out: Tensor) -> Tensor:
        """Mean D output for logging: probability for GAN/LSGAN, score for the WGAN critic."""
        out = out.detach().float()
        return (out if self.hparams.gan_type == "wgan_gp" else torch.sigmoid(out)).mean()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x_all = batch["x"] * 2 - 1  # data [0, 1] -> the networks' [-1, 1]
        chunks = x_all.chunk(self.hparams.n_critic)
        if len(chunks) != self.hparams.n_critic:
            raise ValueError(f"a batch of {x_all.shape[0]} cannot feed n_critic={self.hparams.n_critic} D steps")
        logs = {}
        for x in chunks:
            logs |= self.discriminator_step(x)
        if self.lens is not None:
            logs |= self.lens_step(chunks[-1])
            if self.trainer.global_step % max(1, self.trainer.log_every_n_steps) == 0:
                with torch.no_grad():  # D on the raw data, next to lensed and fake (Fig. 4.5's story)
                    logs["d_real"] = self._d_value(self.discriminator(chunks[-1]))
        logs |= self.generator_step(chunks[-1].shape[0])
        self.log_dict({f"train/{k}": v.float() for k, v in logs.items()}, on_step=True)
        self.log("train/loss", logs["loss_g"], prog_bar=True)

    # ---- evaluation (Sec. 4.2.4): FID and PRD of G's samples against the held-out real images -----------------
    def _fixed_z(self, batch_idx: int, n: int) -> Tensor:
        # The same z at every evaluation (curves track G, not noise), distinct per batch and DDP rank.
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer else (0, 1)
        seed = 10_000 + batch_idx * world + rank
        return self.sample_z(n, torch.Generator().manual_seed(seed))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real = batch["x"]
        # FID is measured against X, not L(X) (Fig. 4.5 caption).
        self.eval_metric.update(real=real, fake=self(self._fixed_z(batch_idx, real.shape[0])))
        if self.lens is not None and batch_idx == 0:
            x = real * 2 - 1
            stage = "test" if self.trainer.testing else "val"
            self.log(
                f"{stage}/lens_recon",
                lens_reconstruction_loss_4_2(x, self.lens(x), self.hparams.lens_recon),
                sync_dist=True,
            )

    def on_validation_epoch_end(self) -> None:
        stage = "test" if self.trainer.testing else "val"
        out = self.eval_metric.compute()
        self.eval_metric.reset()
        values = log_values(out)  # prd_f8: recall-weighted, prd_f1_8: precision-weighted (Sec. 5.4.3)
        if "fid" in values:
            self.log(f"{stage}/fid", values.pop("fid"), prog_bar=True)
        self.log_dict({f"{stage}/{name}": value for name, value in values.items()})
        if self.lens is not None:
            self.log(f"{stage}/lambda", self.current_lambda())

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def sample_panels(self, batch: dict) -> tuple[list[Tensor], str]:
        """Generated | lensed real | real, each an 8x8 grid (Figures 4.5, 4.7, 4.10)."""
        real = batch["x"][:64]
        grids = [self(self._fixed_z(0, real.shape[0]))]
        if self.lens is not None:
            grids.append(to_unit(self.lens(real * 2 - 1)))
        grids.append(real)
        caption = "G(z) | L(x) | x" if self.lens is not None else "G(z) | x"
        return [make_grid(g.float().cpu(), nrow=8, padding=1, pad_value=1.0)[None] for g in grids], caption
