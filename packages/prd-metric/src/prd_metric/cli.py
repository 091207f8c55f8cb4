"""``prd-metric``: compare generative models by precision and recall (thesis ch. 5), from the shell.

    prd-metric compare --ref real/ --eval model_a/ --eval model_b/ --plot prd.png --json prd.json
    prd-metric compare --ref real.npy --eval a.npy --labels A --embedding digits
    prd-metric modes                # Sec. 5.4.1: dropping and inventing modes, on the embedded digits
    prd-metric train-digits         # retrain the offline digits embedding

Each ``--ref`` / ``--eval`` is a feature file (``.npy``, or ``.pt`` holding one 2-D tensor) or an image folder,
embedded with ``--embedding``. The JSON records every setting that changes the numbers.
"""

import argparse
import sys
from pathlib import Path

from gen_common.lazy import lazy_exports

# Light on purpose: ``--help`` of every sub-command answers without loading torch; the work is in
# prd_metric.compare, prd_metric.modes and prd_metric.digits, imported after the arguments are parsed.
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")  # prd-metric modes --data
METRICS = ("prd", "fid", "kid", "knn", "is")  # = prd_metric.suite.METRICS (tested), here without importing torch
MODES_DESCRIPTION = """Sec. 5.4.1, adding and dropping modes: P = the first 5 classes of the test split, Q_i = the first
i classes of the training split (i = 1..10). Recall should rise up to i = 5 and precision fall after it, while FID
cannot tell Q_4 (dropped modes) from Q_6 (invented modes).

    prd-metric modes                                   # embedded digits, digits-CNN embedding (offline)
    prd-metric modes --data mnist --root ~/data        # MNIST / fashion_mnist / cifar10 via torchvision
"""
DEVICE_HELP = "auto (cuda if available, else cpu) | cpu | cuda | cuda:N"
# Names that lived here before the work moved to prd_metric.compare, still importable from here.
_MOVED = ("FEATURE_SUFFIXES", "VERSIONED", "compare", "load_features")
__getattr__, _ = lazy_exports(__name__, dict.fromkeys(_MOVED, "prd_metric.compare"))


def resolve_device(name: str) -> str:
    """The ``--device`` option as a device name: ``auto`` is cuda when CUDA is available, else cpu.

    Raises:
        ValueError: not a device name, or CUDA asked for on a machine without it.
    """
    from gen_common.devices import resolve_device as resolve  # after parsing: torch takes seconds to load

    return str(resolve(name))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prd-metric", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="PRD, FID, KID, k-NN precision / recall, density / coverage and IS of "
                       "evaluated sets against a reference, from one embedding pass")  # fmt: skip
    c.add_argument("--ref", required=True, help="the reference (real data, P): feature file or image folder")
    c.add_argument("--eval", required=True, action="append", help="an evaluated set (model, Q); repeatable")
    c.add_argument("--labels", nargs="+", help="one label per --eval (default: file/folder names)")
    c.add_argument("--plot", help="write the PRD plot here (.png/.pdf/.svg)")
    c.add_argument("--json", help="write curves, scores and settings here")
    c.add_argument("--clusters-plot", metavar="PNG", help="Fig. 5.9: the first --eval folder and the --ref folder "
                   "clustered together (10 clusters), a row of each side's images per cluster")  # fmt: skip
    c.add_argument("--overwrite", action="store_true", help="overwrite existing --plot/--json files")
    c.add_argument("--embedding", default="inception", choices=("inception", "digits"),
                   help="embedding for image folders (Sec. 5.4: Inception pool3)")  # fmt: skip
    c.add_argument("--weights", help="embedding weights: imagenet|shipped|random|PATH (default per embedding)")
    c.add_argument("--image-size", type=int, help="resize images to this square size (default: the embedding's)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--device", default="auto", help=DEVICE_HELP)
    c.add_argument("--num-clusters", type=int, default=20, help="k of k-means (Sec. 5.4: 20)")
    c.add_argument("--num-runs", type=int, default=10, help="clusterings averaged (published code: 10)")
    c.add_argument("--num-angles", type=int, default=1001, help="points on the curve (Sec. 5.3.3)")
    c.add_argument("--beta", type=float, default=8, help="F_beta and F_1/beta (Sec. 5.4.3: 8)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--backend", default="torch", choices=("torch", "sklearn"), help="k-means implementation")
    c.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS, metavar="M",
                   help="prd (Sec. 5.4), fid (Eq. 5.2), kid, knn (k-NN precision / recall, density / coverage), is "
                        "(Inception Score, Eq. 5.1: image folders only); default: all")  # fmt: skip
    c.add_argument("--knn-k", type=int, default=5, help="k of the k-NN metrics (default 5)")
    c.add_argument("--kid-subsets", type=int, default=100, help="KID: random subsets averaged (default 100)")
    c.add_argument("--kid-subset-size", type=int, default=1000, help="KID: samples per subset (default 1000)")
    c.add_argument("--is-splits", type=int, default=10, help="Inception Score: groups (default 10)")
    c.add_argument("--subsample", action="store_true", help="draw equally many samples from unequal sets")
    c.add_argument("--no-balance", action="store_true", help="allow unequal set sizes (biases the clustering)")
    sub.add_parser("modes", help="Sec. 5.4.1: PRD and FID as classes are dropped and added", add_help=False)
    sub.add_parser("train-digits", help="retrain the offline digits embedding", add_help=False)
    return parser


def modes_parser() -> argparse.ArgumentParser:
    """The options of ``prd-metric modes`` (:func:`prd_metric.modes.run_command` does the work)."""
    parser = argparse.ArgumentParser(prog="prd-metric modes", description=MODES_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--data", default="digits", choices=DATASETS)
    parser.add_argument("--root", help="torchvision dataset folder (not needed for digits)")
    parser.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    parser.add_argument("--embedding", choices=["digits", "inception"], help="default: per --data")
    parser.add_argument("--weights", help="embedding weights (default: shipped digits CNN / FID Inception)")
    parser.add_argument("--num-samples", type=int, help="samples per set (default: all of P)")
    parser.add_argument("--num-clusters", type=int, default=20, help="Sec. 5.4: 20")
    parser.add_argument("--num-runs", type=int, default=10)
    parser.add_argument("--num-angles", type=int, default=1001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--plot", default="prd_modes.png", help="PRD curves of Q_1..Q_10 on one axis")
    parser.add_argument("--json", help="write the table, curves and settings here")
    parser.add_argument("--wandb", metavar="PROJECT", help="also log plot and scores to W&B (offline without a key)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite existing --plot/--json files")
    return parser


def train_digits_parser() -> argparse.ArgumentParser:
    """The options of ``prd-metric train-digits`` (:func:`prd_metric.digits.run_command` does the work)."""
    p = argparse.ArgumentParser(
        prog="prd-metric train-digits",
        description="Train the digits CNN whose penultimate layer is the offline PRD embedding (thesis Sec. 5.4) "
        "on the train half of scikit-learn's digits, print its test accuracy and save its state_dict.",
    )
    p.add_argument("--epochs", type=int, default=30, help="passes over the 898 training digits (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, batch order and shifts (default 0)")
    shipped = Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"  # prd_metric.digits.SHIPPED_WEIGHTS
    p.add_argument("--out", type=Path, help=f"state_dict file (default: the shipped one, {shipped})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file (also the shipped one)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``prd-metric compare | modes | train-digits ...``; returns the exit status (0 done, 2 nothing written)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train-digits":  # these two own their options (and their own --help)
        args = train_digits_parser().parse_args(argv[1:])
        from prd_metric.digits import run_command
    elif argv and argv[0] == "modes":
        args = modes_parser().parse_args(argv[1:])
        from prd_metric.modes import run_command
    else:
        args = _parser().parse_args(argv)
        from prd_metric.compare import run_command
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
