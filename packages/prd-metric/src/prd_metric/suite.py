"""Every number of one evaluation from one set of features: PRD (thesis Sec. 5.4), FID (Eq. 5.2), the Inception
Score (Eq. 5.1, from the same pass's logits) and, not from the thesis, KID and the k-NN precision / recall /
density / coverage. ``prd-metric compare`` and :class:`prd_metric.metric.PrecisionRecallDistributions` both call
:func:`evaluate_features`, so the command, the metric and training logs report the same dictionary.
"""

from typing import Any

import torch
from torch import Tensor

from prd_metric.knn import knn_metrics
from prd_metric.prd import max_f_beta_pair, prd_from_embeddings
from prd_metric.progress import Progress
from prd_metric.scores import inception_score, kernel_inception_distance

METRICS = ("prd", "fid", "kid", "knn", "is")  # "is" needs logits; the others features only
DEFAULTS: dict[str, Any] = {  # every setting that changes a number (recorded in --json)
    "num_clusters": 20,  # Sec. 5.4: k-means with k = 20
    "num_angles": 1001,
    "num_runs": 10,  # Sec. 5.4: averaged over 10 clusterings
    "enforce_balance": True,
    "backend": "torch",
    "beta": 8.0,  # Sec. 5.4.3: F_8 and F_1/8
    "knn_k": 5,  # Kynkäänniemi et al. / Naeem et al.
    "kid_subsets": 100,  # Bińkowski et al., torchmetrics
    "kid_subset_size": 1000,
    "is_splits": 10,  # Salimans et al.
    "seed": 0,
}


def evaluate_features(
    real: Tensor,
    fake: Tensor,
    fake_logits: Tensor | None = None,
    metrics: tuple[str, ...] = METRICS,
    progress: Progress = False,
    **settings,
) -> dict[str, Any]:
    """All chosen metrics of generated (``fake``, Q) against real (``real``, P) features.

    Args:
        real, fake: (N, D), (M, D) features.
        fake_logits: class logits of the generated samples from the same embedding pass (for ``"is"``).
        metrics: a subset of :data:`METRICS`; ``"is"`` is skipped (not an error) without logits.
        progress: the clustering's progress (:mod:`prd_metric.progress`).
        **settings: overrides of :data:`DEFAULTS`.

    Returns:
        ``precision`` / ``recall`` (the averaged PRD curve, tensors), ``f_beta`` / ``f_beta_inv`` (F_8 / F_1/8),
        ``fid``, ``kid_mean`` / ``kid_std``, ``knn_precision`` / ``knn_recall`` / ``density`` / ``coverage``,
        ``is_mean`` / ``is_std``, ``num_real`` / ``num_fake``: those of the chosen metrics, floats.
    """
    unknown = set(metrics) - set(METRICS) or set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown {sorted(unknown)}; metrics: {', '.join(METRICS)}; settings: {', '.join(DEFAULTS)}")
    s = DEFAULTS | settings
    out: dict[str, Any] = {"num_real": len(real), "num_fake": len(fake)}
    if "prd" in metrics:
        precision, recall = prd_from_embeddings(
            eval_feats=fake, ref_feats=real, num_clusters=s["num_clusters"], num_angles=s["num_angles"],
            num_runs=s["num_runs"], enforce_balance=s["enforce_balance"], seed=s["seed"], backend=s["backend"],
            progress=progress,
        )  # fmt: skip
        out["precision"], out["recall"] = precision, recall
        out["f_beta"], out["f_beta_inv"] = max_f_beta_pair(precision, recall, beta=s["beta"])
    if "fid" in metrics:
        from prd_metric.metric import fid_from_features

        out["fid"] = fid_from_features(real.double(), fake.double()).item()
    if "kid" in metrics:
        out["kid_mean"], out["kid_std"] = kernel_inception_distance(
            real, fake, s["kid_subsets"], s["kid_subset_size"], s["seed"]
        )
    if "knn" in metrics:
        knn = knn_metrics(real, fake, k=s["knn_k"])
        out |= {"knn_precision": knn["precision"], "knn_recall": knn["recall"]}
        out |= {"density": knn["density"], "coverage": knn["coverage"]}
    if "is" in metrics and fake_logits is not None:
        out["is_mean"], out["is_std"] = inception_score(fake_logits, s["is_splits"], s["seed"])
    return out


def scalars(result: dict[str, Any]) -> dict[str, float]:
    """The single numbers of :func:`evaluate_features` (the curve left out)."""
    return {k: float(v) for k, v in result.items() if k not in ("precision", "recall")}


def as_tensors(result: dict[str, Any], device: torch.device | None = None) -> dict[str, Tensor]:
    """:func:`evaluate_features`'s result as tensors (what a torchmetrics ``Metric.compute`` returns)."""
    return {k: torch.as_tensor(v, device=device).float() for k, v in result.items()}


LOG_NAMES = {  # evaluate_features key -> the name training logs it under (prd_f8: F_8 with the thesis's beta)
    "fid": "fid",
    "f_beta": "prd_f8",
    "f_beta_inv": "prd_f1_8",
    "kid_mean": "kid",
    "knn_precision": "knn_precision",
    "knn_recall": "knn_recall",
    "density": "density",
    "coverage": "coverage",
    "is_mean": "is",
}


def log_values(result: dict[str, Any]) -> dict[str, Any]:
    """The single numbers of a result under their training-log names (:data:`LOG_NAMES`)."""
    return {LOG_NAMES[k]: v for k, v in result.items() if k in LOG_NAMES}
