"""Offline "digits" embedding: the penultimate layer of a small CNN trained on scikit-learn's digits.

PRD needs a feature space in which distances mean something (thesis Sec. 5.4: "only a meaningful embedding is
required"); the thesis embeds images with Inception's Pool3 layer, which cannot be downloaded offline. This
module plays that role for small grey-scale images, in the spirit of the MNIST classifier of Sec. 5.4.2: a CNN
classifier trained on the 1797 8x8 digits of :func:`sklearn.datasets.load_digits` (upsampled to 32x32), whose
128-unit penultimate layer is the embedding (:class:`DigitsEmbedding`).

The shipped weights (``weights/digits_cnn.pt``, a plain ``state_dict``) were written on a 2-core CPU machine by
``python -m prd_metric.digits --epochs 30 --seed 0``; to rewrite them (the file now exists, hence ``--overwrite``)::

    prd-metric train-digits --epochs 30 --seed 0 --overwrite      # or: python -m prd_metric.digits ...

and measured a test-split accuracy of 0.9911 (891/899). Training took 49 s of wall time with both cores shared
with other jobs (8 s when they were idle); a second run reproduced the file bit for bit.
"""

import argparse
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_common.weights import WeightsUnavailableError
from prd_metric.cli import train_digits_parser

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"
NUM_FEATURES = 128
IMAGE_SIZE = 32
NUM_CLASSES = 10
DIGITS_MAX = 16.0  # load_digits pixels are counts 0..16 of set pixels in 4x4 blocks of a 32x32 bitmap
# ITU-R BT.601 luma weights, as Pillow's convert("L"); they sum to 1, so a grey image repeated to RGB is unchanged.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
SPLITS = ("train", "test")


def resize_to_32(images: Tensor) -> Tensor:
    """Resize (N, C, H, W) images to 32x32 with bilinear interpolation (antialiased, ``align_corners=False``).

    Bilinear keeps values in [0, 1] (a convex combination, no bicubic overshoot) and gives smooth strokes rather
    than 4x4 blocks; antialiasing only acts when shrinking (e.g. 64x64 -> 32x32, where it averages like area
    pooling), so an 8x8 digit is resized exactly as in :func:`load_digits_split`. Non-square inputs are squashed.
    """
    if images.shape[-2:] == (IMAGE_SIZE, IMAGE_SIZE):
        return images
    return F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)


@lru_cache(maxsize=1)
def _digits_split_indices() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) in [0, 1], labels, train indices, test indices), indices sorted."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    index = np.arange(len(digits.target))
    train, test = train_test_split(index, test_size=0.5, stratify=digits.target, random_state=0)
    images = (digits.images / DIGITS_MAX).astype(np.float32)
    return images, digits.target.astype(np.int64), np.sort(train), np.sort(test)


def load_digits_split(split: str) -> tuple[Tensor, Tensor]:
    """One half of scikit-learn's 1797 digits, upsampled to 32x32.

    The split is stratified 50/50 (``train_test_split(stratify=labels, random_state=0)``: 898 train, 899 test)
    and sorted by original index, so it is the same on every machine.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        images float32 (N, 1, 32, 32) in [0, 1] (pixel value / 16, resized by :func:`resize_to_32`) and
        labels int64 (N,) in 0..9.

    Raises:
        ValueError: unknown ``split``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; use 'train' or 'test'")
    images, labels, train, test = _digits_split_indices()
    index = train if split == "train" else test
    small = torch.from_numpy(images[index]).unsqueeze(1)  # (N, 1, 8, 8)
    return resize_to_32(small).clamp_(0, 1), torch.from_numpy(labels[index])


class DigitsCNN(nn.Module):
    """Small classifier for (N, 1, 32, 32) digits: 3 conv blocks, a 128-unit penultimate layer, a 10-way head.

    Each block is conv3x3 + BatchNorm + ReLU + 2x2 max-pooling (32 -> 16 -> 8 -> 4, 16/32/64 channels); the
    4x4x64 map is flattened into the fully connected penultimate layer (Linear + BatchNorm + ReLU), whose
    activations are the features. About 156k parameters (0.6 MB in float32).
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), num_features: int = NUM_FEATURES) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        cin = 1
        for cout in channels:
            blocks += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = cout
        self.conv = nn.Sequential(*blocks)
        side = IMAGE_SIZE // 2 ** len(channels)
        # BatchNorm before the ReLU keeps every feature alive: without it about 50 of the 128 units died in
        # training (always 0), leaving a ~70-dimensional embedding with a singular covariance (bad for FID).
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * side * side, num_features),
            nn.BatchNorm1d(num_features),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(num_features, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations (N, 128) of images (N, 1, 32, 32) in [0, 1]."""
        return self.fc(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, 10) of images (N, 1, 32, 32) in [0, 1]."""
        return self.head(self.features(x))


@torch.no_grad()
def digits_accuracy(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of a classifier (run in eval mode, restored afterwards) on (images, labels)."""
    was_training = net.training
    net.eval()
    correct = sum(
        (net(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum().item()
        for i in range(0, len(labels), batch_size)
    )
    net.train(was_training)
    return correct / len(labels)


def _random_shift(images: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]² pixels, filling with background 0."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, 1, h, w + 2 * max_shift)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, 1, h, w)
    return cropped.gather(3, cols)


def train_digits_cnn(
    epochs: int = 30,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 2e-3,
    max_shift: int = 2,
) -> tuple[DigitsCNN, float]:
    """Train :class:`DigitsCNN` on the train split (CPU) and measure its test-split accuracy.

    Adam with a cosine learning-rate decay, cross-entropy, random shifts of up to ``max_shift`` pixels (half a
    source pixel at the default 2) as the only augmentation. Deterministic given ``seed`` on a given machine:
    initialisation, shuffling and shifts all draw from generators seeded here (the global RNG is restored).

    Args:
        epochs: passes over the 898 training images (30: about 8 s on 2 idle CPU cores).
        seed: seeds initialisation, batch order and augmentation.
        batch_size: images per step.
        lr: Adam's initial learning rate.
        max_shift: largest random translation in 32x32 pixels; 0 disables augmentation.

    Returns:
        The trained network (eval mode, on the CPU) and its accuracy on the test split.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    images, labels = load_digits_split("train")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitsCNN()
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = -(-len(labels) // batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for i in range(0, len(labels), batch_size):
            batch = order[i : i + batch_size]
            x = _random_shift(images[batch], max_shift, generator)
            loss = F.cross_entropy(net(x), labels[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
    net.eval()
    return net, digits_accuracy(net, *load_digits_split("test"))


def _fix_hint(path: Path) -> str:
    return (
        f"Fix: write the weights with `prd-metric train-digits --out {path}` (about 20 s on a CPU), "
        "or use weights='shipped' (the file installed with prd_metric)."
    )


def load_digits_cnn(path: str | Path) -> DigitsCNN:
    """Build :class:`DigitsCNN` from a ``state_dict`` file written by :func:`train_main`.

    Raises:
        WeightsUnavailableError: the file is missing or is not a :class:`DigitsCNN` state_dict; the message
            names the path and the fix.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"digits CNN weights file {path} does not exist. " + _fix_hint(path))
    net = DigitsCNN()
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # truncated file, pickle, foreign state_dict: all end the same way
        raise WeightsUnavailableError(
            f"{path} is not a DigitsCNN state_dict ({type(err).__name__}: {' '.join(str(err).split())[:300]}). "
            + _fix_hint(path)
        ) from err
    return net


class DigitsEmbedding(nn.Module):
    """Frozen feature extractor: the 128-unit penultimate layer of :class:`DigitsCNN` (offline stand-in for Pool3).

    Args:
        weights: ``"shipped"`` (the package's ``weights/digits_cnn.pt``), a path to a state_dict file written by
            ``prd-metric train-digits``, or ``"random"`` (random initialisation, explicitly, for smoke tests; the
            features are then meaningless).

    Raises:
        WeightsUnavailableError: the weights file is missing or unreadable (message: the path and the fix).
    """

    num_features: int = NUM_FEATURES

    def __init__(self, weights: str | Path = "shipped") -> None:
        super().__init__()
        spec = str(weights)
        if spec == "random":
            net = DigitsCNN()
        else:
            net = load_digits_cnn(SHIPPED_WEIGHTS if spec == "shipped" else spec)
        self.weights = spec
        self.net = net.eval().requires_grad_(False)
        self.register_buffer("luma", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "DigitsEmbedding":
        """Stay in eval mode whatever a parent module asks: BatchNorm must keep the trained statistics."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """Embed images.

        Args:
            images: float (N, C, H, W) in [0, 1], C = 1 (grey) or 3 (RGB, converted to BT.601 luma
                0.299 R + 0.587 G + 0.114 B), any H and W (resized to 32x32 by :func:`resize_to_32`).

        Returns:
            float32 (N, 128) features (non-negative: taken after the ReLU).

        Raises:
            ValueError: not a 4-D float tensor with 1 or 3 channels, or values outside [0, 1].
        """
        return self.forward_with_logits(images)[0]

    def forward_with_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Features (N, 128) and the CNN's 10 class logits of one pass (the logits give a digits Inception Score and
        the class histograms of Sec. 5.4.2); images as :meth:`forward`."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"DigitsEmbedding expects images of shape (N, C, H, W) with C = 1 or 3, got {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(f"DigitsEmbedding expects float images in [0, 1], got dtype {images.dtype}")
        from prd_metric.embeddings import check_unit_range  # embeddings imports this module lazily

        check_unit_range(images, "DigitsEmbedding")
        x = images.float()
        if x.shape[1] == 3:
            x = (x * self.luma).sum(1, keepdim=True)
        features = self.net.features(resize_to_32(x))
        return features.float(), self.net.head(features).float()


def train_main(argv: list[str] | None = None) -> int:
    """``prd-metric train-digits [options]``, parsed here (the console command parses in :mod:`prd_metric.cli`)."""
    return run_command(train_digits_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """``prd-metric train-digits`` on parsed options: train, report the test accuracy, save the weights.

    Returns:
        0 on success; 2 if ``--out`` exists and ``--overwrite`` was not given, or ``--epochs`` < 1 (nothing trained).
    """
    out: Path = (args.out or SHIPPED_WEIGHTS).expanduser()
    if args.epochs < 1:
        print(f"error: --epochs must be >= 1, got {args.epochs}", file=sys.stderr)
        return 2
    if out.exists() and not args.overwrite:
        print(f"error: {out} exists; pass --overwrite to replace it, or choose another --out", file=sys.stderr)
        return 2
    start = time.perf_counter()
    net, accuracy = train_digits_cnn(epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(out)  # never leave a half-written weights file behind
    print(f"test accuracy {accuracy:.4f} ({round(accuracy * 899)}/899) after {args.epochs} epochs, seed {args.seed}")
    print(f"trained in {seconds:.1f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(train_main())
