"""k-nearest-neighbour precision / recall (Kynkäänniemi et al., 2019) and density / coverage (Naeem et al., 2020).

Not from the thesis: reported beside PRD (Sec. 5.4) because the two views disagree on purpose. PRD compares cluster
histograms, so two far-apart distributions that fall into the same clusters score high; the k-NN metrics compare
each sample with the real samples' k-NN balls, so they see the gap (packages/prd-metric/README.md, "PRD and k-NN").

Definitions (as the ``prdc`` reference implementation; ``r_k(x)`` is the distance from x to its k-th nearest other
sample of the same set, Euclidean):

* precision: the share of fake samples inside at least one real ball, ``d(fake, real_i) < r_k(real_i)``;
* recall: the share of real samples inside at least one fake ball;
* density: ``1 / (k M) * sum_fake #{real_i : d(fake, real_i) < r_k(real_i)}`` (can exceed 1);
* coverage: the share of real samples whose nearest fake sample lies inside their own ball.

Written here (not ``prdc``) for batched torch: the pairwise distances are computed in row chunks, so 50k x 50k
samples need memory for one chunk, and they run on the GPU when the features are there.
"""

import torch
from torch import Tensor

from prd_metric.scores import check_feature_pair

CHUNK_BYTES = 256 * 2**20  # one distance block's size; its temporaries make the peak about 3x this


def _rows_per_chunk(n_cols: int, dtype: torch.dtype, chunk_bytes: int) -> int:
    return max(1, chunk_bytes // (max(n_cols, 1) * torch.finfo(dtype).bits // 8))


def _blocks(x: Tensor, y: Tensor, chunk_bytes: int):
    """(start, distances of rows start.. of x to every row of y), one bounded block at a time."""
    y_sq = y.pow(2).sum(1)
    rows = _rows_per_chunk(len(y), x.dtype, chunk_bytes)
    for start in range(0, len(x), rows):
        a = x[start : start + rows]
        # |a|^2 + |b|^2 - 2 a.b as sklearn's euclidean_distances (what prdc uses), clamped at 0 before the root
        sq = a.pow(2).sum(1, keepdim=True) + y_sq[None] - 2 * a @ y.T
        yield start, sq.clamp_(min=0).sqrt_()


def knn_radii(features: Tensor, k: int, chunk_bytes: int = CHUNK_BYTES) -> Tensor:
    """Distance from each sample to its k-th nearest neighbour in the same set (itself excluded)."""
    if not 1 <= k < len(features):
        raise ValueError(f"k = {k} nearest neighbours need more than k samples (got {len(features)}) and k >= 1")
    out = features.new_empty(len(features))
    for start, d in _blocks(features, features, chunk_bytes):
        # the (k+1)-th smallest: the 1st is the sample itself (0); topk is ~10x faster than kthvalue on the CPU
        out[start : start + len(d)] = d.topk(k + 1, dim=1, largest=False).values[:, -1]
    return out


def knn_metrics(real: Tensor, fake: Tensor, k: int = 5, chunk_bytes: int = CHUNK_BYTES) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` features, k nearest neighbours.

    Args:
        real, fake: (N, D) and (M, D) features; computed in their dtype (float64 reproduces ``prdc`` exactly) on
            their device.
        k: neighbourhood size (Kynkäänniemi et al. and Naeem et al.: 3 and 5; default 5).
        chunk_bytes: memory of one pairwise-distance block.

    Returns:
        ``{"precision", "recall", "density", "coverage"}`` as Python floats.
    """
    check_feature_pair(real, fake)
    dtype = torch.promote_types(torch.promote_types(real.dtype, fake.dtype), torch.float32)
    real, fake = real.to(dtype), fake.to(real.device, dtype)
    r_real, r_fake = knn_radii(real, k, chunk_bytes), knn_radii(fake, k, chunk_bytes)
    in_real_balls = real.new_zeros(len(fake))  # per fake: how many real balls hold it
    real_recalled = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    nearest_fake = real.new_full((len(real),), float("inf"))
    for start, d in _blocks(fake, real, chunk_bytes):  # d[i, j] = |fake_{start+i} - real_j|
        in_real_balls[start : start + len(d)] = (d < r_real[None]).sum(1).to(dtype)
        real_recalled |= (d < r_fake[start : start + len(d), None]).any(0)
        nearest_fake = torch.minimum(nearest_fake, d.min(0).values)
    return {
        "precision": (in_real_balls > 0).to(dtype).mean().item(),
        "recall": real_recalled.to(dtype).mean().item(),
        "density": (in_real_balls.sum() / (k * len(fake))).item(),
        "coverage": (nearest_fake < r_real).to(dtype).mean().item(),
    }
