"""Image files: listing folders and reading any common format into float RGB tensors."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageReadError(OSError):
    """An image file could not be decoded; the message names the file."""


def list_image_files(folder: str | Path) -> list[Path]:
    """Sorted image files below ``folder`` (recursive).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no file with an image suffix.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist (check the path, e.g. data.root=...)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"image folder {folder} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 (H, W, 3) in [0, 1]; grey is repeated, alpha is dropped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        arr = arr / (65535.0 if arr.max() > 255 or img.mode.startswith("I;16") else 255.0)
        return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def read_image(path: str | Path) -> Tensor:
    """Read an image file as a (3, H, W) float32 RGB tensor in [0, 1].

    Grayscale, palette, RGBA (alpha dropped) and 16-bit images are converted.

    Raises:
        FileNotFoundError: no such file.
        ImageReadError: the file is not a decodable image (truncated, corrupt, wrong format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    try:
        with Image.open(path) as img:
            arr = _to_rgb_array(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot decode image {path}: {err}. Remove or replace the file.") from err
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def image_header(path: str | Path) -> tuple[int, int, bool]:
    """(height, width, is_colour) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            colour = img.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot decode image {path}: {err}. Remove or replace the file.") from err
    return h, w, colour


def save_image(img: Tensor, path: str | Path) -> None:
    """Write a (3, H, W) tensor as an 8-bit image; the format follows the suffix.

    Float tensors are in [0, 1] (clamped, rounded to 8 bits); uint8 tensors (0-255) are written as they are,
    without a float copy (a 16000x12000 result: 0.6 GB instead of several).
    """
    if img.dtype == torch.uint8:
        arr = img.detach().cpu().permute(1, 2, 0).contiguous().numpy()
    else:
        arr = img.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
