"""Ex-post density estimation of the latent codes (Sec. 6.5): fit q_delta(z) after training, then sample from it.

A density estimator is a small ``nn.Module`` with ``fit(z)``, ``sample(n)`` and ``log_prob(z)``; its parameters are
buffers of fixed shape (known from the latent size), so they travel in the checkpoint's state_dict as tensors and
``torch.load(weights_only=True)`` reads them. Add an estimator by implementing the three methods.
"""

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Normal


class DensityEstimator(nn.Module, ABC):
    """Interface: ``fit`` on (N, D) codes, ``sample`` (n, D) codes, ``log_prob`` per code; ``fitted`` is a buffer."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def _check(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"{type(self).__name__} expects codes (N, {self.dim}), got {tuple(z.shape)}")
        return z

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(codes) first")

    @abstractmethod
    def fit(self, z: Tensor) -> "DensityEstimator":
        """Fit to codes (N, D); returns self."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n codes (n, D) on the estimator's device; ``generator`` is a CPU generator for reproducible draws."""

    @abstractmethod
    def log_prob(self, z: Tensor) -> Tensor:
        """log density of each code (N,), float64."""


def _gaussian(mean: Tensor, cov: Tensor) -> MultivariateNormal:
    """N(mean, cov) in float64 (one Cholesky factorisation; ``mean``/``cov`` may carry a batch of components).

    Unvalidated: the covariances are regularised at ``fit`` time, and validation would re-factorise them and turn
    a non-finite code into an exception rather than a non-finite log density.
    """
    return MultivariateNormal(mean.double(), covariance_matrix=cov.double(), validate_args=False)


def _gaussian_sample(n: int, mean: Tensor, cov: Tensor, generator: torch.Generator | None) -> Tensor:
    """n draws (n, D) of N(mean, cov) as float32, ``mean + eps L^T`` with ``eps`` from ``generator``.

    ``MultivariateNormal.sample`` takes no generator, so ``eps`` is drawn here (float64, on the CPU when the
    generator is) and mapped through the distribution's ``scale_tril``.
    """
    dist = _gaussian(mean, cov)
    eps = torch.randn(n, mean.shape[-1], generator=generator, dtype=torch.float64).to(mean.device)
    return (dist.loc + eps @ dist.scale_tril.mT).float()


class StandardNormal(DensityEstimator):
    """The prior N(0, I) of the VAE and WAE (nothing to fit)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.fitted.fill_(True)

    def fit(self, z: Tensor) -> "StandardNormal":
        self._check(z)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.dim, generator=generator).to(self.fitted.device)

    def log_prob(self, z: Tensor) -> Tensor:
        return Normal(0.0, 1.0, validate_args=False).log_prob(self._check(z).double()).sum(-1)


class FullGaussian(DensityEstimator):
    """One Gaussian with full covariance fitted to the codes (mean and covariance, Sec. 6.8.1 "N" for RAEs)."""

    def __init__(self, dim: int, reg: float = 1e-6) -> None:
        super().__init__(dim)
        self.reg = reg
        # float64: a covariance rounded to float32 can lose positive definiteness (reg below float32 resolution)
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("cov", torch.eye(dim, dtype=torch.float64))

    def fit(self, z: Tensor) -> "FullGaussian":
        z = self._check(z).double()
        if z.shape[0] < 2:
            raise ValueError("fitting a Gaussian needs at least 2 codes")
        self.mean.copy_(z.mean(0))
        cov = torch.cov(z.T).reshape(self.dim, self.dim)
        self.cov.copy_(cov + self.reg * torch.eye(self.dim, dtype=cov.dtype, device=cov.device))
        self.fitted.fill_(True)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        self._check_fitted()
        return _gaussian_sample(n, self.mean, self.cov, generator)

    def log_prob(self, z: Tensor) -> Tensor:
        self._check_fitted()
        return _gaussian(self.mean, self.cov).log_prob(self._check(z).double())


class GaussianMixture(DensityEstimator):
    """A mixture of ``k`` full-covariance Gaussians fitted by EM (scikit-learn's ``GaussianMixture``, at most
    ``max_iter`` iterations; Sec. 6.5 / 6.8: 10 components, 100 iterations).

    Sampling draws a component per sample, then the sample, so samples come out in random component order
    (scikit-learn's own ``sample`` returns them grouped by component). It is written out rather than
    ``MixtureSameFamily.sample`` because that takes no ``torch.Generator``; ``log_prob`` is the library's.
    """

    def __init__(self, dim: int, k: int = 10, max_iter: int = 100, seed: int = 0, reg: float = 1e-6) -> None:
        super().__init__(dim)
        self.k, self.max_iter, self.seed, self.reg = k, max_iter, seed, reg
        self.register_buffer("weights", torch.full((k,), 1.0 / k, dtype=torch.float64))  # float64 as FullGaussian
        self.register_buffer("means", torch.zeros(k, dim, dtype=torch.float64))
        self.register_buffer("covs", torch.eye(dim, dtype=torch.float64).repeat(k, 1, 1))

    def fit(self, z: Tensor) -> "GaussianMixture":
        from sklearn.mixture import GaussianMixture as SkGMM

        z = self._check(z)
        if z.shape[0] < self.k:
            raise ValueError(f"fitting {self.k} components needs at least {self.k} codes, got {z.shape[0]}")
        gmm = SkGMM(self.k, covariance_type="full", max_iter=self.max_iter, reg_covar=self.reg, random_state=self.seed)
        gmm.fit(z.detach().double().cpu().numpy())
        dev = self.means.device
        self.weights.copy_(torch.from_numpy(gmm.weights_).to(dev))
        self.means.copy_(torch.from_numpy(gmm.means_).to(dev))
        self.covs.copy_(torch.from_numpy(gmm.covariances_).to(dev))
        self.fitted.fill_(True)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        self._check_fitted()
        comp = torch.multinomial(self.weights.double().cpu(), n, replacement=True, generator=generator)
        out = torch.empty(n, self.dim, device=self.means.device)
        for j in comp.unique().tolist():
            idx = (comp == j).nonzero().squeeze(1)
            out[idx.to(out.device)] = _gaussian_sample(len(idx), self.means[j], self.covs[j], generator)
        return out

    def log_prob(self, z: Tensor) -> Tensor:
        self._check_fitted()
        mixture = MixtureSameFamily(
            Categorical(probs=self.weights.double(), validate_args=False),
            _gaussian(self.means, self.covs),
            validate_args=False,
        )
        return mixture.log_prob(self._check(z).double())
