"""Evaluation pieces of Sec. 6.8.1: spherical interpolation, nearest training neighbours (Fig. 6.3)."""

import torch
from torch import Tensor

EVAL_KINDS = ("rec", "n", "gmm", "int")  # Table 6.2's columns: Rec., N, GM, Int.


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation between code batches ``a`` and ``b`` (N, D) at t in [0, 1] (Shoemake, 1985).

    sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b with w the angle between a and b, on the raw codes (as the
    official code); linear interpolation where the two are (anti-)parallel. t = 0 gives ``a``, t = 1 gives ``b``.
    """
    a64, b64 = a.double(), b.double()
    na, nb = a64.norm(dim=1, keepdim=True), b64.norm(dim=1, keepdim=True)
    cos = ((a64 / na.clamp_min(1e-12)) * (b64 / nb.clamp_min(1e-12))).sum(1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so.where(safe, 1), torch.full_like(so, 1 - t))
    wb = torch.where(safe, torch.sin(t * omega) / so.where(safe, 1), torch.full_like(so, t))
    return (wa * a64 + wb * b64).to(a.dtype)


def nearest_neighbours(samples: Tensor, train: Tensor, k: int = 7) -> Tensor:
    """Each sample followed by its ``k`` nearest training images in pixel L2 (Fig. 6.3): (S * (k + 1), C, H, W)."""
    flat = train.flatten(1).to(samples.device, samples.dtype)
    idx = torch.cdist(samples.flatten(1), flat).topk(k, largest=False).indices  # (S, k)
    rows = [
        torch.cat([s[None], train[i.cpu()].to(samples.device, samples.dtype)])
        for s, i in zip(samples, idx, strict=True)
    ]
    return torch.cat(rows)
