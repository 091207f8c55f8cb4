"""Natural photographs shipped inside scikit-image and scikit-learn: real data that needs no download.

The split is fixed so that "held-out" means the same images on every machine.
"""

import numpy as np
import torch
from torch import Tensor

# scikit-image's bundled colour photographs (``skimage.data``; the others need a download) and
# scikit-learn's two sample JPEGs. Held-out images are never used for training.
EMBEDDED_TRAIN = (
    "astronaut",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "china",
)
EMBEDDED_EVAL = ("chelsea", "flower", "motorcycle")


def _load(name: str) -> np.ndarray:
    import skimage.data
    from sklearn.datasets import load_sample_image

    if name in ("china", "flower"):
        return load_sample_image(f"{name}.jpg")
    if name == "motorcycle":  # left view of the Middlebury stereo pair
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def embedded_images(split: str) -> list[tuple[str, Tensor]]:
    """The embedded photographs of one split as (name, (3, H, W) float32 RGB in [0, 1]).

    Args:
        split: ``"train"`` or ``"eval"``.
    """
    names = {"train": EMBEDDED_TRAIN, "eval": EMBEDDED_EVAL}.get(split)
    if names is None:
        raise ValueError(f"unknown embedded split {split!r}; use 'train' or 'eval'")
    out = []
    for name in names:
        arr = _load(name)[..., :3].astype(np.float32) / 255.0
        out.append((name, torch.from_numpy(arr).permute(2, 0, 1).contiguous()))
    return out
