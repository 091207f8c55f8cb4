"""``prd-metric compare``, the work behind the command (:mod:`prd_metric.cli` parses, then loads this): feature
files and image folders in, every metric of :mod:`prd_metric.suite` out (PRD curves and F_beta / F_1/beta, FID,
KID, k-NN precision / recall, density / coverage, the Inception Score), as a table, a plot and a JSON record.
"""

import json
import math
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from gen_common.files import atomic_output
from gen_common.weights import WeightsUnavailableError
from prd_metric.cli import resolve_device
from prd_metric.kmeans import SETTINGS as KMEANS_SETTINGS
from prd_metric.plot import plot_prd
from prd_metric.progress import bar
from prd_metric.scores import class_statistics, fig_5_8_correlations
from prd_metric.suite import evaluate_features, scalars

FEATURE_SUFFIXES = (".npy", ".pt", ".pth")
# Packages whose versions change the numbers (torchmetrics: FID; torch-fidelity: the Inception port).
VERSIONED = ("prd-metric", "torch", "scikit-learn", "torchmetrics", "torch-fidelity", "numpy")


def load_features(path: str | Path) -> torch.Tensor:
    """A 2-D float feature array from ``.npy`` or ``.pt``; clear errors for everything else."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (expected a .npy/.pt feature file or an image folder)")
    try:
        if path.suffix == ".npy":
            feats = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            feats = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read features from {path} ({type(err).__name__}: {err})") from err
    if not torch.is_tensor(feats) or feats.ndim != 2 or feats.shape[0] == 0:
        got = tuple(feats.shape) if torch.is_tensor(feats) else type(feats).__name__
        raise ValueError(f"{path} must hold one non-empty 2-D array (num_samples, dim), got {got}")
    if not (feats.is_floating_point() or feats.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{path} holds {feats.dtype} values; features must be numbers")
    bad = (~torch.isfinite(feats.double())).any(dim=1)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} of {len(feats)} rows contain NaN or inf")
    too_big = (feats.double().abs() > torch.finfo(torch.float32).max).any(dim=1)
    if too_big.any():  # finite in the file, but not in the float32 the clustering runs in
        raise ValueError(
            f"{path}: {int(too_big.sum())} of {len(feats)} rows hold values beyond float32's range (|x| > 3.4e38); "
            f"rescale the features"
        )
    return feats.float()


def _load_set(path: str, args, embedding) -> tuple[torch.Tensor, dict, torch.Tensor | None]:
    """(features, what they are, class logits of an image folder's embedding pass or None)."""
    p = Path(path)
    if p.is_dir():
        from prd_metric.embeddings import embed_image_folder

        feats, info, logits = embed_image_folder(p, embedding(), batch_size=args.batch_size, device=args.device,
                                                 size=args.image_size, progress=True, with_logits=True)  # fmt: skip
        return feats, {"path": str(p), "kind": "images", **{k: v for k, v in info.items() if k != "folder"}}, logits
    if p.suffix not in FEATURE_SUFFIXES and p.exists():
        raise ValueError(f"{p} is neither an image folder nor a feature file ({', '.join(FEATURE_SUFFIXES)})")
    feats = load_features(p)
    info = {"path": str(p), "kind": "features", "num_samples": len(feats), "num_features": feats.shape[1]}
    return feats, info, None


def _subsample(n_all: int, n: int, seed: int) -> torch.Tensor | slice:
    """The rows kept when ``n`` of ``n_all`` samples are drawn (all of them when n == n_all)."""
    if n_all == n:
        return slice(None)
    return torch.randperm(n_all, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def _check_before_work(args) -> None:
    """Everything that can be checked before minutes of embedding and clustering: outputs, device."""
    inputs = {Path(p).resolve() for p in [args.ref, *args.eval]}
    if args.clusters_plot and not (Path(args.ref).is_dir() and Path(args.eval[0]).is_dir()):
        raise ValueError("--clusters-plot shows images: --ref and the first --eval must be image folders")
    for p in (args.plot, args.json, args.clusters_plot):
        if not p:
            continue
        if Path(p).resolve() in inputs:
            raise ValueError(f"output {p} is also an input; choose another path")
        if Path(p).exists() and not args.overwrite:
            raise FileExistsError(f"{p} exists; choose another path or pass --overwrite to overwrite it")
        if not Path(p).resolve().parent.is_dir():
            raise FileNotFoundError(f"the folder of {p} does not exist")
    if args.plot and "prd" not in args.metrics:
        raise ValueError("--plot draws the PRD curves: add prd to --metrics")
    for option, p in (("--plot", args.plot), ("--clusters-plot", args.clusters_plot)):
        if not p:
            continue
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if Path(p).suffix.lstrip(".").lower() not in formats:
            raise ValueError(f"{option} {p}: unknown image format; use one of .{', .'.join(sorted(formats))}")
    if not (math.isfinite(args.beta) and args.beta > 0):
        raise ValueError(f"--beta must be a positive number (got {args.beta}); the thesis uses 8 (Sec. 5.4.3)")
    for name in ("knn_k", "kid_subsets", "kid_subset_size", "is_splits"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    args.device = resolve_device(args.device)  # "auto" becomes cuda or cpu here, so the JSON records which


def compare(args) -> int:
    """``prd-metric compare`` on the arguments :mod:`prd_metric.cli` parsed; returns the exit status.

    Raises:
        ValueError, OSError, gen_common.weights.WeightsUnavailableError: bad inputs, outputs or weights.
    """
    labels = args.labels or [Path(p).stem or Path(p).name for p in args.eval]
    if len(labels) != len(args.eval):
        raise ValueError(f"{len(args.eval)} --eval sets but {len(labels)} --labels")
    _check_before_work(args)
    cache = {}

    def embedding():  # built once, and only if an image folder needs it
        if "net" not in cache:
            from prd_metric.embeddings import build_embedding

            cache["net"] = build_embedding(args.embedding, weights=args.weights, option="--weights")
        return cache["net"]

    ref, ref_info, _ = _load_set(args.ref, args, embedding)
    first_eval = None  # its features, for --clusters-plot
    settings = {
        "num_clusters": args.num_clusters,
        "num_angles": args.num_angles,
        "num_runs": args.num_runs,
        "seed": args.seed,
        "backend": args.backend,
        "enforce_balance": not args.no_balance,
        "beta": args.beta,
        "knn_k": args.knn_k,
        "kid_subsets": args.kid_subsets,
        "kid_subset_size": args.kid_subset_size,
        "is_splits": args.is_splits,
    }
    metrics = tuple(args.metrics)
    rows = []
    for path, label in zip(args.eval, labels, strict=True):
        feats, info, logits = _load_set(path, args, embedding)
        first_eval = feats if first_eval is None else first_eval
        if feats.shape[1] != ref.shape[1]:
            raise ValueError(f"{path} has {feats.shape[1]}-d features but --ref {args.ref} has {ref.shape[1]}-d ones")
        r, e = ref, feats
        if args.subsample and len(r) != len(e):
            n = min(len(r), len(e))
            keep = _subsample(len(e), n, args.seed + 1)
            r, e = r[_subsample(len(r), n, args.seed)], e[keep]
            logits = logits[keep] if logits is not None else None
        elif len(r) != len(e) and not args.no_balance and "prd" in metrics:
            raise ValueError(
                f"{path} has {len(e)} samples but --ref has {len(r)}; unequal sizes bias the clustering (Sec. 5.4). "
                "Pass --subsample to draw equally many from each, or --no-balance to accept the bias."
            )
        with bar(args.num_runs if "prd" in metrics else 0, f"k-means {label}", "run") as clustering:
            out = evaluate_features(r.to(args.device), e.to(args.device), fake_logits=logits, metrics=metrics,
                                    progress=clustering.update, **settings)  # fmt: skip
        row = {"label": label, **info, "num_used": len(e), "num_ref_used": len(r)}
        row |= {k: v for k, v in scalars(out).items() if k not in ("num_real", "num_fake")}
        if logits is not None:  # Sec. 5.4.2: the embedding's classifier on the generated set
            row |= class_statistics(logits)
        if "precision" in out:
            row["precision"], row["recall"] = out["precision"].cpu().tolist(), out["recall"].cpu().tolist()
        rows.append(row)

    print(f"reference: {args.ref} ({len(ref)} samples, {ref.shape[1]}-d {ref_info['kind']})")
    print(table(rows, args.beta))
    correlations = fig_5_8_correlations(rows)
    if correlations:
        rho = {k: "n/a" if v is None else f"{v:+.2f}" for k, v in correlations.items()}
        print(f"Spearman over the {correlations['models']} sets (Fig. 5.8): F_1/{args.beta:g} vs entropy of p(y|x) "
              f"{rho['f1_8_vs_entropy_y_given_x']} (thesis -0.83), F_{args.beta:g} vs entropy of p(y) "
              f"{rho['f8_vs_entropy_y']} (thesis +0.89)")  # fmt: skip
    if args.json:
        record = {
            "reference": ref_info,
            "settings": {
                "metrics": list(metrics),
                **settings,
                "subsample": args.subsample,
                "embedding": args.embedding,
                "weights": args.weights,
                "image_size": args.image_size,
                "device": args.device,  # CPU and CUDA draw different random numbers for the same seed
                "kmeans": KMEANS_SETTINGS[args.backend],
                "versions": {name: version(name) for name in VERSIONED} | {"python": platform.python_version()},
            },
            "results": rows,
            "fig_5_8_spearman": correlations,
        }
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
        print(f"json: {args.json}")
    if args.clusters_plot:
        write_clusters_plot(args, ref, first_eval)
        print(f"clusters: {args.clusters_plot}")
    if args.plot:
        with atomic_output(args.plot) as tmp:
            plot_prd([(r["precision"], r["recall"]) for r in rows], labels, tmp)
        print(f"plot: {args.plot}")
    return 0


def write_clusters_plot(args, ref: torch.Tensor, evaluated: torch.Tensor, per_side: int = 6) -> None:
    """Fig. 5.9 for --ref and the first --eval folder: 10 clusters of their union, a row of members per cluster."""
    from gen_common.images import list_image_files, read_image
    from prd_metric.plot import cluster_members, plot_clusters

    files = (list_image_files(args.ref), list_image_files(args.eval[0]))  # the embedding's order
    rows = []
    for ref_idx, eval_idx in cluster_members(ref, evaluated, num_clusters=min(10, len(ref) + len(evaluated)),
                                             seed=args.seed):  # fmt: skip
        images = [
            [read_image(files[side][i]) for i in idx[:per_side].tolist()]
            for side, idx in enumerate((ref_idx, eval_idx))
        ]
        rows.append((*images, len(ref_idx), len(eval_idx)))
    with atomic_output(args.clusters_plot) as tmp:
        plot_clusters(rows, tmp, per_side=per_side, labels=(f"reference ({args.ref})", f"evaluated ({args.eval[0]})"))


COLUMNS = (  # (key, header, format): the table's columns, those of the computed metrics
    ("f_beta", "F_{b}", "8.3f"),
    ("f_beta_inv", "F_1/{b}", "8.3f"),
    ("fid", "FID", "9.2f"),
    ("kid_mean", "KIDx1e3", "9.2f"),
    ("knn_precision", "P(k-NN)", "8.3f"),
    ("knn_recall", "R(k-NN)", "8.3f"),
    ("density", "density", "8.3f"),
    ("coverage", "coverage", "8.3f"),
    ("is_mean", "IS", "8.2f"),
    ("confidence", "conf", "8.3f"),
)


def table(rows: list[dict], beta: float) -> str:
    """One line per evaluated set; a column per computed metric ('-' where a set has none, e.g. IS of features)."""
    b = f"{beta:g}"
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    width = {key: max(len(format(0.0, fmt)), len(h.format(b=b))) for key, h, fmt in cols}
    lines = [f"{'label':<20} {'n':>7} " + " ".join(f"{h.format(b=b):>{width[k]}}" for k, h, _ in cols)]
    for row in rows:
        cells = []
        for key, _, fmt in cols:
            value = row.get(key)
            value = value * 1e3 if key == "kid_mean" and value is not None else value
            cells.append(f"{format(value, fmt):>{width[key]}}" if value is not None else f"{'-':>{width[key]}}")
        lines.append(f"{row['label']:<20} {row['num_used']:>7} " + " ".join(cells))
    return "\n".join(lines)


def run_command(args) -> int:
    """:func:`compare` with the errors a user can fix as one line on stderr and exit status 2."""
    try:
        return compare(args)
    except (ValueError, OSError, WeightsUnavailableError) as err:  # OSError: missing, existing, unreadable files
        print(f"prd-metric: error: {err}", file=sys.stderr)
        return 2
