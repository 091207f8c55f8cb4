"""``prd-metric modes``, the work behind the command (:mod:`prd_metric.cli` parses; its ``MODES_DESCRIPTION`` says
what Sec. 5.4.1's experiment shows): the labelled datasets, the sets P and Q_1..Q_10, their PRD curves and FID.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from gen_common.files import atomic_output
from gen_common.weights import WeightsUnavailableError
from prd_metric.cli import DATASETS, modes_parser, resolve_device
from prd_metric.kmeans import SETTINGS as KMEANS_SETTINGS
from prd_metric.metric import fid_from_features
from prd_metric.plot import log_prd_to_wandb, plot_prd
from prd_metric.prd import max_f_beta_pair, prd_from_embeddings
from prd_metric.progress import Progress, reporter


def load_labelled(data: str, split: str, root: str | None = None, download: bool = False):
    """Images (N, C, H, W) in [0, 1] and labels (N,) of a labelled dataset split (``"train"`` / ``"test"``)."""
    if data == "digits":
        from prd_metric.digits import load_digits_split

        return load_digits_split(split)
    if data not in DATASETS:
        raise ValueError(f"unknown dataset {data!r}; choose one of {', '.join(DATASETS)}")
    if root is None:
        raise ValueError(f"--data {data} needs --root DIR (where torchvision keeps it; add --download to fetch it)")
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[data]
    try:
        ds = cls(root, train=split == "train", download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise FileNotFoundError(
            f"{data} not found under {root} ({err}); pass --download on a machine with network, or point --root "
            "to a folder holding torchvision's copy"
        ) from err
    images = torch.as_tensor(ds.data)
    images = images[:, None] if images.ndim == 3 else images.permute(0, 3, 1, 2)  # MNIST (N,H,W); CIFAR (N,H,W,C)
    return images.float() / 255, torch.as_tensor(ds.targets)


def mode_sets(train_labels: torch.Tensor, test_labels: torch.Tensor, num_samples: int | None, seed: int = 0):
    """Indices of P (test, classes 0-4) and of Q_1..Q_10 (train, classes 0..i-1), each of one common size.

    Each set is drawn uniformly from its pool; a pool smaller than the common size (the digits' Q_1 has ~90 images)
    is drawn with replacement, which samples the same empirical distribution. Returns ``(p_idx, [q_idx...], n)``.
    """
    gen = torch.Generator().manual_seed(seed)

    def draw(pool: torch.Tensor, n: int) -> torch.Tensor:
        if len(pool) >= n:
            return pool[torch.randperm(len(pool), generator=gen)[:n]]
        return pool[torch.randint(len(pool), (n,), generator=gen)]

    p_pool = (test_labels < 5).nonzero().flatten()
    n = num_samples or len(p_pool)
    return draw(p_pool, n), [draw((train_labels < i).nonzero().flatten(), n) for i in range(1, 11)], n


def run(args: argparse.Namespace, progress: Progress = False) -> dict:
    """Embed, build P and the Q_i, and compute PRD, F_8/F_1/8 and FID for each Q_i.

    Args:
        args: the options of :func:`prd_metric.cli.modes_parser`, ``device`` already resolved.
        progress: bars on stderr for the embedding (images) and the clusterings (runs); see
            :mod:`prd_metric.progress`.
    """
    from prd_metric.embeddings import build_embedding, embed_images

    embedding = args.embedding or ("digits" if args.data == "digits" else "inception")
    net = build_embedding(embedding, weights=args.weights, option="--weights").to(args.device)
    train_x, train_y = load_labelled(args.data, "train", args.root, args.download)
    test_x, test_y = load_labelled(args.data, "test", args.root, args.download)
    p_idx, q_idx, n = mode_sets(train_y, test_y, args.num_samples, args.seed)
    needed = torch.unique(torch.cat(q_idx))  # embed each training image once, even if drawn repeatedly
    with reporter(progress, len(needed) + len(p_idx), "embedding", "img") as done:
        emb = embed_images(net, train_x[needed], batch_size=args.batch_size, device=args.device, progress=done)
        p = embed_images(net, test_x[p_idx], batch_size=args.batch_size, device=args.device, progress=done)
    train_feats = emb.new_zeros(len(train_x), emb.shape[1])
    train_feats[needed] = emb
    rows, curves = [], []
    with reporter(progress, len(q_idx) * args.num_runs, "k-means", "run") as done:
        for i, idx in enumerate(q_idx, start=1):
            q = train_feats[idx]
            precision, recall = prd_from_embeddings(
                eval_feats=q.to(args.device), ref_feats=p.to(args.device), num_clusters=args.num_clusters,
                num_runs=args.num_runs, num_angles=args.num_angles, seed=args.seed, progress=done,
            )  # fmt: skip
            f8, f1_8 = max_f_beta_pair(precision, recall)
            fid = fid_from_features(p.double(), q.double()).item()
            rows.append({"i": i, "f8": f8, "f1_8": f1_8, "fid": fid, "max_precision": precision.max().item(),
                         "max_recall": recall.max().item()})  # fmt: skip
            curves.append((precision.cpu(), recall.cpu()))
    settings = {k: getattr(args, k) for k in ("data", "num_clusters", "num_runs", "num_angles", "seed", "weights")}
    settings |= {"device": args.device, "kmeans": KMEANS_SETTINGS["torch"]}
    return {"settings": {**settings, "embedding": embedding, "num_samples": n}, "rows": rows, "curves": curves}


def main(argv: list[str] | None = None) -> int:
    """``prd-metric modes [options]``, parsed here (the console command parses in :mod:`prd_metric.cli`)."""
    return run_command(modes_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """``prd-metric modes`` on parsed options: the table on stdout, plot / JSON / W&B; returns the exit status."""
    for path in (args.plot, args.json):
        if path and Path(path).exists() and not args.overwrite:
            print(f"prd-metric modes: error: {path} exists; choose another path or pass --overwrite", file=sys.stderr)
            return 2
    try:
        args.device = resolve_device(args.device)  # "auto" -> cuda or cpu, recorded in the settings
        result = run(args, progress=True)
    except (ValueError, OSError, WeightsUnavailableError) as err:  # OSError: missing, existing, unreadable files
        print(f"prd-metric modes: error: {err}", file=sys.stderr)
        return 2
    print(f"P: classes 0-4 of the {args.data} test split; Q_i: classes 0..i-1 of the train split; "
          f"{result['settings']['num_samples']} samples each, embedding {result['settings']['embedding']}")  # fmt: skip
    print(f"{'Q_i':>4} {'F_8':>7} {'F_1/8':>7} {'FID':>9}")
    for row in result["rows"]:
        print(f"{row['i']:>4} {row['f8']:7.3f} {row['f1_8']:7.3f} {row['fid']:9.2f}")
    labels = [f"Q_{r['i']}" for r in result["rows"]]
    if args.plot:
        with atomic_output(args.plot) as tmp:
            plot_prd(result["curves"], labels, tmp)
        print(f"plot: {args.plot}")
    if args.json:
        curves = [{"precision": p.tolist(), "recall": r.tolist()} for p, r in result["curves"]]
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps({**result, "curves": curves}, indent=1))
        print(f"json: {args.json}")
    if args.wandb:
        import wandb

        from gen_common.loggers import wandb_mode

        with wandb.init(project=args.wandb, mode=wandb_mode(), config=result["settings"]) as wb:
            log_prd_to_wandb(wb, result["curves"], labels, key="modes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
