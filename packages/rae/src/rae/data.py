"""Data for ch. 6: train / validation / test splits of images in [0, 1], batches ``{"x": (N, C, H, W)}``.

Sec. 6.8: MNIST (padded to 32x32) and CIFAR-10 hold 10k training images out for validation; CelebA (64x64) uses
its official splits. Offline default: scikit-learn's digits at 32x32 (prd-metric's 50/50 split; a sixth of the
training half held out for validation, the same fraction as 10k of MNIST's 60k).
"""

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from gen_common.torchvision_data import open_torchvision

DATASETS = ("digits", "mnist", "cifar10", "celeba")
CHANNELS = {"digits": 1, "mnist": 1, "cifar10": 3, "celeba": 3}
VALIDATION_HOLD_OUT = 10_000  # Sec. 6.8: MNIST / CIFAR-10 training images set aside for validation
CELEBA_CROP = 140  # centre crop of the 178x218 aligned faces before resizing to 64 (the usual RAE/WAE CelebA crop)


class ImageItems(Dataset):
    """Items ``{"x": image}`` of a dataset whose items are tuples ``(image, ...)`` (TensorDataset, torchvision)."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.base[i][0]}


class CelebA64(Dataset):
    """CelebA faces, centre crop 140, resized to 64x64 (antialiased bilinear), read lazily."""

    def __init__(self, base) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Tensor]:
        from torchvision.transforms.functional import center_crop, pil_to_tensor

        img = center_crop(pil_to_tensor(self.base[i][0]), [CELEBA_CROP, CELEBA_CROP]).float()[None] / 255
        return (F.interpolate(img, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1),)


def _torchvision(name: str, root: str | None, download: bool, **kwargs):
    return open_torchvision(name, root, download, "data=rae_digits", **kwargs)


def _split_off(images: Tensor, n_val: int, seed: int) -> tuple[Tensor, Tensor]:
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return images[perm[n_val:].sort().values], images[perm[:n_val].sort().values]


def build_splits(dataset: str, root: str | None = None, download: bool = False, seed: int = 0):
    """(train, validation, test) datasets of one of :data:`DATASETS`, each item a tuple ``(image,)`` in [0, 1]."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "digits":
        from prd_metric.digits import load_digits_split

        train, test = load_digits_split("train")[0], load_digits_split("test")[0]
        train, val = _split_off(train, train.shape[0] // 6, seed)
        return TensorDataset(train), TensorDataset(val), TensorDataset(test)
    if dataset == "celeba":
        return tuple(CelebA64(_torchvision("celeba", root, download, split=s)) for s in ("train", "valid", "test"))
    full = {s: _torchvision(dataset, root, download, train=s == "train") for s in ("train", "test")}

    def images(ds) -> Tensor:
        x = torch.as_tensor(ds.data)
        if dataset == "mnist":
            return F.pad(x[:, None].float() / 255, (2, 2, 2, 2))  # Sec. 6.8: pad MNIST with zeros to 32x32
        return x.permute(0, 3, 1, 2).float() / 255

    train, val = _split_off(images(full["train"]), VALIDATION_HOLD_OUT, seed)
    return TensorDataset(train), TensorDataset(val), TensorDataset(images(full["test"]))


class AEDataModule(pl.LightningDataModule):
    """Train / validation / test loaders of one dataset (Sec. 6.8: batch 100).

    ``predict_dataloader`` is the training set in order, without shuffling: the codes the ex-post density is
    fitted to (Sec. 6.5).

    Args:
        dataset: one of :data:`DATASETS`.
        root, download: torchvision's folder for MNIST / CIFAR-10 / CelebA.
        channels: image channels the model is built for (checked).
        batch_size: Sec. 6.8: 100.
        eval_batch_size: batch size of evaluation passes.
        num_workers: loader processes.
        seed: seed of the validation hold-out.
        architecture: the Table 6.1 column this dataset uses (read by the model config; kept for the record).
        embedding: the FID / PRD features that suit this dataset (read by the model config).
        schedule: Sec. 6.8's training length for this dataset (read by the trainer config; kept for the record).
    """

    def __init__(
        self,
        dataset: str = "digits",
        root: str | None = None,
        download: bool = False,
        channels: int | None = None,
        batch_size: int = 100,
        eval_batch_size: int = 500,
        num_workers: int = 0,
        seed: int = 0,
        architecture: dict | None = None,
        embedding: str | None = None,
        schedule: dict | None = None,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        if channels is not None and channels != CHANNELS[dataset]:
            raise ValueError(f"dataset {dataset} has {CHANNELS[dataset]} channels, but channels={channels} was set")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if not hasattr(self, "train_set"):
            hp = self.hparams
            self.train_set, self.val_set, self.test_set = (
                ImageItems(s) for s in build_splits(hp.dataset, hp.root, hp.download, hp.seed)
            )

    def _loader(self, ds: Dataset, shuffle: bool, batch_size: int, drop_last: bool = False) -> DataLoader:
        hp = self.hparams
        return DataLoader(ds, batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=hp.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.hparams.batch_size, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, False, self.hparams.eval_batch_size)
