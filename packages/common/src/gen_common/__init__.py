"""Cross-cutting pieces shared by every package of the monorepo (no model code)."""

from gen_common.color import rgb_to_y
from gen_common.images import ImageReadError, list_image_files, read_image
from gen_common.weights import WeightsUnavailableError, resolve_weights

__all__ = [
    "ImageReadError",
    "WeightsUnavailableError",
    "list_image_files",
    "read_image",
    "resolve_weights",
    "rgb_to_y",
]
