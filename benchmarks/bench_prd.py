"""Speed of the full PRD pipeline (thesis Sec. 5.4), prd_metric versus a plain implementation of it, in one process.

Data: ``--n`` evaluated + ``--n`` reference features of dimension ``--dim`` (default 10,000 + 10,000 x 2048, the
size of an Inception pool3 evaluation), drawn as ReLU'd Gaussian modes so that they are non-negative and clustered
like pool3 features: the reference covers 25 modes, the evaluated set 20 of them (a model that dropped modes).

* reference: the thesis's pipeline written plainly, as the published code does it: per run, scikit-learn
  ``MiniBatchKMeans(n_clusters=20, n_init=10)`` on the union, ``np.histogram`` of each set's labels, Theorem 2 on
  the 1001-angle grid in numpy; curves averaged over 10 runs; max F_8 / F_1/8.
* prd_metric: ``prd_from_embeddings`` (batched torch mini-batch k-means) on the CPU and, when CUDA is there, on the
  GPU (after one untimed warm-up call, synchronised).

Both get the same arrays and run with seeds 0..S-1 (``--seeds``), because the F-scores of one seed move by about
0.02 with the clustering's randomness in either implementation. Reported: median wall seconds, the speed-up ratio of
the medians, mean +- std of the F-scores over the seeds, and the difference of the means (goal: >= 10x on the CPU,
F-scores within 0.02).

    .venv/bin/python benchmarks/bench_prd.py [--n 10000] [--dim 2048] [--runs 10] [--seeds 3] [--json out.json]
"""

import argparse
import json
import platform
import sys
import time

import numpy as np
import sklearn
import torch
from sklearn.cluster import MiniBatchKMeans

from prd_metric.prd import max_f_beta_pair, prd_from_embeddings


def make_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    modes = rng.normal(scale=1.0, size=(25, dim)).astype(np.float32)
    ref = modes[rng.integers(0, 25, n)] + rng.normal(scale=1.0, size=(n, dim)).astype(np.float32)
    ev = modes[rng.integers(0, 20, n)] + rng.normal(scale=1.0, size=(n, dim)).astype(np.float32)
    return np.maximum(ev, 0), np.maximum(ref, 0)


def separated_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated modes, more than the 20 clusters (40), the two sets sharing only part of them: the reference
    covers modes 0-29, the evaluated set 10-39."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(scale=10.0, size=(40, dim)).astype(np.float32)
    ref = modes[rng.integers(0, 30, n)] + rng.normal(size=(n, dim)).astype(np.float32)
    ev = modes[rng.integers(10, 40, n)] + rng.normal(size=(n, dim)).astype(np.float32)
    return ev, ref


def broad_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One broad Gaussian each, no cluster structure: the evaluated set slightly shifted and wider."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(n, dim)).astype(np.float32)
    ev = (rng.normal(size=(n, dim)) * 1.2 + 0.05).astype(np.float32)
    return ev, ref


def digits_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real embeddings: the digits CNN's 128-d features of scikit-learn's digits, the training split's first 5
    classes (evaluated) against the test split (reference); ``n`` and ``dim`` are what the data has (~450)."""
    from prd_metric.digits import DigitsEmbedding, load_digits_split
    from prd_metric.embeddings import embed_images

    net = DigitsEmbedding()
    (train, train_y), (test, _) = load_digits_split("train"), load_digits_split("test")
    ev = embed_images(net, train[train_y < 5]).numpy()
    ref = embed_images(net, test).numpy()
    m = min(len(ev), len(ref), n)
    rng = np.random.default_rng(seed)
    return ev[rng.permutation(len(ev))[:m]], ref[rng.permutation(len(ref))[:m]]


def inception_random_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed, non-negative real embeddings: Inception pool3 (random weights, offline) of 64x64 crops of the
    embedded photographs, the held-out photographs' crops (evaluated) against the training ones' (reference)."""
    from gen_common.embedded import embedded_images
    from prd_metric.embeddings import InceptionPool3, embed_images

    torch.manual_seed(seed)
    net = InceptionPool3(weights="random")
    rng = np.random.default_rng(seed)

    def crops(split: str) -> torch.Tensor:
        photos = [img for _, img in embedded_images(split)]
        out = []
        for _ in range(n):
            img = photos[rng.integers(len(photos))]
            y, x = rng.integers(0, img.shape[1] - 64), rng.integers(0, img.shape[2] - 64)
            out.append(img[:, y : y + 64, x : x + 64])
        return torch.stack(out)

    return embed_images(net, crops("eval"), batch_size=32).numpy(), embed_images(
        net, crops("train"), batch_size=32
    ).numpy()


DATA = {  # --data: the feature distributions PRD's speed and agreement are checked on
    "relu_modes": make_features,
    "separated": separated_features,
    "broad": broad_features,
    "digits": digits_features,
    "inception_random": inception_random_features,
}


def profile(ev: np.ndarray, ref: np.ndarray, runs: int, seed: int = 0) -> dict:
    """Where prd_metric's seconds go: the k-means++ seeding, the mini-batch steps (their count, their distance
    products and their batch gathers), the final assignment, and everything else (histograms, Theorem 2)."""
    import prd_metric.kmeans as km

    spent = {"seeding": 0.0, "step_products": 0.0, "gathers": 0.0, "final_assignment": 0.0, "steps": 0}
    originals = (km._kmeans_pp, km._sq_dists, km.assign, torch.index_select)
    seeding = [False]

    def timed(key, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[key] += time.perf_counter() - start
            return out

        return wrapper

    def kmeans_pp(*args, **kwargs):
        seeding[0] = True
        try:
            return timed("seeding", originals[0])(*args, **kwargs)
        finally:
            seeding[0] = False

    def sq_dists(x, *args, **kwargs):
        if seeding[0] or assigning[0]:  # (the seeding's own products, and the final assignment's)
            return originals[1](x, *args, **kwargs)
        spent["steps"] += 1
        return timed("step_products", originals[1])(x, *args, **kwargs)

    assigning = [False]

    def assign(*args, **kwargs):
        assigning[0] = True
        try:
            return timed("final_assignment", originals[2])(*args, **kwargs)
        finally:
            assigning[0] = False

    km._kmeans_pp, km._sq_dists = kmeans_pp, sq_dists
    km.assign, torch.index_select = assign, timed("gathers", originals[3])
    try:
        start = time.perf_counter()
        prd_from_embeddings(eval_feats=torch.from_numpy(ev), ref_feats=torch.from_numpy(ref), num_runs=runs, seed=seed)
        spent["total"] = time.perf_counter() - start
    finally:
        km._kmeans_pp, km._sq_dists, km.assign, torch.index_select = originals
    spent["other"] = spent["total"] - sum(spent[k] for k in ("seeding", "step_products", "gathers", "final_assignment"))
    return spent


def reference_prd(eval_data, ref_data, num_clusters=20, num_angles=1001, num_runs=10, seed=0):
    """The thesis's pipeline, plainly: MiniBatchKMeans (n_init=10) per run, histograms, Theorem 2, averaged."""
    data = np.vstack([eval_data, ref_data])
    angles = np.linspace(1e-10, np.pi / 2 - 1e-10, num_angles)
    slopes = np.tan(angles)[:, None]
    precisions, recalls = [], []
    for run in range(num_runs):
        labels = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=seed * 1000 + run).fit(data).labels_
        q = np.histogram(labels[: len(eval_data)], bins=num_clusters, range=(0, num_clusters))[0] / len(eval_data)
        p = np.histogram(labels[len(eval_data) :], bins=num_clusters, range=(0, num_clusters))[0] / len(ref_data)
        precision = np.minimum(p[None] * slopes, q[None]).sum(axis=1)
        precisions.append(np.clip(precision, 0, 1))
        recalls.append(np.clip(precision / slopes[:, 0], 0, 1))
    return np.mean(precisions, axis=0), np.mean(recalls, axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3, help="repeat each side with seeds 0..S-1 (F varies by seed)")
    ap.add_argument("--skip-reference", action="store_true", help="only time prd_metric")
    ap.add_argument("--data", choices=DATA, default="relu_modes", help="feature distribution (see the functions)")
    ap.add_argument("--profile", action="store_true", help="only: where prd_metric's seconds go (one seed)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    ev, ref = DATA[args.data](args.n, args.dim)
    if args.profile:
        spent = profile(ev, ref, args.runs)
        print(
            f"{args.data}: " + ", ".join(f"{k} {v:.2f} s" if k != "steps" else f"{v} steps" for k, v in spent.items())
        )
        return 0
    results = {
        "data": args.data, "n": len(ev), "dim": ev.shape[1], "runs": args.runs, "seeds": args.seeds,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "sklearn": sklearn.__version__, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }  # fmt: skip
    sides = {"prd_metric_cpu": lambda seed: prd_from_embeddings(eval_feats=ev, ref_feats=ref, num_runs=args.runs,
                                                                 seed=seed)}  # fmt: skip
    if torch.cuda.is_available():
        ev_gpu, ref_gpu = torch.from_numpy(ev).cuda(), torch.from_numpy(ref).cuda()
        prd_from_embeddings(eval_feats=ev_gpu, ref_feats=ref_gpu, num_runs=args.runs)  # warm-up: context, cuBLAS
        sides["prd_metric_gpu"] = lambda seed: prd_from_embeddings(eval_feats=ev_gpu, ref_feats=ref_gpu,
                                                                    num_runs=args.runs, seed=seed)  # fmt: skip
    if not args.skip_reference:
        sides["reference_sklearn"] = lambda seed: reference_prd(ev, ref, num_runs=args.runs, seed=seed)

    for name, fn in sides.items():
        rows = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            precision, recall = fn(seed)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            rows.append((time.perf_counter() - t0, *max_f_beta_pair(precision, recall)))
        sec, f8, f1_8 = (np.array(col) for col in zip(*rows, strict=True))
        results[name] = {"seconds": sec.tolist(), "f8": f8.tolist(), "f1_8": f1_8.tolist()}
        print(f"{name:<18} median {np.median(sec):7.2f} s   F_8 {f8.mean():.4f} +- {f8.std():.4f}   "
              f"F_1/8 {f1_8.mean():.4f} +- {f1_8.std():.4f}   (over {args.seeds} seeds)", flush=True)  # fmt: skip
    if not args.skip_reference:
        ours, plain = results["prd_metric_cpu"], results["reference_sklearn"]
        results["speedup_cpu"] = float(np.median(plain["seconds"]) / np.median(ours["seconds"]))
        results["f_diff_of_means"] = [abs(np.mean(ours[k]) - np.mean(plain[k])) for k in ("f8", "f1_8")]
        print(f"speed-up (CPU, medians): {results['speedup_cpu']:.1f}x   |difference of mean F_8, F_1/8|: "
              f"{results['f_diff_of_means'][0]:.4f}, {results['f_diff_of_means'][1]:.4f}")  # fmt: skip
        if "prd_metric_gpu" in results:
            results["speedup_gpu"] = float(
                np.median(plain["seconds"]) / np.median(results["prd_metric_gpu"]["seconds"])
            )
            print(f"speed-up (GPU vs the reference on this machine's CPU): {results['speedup_gpu']:.0f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
