"""PRD, FID and the other metrics as one torchmetrics ``Metric``: embed once, get every number (thesis Sec. 5.4).

Features are kept (not only their moments, as FID alone would need) because the clustering of Sec. 5.4 needs every
point; they are gathered across DDP processes by torchmetrics' ``cat`` reduction before :meth:`compute`.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.utilities import dim_zero_cat

from prd_metric.suite import METRICS, as_tensors, evaluate_features


class _Identity(nn.Module):
    """Features are already features: lets torchmetrics' FID take them as they are."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def fid_from_features(real: Tensor, fake: Tensor) -> Tensor:
    """FID (Eq. 5.2) of two feature sets (N, D), (M, D), by torchmetrics' own implementation (float64)."""
    fid = FrechetInceptionDistance(feature=_Identity(real.shape[1]), sync_on_compute=False).to(real.device)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return fid.compute()


class PrecisionRecallDistributions(Metric):
    """PRD of generated (``fake``, Q) versus real (``real``, P) samples, and every other number of the same features.

    ``update(real=..., fake=...)`` (keyword-only) takes images (N, C, H, W) in [0, 1], embedded by ``embedding``,
    or features (N, D) as they are; either argument may be left out. Calling the metric does the same (no per-batch
    value). The result depends slightly on the order of the samples (the clustering draws mini-batches by index), so
    1 and 2 processes can differ in the last digits, as two seeds do. ``compute()`` returns the dictionary of
    :func:`prd_metric.suite.evaluate_features` as tensors: the averaged PRD curve (``precision``, ``recall``), its
    summary ``f_beta`` (F_8, recall-weighted) and ``f_beta_inv`` (F_1/8, precision-weighted) of Sec. 5.4.3, ``fid``,
    ``kid_mean`` / ``kid_std``, ``knn_precision`` / ``knn_recall`` / ``density`` / ``coverage``, ``is_mean`` /
    ``is_std`` (generated images through an embedding with class logits: Inception, the digits CNN) and the sample
    counts, for the chosen ``metrics``.

    Args:
        embedding: ``"inception"`` (pool3, the FID features), ``"digits"`` (offline digits CNN), any ``nn.Module``
            or callable mapping images to (N, D) features, or None to accept features only.
        weights: weights of a named embedding (see :func:`prd_metric.embeddings.build_embedding`).
        metrics: a subset of :data:`prd_metric.suite.METRICS` (default: all).
        num_clusters, num_angles, num_runs, enforce_balance, backend: as :func:`prd_metric.prd.prd_from_embeddings`
            (defaults from Sec. 5.4: 20 clusters, 10 runs, 1001 angles).
        beta: F_beta of Eq. 5.18; the thesis uses 8.
        seed: seed of the clusterings and of KID's / IS's subsets, so that repeated evaluations agree.
        with_fid: False leaves FID out (the same as leaving ``"fid"`` out of ``metrics``).
        knn_k, kid_subsets, kid_subset_size, is_splits: see :data:`prd_metric.suite.DEFAULTS`.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None  # F_8, F_1/8, IS, k-NN: higher; FID, KID: lower

    def __init__(
        self,
        embedding: str | nn.Module | Callable | None = "inception",
        weights: str | None = None,
        metrics: tuple[str, ...] = METRICS,
        num_clusters: int = 20,
        num_angles: int = 1001,
        num_runs: int = 10,
        beta: float = 8,
        enforce_balance: bool = True,
        seed: int = 0,
        backend: str = "torch",
        with_fid: bool = True,
        knn_k: int = 5,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")
        module = None
        if embedding is not None:
            from prd_metric.embeddings import build_embedding

            module = build_embedding(embedding, weights=weights)
        # Kept out of the module tree: the frozen network's weights stay out of checkpoints and state_dicts; it
        # follows the data to its device in update().
        object.__setattr__(self, "_embedding", module)
        self.metrics = tuple(m for m in metrics if with_fid or m != "fid")
        self.settings = {
            "num_clusters": num_clusters,
            "num_angles": num_angles,
            "num_runs": num_runs,
            "enforce_balance": enforce_balance,
            "seed": seed,
            "backend": backend,
            "beta": float(beta),
            "knn_k": knn_k,
            "kid_subsets": kid_subsets,
            "kid_subset_size": kid_subset_size,
            "is_splits": is_splits,
        }
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_logits", default=[], dist_reduce_fx="cat")

    def _embed(self, x: Tensor, name: str) -> tuple[Tensor, Tensor | None]:
        """(features, class logits or None) of images or features."""
        logits = None
        if x.ndim == 2:
            feats = x
        elif x.ndim == 4:
            if self._embedding is None:
                raise ValueError(f"{name} are images {tuple(x.shape)} but the metric has no embedding; pass features")
            emb = self._embedding
            if isinstance(emb, nn.Module):
                emb = emb.to(x.device)
            with torch.inference_mode(), torch.autocast(x.device.type, enabled=False):  # fp32 under bf16-mixed
                if name == "fake" and "is" in self.metrics and hasattr(emb, "forward_with_logits"):
                    feats, logits = emb.forward_with_logits(x.float())
                    logits = logits.float().clone()
                else:
                    feats = emb(x.float())
        else:
            raise ValueError(f"{name} must be images (N, C, H, W) or features (N, D), got shape {tuple(x.shape)}")
        feats = feats.float()
        if not torch.isfinite(feats).all():
            raise ValueError(f"{name} features contain NaN or inf")
        return feats.clone(), logits  # out of inference mode, so torchmetrics may gather them

    def update(self, *, real: Tensor | None = None, fake: Tensor | None = None) -> None:
        """Add real (reference, P) and/or generated (evaluated, Q) samples; keyword-only, so they cannot swap."""
        if real is None and fake is None:
            raise ValueError("update() needs real=... and/or fake=...")
        if real is not None:
            self.real_features.append(self._embed(real, "real")[0])
        if fake is not None:
            feats, logits = self._embed(fake, "fake")
            self.fake_features.append(feats)
            if logits is not None:
                self.fake_logits.append(logits)

    def forward(self, *, real: Tensor | None = None, fake: Tensor | None = None) -> None:
        """``metric(real=..., fake=...)`` only accumulates: PRD of one batch means nothing, and the clustering of
        every batch would cost a full evaluation each time. Call :meth:`compute` at the end."""
        self.update(real=real, fake=fake)

    def compute(self) -> dict[str, Tensor]:
        """The chosen metrics (:func:`prd_metric.suite.evaluate_features`) as tensors on the features' device."""
        if len(self.real_features) == 0 or len(self.fake_features) == 0:  # a list, or a tensor once synced
            raise RuntimeError("PrecisionRecallDistributions needs both real and fake samples before compute()")
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        logits = dim_zero_cat(self.fake_logits) if len(self.fake_logits) else None
        if logits is not None and len(logits) != len(fake):  # some fake batches came as features: no IS
            import warnings

            warnings.warn(
                f"the Inception Score is left out: {len(fake) - len(logits)} of {len(fake)} generated samples came "
                "as features (no class logits); pass images for all of them",
                stacklevel=2,
            )
            logits = None
        out = evaluate_features(real, fake, fake_logits=logits, metrics=self.metrics, **self.settings)
        return as_tensors(out, device=real.device)
