"""The clustering pipeline of Sec. 5.4: torch mini-batch k-means against scikit-learn, and PRD of embeddings."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from prd_metric.kmeans import minibatch_kmeans
from prd_metric.prd import max_f_beta_pair, prd_from_embeddings


def _blobs(n, classes, num_modes=10, dim=32, seed=0):
    """Samples of ``num_modes`` well-separated Gaussian modes, restricted to the given classes."""
    centers = np.random.default_rng(123).normal(scale=10.0, size=(num_modes, dim))
    rng = np.random.default_rng(seed)
    labels = rng.choice(classes, n)
    return (centers[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def test_torch_kmeans_agrees_with_scikit_learn_on_separated_clusters():
    x, y = make_blobs(4000, centers=8, n_features=16, cluster_std=0.5, random_state=0)
    ref = KMeans(8, n_init=10, random_state=0).fit(x).labels_
    _, labels = minibatch_kmeans(torch.tensor(x, dtype=torch.float32), 8, num_runs=4, seed=0)
    for run in labels.numpy():
        assert adjusted_rand_score(ref, run) == 1.0
        assert adjusted_rand_score(y, run) == 1.0


def test_kmeans_is_deterministic_given_seed():
    x = torch.tensor(make_blobs(1000, centers=5, n_features=8, random_state=1)[0], dtype=torch.float32)
    a = minibatch_kmeans(x, 5, num_runs=3, seed=7)
    b = minibatch_kmeans(x, 5, num_runs=3, seed=7)
    torch.testing.assert_close(a[0], b[0])
    assert torch.equal(a[1], b[1])


def test_mode_dropping_lowers_recall_not_precision():
    # Q covers 5 of P's 10 modes: max precision ~1, max recall ~0.5 (Theorem 1 iii/iv on the cluster histogram).
    ref, _ = _blobs(2000, range(10), seed=0)
    dropped, _ = _blobs(2000, range(5), seed=1)
    precision, recall = prd_from_embeddings(eval_feats=dropped, ref_feats=ref, num_clusters=10, num_runs=3, seed=0)
    assert isinstance(precision, np.ndarray) and precision.shape == (1001,)
    assert precision.max() > 0.97
    assert recall.max() == pytest.approx(0.5, abs=0.05)
    # and the reverse: inventing modes costs precision
    precision, recall = prd_from_embeddings(eval_feats=ref, ref_feats=dropped, num_clusters=10, num_runs=3, seed=0)
    assert recall.max() > 0.97
    assert precision.max() == pytest.approx(0.5, abs=0.05)


def test_backends_agree_within_0_02():
    ref, _ = _blobs(3000, range(10), seed=0)
    q, _ = _blobs(3000, [0, 1, 2, 3, 4, 5, 6, 7, 7, 8], seed=2)  # drops class 9, doubles class 7
    scores = {}
    for backend in ("torch", "sklearn"):
        p, r = prd_from_embeddings(eval_feats=q, ref_feats=ref, num_runs=3, seed=0, backend=backend)
        scores[backend] = max_f_beta_pair(p, r)
    np.testing.assert_allclose(scores["torch"], scores["sklearn"], atol=0.02)
    assert scores["torch"][0] < 0.95  # the dropped mode is visible in F_8 (recall)


def test_tensor_inputs_and_seed_reproducibility():
    ref, _ = _blobs(500, range(10), seed=0)
    q, _ = _blobs(500, range(10), seed=3)
    a = prd_from_embeddings(eval_feats=torch.from_numpy(q), ref_feats=torch.from_numpy(ref), num_runs=2, seed=5)
    b = prd_from_embeddings(eval_feats=torch.from_numpy(q), ref_feats=torch.from_numpy(ref), num_runs=2, seed=5)
    assert torch.is_tensor(a[0])
    torch.testing.assert_close(a, b)
    assert max_f_beta_pair(*a)[0] > 0.9  # same distribution: high precision and recall


@pytest.mark.parametrize(
    ("eval_feats", "ref_feats", "kwargs", "match"),
    [
        (np.zeros((10, 4)), np.zeros((10, 5)), {}, "feature dimensions"),
        (np.zeros((10, 4)), np.zeros((12, 4)), {}, "enforce_balance"),
        (np.full((10, 4), np.nan), np.zeros((10, 4)), {}, "NaN"),
        (np.zeros((10,)), np.zeros((10, 4)), {}, "2-D"),
        (np.zeros((10, 4)), np.zeros((10, 4)), {"num_clusters": 21}, "num_clusters"),
        (np.zeros((10, 4)), np.zeros((10, 4)), {"backend": "faiss"}, "backend"),
        (np.zeros((10, 4)), np.zeros((10, 4)), {"num_angles": 1}, "num_angles"),
    ],
)
def test_bad_embeddings(eval_feats, ref_feats, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prd_from_embeddings(eval_feats=eval_feats, ref_feats=ref_feats, **kwargs)


def test_unbalanced_allowed_when_asked():
    # Each histogram is normalised by its own set's size: 200 samples of 5 modes against 300 of 10.
    ref, _ = _blobs(300, range(10), seed=0)
    q, _ = _blobs(200, range(5), seed=1)
    p, r = prd_from_embeddings(eval_feats=q, ref_feats=ref, enforce_balance=False, num_clusters=10, seed=0)
    assert p.max() > 0.97 and r.max() == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30])
def test_kmeans_works_at_any_feature_scale_and_default_dtype(scale):
    # Squared distances of 1e-30 or 1e30 features under- or overflow float32 unless the points are rescaled first.
    x, y = make_blobs(1500, centers=6, n_features=8, cluster_std=0.5, random_state=2)
    x = torch.tensor(x, dtype=torch.float32)
    for run in minibatch_kmeans(x * scale, 6, num_runs=3, seed=3)[1].numpy():
        assert adjusted_rand_score(y, run) == 1.0
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e.g. set by density-estimation code
    try:
        labels = minibatch_kmeans(x.double() * scale, 6, num_runs=1, seed=3)[1]
    finally:
        torch.set_default_dtype(previous)
    assert adjusted_rand_score(y, labels[0].numpy()) == 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu_scores():
    ref, _ = _blobs(3000, range(10), seed=0)
    q, _ = _blobs(3000, range(7), seed=1)
    cpu = max_f_beta_pair(*prd_from_embeddings(eval_feats=q, ref_feats=ref, seed=0, num_runs=5))
    gpu_p, gpu_r = prd_from_embeddings(eval_feats=torch.from_numpy(q).cuda(), ref_feats=torch.from_numpy(ref).cuda(),
                                       seed=0, num_runs=5)  # fmt: skip
    assert gpu_p.is_cuda
    np.testing.assert_allclose(max_f_beta_pair(gpu_p, gpu_r), cpu, atol=0.02)
