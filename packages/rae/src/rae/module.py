"""The autoencoders of thesis ch. 6 as one LightningModule; the variant picks the loss (Sec. 6.2-6.3, 6.7.1).

Training optimises L_REC plus the variant's terms; every validation also refits the ex-post densities (Sec. 6.5)
on the training codes, so every checkpoint holds a fitted Gaussian and GMM as tensors. Testing runs the protocol
of Sec. 6.8.1: FID of reconstructions (Rec.), of samples from N / the fitted Gaussian, from the GMM, and of
spherical-interpolation midpoints (Int.), against the test images; PRD for the N and GMM samples.
"""

import lightning.pytorch as pl
import torch
from torch import Tensor

from prd_metric.metric import PrecisionRecallDistributions
from prd_metric.suite import log_values
from rae.density import FullGaussian, GaussianMixture, StandardNormal
from rae.losses import (
    GP_READINGS,
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
from rae.metrics import EVAL_KINDS, nearest_neighbours, slerp
from rae.nets import Decoder, Encoder

VARIANTS = ("vae", "cv_vae", "wae", "rae_gp", "rae_l2", "rae_sn", "rae", "ae")


def _per_sample(t: Tensor, k: int) -> Tensor:
    """Each row k times in a row (Eq. 6.8's k samples per input); the tensor itself for k = 1 (no copy per step)."""
    return t if k == 1 else t.repeat_interleave(k, 0)


class RegularizedAE(pl.LightningModule):
    """VAE, CV-VAE, WAE-MMD, RAE-GP, RAE-L2, RAE-SN, RAE or AE with the networks of Table 6.1.

    Args:
        variant: one of :data:`VARIANTS`.
        channels, latent_dim, image_size, kernel, up_channels: Table 6.1's column for the dataset.
        base_channels: the encoder's first width (Table 6.1: 128, then x2 per layer up to 1024); smaller values
            scale every layer (Sec. 6.8 itself used smaller networks for Figures 6.1-6.2).
        beta: weight of the latent term: KL (VAE, Eq. 6.12), 1/2||z||^2 (CV-VAE Eq. 6.14, RAE Eq. 6.15) or MMD (WAE).
        reg_weight: lambda of Eq. 6.15 for L_GP (RAE-GP) or L_L2 (RAE-L2).
        gp: the reading of Eq. 6.17 (:func:`rae.losses.decoder_gradient_penalty_6_17`): ``official`` (the official
            code's normalisation, which its weights assume) or ``jacobian`` (||dD/dz||_F^2).
        kl_reduction: the VAE / CV-VAE latent term. ``official``: as the official code, which sums the squared error
            over pixels and the KL (Eq. 6.12) or 1/2||mu||^2 (Eq. 6.14) over latent dimensions; divided here by the
            pixel count, so the reconstruction term is every variant's L_REC and the official beta keeps its meaning
            (Adam is invariant to the overall scale). ``mean``: the term averaged over latent dimensions, not divided
            (our earlier reading; the official beta 0.312 then collapses the VAE: packages/rae/README.md).
        mc_samples: k of Eq. 6.8 / Fig. 6.2: latent samples per input for the VAE / CV-VAE reconstruction term
            (k = 1 in practice and in Table 6.2).
        cv_sigma: the CV-VAE's constant noise standard deviation (Eq. 6.13).
        lr: Adam's initial learning rate (Sec. 6.8: 1e-3), halved when ``val/loss`` plateaus.
        plateau_patience: validations without improvement before halving.
        gmm_components, gmm_max_iter: the ex-post GMM (Sec. 6.5 / 6.8: 10 components, <= 100 EM iterations).
        embedding, embedding_weights, eval_samples: FID / PRD features (prd-metric) and sample count of the test
            protocol (Sec. 6.8.1: 10k; capped at the test set's size).
        eval_metrics: beside the thesis's FID and PRD, ``kid`` and ``knn`` (k-NN precision / recall, density /
            coverage) of every kind (prd-metric).
    """

    monitor = ("val/loss", "min")

    def __init__(
        self,
        variant: str = "rae_l2",
        channels: int = 1,
        latent_dim: int = 16,
        image_size: int = 32,
        kernel: int = 4,
        up_channels: tuple[int, ...] = (4, 2),
        base_channels: int = 128,
        beta: float = 1e-4,
        reg_weight: float = 0.0,
        gp: str = "official",
        kl_reduction: str = "official",
        mc_samples: int = 1,
        cv_sigma: float = 0.7,
        lr: float = 1e-3,
        plateau_patience: int = 5,
        gmm_components: int = 10,
        gmm_max_iter: int = 100,
        embedding: str = "digits",
        embedding_weights: str | None = None,
        eval_samples: int = 10_000,
        eval_metrics: tuple[str, ...] = ("prd", "fid"),
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if gp not in GP_READINGS:
            raise ValueError(f"model.gp={gp!r}: choose one of {', '.join(GP_READINGS)} (Eq. 6.17's two readings)")
        if kl_reduction not in ("official", "mean"):
            raise ValueError(f"model.kl_reduction={kl_reduction!r}: choose official or mean")
        if mc_samples < 1 or (mc_samples > 1 and variant not in ("vae", "cv_vae")):
            raise ValueError(
                f"model.mc_samples={mc_samples}: k >= 1 latent samples per input, and k > 1 only for the stochastic "
                f"encoders (vae, cv_vae; {variant} encodes deterministically)"
            )
        self.save_hyperparameters()
        widths = tuple(base_channels * f for f in (1, 2, 4, 8))
        self.encoder = Encoder(channels, latent_dim, image_size, kernel, 2 if variant == "vae" else 1, widths)
        ups = tuple(base_channels * f for f in up_channels)
        self.decoder = Decoder(channels, latent_dim, kernel, ups, spectral=variant == "rae_sn", fc_width=widths[-1])
        # Ex-post densities (Sec. 6.5): "N" is the prior for VAE / WAE, a fitted Gaussian otherwise (Sec. 6.8.1).
        self.density_n = StandardNormal(latent_dim) if variant in ("vae", "wae") else FullGaussian(latent_dim)
        self.density_gmm = GaussianMixture(latent_dim, gmm_components, gmm_max_iter)
        self._embedding = None  # built on first test, kept out of the module tree (not in checkpoints)
        self._plateau_state = None

    # ---- model ----------------------------------------------------------------------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(mu, log_var) of images in [0, 1]: the code (the VAE's mean) and, for the VAE, log sigma^2."""
        h = self.encoder(x * 2 - 1)  # encoder input in [-1, 1] (official code)
        if self.hparams.variant == "vae":
            mu, log_var = h.chunk(2, dim=1)
            return mu, log_var
        return h, None

    def training_codes_of(self, x: Tensor, k: int = 1) -> tuple[Tensor, Tensor, Tensor | None]:
        """(z, mu, log_var): z holds k codes per input (rows grouped per input) with the VAE / CV-VAE training noise
        (Eq. 6.11 / 6.13; Eq. 6.8's k samples), the code itself for the deterministic encoders."""
        mu, log_var = self.encode(x)
        if self.hparams.variant == "vae":
            return reparameterize_6_11(_per_sample(mu, k), _per_sample(log_var, k)), mu, log_var
        if self.hparams.variant == "cv_vae":
            return cv_vae_sample_6_13(_per_sample(mu, k), self.hparams.cv_sigma), mu, None
        return mu, mu, None

    def forward(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction D(mu(x)) in [0, 1]."""
        return self.decoder(self.encode(x)[0])

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The variant's objective on a batch and its unweighted terms."""
        hp, v = self.hparams, self.hparams.variant
        k = hp.mc_samples  # latent samples per input (Eq. 6.8): the encoder runs once, the decoder on each sample
        z, mu, log_var = self.training_codes_of(x, k)
        rec = self.decoder(z)
        parts = {"rec": reconstruction_loss_6_10(_per_sample(x, k), rec)}
        pixels = x.shape[-2] * x.shape[-1]  # the official VAE / CV-VAE sum the squared error over these
        official = hp.kl_reduction == "official"
        if v == "vae":
            parts["kl"] = (
                vae_kl_loss_6_12(mu, log_var, "sum") / pixels if official else vae_kl_loss_6_12(mu, log_var, "mean")
            )
        elif v == "cv_vae":
            parts["kl"] = cv_vae_kl_loss_6_14(mu) / pixels if official else embedding_loss_6_14(mu)
        elif v == "wae":
            parts["mmd"] = imq_mmd_loss(z, torch.randn_like(z))
        elif v != "ae":
            parts["emb"] = embedding_loss_6_14(z)
        if v == "rae_gp":
            parts["gp"] = decoder_gradient_penalty_6_17(rec, z, hp.gp)
        if v == "rae_l2":
            parts["l2"] = decoder_l2_loss_6_16(self.decoder)
        total = parts["rec"]
        for name in ("kl", "mmd", "emb"):
            if name in parts:
                total = total + hp.beta * parts[name]
        for name in ("gp", "l2"):
            if name in parts:
                total = total + hp.reg_weight * parts[name]
        return total, parts

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)  # Sec. 6.8: Adam, 1e-3

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        total, parts = self.loss(batch["x"])
        self.log_dict({f"train/{k}": v.detach() for k, v in parts.items()})
        self.log("train/loss", total.detach(), prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return total

    # ---- validation: L_REC on held-out images, plateau schedule, ex-post densities ---------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_codes = []

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x = batch["x"]
        mu, _ = self.encode(x)
        self.log("val/loss", reconstruction_loss_6_10(x, self.decoder(mu)), prog_bar=True, sync_dist=True)
        self._val_codes.append(mu)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        if self.trainer.state.fn == "fit":  # a stand-alone trainer.validate() has no optimiser to schedule
            self._step_plateau(float(self.trainer.callback_metrics["val/loss"]))
        self.fit_densities()
        val = torch.cat(self._val_codes)
        self.log("val/gauss_loglik", self.density_n.log_prob(val).mean().float(), sync_dist=True)
        self.log("val/gmm_loglik", self.density_gmm.log_prob(val).mean().float(), sync_dist=True)

    def _step_plateau(self, value: float) -> None:
        # Halve the learning rate when val/loss stops improving (Sec. 6.8). Stepped here, at every validation,
        # whatever the validation interval; its state goes into the checkpoint (on_save_checkpoint).
        if getattr(self, "_plateau", None) is None:
            opt = self.optimizers().optimizer
            self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=0.5, patience=self.hparams.plateau_patience
            )
            if self._plateau_state is not None:
                self._plateau.load_state_dict(self._plateau_state)
        self._plateau.step(value)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if getattr(self, "_plateau", None) is not None:
            checkpoint["plateau"] = self._plateau.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._plateau_state = checkpoint.get("plateau")

    @torch.no_grad()
    def training_codes(self) -> Tensor:
        """mu of every training image (the datamodule's ``predict_dataloader``: the training set in order)."""
        was_training = self.training
        self.eval()
        codes = [self.encode(b["x"].to(self.device))[0] for b in self.trainer.datamodule.predict_dataloader()]
        self.train(was_training)
        return torch.cat(codes)

    def fit_densities(self) -> None:
        """Fit q_delta(z) to the training codes (Sec. 6.5): the Gaussian (not for VAE / WAE) and the GMM."""
        codes = self.training_codes().float()
        self.density_n.fit(codes)
        self.density_gmm.fit(codes)

    # ---- test: the protocol of Sec. 6.8.1 ------------------------------------------------------------------
    def _features(self, images: Tensor) -> Tensor:
        if self._embedding is None:
            from prd_metric.embeddings import build_embedding

            self._embedding = build_embedding(self.hparams.embedding, weights=self.hparams.embedding_weights)
        self._embedding.to(images.device)
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):  # fp32 features under bf16-mixed
            return self._embedding(images.float()).float()

    def on_test_epoch_start(self) -> None:
        self.fit_densities()  # the codes of the encoder being tested (the last validation may predate the last step)
        dm = self.trainer.datamodule
        with torch.no_grad():
            self._val_codes_all = torch.cat([self.encode(b["x"].to(self.device))[0] for b in dm.val_dataloader()])
        self._gen = torch.Generator().manual_seed(1234 + self.trainer.global_rank)
        self._seen = 0
        self._test_metrics = {
            k: PrecisionRecallDistributions(embedding=None, metrics=self._metrics(k), sync_on_compute=True).to(
                self.device
            )
            for k in EVAL_KINDS
        }

    def _metrics(self, kind: str) -> tuple[str, ...]:
        """Sec. 6.8.1: FID of every kind, PRD of the random samples (N, GMM); plus ``eval_metrics``' others."""
        extra = tuple(m for m in self.hparams.eval_metrics if m not in ("prd", "fid", "is"))  # (is: no logits here)
        return ("fid", *(("prd",) if kind in ("n", "gmm") else ()), *extra)

    def generate(self, kind: str, n: int) -> Tensor:
        """n images of one evaluation kind (``rec``, ``n``, ``gmm``, ``int``), in [0, 1]."""
        codes = self._val_codes_all
        if kind == "rec":  # reconstructions of validation images
            idx = torch.randint(codes.shape[0], (n,), generator=self._gen).to(codes.device)
            z = codes[idx]
        elif kind == "n":
            z = self.density_n.sample(n, self._gen)
        elif kind == "gmm":
            z = self.density_gmm.sample(n, self._gen)
        else:  # midpoints of spherical interpolations between random validation pairs
            i, j = (torch.randint(codes.shape[0], (n,), generator=self._gen).to(codes.device) for _ in range(2))
            z = slerp(codes[i], codes[j], 0.5)
        return self.decoder(z.to(self.device).float())

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real = batch["x"]
        # Sec. 6.8.1's sample count over all processes: each rank takes its share
        limit = -(-self.hparams.eval_samples // self.trainer.world_size) - self._seen
        if limit <= 0:
            return
        real = real[:limit]
        self._seen += real.shape[0]
        real_f = self._features(real)
        for kind, metric in self._test_metrics.items():
            metric.update(real=real_f, fake=self._features(self.generate(kind, real.shape[0])))

    def on_test_epoch_end(self) -> None:
        for kind, metric in self._test_metrics.items():
            out = metric.compute()
            values = log_values(out)  # Table 6.2: FID; Table 6.3: PRD F_1/8 / F_8 of random samples
            self.log(f"test/fid_{kind}", values.pop("fid"))
            if "prd_f8" in values:
                self.log(f"test/prd_{kind}_f1_8", values.pop("prd_f1_8"))
                self.log(f"test/prd_{kind}_f8", values.pop("prd_f8"))
            self.log_dict({f"test/{name}_{kind}": value for name, value in values.items()})
        self.log("test/num_samples", float(out["num_real"]))

    # ---- grids (Figures 6.3-6.6) ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample_panels(self, batch: dict) -> tuple[list[Tensor], str]:
        """x | reconstruction | N samples | GMM samples | interpolations | nearest training neighbours."""
        from torchvision.utils import make_grid

        x = batch["x"][:64]
        gen = torch.Generator().manual_seed(0)
        grids = [x, self(x)]
        captions = ["x", "D(E(x))"]
        if bool(self.density_n.fitted):
            grids.append(self.decoder(self.density_n.sample(64, gen).float()))
            captions.append("N")
        if bool(self.density_gmm.fitted):
            grids.append(self.decoder(self.density_gmm.sample(64, gen).float()))
            captions.append("GMM")
        mu = self.encode(x)[0]
        if mu.shape[0] >= 2:
            a, b = mu[:8], mu.roll(1, 0)[:8]
            steps = torch.linspace(0, 1, 8, device=mu.device)
            path = torch.stack([slerp(a, b, float(t)) for t in steps], dim=1).flatten(0, 1)  # 8 pairs x 8 steps
            grids.append(self.decoder(path))
            captions.append("slerp")
        train = getattr(getattr(self.trainer.datamodule, "train_set", None), "base", None) if self._trainer else None
        if bool(self.density_gmm.fitted) and hasattr(train, "tensors"):
            samples = self.decoder(self.density_gmm.sample(8, gen).float())
            grids.append(nearest_neighbours(samples, train.tensors[0], k=7))
            captions.append("GMM sample + 7 nearest training images")
        panels = [make_grid(g.float().cpu(), nrow=8, padding=1, pad_value=1.0)[None] for g in grids]
        size = panels[0].shape[-2:]
        panels = [p for p in panels if p.shape[-2:] == size]
        return panels, " | ".join(captions)
