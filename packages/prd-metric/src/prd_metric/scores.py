"""Inception Score (thesis Eq. 5.1) and KID (Bińkowski et al., 2018; not from the thesis), from features / logits.

Both draw random subsets: here from a seeded generator (``seed``), so that repeated evaluations agree; torchmetrics'
metrics draw the same permutations from the global RNG (tests: equal to theirs after ``torch.manual_seed(seed)``).
The kernel and the unbiased MMD estimate are torchmetrics' own (``poly_mmd``).
"""

import math

import torch
from torch import Tensor
from torchmetrics.image.kid import poly_mmd


def check_feature_pair(real: Tensor, fake: Tensor) -> None:
    """Two (N, D), (M, D) feature sets of one dimension D."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        shapes = f"{tuple(real.shape)}, {tuple(fake.shape)}"
        raise ValueError(f"real and fake must be (N, D) features of one D, got {shapes}")


def inception_score(logits: Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) (Eq. 5.1) of class logits (N, C): mean and std over ``splits`` groups.

    As Salimans et al. and torchmetrics' ``InceptionScore``: the samples are shuffled, split into ``splits`` groups,
    p(y) is each group's mean softmax. With Inception's ``logits_unbiased`` this is the usual IS; with another
    classifier's logits (e.g. the digits CNN) it is that classifier's score, not comparable with published IS.
    """
    if logits.ndim != 2 or len(logits) < splits:
        raise ValueError(f"logits must be (N, classes) with N >= splits = {splits}, got {tuple(logits.shape)}")
    logits = logits.double()[torch.randperm(len(logits), generator=torch.Generator().manual_seed(seed))]
    scores = []
    for group in logits.chunk(splits):
        log_p = group.log_softmax(1)
        log_py = log_p.exp().mean(0).log()
        scores.append((log_p.exp() * (log_p - log_py)).sum(1).mean().exp())
    s = torch.stack(scores)
    return s.mean().item(), (s.std().item() if splits > 1 else 0.0)


def kernel_inception_distance(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased MMD^2 with the cubic polynomial kernel (x.y / D + 1)^3, mean and std over ``subsets``
    random subsets of ``subset_size`` samples of each set (capped at the smaller set's size; torchmetrics' and
    Bińkowski et al.'s defaults 100 x 1000)."""
    check_feature_pair(real, fake)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.promote_types(torch.promote_types(real.dtype, fake.dtype), torch.float32)  # float32 as torchmetrics
    real, fake = real.to(dtype), fake.to(real.device, dtype)
    values = []
    for _ in range(subsets):  # the order of torchmetrics' draws: a real permutation, then a fake one
        r = real[torch.randperm(len(real), generator=gen)[:size].to(real.device)]
        f = fake[torch.randperm(len(fake), generator=gen)[:size].to(real.device)]
        values.append(poly_mmd(r, f))
    v = torch.stack(values)
    return v.mean().item(), (v.std(unbiased=False).item() if subsets > 1 else 0.0)


def class_statistics(logits: Tensor) -> dict:
    """Sec. 5.4.2's classifier view of a generated set (Figs. 5.6-5.8), from a classifier's logits (N, C).

    Returns:
        ``histogram``: the share of samples per predicted class (Fig. 5.6's bars); ``confidence``: the mean
        probability of the predicted class (Fig. 5.6: 96.7 % vs 88.6 %); ``entropy_y_given_x``: the mean entropy of
        p(y|x) in nats (low: confident, Fig. 5.8 left, against precision); ``entropy_y``: the entropy of the marginal
        p(y) (high: varied classes, Fig. 5.8 right, against recall).
    """
    probs = logits.double().softmax(1)
    classes = probs.argmax(1)
    histogram = torch.bincount(classes, minlength=logits.shape[1]).double() / len(logits)
    marginal = probs.mean(0)
    return {
        "histogram": histogram.tolist(),
        "confidence": probs.max(1).values.mean().item(),
        "entropy_y_given_x": -(probs * probs.clamp_min(1e-300).log()).sum(1).mean().item(),
        "entropy_y": -(marginal * marginal.clamp_min(1e-300).log()).sum().item(),
    }


def fig_5_8_correlations(rows: list[dict]) -> dict | None:
    """Spearman rank correlations over evaluated models (Fig. 5.8): F_1/8 against the mean entropy of p(y|x)
    (thesis: -0.83) and F_8 against the entropy of p(y) (thesis: 0.89). None with fewer than 3 models."""
    rows = [r for r in rows if "entropy_y" in r and "f_beta" in r]
    if len(rows) < 3:
        return None
    from scipy.stats import spearmanr

    precision = spearmanr([r["f_beta_inv"] for r in rows], [r["entropy_y_given_x"] for r in rows]).statistic
    recall = spearmanr([r["f_beta"] for r in rows], [r["entropy_y"] for r in rows]).statistic
    as_value = lambda v: float(v) if math.isfinite(v) else None  # noqa: E731  (constant values: no rank order)
    return {"models": len(rows), "f1_8_vs_entropy_y_given_x": as_value(precision), "f8_vs_entropy_y": as_value(recall)}
