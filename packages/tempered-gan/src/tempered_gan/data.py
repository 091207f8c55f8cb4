"""Data for the GAN experiments of thesis ch. 4: 32x32 images in [0, 1], batches ``{"x": (N, C, 32, 32)}``.

Datasets: the embedded scikit-learn digits and their colour variant (offline defaults), MNIST, Color MNIST,
CelebA and CIFAR-10 through torchvision when the user has them (``root``; ``download=True`` on a networked machine).
Training draws from the training split; the reference set of FID / PRD (Sec. 4.2.4) is the held-out split.
"""

import logging

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from gen_common.torchvision_data import open_torchvision
from tempered_gan.nets import IMAGE_SIZE

log = logging.getLogger(__name__)

DATASETS = ("digits", "color_digits", "mnist", "color_mnist", "celeba", "cifar10")
CHANNELS = {"digits": 1, "color_digits": 3, "mnist": 1, "color_mnist": 3, "celeba": 3, "cifar10": 3}
CELEBA_CROP = 108  # centre crop of the 178x218 aligned faces before resizing (as DCGAN's CelebA code); our choice
COLOR_TRAIN_SIZE = 60000  # Color MNIST (Srivastava et al., 2017) has as many samples as MNIST; same for digits
COLOR_REFERENCE_SIZE = 10000  # reference triplets of the held-out digits (>= the 10k FID samples of Sec. 4.2.4)


class TensorImages(Dataset):
    """Images (N, C, 32, 32) in [0, 1] held in memory; item i is ``{"x": images[i]}``."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.images[i]}


class ColorStack(Dataset):
    """Color MNIST (Sec. 4.4.1): each sample stacks three independently drawn grey digits into R, G and B.

    With 10 modes per channel that is 1000 modes. The triplets are drawn once from ``seed`` (a fixed dataset, as
    Srivastava et al.'s), stored as indices; images are stacked when read.

    Args:
        grey: (N, 1, H, W) grey images in [0, 1].
        size: number of colour samples.
        seed: seed of the triplet draw.
    """

    def __init__(self, grey: Tensor, size: int, seed: int = 0) -> None:
        if grey.ndim != 4 or grey.shape[1] != 1:
            raise ValueError(f"ColorStack needs grey images (N, 1, H, W), got {tuple(grey.shape)}")
        self.grey = grey
        gen = torch.Generator().manual_seed(seed)
        self.triplets = torch.randint(grey.shape[0], (size, 3), generator=gen)

    def __len__(self) -> int:
        return self.triplets.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.grey[self.triplets[i], 0]}  # (3, H, W): digit a in R, b in G, c in B


def pad_to_32(images: Tensor) -> Tensor:
    """28x28 MNIST -> 32x32 by zero padding (2 px each side; the digits stay pixel-exact, background is 0)."""
    pad = (IMAGE_SIZE - images.shape[-1]) // 2
    return F.pad(images, (pad, pad, pad, pad))


def _torchvision(name: str, root: str | None, train: bool, download: bool):
    kwargs = {"split": "train" if train else "test"} if name == "celeba" else {"train": train}
    return open_torchvision(name, root, download, "data=gan_digits or data=gan_color_digits", **kwargs)


class CelebA32(Dataset):
    """CelebA faces, centre-cropped to 108x108 and resized to 32x32 (antialiased bilinear), read lazily."""

    def __init__(self, base) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        from torchvision.transforms.functional import center_crop, pil_to_tensor

        img = center_crop(pil_to_tensor(self.base[i][0]), [CELEBA_CROP, CELEBA_CROP]).float()[None] / 255
        img = F.interpolate(img, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
        return {"x": img[0].clamp(0, 1)}


def grey_digits(dataset: str, split: str, root: str | None, download: bool) -> Tensor:
    """Grey 32x32 digits in [0, 1] of one split: scikit-learn's (embedded) or MNIST (padded)."""
    if dataset in ("digits", "color_digits"):
        from prd_metric.digits import load_digits_split

        return load_digits_split(split)[0]
    ds = _torchvision("mnist", root, split == "train", download)
    return pad_to_32(ds.data[:, None].float() / 255)


def build_dataset(dataset: str, split: str, root: str | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """The training (``"train"``) or reference (``"test"``) split of a dataset, items ``{"x": (C, 32, 32)}``.

    Colour variants draw their triplets from the grey images of the same split (``seed`` for the training split,
    ``seed + 1`` for the reference split), so no digit image is shared between the two.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    if dataset in ("digits", "mnist"):
        return TensorImages(grey_digits(dataset, split, root, download))
    if dataset in ("color_digits", "color_mnist"):
        grey = grey_digits(dataset, split, root, download)
        return ColorStack(
            grey, COLOR_TRAIN_SIZE if split == "train" else COLOR_REFERENCE_SIZE, seed + (split == "test")
        )
    if dataset == "cifar10":
        ds = _torchvision("cifar10", root, split == "train", download)
        return TensorImages(torch.as_tensor(ds.data).permute(0, 3, 1, 2).float() / 255)
    return CelebA32(_torchvision("celeba", root, split == "train", download))


def _subset(ds: Dataset, n: int, seed: int) -> Dataset:
    if n >= len(ds):
        return ds
    index = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return torch.utils.data.Subset(ds, index.tolist())


class GanDataModule(pl.LightningDataModule):
    """Training images and the FID/PRD reference set of one dataset.

    Every training batch holds ``batches_per_step`` mini-batches of ``batch_size`` (one per critic step of a
    generator iteration, e.g. 5 for WGAN-GP), so one Lightning step is one generator iteration. An epoch is
    ``steps_per_epoch`` iterations, set to the validation interval so that epochs end where checkpoints are
    written and a resumed run continues exactly.

    Args:
        dataset: one of :data:`DATASETS`.
        root: folder of torchvision's copy of MNIST / CelebA / CIFAR-10 (unused for the embedded digits).
        download: let torchvision download the dataset into ``root``.
        channels: image channels the models are built for; checked against the dataset.
        embedding: the FID/PRD features that suit this dataset (the model config reads it; kept for the record).
        batch_size: images per mini-batch (Sec. 4.2.4: 32 or 64).
        batches_per_step: mini-batches per generator iteration (the critic steps, ``model.n_critic``).
        steps_per_epoch: generator iterations per epoch.
        eval_samples: reference images for FID / PRD (Sec. 4.2.4: 4096; 10k for WGAN-GP); capped at the
            held-out split's size (899 for the embedded grey digits), and as many samples are generated.
        eval_batch_size: batch size of the evaluation pass.
        num_workers: data-loading processes.
        seed: seed of the colour triplets and of the reference subset.
    """

    def __init__(
        self,
        dataset: str = "color_digits",
        root: str | None = None,
        download: bool = False,
        channels: int | None = None,
        embedding: str | None = None,
        batch_size: int = 64,
        batches_per_step: int = 1,
        steps_per_epoch: int = 1000,
        eval_samples: int = 4096,
        eval_batch_size: int = 512,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        if channels is not None and channels != CHANNELS[dataset]:
            raise ValueError(f"dataset {dataset} has {CHANNELS[dataset]} channels, but channels={channels} was set")
        for name, value in (("batch_size", batch_size), ("batches_per_step", batches_per_step)):
            if int(value) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.channels = CHANNELS[dataset]

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if not hasattr(self, "train_set"):
            self.train_set = build_dataset(hp.dataset, "train", hp.root, hp.download, hp.seed)
            reference = build_dataset(hp.dataset, "test", hp.root, hp.download, hp.seed)
            if hp.eval_samples > len(reference):
                log.warning(
                    "eval_samples=%d but the %s reference split has %d images; FID/PRD use %d",
                    hp.eval_samples,
                    hp.dataset,
                    len(reference),
                    len(reference),
                )
            self.reference_set = _subset(reference, hp.eval_samples, hp.seed)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        per_step = hp.batch_size * hp.batches_per_step
        sampler = RandomSampler(self.train_set, num_samples=hp.steps_per_epoch * per_step)
        return DataLoader(
            self.train_set,
            batch_size=per_step,
            sampler=sampler,
            drop_last=True,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.reference_set, batch_size=hp.eval_batch_size, num_workers=hp.num_workers)

    test_dataloader = val_dataloader
