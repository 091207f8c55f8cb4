"""Upscaling images of any size with a trained EnhanceNet generator in bounded memory (tiling).

The generator of Table 2.1 is fully convolutional, so an HR pixel depends only on the LR pixels within a
fixed radius (:func:`context_margin`). :func:`upscale_tiled` cuts the LR image into overlapping tiles, upscales
each and keeps from every tile only the part that lies at least that radius away from the tile's inner edges:
the stitched result then *equals* the whole-image result (up to float rounding), so there are no seams at all.
"""

import math

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sr_image.nets import EnhanceNetGenerator


def context_margin(generator: nn.Module) -> int:
    """LR pixels of context each side of an LR pixel that its HR pixels depend on (the receptive-field radius).

    Propagates the dependency interval of one HR pixel backwards through the layers of
    :class:`EnhanceNetGenerator` (Table 2.1): the two HR-space 3x3 convs (``hr_conv``, ``to_residual``), per 2x
    stage a 3x3 conv and a nearest-neighbour upsampling (output ``i`` reads input ``i // 2``), then
    ``2·num_blocks + 1`` 3x3 convs in LR space; the bicubic base image reads 2 LR pixels each side.
    For the thesis's network (10 blocks, 4x) this is 23; for 2 blocks at 4x it is 7.

    A tile overlap (:func:`upscale_tiled`'s ``overlap``) of at least this value makes tiling exact.
    """
    if not isinstance(generator, EnhanceNetGenerator):
        raise TypeError(f"context_margin needs an EnhanceNetGenerator, got {type(generator).__name__}")
    scale, lr_convs = generator.scale, 1 + 2 * len(generator.blocks)
    # bicubic: 4-tap kernel, output y reads floor((y + 0.5) / s - 0.5) - 1 ... + 2 (half-pixel grid) or
    # floor(y / s) - 1 ... + 2 (tf_legacy): at most 2 LR pixels away either way
    margin = 2
    for y in range(scale):  # the HR pixels of LR pixel 0
        lo, hi = y - 2, y + 2  # hr_conv and to_residual
        for _ in range(int(math.log2(scale))):
            lo, hi = (lo - 1) // 2, (hi + 1) // 2  # the stage's conv, then nearest upsampling
        margin = max(margin, lr_convs - lo, hi + lr_convs)
    return margin


def _tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis as (read_start, read_end, keep_start, keep_end) in LR pixels.

    Tiles of exactly ``tile`` pixels (one tile if ``length <= tile``), evenly spread, neighbours overlapping by
    at least ``2·overlap``; the cut between two neighbours lies in the middle of their overlap, so every kept
    pixel is at least ``overlap`` pixels away from the inner edges of the tile it is taken from.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    stride = tile - 2 * overlap
    n = 1 + math.ceil((length - tile) / stride)
    starts = [i * (length - tile) // (n - 1) for i in range(n)]  # steps <= stride
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(n - 1)] + [length]
    return [(s, s + tile, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


@torch.inference_mode()
def upscale_tiled(
    generator: nn.Module,
    lr: Tensor,
    tile: int = 128,
    overlap: int | None = None,
    progress: bool = False,
    out_dtype: torch.dtype | None = None,
) -> Tensor:
    """Upscale an image of any size tile by tile; memory is bounded by one ``tile``x``tile`` LR tile.

    Each tile is read with ``overlap`` LR pixels of context on each inner side and only its central part is
    kept (no blending is needed). With ``overlap >= context_margin(generator)`` (23 for the thesis's 10-block
    4x generator; the default) the result equals ``generator(lr).clamp(0, 1)`` on the whole image up to float
    rounding; a smaller overlap trades exactness (differences near the cuts) for fewer tiles.

    Args:
        generator: an :class:`EnhanceNetGenerator` (e.g. from :func:`sr_image.module.load_generator`); it is
            run on its own device and dtype and is not switched to eval mode here.
        lr: (3, H, W) or (N, 3, H, W) image(s) in [0, 1], any H and W, on any device.
        tile: LR tile side including the context; an image no larger than this runs whole.
        overlap: LR context pixels each side of a cut; ``None`` uses :func:`context_margin`.
        progress: show a tqdm bar over the tiles.
        out_dtype: ``torch.uint8`` quantises each tile to 8 bits as it is written (``round(255 · x)``, as
            :func:`gen_common.images.save_image` does), so the result of a large photo needs a quarter of the
            memory and no float copy to save; ``None`` keeps ``lr``'s dtype.

    Returns:
        The HR image(s), ``lr``'s shape with H and W multiplied by ``generator.scale``, clamped to [0, 1] (or 0-255
        for uint8), on ``lr``'s device (keep a large ``lr`` on the CPU to hold only one tile on the accelerator).

    Raises:
        ValueError: a wrong shape, or ``tile <= 2·overlap`` when the image needs more than one tile.
    """
    if lr.ndim not in (3, 4) or lr.shape[-3] != 3:
        raise ValueError(f"expected an RGB image of shape (3, H, W) or (N, 3, H, W), got {tuple(lr.shape)}")
    overlap = context_margin(generator) if overlap is None else overlap
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    x = lr if lr.ndim == 4 else lr[None]
    (h, w), s = x.shape[-2:], generator.scale
    if max(h, w) > tile and tile <= 2 * overlap:
        raise ValueError(
            f"tile ({tile}) must be larger than 2 * overlap ({2 * overlap}) to make progress; "
            f"use a larger tile, e.g. {2 * overlap + 64}"
        )
    param = next(generator.parameters())
    out = torch.empty(x.shape[0], 3, h * s, w * s, dtype=out_dtype or x.dtype, device=x.device)
    tiles = [(r, c) for r in _tile_spans(h, tile, overlap) for c in _tile_spans(w, tile, overlap)]
    for (r0, r1, kr0, kr1), (c0, c1, kc0, kc1) in tqdm(tiles, desc="tiles", unit="tile", disable=not progress):
        piece = x[:, :, r0:r1, c0:c1].to(device=param.device, dtype=param.dtype)
        hr = generator(piece).clamp_(0, 1)
        keep = hr[:, :, (kr0 - r0) * s : (kr1 - r0) * s, (kc0 - c0) * s : (kc1 - c0) * s]
        if out.dtype == torch.uint8:
            keep = keep.float().mul(255).round()
        out[:, :, kr0 * s : kr1 * s, kc0 * s : kc1 * s] = keep.to(device=x.device, dtype=out.dtype)
    return out if lr.ndim == 4 else out[0]
