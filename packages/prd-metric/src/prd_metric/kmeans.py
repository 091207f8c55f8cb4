"""The clustering step of PRD (Sec. 5.4): k-means on the union of both sample sets, many runs at once.

Written in torch on purpose: scikit-learn runs one clustering at a time on the CPU, while PRD needs ``num_runs``
independent clusterings of the same points; here they share every matrix product, on the GPU when there is one.

Like the thesis (Sec. 5.4) we use mini-batch k-means (Sculley, 2010), seeded by greedy k-means++. scikit-learn's
``MiniBatchKMeans`` (``n_init=10`` per run, the published pipeline) stays available as ``backend="sklearn"`` so the
two can be checked against each other. Each run keeps the best of ``n_init`` seedings (10, the published
pipeline's, batched into the same products): with 3, PRD on well-separated data with more modes than clusters
came out 0.026 below the reference's F_8 (benchmarks/bench_prd.py --data separated), with 10 within 0.006, for a
third more seeding time. Where ours differs from scikit-learn's MiniBatchKMeans: one mini-batch per step shared by
all runs (not one per run), which saves a third of each step; the runs still part in their seeding.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

BACKENDS = ("torch", "sklearn")
# The torch backend's settings, recorded next to results (they change the numbers).
BATCH_SIZE, MAX_EPOCHS, MAX_NO_IMPROVEMENT, N_INIT = 1024, 100, 10, 10
SETTINGS = {
    "torch": {"algorithm": "mini-batch k-means (Sculley 2010), greedy k-means++ seeding on 3 x batch_size points, "
                           "one mini-batch per step shared by the runs",
              "batch_size": BATCH_SIZE, "max_epochs": MAX_EPOCHS, "max_no_improvement": MAX_NO_IMPROVEMENT,
              "n_init": N_INIT},
    "sklearn": {"algorithm": "sklearn.cluster.MiniBatchKMeans, defaults otherwise", "n_init": 10},
}  # fmt: skip


def _sq_dists(x: torch.Tensor, x_sq: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distances (R, N, K) between points and per-run centres (R, K, D).

    ``x`` is either shared by all runs, (N, D), done as one 2-D product (a broadcast batched product would copy
    ``x`` once per run), or per run, (R, N, D). ``x_sq`` holds the points' squared norms, computed once by the
    caller because re-reading the points for them costs as much as the product.
    """
    r, k, d = centers.shape
    c_sq = centers.square().sum(dim=-1)[:, None, :]  # (R, 1, K)
    if x.ndim == 2:
        dots = (x @ centers.reshape(r * k, d).T).view(-1, r, k).transpose(0, 1)
        x_sq = x_sq[None]
    else:
        dots = torch.bmm(x, centers.transpose(1, 2))
    return (x_sq[..., None] - 2 * dots + c_sq).clamp_min_(0)


def _kmeans_pp(x: torch.Tensor, x_sq: torch.Tensor, k: int, n_init: int, gen: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007; scikit-learn's default) of per-run points (R, S, D).

    Each new centre is the best of ``2 + log k`` candidates drawn proportionally to the squared distance to the
    nearest chosen centre; "best" means the lowest resulting potential. ``n_init`` seedings per run share each
    product with the run's points (they are memory-bound, so extra seedings cost little); the one with the lowest
    potential on the points is kept. Returns centres (R, k, D).
    """
    runs, n, dim = x.shape
    trials = 2 + int(math.log(k))
    r = torch.arange(runs, device=x.device)[:, None]  # (R, 1): pairs with the seeding index below
    first = torch.randint(n, (runs, n_init), generator=gen, device=x.device)
    centers = x[r, first][:, :, None]  # (R, I, 1, D)
    closest = _sq_dists(x, x_sq, centers[:, :, 0]).transpose(1, 2)  # (R, I, S)
    for _ in range(1, k):
        # + tiny: identical points give all-zero weights, which multinomial refuses
        weights = (closest + 1e-12).reshape(runs * n_init, n)
        cand = torch.multinomial(weights, trials, replacement=True, generator=gen).view(runs, n_init * trials)
        cand_pts = x[r, cand]  # (R, I*T, D)
        d = _sq_dists(x, x_sq, cand_pts).view(runs, n, n_init, trials).permute(0, 2, 1, 3)  # (R, I, S, T)
        new_closest = torch.minimum(closest[..., None], d)
        best = new_closest.sum(dim=2).argmin(dim=2)  # (R, I)
        closest = new_closest.gather(3, best[:, :, None, None].expand(-1, -1, n, 1))[..., 0]
        chosen = cand_pts.view(runs, n_init, trials, dim).gather(2, best[..., None, None].expand(-1, -1, 1, dim))
        centers = torch.cat([centers, chosen], dim=2)
    keep = closest.sum(dim=2).argmin(dim=1)  # (R,)
    return centers[r[:, 0], keep]


def assign(x: torch.Tensor, centers: torch.Tensor, x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Nearest-centre labels (R, N) of points (N, D) for per-run centres (R, K, D)."""
    return _sq_dists(x, x.square().sum(dim=1) if x_sq is None else x_sq, centers).argmin(dim=2)


def minibatch_kmeans(
    x: torch.Tensor,
    num_clusters: int,
    num_runs: int = 1,
    seed: int | None = None,
    batch_size: int = BATCH_SIZE,
    max_epochs: int = MAX_EPOCHS,
    max_no_improvement: int = MAX_NO_IMPROVEMENT,
    n_init: int = N_INIT,
    on_run_done: Callable[[int], Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_runs`` independent mini-batch k-means clusterings (Sculley, 2010) of the same points, batched.

    Per run: greedy k-means++ on a random subset of ``3 * batch_size`` points (as scikit-learn seeds), then
    mini-batch steps where every centre moves towards the mean of its batch points with the per-centre rate
    1 / (points seen so far). A run stops when the smoothed batch inertia has not improved for
    ``max_no_improvement`` steps (scikit-learn's rule); the runs still going step together.

    Args:
        x: points (N, D), float, on the device to run on.
        num_clusters: k.
        num_runs: independent clusterings.
        seed: reproducible given the seed and the device; None draws fresh randomness.
        batch_size: points per step and run (scikit-learn's default, 1024).
        max_epochs: at most ``max_epochs * N / batch_size`` steps.
        max_no_improvement: the early-stopping patience in steps.
        n_init: seedings per run, the best kept (scikit-learn's ``n_init``; the published pipeline uses 10).
        on_run_done: called with the number of runs that just stopped (for progress bars; no extra host sync).

    Returns:
        ``(centers (R, K, D), labels (R, N) int64)`` with the labels from a final full assignment.
    """
    n = x.shape[0]
    if x.ndim != 2 or not 1 <= num_clusters <= n:
        raise ValueError(f"need points (N, D) with 1 <= num_clusters <= N, got {tuple(x.shape)}, k={num_clusters}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    # Centring and one global scale change no clustering, but keep ||x||^2 - 2 x.c + ||c||^2 accurate in float32
    # whatever the features' magnitude (and the 1e-12 below relative).
    x = x.float()
    x = x - x.mean(dim=0)
    x.div_(x.abs().amax().clamp_min(torch.finfo(x.dtype).tiny))  # x is already a copy here
    subset = torch.rand(num_runs, n, generator=gen, device=x.device).argsort(dim=1)[:, : min(n, 3 * batch_size)]
    x_sq = x.square().sum(dim=1)
    centers = _kmeans_pp(x[subset], x_sq[subset], num_clusters, n_init, gen)
    counts = torch.zeros(num_runs, num_clusters, 1, device=x.device, dtype=x.dtype)
    b = min(batch_size, n)
    decay = min(1.0, 2.0 * b / (n + 1))  # scikit-learn's smoothing of the batch inertia
    ewa = torch.full((num_runs,), float("inf"), device=x.device, dtype=x.dtype)
    best = ewa.clone()
    patience = torch.zeros(num_runs, dtype=torch.long, device=x.device)
    active = torch.arange(num_runs, device=x.device)  # runs that have not stopped yet
    # One mini-batch per step, shared by the runs still going (scikit-learn draws one per run): one gather and one
    # 2-D product for all runs instead of R of each, a third of a step's time on the CPU; the runs still differ in
    # their seeding, which is where their clusterings part. Reused buffer: a fresh allocation per step costs more.
    buffer = torch.empty(b, x.shape[1], device=x.device, dtype=x.dtype)
    for step in range(max_epochs * max(1, n // b)):
        idx = torch.randint(n, (b,), generator=gen, device=x.device)
        shared = torch.index_select(x, 0, idx, out=buffer)
        run_centers, run_counts = centers[active], counts[active]
        dists = _sq_dists(shared, x_sq[idx], run_centers)  # (A, b, K)
        labels = dists.argmin(dim=2)
        onehot = torch.nn.functional.one_hot(labels, num_clusters).to(x.dtype)  # (A, b, K)
        seen = onehot.sum(dim=1)[..., None]  # (A, K, 1)
        sums = (onehot.transpose(1, 2).reshape(-1, b) @ shared).view(len(active), num_clusters, -1)  # one product
        run_counts += seen
        centers[active] = run_centers + (sums - seen * run_centers) / run_counts.clamp_min(1)
        counts[active] = run_counts
        inertia = dists.gather(2, labels[..., None]).mean(dim=(1, 2))
        ewa[active] = inertia if step == 0 else ewa[active] * (1 - decay) + inertia * decay
        improved = ewa[active] < best[active]
        best[active] = torch.where(improved, ewa[active], best[active])
        patience[active] = torch.where(improved, 0, patience[active] + 1)
        running = len(active)
        active = active[patience[active] < max_no_improvement]  # boolean indexing syncs with the host anyway
        if on_run_done is not None and len(active) < running:
            on_run_done(running - len(active))
        if len(active) == 0:
            break
    if on_run_done is not None and len(active):  # stopped by max_epochs
        on_run_done(len(active))
    return centers, assign(x, centers, x_sq)


def _sklearn_labels(
    x: np.ndarray, num_clusters: int, num_runs: int, seed: int | None, on_run_done: Callable[[int], Any] | None
) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(seed)
    labels = []
    for _ in range(num_runs):
        km = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=int(rng.integers(2**31)))
        labels.append(km.fit(x).labels_)
        if on_run_done is not None:
            on_run_done(1)
    return np.stack(labels)


def cluster_histograms(
    *,
    eval_feats: torch.Tensor,
    ref_feats: torch.Tensor,
    num_clusters: int,
    num_runs: int,
    seed: int | None,
    backend: str = "torch",
    device=None,
    on_run_done: Callable[[int], Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster the union of both sets ``num_runs`` times; the normalised cluster histograms of each set.

    ``on_run_done`` is called with the number of clustering runs that just finished (progress bars).

    Returns:
        ``(eval_hist, ref_hist)``, float64 tensors of shape (num_runs, num_clusters), each row summing to 1.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n_eval = eval_feats.shape[0]
    if backend == "torch":
        x = torch.cat([eval_feats.to(device), ref_feats.to(device)])
        labels = minibatch_kmeans(x, num_clusters, num_runs, seed=seed, on_run_done=on_run_done)[1]
    else:
        x = torch.cat([eval_feats.cpu(), ref_feats.cpu()]).float().numpy()
        labels = torch.from_numpy(_sklearn_labels(x, num_clusters, num_runs, seed, on_run_done)).long()
    onehot = torch.nn.functional.one_hot(labels, num_clusters).double()
    eval_hist = onehot[:, :n_eval].mean(dim=1)
    ref_hist = onehot[:, n_eval:].mean(dim=1)
    return eval_hist, ref_hist
