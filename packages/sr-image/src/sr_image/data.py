"""Data for EnhanceNet: HR images from the embedded photographs or a folder, LR made on the fly.

Batches are ``{"lr": (N, 3, h, w), "hr": (N, 3, s·h, s·w)}`` in [0, 1] (ARCHITECTURE.md).
"""

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from gen_common.embedded import embedded_images
from gen_common.images import ImageReadError, image_header, list_image_files, read_image

log = logging.getLogger(__name__)

MSCOCO_MIN_SIDE = 384  # Sec. 2.5.8: colour images with at least 384 px on the short side
MSCOCO_SIZE = 256  # ... cropped centrally to a square and downsampled to 256x256


def bicubic_downsample(hr: Tensor, scale: int) -> Tensor:
    """The degradation d_α of Eq. 2.1: bicubic downsampling with antialiasing (as MATLAB's imresize).

    Args:
        hr: (3, H, W) or (N, 3, H, W) in [0, 1], H and W multiples of ``scale``.

    Returns:
        (…, H/scale, W/scale) in [0, 1].
    """
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not a multiple of scale {scale}; crop it first (crop_to_multiple)")
    batched = hr if hr.ndim == 4 else hr[None]
    lr = F.interpolate(batched, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    lr = lr.clamp(0, 1)
    return lr if hr.ndim == 4 else lr[0]


def pil_lanczos_downsample(hr: Tensor, scale: int) -> Tensor:
    """The authors' degradation for their published ENet-PAT: Pillow's Lanczos resize of the 8-bit image.

    EnhanceNet-Code's ``loadimg`` calls ``Image.resize((w // 4, h // 4), Image.ANTIALIAS)`` (today
    ``Image.LANCZOS``, a = 3) on the 8-bit RGB image; its crop to a multiple of 4 is a no-op there (the result is
    discarded), we crop first so the factor is exactly ``scale``. Pillow itself, as the authors ran it (kornia and
    ``F.interpolate`` have no antialiased Lanczos); the LR image is 8-bit like theirs.

    Args:
        hr: (3, H, W) or (N, 3, H, W) in [0, 1], H and W multiples of ``scale``.

    Returns:
        (…, H/scale, W/scale) in [0, 1], multiples of 1/255.
    """
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not a multiple of scale {scale}; crop it first (crop_to_multiple)")
    batched = hr if hr.ndim == 4 else hr[None]
    if batched.ndim != 4 or batched.shape[1] != 3:
        raise ValueError(f"pil_lanczos_downsample needs RGB images (3, H, W) or (N, 3, H, W), got {tuple(hr.shape)}")
    out = []
    for img in batched.detach().cpu():
        u8 = img.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        small = Image.fromarray(u8).resize((w // scale, h // scale), Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1))
    lr = torch.stack(out).to(device=hr.device, dtype=hr.dtype if hr.is_floating_point() else torch.float32) / 255
    return lr if hr.ndim == 4 else lr[0]


# The degradations d_α of Eq. 2.1 (data.downsample) and the LR context pixels each side a crop needs so that its
# LR equals the crop of the downsampled whole image (kernel support: bicubic 2, Lanczos 3 LR pixels).
DOWNSAMPLERS = {"bicubic": bicubic_downsample, "pil_lanczos": pil_lanczos_downsample}
DOWNSAMPLE_CONTEXT = {"bicubic": 2, "pil_lanczos": 3}


def downsample(hr: Tensor, scale: int, method: str = "bicubic") -> Tensor:
    """``bicubic_downsample`` or ``pil_lanczos_downsample`` by name (``data.downsample``)."""
    if method not in DOWNSAMPLERS:
        raise ValueError(f"unknown downsample {method!r}; use one of {sorted(DOWNSAMPLERS)}")
    return DOWNSAMPLERS[method](hr, scale)


def crop_to_multiple(img: Tensor, multiple: int) -> Tensor:
    """Drop bottom/right rows and columns so that H and W are multiples of ``multiple``."""
    h, w = img.shape[-2:]
    return img[..., : h - h % multiple, : w - w % multiple]


def mscoco_preprocess(img: Tensor) -> Tensor:
    """Sec. 2.5.8: central square crop, then antialiased resize to 256x256 (reduces noise and JPEG artefacts)."""
    h, w = img.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = img[:, top : top + side, left : left + side]
    size = (MSCOCO_SIZE, MSCOCO_SIZE)
    return F.interpolate(square[None], size=size, mode="bicubic", antialias=True).clamp(0, 1)[0]


class HRImages:
    """The HR images of one split: the embedded photographs (``root=None``) or the images in a folder.

    Folder images are read lazily; files whose header cannot be read are skipped and named in a warning,
    images smaller than ``min_size`` (after preprocessing) are skipped with a count, and an error is raised if
    nothing remains. ``verify=True`` decodes every folder image once up front and skips (and names) those that
    fail, e.g. truncated files with an intact header: for evaluation sets, which must not fail at the first
    validation after hours of training.
    """

    def __init__(
        self,
        root: str | Path | None,
        split: str,
        min_size: int = 0,
        preprocess: str = "none",
        verify: bool = False,
    ) -> None:
        if preprocess not in ("none", "mscoco"):
            raise ValueError(f"unknown preprocess {preprocess!r}; use 'none' or 'mscoco'")
        self.preprocess = preprocess
        self.names: list[str] = []
        self._tensors: list[Tensor] = []
        self._files: list[Path] = []
        sizes: list[tuple[int, int, bool]] = []  # (height, width, is_colour)
        if root is None:
            for name, img in embedded_images(split):
                self.names.append(name)
                self._tensors.append(img)
                sizes.append((*img.shape[-2:], True))
            source = f"embedded {split} images"
        else:
            root = Path(root).expanduser()  # data.root=~/photos (Hydra passes the ~ through)
            source = str(root)
            bad = []
            for path in list_image_files(root):
                try:
                    header = image_header(path)
                    if verify:
                        read_image(path)
                except ImageReadError:
                    bad.append(path.name)
                    continue
                sizes.append(header)
                self._files.append(path)
                self.names.append(str(path.relative_to(root)))
            if bad:
                log.warning("skipped %d unreadable image(s) in %s: %s", len(bad), root, ", ".join(bad[:20]))
        keep = [i for i, hw in enumerate(sizes) if self._usable(hw, min_size)]
        if len(keep) < len(sizes):
            log.warning(
                "skipped %d of %d image(s) in %s smaller than %d px (for mscoco also: grey, or short side < %d)",
                len(sizes) - len(keep), len(sizes), source, min_size, MSCOCO_MIN_SIDE,
            )  # fmt: skip
        if not keep:
            raise ValueError(
                f"no usable images in {source}: all are unreadable or smaller than {min_size} px; "
                f"use larger images or a smaller data.lr_patch_size"
            )
        self.names = [self.names[i] for i in keep]
        self._tensors = [self._tensors[i] for i in keep] if self._tensors else []
        self._files = [self._files[i] for i in keep] if self._files else []

    def _usable(self, header: tuple[int, int, bool], min_size: int) -> bool:
        h, w, colour = header
        if self.preprocess == "mscoco":  # Sec. 2.5.8: colour images with short side >= 384
            return colour and min(h, w) >= MSCOCO_MIN_SIDE and MSCOCO_SIZE >= min_size
        return min(h, w) >= min_size

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> Tensor:
        img = self._tensors[i] if self._tensors else read_image(self._files[i])
        return mscoco_preprocess(img) if self.preprocess == "mscoco" else img


class RandomCropDataset(Dataset):
    """Random aligned crops: an HR patch of ``lr_patch_size·scale`` px and the matching LR patch.

    The LR patch is the crop of the *whole* downsampled image (Sec. 2.5.8 downsamples, then crops), computed
    from the HR window plus the bicubic kernel's support: crops sit on the LR grid and carry
    ``DOWNSAMPLE_CONTEXT`` LR pixels of context, so the LR border pixels equal those of ``d_α`` (``downsample``)
    applied to the full image.
    ``length`` crops make an epoch; crop ``i`` comes from image ``i % len(images)`` at a random position (with
    ``fixed_crops``: a position that depends on ``i`` only, so a batch repeats, as ``debug=overfit`` needs). An image
    that fails to decode (a truncated file whose header was fine) is named once in a warning and replaced.
    """

    def __init__(
        self,
        images: HRImages,
        scale: int,
        lr_patch_size: int = 32,
        length: int = 1000,
        downsample: str = "bicubic",
        fixed_crops: bool = False,
    ) -> None:
        if downsample not in DOWNSAMPLERS:
            raise ValueError(f"unknown data.downsample {downsample!r}; use one of {sorted(DOWNSAMPLERS)}")
        self.images, self.scale, self.lr_size, self.length = images, scale, lr_patch_size, length
        self.downsample, self.fixed_crops = downsample, fixed_crops
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return self.length

    def _image(self, i: int) -> Tensor:
        n = len(self.images)
        for k in range(n):
            idx = (i + k) % n
            if idx in self._bad:
                continue
            try:
                return self.images[idx]
            except ImageReadError as err:
                self._bad.add(idx)
                log.warning("skipping an unreadable training image: %s", err)
        raise ValueError("no training image can be decoded; check the files named in the warnings above")

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        s, p, c = self.scale, self.lr_size, DOWNSAMPLE_CONTEXT[self.downsample]
        img = crop_to_multiple(self._image(i), s)
        lr_h, lr_w = img.shape[-2] // s, img.shape[-1] // s
        gen = torch.Generator().manual_seed(i) if self.fixed_crops else None
        top = int(torch.randint(0, lr_h - p + 1, (), generator=gen))  # LR-grid position of the crop
        left = int(torch.randint(0, lr_w - p + 1, (), generator=gen))
        t0, l0 = max(top - c, 0), max(left - c, 0)
        t1, l1 = min(top + p + c, lr_h), min(left + p + c, lr_w)
        lr = downsample(img[:, t0 * s : t1 * s, l0 * s : l1 * s], s, self.downsample)
        lr = lr[:, top - t0 : top - t0 + p, left - l0 : left - l0 + p].contiguous()
        hr = img[:, top * s : (top + p) * s, left * s : (left + p) * s].contiguous()
        return {"lr": lr, "hr": hr}


class FullImageDataset(Dataset):
    """Whole images for evaluation: HR cropped to a multiple of ``scale``, LR by ``downsample`` (d_α, Eq. 2.1)."""

    def __init__(self, images: HRImages, scale: int, downsample: str = "bicubic") -> None:
        if downsample not in DOWNSAMPLERS:
            raise ValueError(f"unknown downsample {downsample!r}; use one of {sorted(DOWNSAMPLERS)}")
        self.images, self.scale, self.downsample = images, scale, downsample

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        hr = crop_to_multiple(self.images[i], self.scale)
        lr = downsample(hr, self.scale, self.downsample)
        return {"lr": lr, "hr": hr, "name": self.images.names[i]}


class SRDataModule(pl.LightningDataModule):
    """Training crops and whole evaluation images for single-image SR.

    Args:
        root: folder of HR training images; ``None`` uses the embedded photographs.
        eval_root: folder of HR evaluation images (e.g. Set14); ``None`` uses the embedded held-out images.
        scale: α (4 in the thesis's main results).
        lr_patch_size: LR crop side (32, Sec. 2.5.8).
        batch_size: crops per step.
        samples_per_epoch: crops drawn per epoch.
        preprocess: ``"mscoco"`` applies Sec. 2.5.8's filtering, square crop and resize to 256.
        downsample: d_α of Eq. 2.1, ``"bicubic"`` (antialiased, a = -0.5) or ``"pil_lanczos"`` (the authors'
            ENet-PAT inputs).
        fixed_crops: crop ``i`` at a position fixed by ``i`` (``debug=overfit``: the same batch every step).
    """

    def __init__(
        self,
        root: str | None = None,
        eval_root: str | None = None,
        scale: int = 4,
        lr_patch_size: int = 32,
        batch_size: int = 16,
        samples_per_epoch: int = 1000,
        num_workers: int = 2,
        preprocess: str = "none",
        downsample: str = "bicubic",
        fixed_crops: bool = False,
    ) -> None:
        super().__init__()
        if downsample not in DOWNSAMPLERS:
            raise ValueError(f"unknown data.downsample {downsample!r}; use one of {sorted(DOWNSAMPLERS)}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit") and not hasattr(self, "train_set"):
            images = HRImages(hp.root, "train", hp.lr_patch_size * hp.scale, hp.preprocess)
            self.train_set = RandomCropDataset(
                images, hp.scale, hp.lr_patch_size, hp.samples_per_epoch, hp.downsample, hp.get("fixed_crops", False)
            )
        if not hasattr(self, "eval_set"):
            eval_images = HRImages(hp.eval_root, "eval", 4 * hp.scale, verify=True)
            self.eval_set = FullImageDataset(eval_images, hp.scale, hp.downsample)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.hparams.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.hparams.num_workers,
            # fresh workers each epoch: their seeds come from the main RNG, which a checkpoint restores
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, batch_size=1, num_workers=0)

    test_dataloader = val_dataloader
