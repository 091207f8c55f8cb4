"""Every package exports its main names at the top level, each importable (lazily: --help stays fast)."""

import importlib
import inspect

import lightning.pytorch as pl
import pytest

PACKAGES = {  # package: names a user expects at the top level
    "gen_common": ["resolve_weights", "read_image"],
    "sr_image": ["EnhanceNet", "SRDataModule", "EnhanceNetGenerator"],
    "sr_video": ["VideoSR", "VideoDataModule", "FRVSR"],
    "prd_metric": ["compute_prd", "prd_from_embeddings", "max_f_beta_pair", "PrecisionRecallDistributions",
                   "evaluate_features", "knn_metrics", "kernel_inception_distance", "inception_score"],
    "tempered_gan": ["TemperedGAN", "GanDataModule", "Lens"],
    "rae": ["RegularizedAE", "AEDataModule", "GaussianMixture"],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_exported_name_resolves_and_the_main_names_are_there(package):
    module = importlib.import_module(package)
    assert set(PACKAGES[package]) <= set(module.__all__) == set(dir(module))
    for name in module.__all__:
        obj = getattr(module, name)
        assert getattr(obj, "__name__", name) == name or not inspect.isclass(obj), name
    modules = [getattr(module, n) for n in module.__all__ if inspect.isclass(getattr(module, n))]
    if package not in ("gen_common", "prd_metric"):  # a model package: its LightningModule and DataModule
        assert any(issubclass(c, pl.LightningModule) for c in modules)
        assert any(issubclass(c, pl.LightningDataModule) for c in modules)
