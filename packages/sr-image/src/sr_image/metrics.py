"""SR evaluation: PSNR and SSIM on the Y channel (thesis Tables 2.3/2.4) and object recognition (Table 2.5)."""

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.filters import laplacian
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from gen_common.color import rgb_to_y
from gen_common.images import list_image_files, read_image
from gen_common.weights import IMAGENET_MEAN, IMAGENET_STD, resolve_weights
from sr_image.data import bicubic_downsample


def _quantise(img: Tensor) -> Tensor:
    """Round to 8 bits, as a saved result would be."""
    return img.clamp(0, 1).mul(255).round().div(255)


def y_channel_8bit(img: Tensor, crop: int) -> Tensor:
    """Quantise to 8 bits, take BT.601 Y on the [0, 255] scale, crop the border."""
    img = _quantise(img)
    y = rgb_to_y(img.double())
    return y[..., crop : y.shape[-2] - crop, crop : y.shape[-1] - crop] if crop else y


def psnr_y(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """PSNR in dB on the Y channel, per image (torchmetrics' ``peak_signal_noise_ratio`` on the 8-bit Y of Table 2.4).

    Args:
        est, hr: (N, 3, H, W) RGB in [0, 1].
        crop: border pixels dropped on each side (``scale`` in the benchmark convention).

    Returns:
        (N,) float64 PSNR with peak 255 (``inf`` for identical images).
    """
    if est.shape != hr.shape:
        raise ValueError(f"shapes differ: estimate {tuple(est.shape)} vs reference {tuple(hr.shape)}")
    # torchmetrics takes log(255) and log(10) in float32: within 5e-6 dB of the float64 closed form
    return peak_signal_noise_ratio(
        y_channel_8bit(est, crop), y_channel_8bit(hr, crop), data_range=255.0, reduction="none", dim=(1, 2, 3)
    )


def ssim_y(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, σ = 1.5) on the Y channel, per image; (N,) float64."""
    if est.shape != hr.shape:
        raise ValueError(f"shapes differ: estimate {tuple(est.shape)} vs reference {tuple(hr.shape)}")
    _, ssim_map = structural_similarity_index_measure(
        y_channel_8bit(est, crop), y_channel_8bit(hr, crop), gaussian_kernel=True, sigma=1.5, kernel_size=11,
        data_range=255.0, reduction="none", return_full_image=True,
    )  # fmt: skip
    # Wang et al.'s reference (and scikit-image) average the SSIM map over the valid region only; torchmetrics
    # averages over a reflect-padded full image, so drop the 5 px the 11x11 window cannot cover.
    return ssim_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))


def mean_abs_laplacian(y: Tensor) -> Tensor:
    """Mean |Laplacian| per image, a measure of high-frequency energy; (N, 1, H, W) -> (N,).

    kornia's 3x3 Laplacian (8 neighbours minus 8 x centre, unnormalised), averaged over the pixels whose 3x3
    neighbourhood lies inside the image (the border is not padded into the measure).
    """
    return laplacian(y, 3, normalized=False)[..., 1:-1, 1:-1].abs().mean(dim=(1, 2, 3))


def hf_energy_ratio(est: Tensor, hr: Tensor, crop: int = 0) -> Tensor:
    """High-frequency energy of the estimate relative to the HR image: mean |Laplacian| of Y, est / HR.

    1 means as much fine detail (texture, edges) as the ground truth; bicubic upsampling at 4x keeps ~0.1-0.25
    on photographs, texture synthesis (ENet-PAT, Sec. 2.4.2) aims near 1. Y is taken as for :func:`psnr_y` (8-bit,
    BT.601, ``crop`` border pixels dropped). A flat HR image has no detail to compare with: ``inf`` (or ``nan``
    for a flat estimate too).

    Args:
        est, hr: (N, 3, H, W) RGB in [0, 1].

    Returns:
        (N,) float64 ratios.
    """
    if est.shape != hr.shape:
        raise ValueError(f"shapes differ: estimate {tuple(est.shape)} vs reference {tuple(hr.shape)}")
    return mean_abs_laplacian(y_channel_8bit(est, crop)) / mean_abs_laplacian(y_channel_8bit(hr, crop))


# ---- object recognition (Sec. 2.5.5, Table 2.5) ---------------------------------------------------------------


def recognition_scores(logits: Tensor, labels: Tensor) -> dict[str, float]:
    """Top-1 error, top-5 error and mean confidence on correct classifications (thesis Table 2.5).

    Args:
        logits: (N, C) classifier outputs (unnormalised), N >= 1.
        labels: (N,) integer class indices in [0, C).

    Returns:
        ``{"top1_error", "top5_error", "confidence", "n"}``: errors in [0, 1]; ``confidence`` is the mean softmax
        probability of the true class over the images whose top-1 prediction is correct (``nan`` if none is);
        ``n`` is N. Top-5 becomes top-C when C < 5.
    """
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0] or logits.shape[0] == 0:
        raise ValueError(
            f"expected logits (N, C) and labels (N,) with N >= 1, got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    num_classes = logits.shape[1]
    labels = labels.to(device=logits.device, dtype=torch.long)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{int(labels.min())}, {int(labels.max())}]")
    logits = logits.double()
    # One topk gives both errors and the top-1 mask the confidence needs; torchmetrics' multiclass_accuracy counts
    # the same hits but would take two passes, still leave the mask to compute, and returns float32.
    top = logits.topk(min(5, num_classes), dim=1).indices
    correct1 = top[:, 0] == labels
    correct5 = (top == labels[:, None]).any(dim=1)
    p_true = logits.softmax(dim=1).gather(1, labels[:, None])[:, 0]
    confidence = p_true[correct1].mean() if correct1.any() else torch.tensor(float("nan"))
    return {
        "top1_error": 1.0 - correct1.double().mean().item(),
        "top5_error": 1.0 - correct5.double().mean().item(),
        "confidence": confidence.item(),
        "n": int(labels.shape[0]),
    }


class LabelledImages(Dataset):
    """An ImageNet-style labelled folder for the recognition metric, images resized to ``size`` x ``size``.

    Layout: one subfolder per class, named by its integer ImageNet class index (0..999, torchvision's order),
    holding that class's images (any format :func:`gen_common.images.read_image` reads, nested folders allowed)::

        folder/281/cat.jpg          # 281 = tabby cat
        folder/817/sports_car.png

    The thesis takes the first 1000 images of the ILSVRC 2016 CLS-LOC validation set; copy them into this layout
    by their ground-truth index. Each image is resized (bicubic, antialiased, aspect not kept, as "scaled to
    224x224" in Sec. 2.5.5) and quantised to 8 bits, as a saved image would be.

    Images are ordered by file name (then path), so ``max_images`` keeps the first validation images.
    Items are ``{"hr": (3, size, size), "label": int}``.
    """

    def __init__(self, folder: str | Path, size: int = 224, max_images: int | None = None) -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"labelled image folder {folder} does not exist")
        class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        bad = [p.name for p in class_dirs if not p.name.isdigit()]
        if bad or not class_dirs:
            found = f"found {', '.join(bad[:5])}" if bad else "found no subfolders"
            raise ValueError(
                f"{folder} is not a labelled image folder: it needs one subfolder per class named by the integer "
                f"ImageNet class index (e.g. {folder}/281/cat.jpg); {found}"
            )
        self.size = size
        self.items: list[tuple[Path, int]] = []
        for d in class_dirs:
            try:
                self.items += [(f, int(d.name)) for f in list_image_files(d)]
            except ValueError:  # a class folder without images: nothing to score
                continue
        if not self.items:
            raise ValueError(f"labelled image folder {folder} holds no images in its class subfolders")
        # File name first, so that "the first N" follows the ImageNet validation numbering across classes.
        self.items.sort(key=lambda item: (item[0].name, str(item[0].relative_to(folder))))
        self.items = self.items[:max_images]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        path, label = self.items[i]
        img = F.interpolate(read_image(path)[None], size=(self.size, self.size), mode="bicubic", antialias=True)
        return {"hr": _quantise(img[0]), "label": label}


@torch.inference_mode()
def evaluate_recognition(
    upscale_fn: Callable[[Tensor], Tensor] | Mapping[str, Callable[[Tensor], Tensor]],
    folder: str | Path,
    classifier: nn.Module | str = "imagenet",
    scale: int = 4,
    size: int = 224,
    batch_size: int = 16,
    max_images: int | None = None,
    weights_option: str = "classifier",
) -> dict[str, dict[str, float]]:
    """The object-recognition benchmark of thesis Sec. 2.5.5 (Table 2.5).

    Every image of ``folder`` (layout: :class:`LabelledImages`) is resized to ``size`` x ``size`` (the baseline),
    downsampled bicubically by ``scale`` (56x56 for 224 and 4x), upscaled back by ``upscale_fn``, quantised to
    8 bits and classified; the baseline images are classified too.

    Args:
        upscale_fn: LR (N, 3, h, w) in [0, 1] -> (N, 3, h·scale, w·scale), e.g. a generator or bicubic; or a
            mapping ``name -> fn`` to score several methods against one baseline pass. The LR batch is on the
            classifier's device, so put a generator there too.
        folder: labelled image folder.
        classifier: a network mapping ImageNet-normalised images to (N, 1000) logits, or a weights spec
            (``"imagenet"`` | ``"random"`` | path) for ResNet-50 via :func:`gen_common.weights.resolve_weights`.
            Inputs go to the device of its parameters.
        scale: downsampling factor α; ``size`` must be a multiple of it.
        size: side of the baseline images (224 in the thesis).
        batch_size: images per classifier call.
        max_images: use only the first images (sorted by file name); ``None`` for all.
        weights_option: the option name quoted in weight-resolution errors (e.g. ``--resnet-weights``).

    Returns:
        ``{"sr": scores, "baseline": scores}`` (or ``{name: scores, ..., "baseline": scores}`` for a mapping), each
        from :func:`recognition_scores`.
    """
    if size % scale:
        raise ValueError(f"size {size} is not a multiple of scale {scale}")
    fns = dict(upscale_fn) if isinstance(upscale_fn, Mapping) else {"sr": upscale_fn}
    if "baseline" in fns:
        raise ValueError("'baseline' is reserved for the scores on the original images; rename that method")
    data = LabelledImages(folder, size, max_images)
    if isinstance(classifier, str | Path):
        classifier = resolve_weights("resnet50", str(classifier), option=weights_option)
    device = next(classifier.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def classify(img: Tensor) -> Tensor:
        return classifier((img - mean) / std).float()

    logits: dict[str, list[Tensor]] = {name: [] for name in [*fns, "baseline"]}
    labels = []
    for batch in DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0):
        hr = batch["hr"].to(device)
        lr = bicubic_downsample(hr, scale)
        labels.append(batch["label"])
        logits["baseline"].append(classify(hr).cpu())
        for name, fn in fns.items():
            est = fn(lr)
            if est.shape != hr.shape:
                raise ValueError(f"upscale_fn {name!r} returned {tuple(est.shape)} for HR {tuple(hr.shape)}")
            logits[name].append(classify(_quantise(est.to(hr.dtype))).cpu())
    all_labels = torch.cat(labels)
    return {name: recognition_scores(torch.cat(out), all_labels) for name, out in logits.items()}
