"""Precision and recall for distributions (thesis Sec. 5.3-5.4): the curve, its F_beta summary, and the pipeline.

Naming is the contract here, because swapping the two sets silently swaps precision and recall:

* ``eval`` is the distribution being judged, the thesis's Q (a generative model's samples);
* ``ref`` is the reference, the thesis's P (the real data).

Precision is how much of ``eval`` the reference can explain, recall how much of ``ref`` ``eval`` covers
(Definition 1). Every function takes the two sets as keyword-only arguments so the order cannot be got wrong.
"""

import math

import numpy as np
import torch

from prd_metric.kmeans import cluster_histograms
from prd_metric.progress import Progress, reporter

MAX_ANGLES = 1_000_000
# Tolerance for "sums to one": histograms in float32 accumulate ~1e-7 error per bin.
_SUM_TOLERANCE = 1e-4


def _as_1d(dist, name: str) -> torch.Tensor:
    dist = torch.as_tensor(dist, dtype=torch.float64) if not torch.is_tensor(dist) else dist.to(torch.float64)
    if dist.ndim != 1 or dist.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D histogram, got shape {tuple(dist.shape)}")
    if not torch.isfinite(dist).all():
        raise ValueError(f"{name} contains NaN or inf")
    if (dist < 0).any():
        raise ValueError(f"{name} has negative entries (min {dist.min().item():.3g}); probabilities are >= 0")
    total = dist.sum().item()
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1 (it sums to {total:.6g}); normalise the histogram first")
    return dist


def slopes(num_angles: int, epsilon: float = 1e-10, device=None) -> torch.Tensor:
    """The equiangular grid of slopes lambda = tan(angle), angle in [epsilon, pi/2 - epsilon] (Sec. 5.3.3).

    The thesis writes the grid as ``tan(i/(m+1) * pi/2)``, i = 1..m; the published implementation (and this one)
    uses ``num_angles`` angles from ``epsilon`` to ``pi/2 - epsilon`` so the curve reaches both axes.
    """
    if not 3 <= num_angles <= MAX_ANGLES:
        raise ValueError(f"num_angles must be in [3, {MAX_ANGLES}], got {num_angles}")
    if not 0 < epsilon < 0.1:
        raise ValueError(f"epsilon must be in (0, 0.1), got {epsilon}")
    angles = torch.linspace(epsilon, math.pi / 2 - epsilon, num_angles, dtype=torch.float64, device=device)
    return torch.tan(angles)


def _theorem2(q: torch.Tensor, p: torch.Tensor, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha(lambda), beta(lambda) of Eq. 5.10 for histograms (..., K) and slopes (A,) -> (..., A) each."""
    precision = torch.minimum(lam[:, None] * p[..., None, :], q[..., None, :]).sum(dim=-1)
    recall = precision / lam
    return precision.clamp(0, 1), recall.clamp(0, 1)  # rounding can push either a hair above 1


def compute_prd(*, eval_dist, ref_dist, num_angles: int = 1001, epsilon: float = 1e-10):
    """The PRD curve of ``eval_dist`` (Q) with respect to ``ref_dist`` (P) by Theorem 2 (Eq. 5.10).

    ``precision = alpha(lambda) = sum min(lambda P, Q)`` and ``recall = beta(lambda) = alpha(lambda) / lambda`` on
    the slopes of :func:`slopes`; both clipped to [0, 1] against rounding.

    Args:
        eval_dist: histogram of the evaluated distribution Q, shape (K,), non-negative, sums to 1.
        ref_dist: histogram of the reference distribution P, same shape.
        num_angles: points on the curve (3 <= num_angles <= 1e6).
        epsilon: the smallest angle, keeps lambda finite and positive.

    Returns:
        ``(precision, recall)``, each of shape (num_angles,); numpy float64 arrays when the inputs are numpy or
        lists, float64 tensors on the input's device when they are tensors.
    """
    as_numpy = not (torch.is_tensor(eval_dist) or torch.is_tensor(ref_dist))
    q = _as_1d(eval_dist, "eval_dist")
    p = _as_1d(ref_dist, "ref_dist").to(q.device)
    if q.shape != p.shape:
        raise ValueError(f"eval_dist and ref_dist must have the same length, got {q.numel()} and {p.numel()}")
    precision, recall = _theorem2(q, p, slopes(num_angles, epsilon, device=q.device))
    if as_numpy:
        return precision.cpu().numpy(), recall.cpu().numpy()
    return precision, recall


def f_beta(precision, recall, beta: float, epsilon: float = 1e-10):
    """F_beta of Eq. 5.18, ``(1 + beta^2) p r / (beta^2 p + r)``; 0 where p = r = 0 (``epsilon`` guards 0/0)."""
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall + epsilon)


def max_f_beta_pair(precision, recall, beta: float = 8):
    """The summary of a PRD curve: ``(max F_beta, max F_1/beta)`` over the curve (Sec. 5.4.3, Eq. 5.18).

    With the thesis's beta = 8, F_8 weighs recall higher (it is the "recall" number) and F_1/8 weighs precision
    higher (the "precision" number).

    Args:
        precision, recall: the curve, arrays or tensors of equal shape with values in [0, 1].
        beta: > 0; the thesis uses 8.

    Returns:
        ``(f_beta, f_beta_inv)`` as Python floats.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    precision = torch.as_tensor(np.asarray(precision) if not torch.is_tensor(precision) else precision).double()
    recall = torch.as_tensor(np.asarray(recall) if not torch.is_tensor(recall) else recall).double()
    if precision.shape != recall.shape:
        raise ValueError(f"precision and recall shapes differ: {tuple(precision.shape)} vs {tuple(recall.shape)}")
    if not (((precision >= 0) & (precision <= 1)) & ((recall >= 0) & (recall <= 1))).all():  # NaN fails too
        raise ValueError("precision and recall must lie in [0, 1] (no NaN)")
    return (
        f_beta(precision, recall.to(precision.device), beta).max().item(),
        f_beta(precision, recall.to(precision.device), 1 / beta).max().item(),
    )


def _as_features(x, name: str) -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (num_samples, dim), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    bad = (~torch.isfinite(x)).any(dim=1)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} rows with NaN or inf (first: row {int(bad.nonzero()[0])})")
    return x


def prd_from_embeddings(
    *,
    eval_feats,
    ref_feats,
    num_clusters: int = 20,
    num_angles: int = 1001,
    num_runs: int = 10,
    enforce_balance: bool = True,
    seed: int | None = None,
    backend: str = "torch",
    device=None,
    progress: Progress = False,
):
    """PRD of embedded samples (Sec. 5.4): cluster the union, compare the histograms, average over runs.

    Each run clusters ``eval_feats`` and ``ref_feats`` together into ``num_clusters`` clusters, turns the cluster
    labels of each set into a normalised histogram, and computes the curve of :func:`compute_prd`. Precision and
    recall are averaged over ``num_runs`` independent clusterings, as in the thesis (k = 20, "run the procedure
    several times and average").

    Args:
        eval_feats: features of the evaluated samples Q, (N, D) numpy array or tensor.
        ref_feats: features of the reference samples P, (M, D).
        num_clusters: k of k-means (Sec. 5.4: 20).
        num_angles: points on the curve.
        num_runs: independent clusterings averaged (the published code: 10).
        enforce_balance: require N == M. Unequal sizes bias the clustering towards the larger set, which then
            dominates the centres; subsample the larger set instead of turning this off.
        seed: makes the result reproducible (both backends); None draws fresh randomness.
        backend: ``"torch"`` (batched k-means++ / Lloyd on ``device``, see :mod:`prd_metric.kmeans`) or
            ``"sklearn"`` (scikit-learn MiniBatchKMeans with n_init=10 per run, the published pipeline).
        device: where the torch backend runs; default: the device of ``eval_feats`` if it is a tensor, else CPU.
        progress: ``True`` draws a bar of the clustering runs on stderr; a callable receives the number of runs
            just finished (:mod:`prd_metric.progress`); ``False``: quiet.

    Returns:
        ``(precision, recall)`` of shape (num_angles,), numpy float64 if the inputs were numpy, else tensors.
    """
    as_numpy = not (torch.is_tensor(eval_feats) or torch.is_tensor(ref_feats))
    q = _as_features(eval_feats, "eval_feats")
    p = _as_features(ref_feats, "ref_feats")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"eval_feats and ref_feats have different feature dimensions: {q.shape[1]} vs {p.shape[1]}")
    if enforce_balance and q.shape[0] != p.shape[0]:
        raise ValueError(
            f"eval_feats has {q.shape[0]} samples but ref_feats has {p.shape[0]}; equal sizes keep the clustering "
            "unbiased (Sec. 5.4). Subsample the larger set, or pass enforce_balance=False."
        )
    if not 1 <= num_clusters <= q.shape[0] + p.shape[0]:
        raise ValueError(f"num_clusters must be in [1, {q.shape[0] + p.shape[0]}], got {num_clusters}")
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}")
    slopes(num_angles)  # validate before the expensive clustering
    if device is None:
        device = eval_feats.device if torch.is_tensor(eval_feats) else torch.device("cpu")
    with reporter(progress, num_runs, "k-means", "run") as done:
        eval_hist, ref_hist = cluster_histograms(
            eval_feats=q, ref_feats=p, num_clusters=num_clusters, num_runs=num_runs, seed=seed, backend=backend,
            device=device, on_run_done=done,
        )  # fmt: skip
    precision, recall = _theorem2(eval_hist, ref_hist, slopes(num_angles, device=eval_hist.device))
    precision, recall = precision.mean(dim=0), recall.mean(dim=0)  # average the curves over the runs
    if as_numpy:
        return precision.cpu().numpy(), recall.cpu().numpy()
    return precision, recall
