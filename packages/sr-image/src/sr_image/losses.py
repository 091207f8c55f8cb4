"""EnhanceNet losses (thesis Sec. 2.4.2): one function per equation, plus the VGG-19 feature extractor.

Norm convention: ``||I||²`` is Eq. 2.4's ``1/(HW) Σ_{H,W} |I_{H,W}|²``: the mean over positions of the squared
norm of each position's vector (colour or feature channels summed). With that, the Table 2.2 weights multiply:

* L_E: per-pixel squared RGB error summed over channels, averaged over pixels (and the batch).
* L_P: the same for VGG-19 pool2 / pool5 activation vectors.
* L_T: the Gram matrix of Eq. 2.6 *unnormalised* (``G = F Fᵀ``, a sum over the patch's positions), computed
  per non-overlapping 16x16-pixel patch; a Gram matrix's "positions" are its n x n entries, so the loss is the
  mean over patches and entries. A patch covers the same image region at every layer (16, 8 and 4 positions wide
  at conv1_1, conv2_1, conv3_1).
* VGG activations are divided by the mean activation of the HR image's features at that layer (detached)
  before L_P and L_T: a training re-implementation quotes the paper's arXiv supplement for normalising
  activations to mean one (the thesis text does not mention it), and training
  re-implementations report the adversarial variants unstable without it. ``normalize=False`` disables it.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.feature_extraction import create_feature_extractor

from gen_common.weights import IMAGENET_MEAN, IMAGENET_STD, resolve_weights

# Indices into torchvision's vgg19().features. "convX_1" is the activation after its ReLU, as in the VGG-19
# the thesis used (Machrisaa's tensorflow-vgg, whose conv layers include the ReLU).
VGG19_LAYERS = {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "pool2": 9, "pool5": 36}
VGG19_STRIDES = {"conv1_1": 1, "conv2_1": 2, "conv3_1": 4, "pool2": 4, "pool5": 32}


class VGGFeatures(nn.Module):
    """Frozen VGG-19 returning the named activations for RGB input in [0, 1].

    Args:
        layers: names from ``VGG19_LAYERS``.
        weights: ``imagenet`` | ``random`` | path, through ``gen_common.resolve_weights``.
    """

    def __init__(self, layers: list[str], weights: str = "imagenet") -> None:
        super().__init__()
        unknown = set(layers) - set(VGG19_LAYERS)
        if unknown:
            raise ValueError(f"unknown VGG-19 layers {sorted(unknown)}; known: {sorted(VGG19_LAYERS)}")
        self.layers = list(layers)
        vgg = resolve_weights("vgg19", weights, option="model.vgg_weights")
        # The taps of vgg.features by index; the traced graph ends at the deepest one and keeps the parameter names
        # of the Sequential ("body.0.weight", ...), as the slice vgg.features[: last + 1] that preceded it.
        self.body = create_feature_extractor(vgg.features, {str(VGG19_LAYERS[name]): name for name in self.layers})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        # Frozen through requires_grad only: VGG-19's features have no batch norm or dropout, so train and eval mode
        # compute the same; in train mode like any new module (resolve_weights hands it over in eval mode), it
        # follows its parent's mode, which spares Lightning's "modules in eval mode" warning.
        self.requires_grad_(False).train()

    def forward(self, img: Tensor) -> dict[str, Tensor]:
        """(N, 3, H, W) RGB in [0, 1] -> layer name -> activations (in-place ReLUs only touch conv outputs)."""
        return self.body((img - self.mean) / self.std)


def normalize_features(est: Tensor, hr: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Divide both activations by the HR activation mean over (C, H, W), per image (detached)."""
    scale = hr.detach().mean(dim=(1, 2, 3), keepdim=True) + eps
    return est / scale, hr / scale


def squared_norm(diff: Tensor) -> Tensor:
    """``||·||²`` of Eq. 2.4 for (N, C, H, W): channels summed, mean over positions and the batch."""
    return diff.pow(2).sum(dim=1).mean()


def pixel_loss(est: Tensor, hr: Tensor) -> Tensor:
    """L_E, Eq. 2.4: per-pixel squared RGB error (channels summed), mean over pixels. Images (N, 3, H, W)."""
    return squared_norm(est - hr)


def perceptual_loss(est_feats: dict[str, Tensor], hr_feats: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """L_P, Eq. 2.5: weighted sum over layers of ``||φ(I_est) − φ(I_HR)||²`` (Eq. 2.4's norm, channels summed).

    Args:
        est_feats, hr_feats: layer name -> (N, C, h, w) activations.
        weights: layer name -> weight (Table 2.2: pool2 2e-1, pool5 2e-2).
    """
    return sum(w * squared_norm(est_feats[name] - hr_feats[name]) for name, w in weights.items())


def patch_gram(feat: Tensor, patch: int) -> Tensor:
    """Gram matrices ``F Fᵀ`` (Eq. 2.6, unnormalised) of non-overlapping ``patch``x``patch`` windows.

    Args:
        feat: (N, C, H, W) activations; rows/columns beyond a multiple of ``patch`` are dropped.
        patch: window side in feature-map positions.

    Returns:
        (N, P, C, C) with P = (H // patch) * (W // patch) windows in row-major order.
    """
    n, c, h, w = feat.shape
    if h < patch or w < patch:
        raise ValueError(f"feature map {h}x{w} is smaller than the texture patch {patch}x{patch}")
    cols = F.unfold(feat, kernel_size=patch, stride=patch)  # (N, C*p*p, P)
    windows = cols.view(n, c, patch * patch, -1).permute(0, 3, 1, 2)  # (N, P, C, p*p)
    return windows @ windows.transpose(-1, -2)


TEXTURE_PATCH_UNITS = ("image", "features")


def texture_patch_positions(name: str, patch_size: int, units: str = "image") -> int:
    """Side of a layer's Gram window in feature-map positions.

    The thesis's "patch size of 16x16 pixels" (Sec. 2.4.2) reads two ways: ``image`` pixels (a 16x16 image patch:
    16 / 8 / 4 positions at conv1_1 / conv2_1 / conv3_1, whose strides are 1 / 2 / 4; our default), or
    ``features``: 16x16 positions at every layer (a training re-implementation's reading; 4x / 16x more positions at
    conv2_1 / conv3_1, so Gram entries 4x / 16x and the squared loss 16x / 256x larger there).
    """
    if units not in TEXTURE_PATCH_UNITS:
        raise ValueError(f"texture_patch_units must be one of {TEXTURE_PATCH_UNITS}, got {units!r}")
    return patch_size if units == "features" else max(1, patch_size // VGG19_STRIDES[name])


def texture_loss(
    est_feats: dict[str, Tensor],
    hr_feats: dict[str, Tensor],
    weights: dict[str, float],
    patch_size: int = 16,
    units: str = "image",
) -> Tensor:
    """L_T, Eq. 2.6 computed patch-wise: weighted mean squared difference of per-patch Gram matrices.

    Args:
        weights: layer name -> weight (Table 2.2: conv1_1 3e-7, conv2_1 1e-6, conv3_1 1e-6).
        patch_size: window side (16 in the thesis, Fig. 2.4 compares 4/16/128), in ``units``
            (:func:`texture_patch_positions`): ``image`` pixels (``patch_size / stride`` positions, at least one)
            or feature-map ``features`` positions.
    """
    total = 0.0
    for name, w in weights.items():
        p = texture_patch_positions(name, patch_size, units)
        total = total + w * F.mse_loss(patch_gram(est_feats[name], p), patch_gram(hr_feats[name], p))
    return total


def adversarial_loss(fake_logits: Tensor) -> Tensor:
    """L_A, Eq. 2.7: ``-log D(G(x))`` averaged over the batch, from D's logits (non-saturating)."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """L_D, Eq. 2.8: ``-log D(x) - log(1 - D(G(x)))`` averaged over the batch, from logits."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def discriminator_accuracy(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Fraction of real images D calls real (D > 0.5) and of generated images it calls fake.

    Not torchmetrics' ``binary_accuracy``: it takes inputs that all lie in [0, 1] for probabilities, not logits
    (logits 0.2, 0.9, -0.1, 0.7 score 0.5 instead of 0.75), and it would need target tensors in the training step.
    """
    return (real_logits > 0).float().mean(), (fake_logits < 0).float().mean()


def discriminator_gate(acc_real: Tensor, acc_fake: Tensor, threshold: float) -> Tensor:
    """Sec. 2.4.2: train D in this step only if its accuracy on real *or* generated images of the previous
    batch was below ``threshold``. Returns a boolean tensor."""
    return (acc_real < threshold) | (acc_fake < threshold)
