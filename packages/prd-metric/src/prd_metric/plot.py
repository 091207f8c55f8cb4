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
