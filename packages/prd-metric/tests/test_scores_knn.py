"""KID, the Inception Score (Eq. 5.1) and the k-NN metrics against independent references: torchmetrics' metrics,
the ``prdc`` package, naive loops and closed forms."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from prd_metric.knn import knn_metrics, knn_radii
from prd_metric.scores import inception_score, kernel_inception_distance


class _Identity(nn.Module):  # hands torchmetrics' metrics our features / logits as they are
    num_features = 8

    def forward(self, x):
        return x


@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0])
def test_knn_metrics_equal_prdc(shift):
    prdc = pytest.importorskip("prdc")  # the reference implementation (dev dependency)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(400, 16)), rng.normal(size=(300, 16)) + shift
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    for chunk in (2**30, 20_000):  # one block, and many small ones
        ours = knn_metrics(torch.from_numpy(real), torch.from_numpy(fake), k=5, chunk_bytes=chunk)
        assert ours == pytest.approx({k: float(v) for k, v in ref.items()}, abs=1e-12)


def test_knn_radii_naive_loop_and_errors():
    x = torch.randn(30, 3, dtype=torch.float64)
    naive = [sorted(float((x[i] - x[j]).norm()) for j in range(30) if j != i)[2] for i in range(30)]
    torch.testing.assert_close(knn_radii(x, 3, chunk_bytes=64), torch.tensor(naive, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than k samples"):
        knn_radii(x[:3], 3)
    with pytest.raises(ValueError, match="one D"):
        knn_metrics(x, x[:, :2])


def test_kid_equals_torchmetrics_and_the_naive_unbiased_mmd():
    from torchmetrics.image.kid import KernelInceptionDistance

    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(60, 8, generator=gen), torch.randn(50, 8, generator=gen) + 0.3
    reference = KernelInceptionDistance(feature=_Identity(), subsets=7, subset_size=20)
    reference.update(real, real=True)
    reference.update(fake, real=False)
    torch.manual_seed(3)  # torchmetrics draws its subsets from the global RNG; ours from seed=3
    mean, std = reference.compute()
    ours = kernel_inception_distance(real, fake, subsets=7, subset_size=20, seed=3)
    assert ours == pytest.approx((mean.item(), std.item()), rel=1e-5)
    # one subset of everything: the unbiased MMD^2 of Bińkowski et al., as a naive double loop
    r, f = real[:20].double(), fake[:20].double()
    k = lambda a, b: (a @ b / 8 + 1) ** 3  # noqa: E731
    n = 20
    xx = sum(k(r[i], r[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(f[i], f[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(r[i], f[j]) for i in range(n) for j in range(n)) / (n * n)
    assert kernel_inception_distance(r, f, subsets=1, subset_size=20)[0] == pytest.approx(float(xx + yy - 2 * xy))


def test_inception_score_equals_torchmetrics_and_closed_forms():
    from torchmetrics.image.inception import InceptionScore

    logits = torch.randn(100, 8, generator=torch.Generator().manual_seed(1)) * 3
    reference = InceptionScore(feature=_Identity(), splits=5)
    reference.update(logits)
    torch.manual_seed(4)
    mean, std = reference.compute()
    assert inception_score(logits, splits=5, seed=4) == pytest.approx((mean.item(), std.item()), rel=1e-5)
    assert inception_score(torch.zeros(40, 8), splits=4)[0] == pytest.approx(1.0)  # p(y|x) = p(y): KL 0, IS 1
    one_hot = torch.eye(8).repeat(10, 1) * 50  # confident and every class equally often: IS = #classes
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(8.0, rel=1e-6)
    assert math.isfinite(inception_score(one_hot, splits=10)[1])


def test_the_metric_the_command_and_the_suite_report_the_same_numbers():
    from prd_metric.cli import METRICS as COMMAND_METRICS
    from prd_metric.metric import PrecisionRecallDistributions
    from prd_metric.suite import METRICS, evaluate_features

    assert COMMAND_METRICS == METRICS
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200, 8, generator=gen), torch.randn(200, 8, generator=gen) + 0.5
    logits = torch.randn(200, 10, generator=gen)
    settings = {"num_clusters": 5, "num_runs": 2, "kid_subsets": 5, "kid_subset_size": 100}
    metric = PrecisionRecallDistributions(embedding=None, **settings)
    for i in range(0, 200, 50):  # in batches, as training feeds it
        metric.update(real=real[i : i + 50], fake=fake[i : i + 50])
    got = metric.compute()
    want = evaluate_features(real, fake, **settings)
    assert set(got) == set(want) and "is_mean" not in got  # features only: no logits, no IS
    for key, value in want.items():
        torch.testing.assert_close(got[key], torch.as_tensor(value).float(), msg=key)
    assert evaluate_features(real, fake, fake_logits=logits, metrics=("is",), is_splits=2)["is_mean"] > 1
    with pytest.raises(ValueError, match="unknown"):
        evaluate_features(real, fake, metrics=("fidd",))


def test_class_statistics_closed_forms_and_their_link_to_the_inception_score():
    from prd_metric.scores import class_statistics, fig_5_8_correlations

    confident = torch.eye(4)[[0, 0, 1, 2]] * 60  # predicted classes 0, 0, 1, 2, certain
    stats = class_statistics(confident)
    assert stats["histogram"] == pytest.approx([0.5, 0.25, 0.25, 0.0])
    assert stats["confidence"] == pytest.approx(1.0) and stats["entropy_y_given_x"] == pytest.approx(0, abs=1e-12)
    assert stats["entropy_y"] == pytest.approx(-(0.5 * math.log(0.5) + 0.5 * math.log(0.25)))
    uniform = class_statistics(torch.zeros(5, 4))
    assert uniform["confidence"] == pytest.approx(0.25) and uniform["entropy_y_given_x"] == pytest.approx(math.log(4))
    # log IS = H(y) - H(y|x) (one split): Eq. 5.1's KL averaged, rewritten
    logits = torch.randn(64, 6, generator=torch.Generator().manual_seed(0)) * 2
    s = class_statistics(logits)
    assert math.log(inception_score(logits, splits=1)[0]) == pytest.approx(s["entropy_y"] - s["entropy_y_given_x"])
    rows = [{"f_beta": a, "f_beta_inv": a, "entropy_y": a, "entropy_y_given_x": -a} for a in (0.1, 0.5, 0.7, 0.9)]
    assert fig_5_8_correlations(rows) == {"models": 4, "f1_8_vs_entropy_y_given_x": -1.0, "f8_vs_entropy_y": 1.0}
    assert fig_5_8_correlations(rows[:2]) is None
