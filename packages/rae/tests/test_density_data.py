"""Ex-post densities (Sec. 6.5) against scikit-learn and scipy; slerp; the data splits."""

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture as SkGMM

from rae.data import AEDataModule, build_splits
from rae.density import FullGaussian, GaussianMixture, StandardNormal
from rae.metrics import nearest_neighbours, slerp


def _two_clusters(n=600, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n // 2, 3, generator=gen) * 0.3 + torch.tensor([2.0, 0.0, 0.0])
    b = torch.randn(n // 2, 3, generator=gen) * 0.5 - torch.tensor([2.0, 1.0, 0.0])
    return torch.cat([a, b])


@pytest.fixture(scope="module")
def digit_codes():
    """(1797, 8) real codes: scikit-learn's 8x8 digits projected on their first 8 principal components."""
    x = load_digits().data
    return torch.from_numpy(PCA(8, random_state=0).fit_transform(x)).float()


def test_gaussian_fit_and_log_prob_match_scipy(digit_codes):
    z = digit_codes
    g = FullGaussian(8).fit(z)
    zd = z.double().numpy()
    ref = scipy.stats.multivariate_normal(zd.mean(0), np.cov(zd.T) + 1e-6 * np.eye(8)).logpdf(zd)
    np.testing.assert_allclose(g.log_prob(z).numpy(), ref, rtol=0, atol=1e-9)
    s = g.sample(20000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(s.mean(0), z.mean(0), atol=0.2, rtol=0)


def test_gaussian_samples_are_mean_plus_eps_times_the_cholesky_factor(digit_codes):
    # reproducible from the generator: eps ~ N(0, I) float64 from it, then mean + eps L^T (numpy's Cholesky)
    g = FullGaussian(8).fit(digit_codes)
    eps = torch.randn(50, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64).numpy()
    ref = g.mean.numpy() + eps @ np.linalg.cholesky(g.cov.numpy()).T
    np.testing.assert_allclose(g.sample(50, torch.Generator().manual_seed(5)).numpy(), ref, rtol=0, atol=1e-5)
    again = g.sample(50, torch.Generator().manual_seed(5))
    torch.testing.assert_close(g.sample(50, torch.Generator().manual_seed(5)), again, rtol=0, atol=0)


def test_gmm_log_prob_matches_scikit_learn_on_real_codes(digit_codes):
    z = digit_codes
    gmm = GaussianMixture(8, k=10, max_iter=100).fit(z)
    sk = SkGMM(10, covariance_type="full", max_iter=100, reg_covar=1e-6, random_state=0).fit(z.double().numpy())
    np.testing.assert_allclose(gmm.log_prob(z).numpy(), sk.score_samples(z.double().numpy()), rtol=0, atol=1e-9)


def test_gmm_round_trip_against_scikit_learn_and_through_a_checkpoint(tmp_path):
    z = _two_clusters()
    gmm = GaussianMixture(3, k=2, max_iter=100).fit(z)
    sk = SkGMM(2, covariance_type="full", max_iter=100, reg_covar=1e-6, random_state=0).fit(z.double().numpy())
    torch.testing.assert_close(gmm.log_prob(z[:20]), torch.from_numpy(sk.score_samples(z[:20].double().numpy())))
    samples = gmm.sample(4000, torch.Generator().manual_seed(0))
    assert samples.shape == (4000, 3)
    left = (samples[:, 0] > 0).float()
    assert 0.4 < left.mean() < 0.6  # both components, in proportion
    assert (left[:2000].mean() - left[2000:].mean()).abs() < 0.1  # not grouped by component: no shuffle needed
    torch.save(gmm.state_dict(), tmp_path / "gmm.pt")
    loaded = GaussianMixture(3, k=2)
    loaded.load_state_dict(torch.load(tmp_path / "gmm.pt", weights_only=True))
    torch.testing.assert_close(loaded.log_prob(z[:20]), gmm.log_prob(z[:20]))


def test_density_errors_and_prior():
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianMixture(3).sample(2)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        FullGaussian(3).fit(torch.randn(10, 4))
    prior = StandardNormal(2)
    z = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    ref = scipy.stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z.double().numpy())
    np.testing.assert_allclose(prior.log_prob(z).numpy(), ref, rtol=0, atol=1e-12)


def test_slerp_endpoints_and_midpoint():
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    e1, e2 = torch.eye(2)[:1], torch.eye(2)[1:]
    torch.testing.assert_close(slerp(e1, e2, 0.5), torch.tensor([[2**-0.5, 2**-0.5]]))  # on the unit circle
    torch.testing.assert_close(slerp(a, a, 0.3), a)  # parallel: no division by zero


def test_nearest_neighbours_finds_exact_copies():
    train = torch.rand(50, 1, 8, 8)
    grid = nearest_neighbours(train[[3, 7]] + 1e-4, train, k=2)
    assert grid.shape == (6, 1, 8, 8)
    torch.testing.assert_close(grid[1], train[3]) and torch.testing.assert_close(grid[4], train[7])


def test_digit_splits_are_disjoint_and_sized():
    train, val, test = build_splits("digits")
    assert (len(train), len(val), len(test)) == (749, 149, 899)
    t, v = train.tensors[0].flatten(1), val.tensors[0].flatten(1)
    assert torch.cdist(v, t).min() > 0  # no validation image is a training image


def test_missing_dataset_and_channel_errors(tmp_path):
    with pytest.raises(ValueError, match="data.root"):
        build_splits("cifar10")
    with pytest.raises(FileNotFoundError, match="data.download=true"):
        build_splits("mnist", root=str(tmp_path))
    with pytest.raises(ValueError, match="1 channels"):
        AEDataModule("digits", channels=3)


def test_density_interface_is_abstract():
    from rae.density import DensityEstimator

    with pytest.raises(TypeError, match="abstract"):
        DensityEstimator(3)


def test_densities_stay_positive_definite_on_degenerate_large_codes():
    # Rank-deficient codes of large scale: covariances rounded to float32 lose definiteness; the buffers are float64.
    z = _two_clusters(600, seed=3)
    z = torch.cat([z, z[:, :1] + z[:, 1:2]], dim=1) * 30  # 4-d codes on a 3-d subspace
    for density in (GaussianMixture(4, k=3), FullGaussian(4)):
        density.fit(z)
        assert torch.isfinite(density.log_prob(z[:50])).all()
        assert torch.isfinite(density.sample(100, torch.Generator().manual_seed(0))).all()


def test_standalone_validate_fits_densities_without_a_scheduler(tmp_path):
    import lightning.pytorch as pl

    from rae.module import RegularizedAE

    model = RegularizedAE("rae", base_channels=4, gmm_max_iter=5)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    (out,) = trainer.validate(model, datamodule=AEDataModule("digits", eval_batch_size=200), verbose=False)
    assert bool(model.density_gmm.fitted) and torch.isfinite(torch.tensor(out["val/gmm_loglik"]))
