"""Cross-cutting pieces shared by every package of the monorepo (no model code)."""

from gen_common.lazy import lazy_exports

_EXPORTS = {
    "ImageReadError": "gen_common.images",
    "WeightsUnavailableError": "gen_common.weights",
    "list_image_files": "gen_common.images",
    "read_image": "gen_common.images",
    "resolve_weights": "gen_common.weights",
    "rgb_to_y": "gen_common.color",
    "xavier_init": "gen_common.init",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
