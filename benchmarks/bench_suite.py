"""Every metric of one evaluation, prd_metric's one call against the reference tools run one after the other.

Same features for both, in one process (``--n`` + ``--n`` of dimension ``--dim``, default 10,000 + 10,000 x 2048:
an Inception pool3 evaluation; ReLU'd Gaussian modes as ``bench_prd.py``), and 1008 class logits of the generated
set for the Inception Score:

* prd_metric: ``evaluate_features`` (PRD, FID, KID, k-NN precision / recall / density / coverage, IS), each metric
  also timed alone;
* reference: the thesis's PRD pipeline written plainly (``bench_prd.reference_prd``: scikit-learn MiniBatchKMeans
  n_init=10 per run), ``prdc.compute_prdc`` (k-NN), torchmetrics' ``FrechetInceptionDistance``,
  ``KernelInceptionDistance`` and ``InceptionScore`` fed the features / logits through an identity network.

Reported: seconds per metric and in total on each side, the ratio, and the numbers themselves (they must agree:
k-NN exactly up to float32 ties, FID to 1e-3 relative, KID / IS within their subset noise, PRD's F-scores within
the clustering's +-0.02). ``--memory N`` then runs the k-NN metrics alone on N + N samples and reports the peak
resident memory against the N x N distance matrix a non-chunked implementation holds.

    .venv/bin/python benchmarks/bench_suite.py [--n 10000] [--dim 2048] [--memory 50000] [--json out.json]
"""

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_prd.py, next to this script
from bench_prd import make_features, reference_prd  # noqa: E402

from prd_metric.knn import knn_metrics  # noqa: E402
from prd_metric.prd import max_f_beta_pair  # noqa: E402
from prd_metric.suite import METRICS, evaluate_features  # noqa: E402


class _Identity(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def reference_suite(real: np.ndarray, fake: np.ndarray, logits: np.ndarray, seed: int) -> tuple[dict, dict]:
    import prdc
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    r, f = torch.from_numpy(real), torch.from_numpy(fake)
    values, seconds = {}, {}

    def prd():
        precision, recall = reference_prd(fake, real, seed=seed)
        return dict(zip(("f_beta", "f_beta_inv"), max_f_beta_pair(precision, recall, beta=8), strict=True))

    def fid():
        m = FrechetInceptionDistance(feature=_Identity(real.shape[1]))
        m.update(r.double(), real=True)
        m.update(f.double(), real=False)
        return {"fid": m.compute().item()}

    def kid():
        m = KernelInceptionDistance(feature=_Identity(real.shape[1]), subsets=100, subset_size=min(1000, len(real)))
        m.update(r, real=True)
        m.update(f, real=False)
        torch.manual_seed(seed)
        return dict(zip(("kid_mean", "kid_std"), (v.item() for v in m.compute()), strict=True))

    def knn():
        out = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
        return {"knn_precision": out["precision"], "knn_recall": out["recall"]} | {
            k: float(out[k]) for k in ("density", "coverage")
        }

    def inception():
        m = InceptionScore(feature=_Identity(logits.shape[1]), splits=10)
        m.update(torch.from_numpy(logits))
        torch.manual_seed(seed)
        return dict(zip(("is_mean", "is_std"), (v.item() for v in m.compute()), strict=True))

    for name, fn in (("prd", prd), ("fid", fid), ("kid", kid), ("knn", knn), ("is", inception)):
        out, seconds[name] = timed(fn)
        values |= {k: float(v) for k, v in out.items()}
    return values, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory", type=int, default=0, help="also: k-NN alone on N + N samples, peak memory")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    fake, real = make_features(args.n, args.dim, args.seed)
    logits = np.random.default_rng(args.seed + 1).normal(scale=3.0, size=(args.n, 1008)).astype(np.float32)
    r, f, lg = torch.from_numpy(real), torch.from_numpy(fake), torch.from_numpy(logits)
    ours, ours_s = {}, {}
    for metric in METRICS:
        out, ours_s[metric] = timed(lambda m=metric: evaluate_features(r, f, fake_logits=lg, metrics=(m,)))
        ours |= {k: float(v) for k, v in out.items() if k not in ("precision", "recall", "num_real", "num_fake")}
    _, together = timed(lambda: evaluate_features(r, f, fake_logits=lg))
    ref, ref_s = reference_suite(real, fake, logits, args.seed)
    results = {
        "n": args.n, "dim": args.dim, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
        "seconds": {"prd_metric": ours_s, "prd_metric_one_call": together, "reference": ref_s},
        "values": {"prd_metric": ours, "reference": ref},
    }  # fmt: skip
    print(f"{'metric':<8} {'prd_metric s':>13} {'reference s':>12} {'ratio':>7}")
    for m in METRICS:
        print(f"{m:<8} {ours_s[m]:13.2f} {ref_s[m]:12.2f} {ref_s[m] / ours_s[m]:7.1f}")
    total_ref = sum(ref_s.values())
    print(f"{'all':<8} {together:13.2f} {total_ref:12.2f} {total_ref / together:7.1f}   (prd_metric: one call)")
    for key in ref:
        print(f"  {key:<14} prd_metric {ours[key]:12.6g}   reference {ref[key]:12.6g}")
    if args.memory:
        n = args.memory
        big_fake, big_real = make_features(n, args.dim, args.seed)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (Linux: KiB)
        _, secs = timed(lambda: knn_metrics(torch.from_numpy(big_real), torch.from_numpy(big_fake), k=5))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        matrix = n * n * 4 / 2**30
        results["memory"] = {"n": n, "seconds": secs, "peak_rss_gib": peak, "rss_before_gib": before,
                             "n_by_n_float32_gib": matrix}  # fmt: skip
        print(f"k-NN on {n} + {n}: {secs:.1f} s, peak RSS {peak:.2f} GiB (before: {before:.2f}); one {n}x{n} "
              f"float32 distance matrix alone: {matrix:.1f} GiB")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
