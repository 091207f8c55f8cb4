"""PRD plots (as Figs. 5.3-5.5 of the thesis) and their W&B logging."""

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files, not windows: this runs on servers and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from prd_metric.prd import max_f_beta_pair  # noqa: E402


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=np.float64)


def plot_prd(curves: Sequence[tuple], labels: Sequence[str] | None = None, path: str | Path | None = None, dpi=150):
    """Draw the PRD curves of several models on one axis: recall on x, precision on y, both in [0, 1].

    Args:
        curves: one ``(precision, recall)`` pair per model (arrays or tensors).
        labels: legend entries, one per curve.
        path: if given, the figure is saved there (format from the suffix) and closed.

    Returns:
        The matplotlib figure (None once saved to ``path``).
    """
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"{len(curves)} curves but {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    for i, (precision, recall) in enumerate(curves):
        ax.plot(_np(recall), _np(precision), label=None if labels is None else labels[i], linewidth=1.5, alpha=0.9)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Recall", ylabel="Precision", aspect="equal")
    ax.grid(alpha=0.3)
    if labels is not None:
        ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return None


def log_prd_to_wandb(experiment, curves: Sequence[tuple], labels: Sequence[str], key: str = "prd", beta: float = 8):
    """Log the PRD plot and each curve's F_beta / F_1/beta to a W&B run (``wandb.run`` or a logger's experiment).

    Logged keys: ``{key}/plot`` (image), ``{key}/{label}/f{beta}`` and ``{key}/{label}/f1_{beta}``.
    """
    import wandb

    fig = plot_prd(curves, labels)
    row = {f"{key}/plot": wandb.Image(fig)}
    plt.close(fig)
    b = f"{beta:g}"
    for label, (precision, recall) in zip(labels, curves, strict=True):
        f_beta, f_beta_inv = max_f_beta_pair(precision, recall, beta=beta)
        row[f"{key}/{label}/f{b}"] = f_beta
        row[f"{key}/{label}/f1_{b}"] = f_beta_inv
    experiment.log(row)
    return row


def cluster_members(
    ref_feats: torch.Tensor, eval_feats: torch.Tensor, num_clusters: int = 10, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fig. 5.9: cluster the union of both sets (mini-batch k-means, as PRD does) and list, per cluster, the indices
    of its reference and evaluated members; clusters ordered by size, largest first."""
    from prd_metric.kmeans import minibatch_kmeans

    union = torch.cat([ref_feats, eval_feats]).float()
    _, labels = minibatch_kmeans(union, num_clusters, num_runs=1, seed=seed)
    labels = labels[0].cpu()
    ref_labels, eval_labels = labels[: len(ref_feats)], labels[len(ref_feats) :]
    order = torch.bincount(labels, minlength=num_clusters).argsort(descending=True)
    return [((ref_labels == c).nonzero().flatten(), (eval_labels == c).nonzero().flatten()) for c in order.tolist()]


def plot_clusters(
    rows: Sequence[tuple[Sequence[torch.Tensor], Sequence[torch.Tensor], int, int]],
    path: str | Path,
    per_side: int = 6,
    labels: tuple[str, str] = ("reference", "evaluated"),
    dpi: int = 120,
) -> None:
    """Fig. 5.9's picture: one row per cluster, ``per_side`` reference images, then ``per_side`` evaluated ones.

    Args:
        rows: per cluster ``(reference images, evaluated images, reference count, evaluated count)``; images are
            (C, H, W) tensors in [0, 1], at most ``per_side`` of each are drawn.
        path: the image file to write.
    """
    fig, axes = plt.subplots(len(rows), 2 * per_side, figsize=(2 * per_side * 0.8, len(rows) * 0.85), squeeze=False)
    for r, (ref_imgs, eval_imgs, n_ref, n_eval) in enumerate(rows):
        cells = [*list(ref_imgs)[:per_side], *[None] * (per_side - min(len(ref_imgs), per_side))]
        cells += [*list(eval_imgs)[:per_side], *[None] * (per_side - min(len(eval_imgs), per_side))]
        for c, img in enumerate(cells):
            ax = axes[r, c]
            ax.set_axis_off()
            if img is not None:
                ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        axes[r, 0].text(-0.1, 0.5, f"{n_ref} | {n_eval}", transform=axes[r, 0].transAxes, ha="right", va="center",
                        fontsize=7)  # fmt: skip
    axes[0, 0].set_title(labels[0], loc="left", fontsize=8)
    axes[0, per_side].set_title(labels[1], loc="left", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.99, top=0.95, bottom=0.01, wspace=0.05, hspace=0.1)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
