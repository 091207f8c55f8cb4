"""Feature embeddings for PRD and FID: Inception-V3 Pool3, the offline digits CNN, or any network the user brings.

PRD compares distributions in a feature space; the thesis embeds samples with the Pool3 layer of the Inception
network used by FID (thesis Sec. 5.4; Heusel et al., 2017) and stresses that "only a meaningful embedding is
required", so any module mapping images to (N, D) features works here too. Everything below takes images as float
(N, C, H, W) tensors in [0, 1] and returns float32 (N, D) features on the CPU.

* :class:`InceptionPool3` -- the FID network, numerically the one inside torchmetrics' ``FrechetInceptionDistance``.
* :class:`FeatureCallable` -- wraps any module or function into the same interface (``num_features``).
* :func:`build_embedding` -- ``"inception"`` | ``"digits"`` | a module | a callable -> an embedding module.
* :func:`embed_images`, :func:`embed_image_folder` -- batched, checked feature extraction.
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_common.images import list_image_files, read_image
from gen_common.weights import resolve_weights
from prd_metric.progress import Progress, reporter

EMBEDDINGS = ("inception", "digits")
INCEPTION_SIZE = 299  # the FID Inception's input resolution (torch-fidelity's INPUT_IMAGE_SIZE)
INCEPTION_RESIZE = ("tf1", "antialias")
# How embed_image_folder brings files of any size to one size (recorded in its info dict).
FOLDER_RESIZE = "bilinear, antialias=True, align_corners=False (torch.nn.functional.interpolate); non-square squashed"
_RANGE_TOLERANCE = 1e-3  # [0, 1] up to float error; (x * 255).byte() maps [-1e-3, 1 + 1e-3] to 0..255 as clamping does


def _check_images(images: Any, who: str) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point():
        kind = images.dtype if isinstance(images, Tensor) else type(images).__name__
        raise TypeError(f"{who} expects a float tensor of images in [0, 1], got {kind}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{who} expects images of shape (N, C, H, W) with C in (1, 3), got {tuple(images.shape)}")
    return images


def check_unit_range(x: Tensor, who: str) -> None:
    """Images must be in [0, 1] (up to float error); [-1, 1] GAN outputs would give wrong features silently."""
    if x.numel() == 0:
        return
    lo, hi = torch.aminmax(x.detach())
    if not (lo >= -_RANGE_TOLERANCE and hi <= 1 + _RANGE_TOLERANCE):  # also catches NaN
        raise ValueError(
            f"{who} expects images in [0, 1], got values in [{lo.item():.4g}, {hi.item():.4g}] "
            "(images in [-1, 1]? pass (x + 1) / 2)"
        )


class InceptionPool3(nn.Module):
    """Inception-V3 Pool3 features (N, 2048), the embedding of FID and of PRD in the thesis (Sec. 5.4).

    The network is torch-fidelity's port of the TF Inception graph of Heusel et al. (2017), as used by torchmetrics'
    ``FrechetInceptionDistance`` (``NoTrainInceptionV3``), built through :func:`gen_common.weights.resolve_weights`
    (``"inception_v3_fid"``). Preprocessing, exactly:

    1. grey (C = 1) is repeated to RGB;
    2. quantised as torchmetrics' FID with ``normalize=True`` does: ``(images * 255).byte()`` (truncation; 8-bit
       images read as ``k / 255`` come back as exactly ``k``). Values must lie in [0, 1] (up to 1e-3);
    3. resized to 299x299 inside the network, in float, on the 0..255 scale: ``resize="tf1"`` (default) with
       torch-fidelity's bit-exact port of TF 1.x ``resize_bilinear`` (``align_corners=False``), as in the original
       FID code and in torch-fidelity; ``resize="antialias"`` with ``F.interpolate(mode="bilinear",
       antialias=True)``, the default of torchmetrics >= 1.4's FID (``antialias=True``). Both are the identity for
       299x299 inputs; they differ for other sizes (e.g. 32x32 GAN samples);
    4. scaled to [-1, 1] as ``(x - 128) / 128`` and passed to the network; the output is the 2048-d average pool.

    So ``InceptionPool3(resize="antialias")`` features equal those of ``FrechetInceptionDistance(feature=2048,
    normalize=True)`` and ``InceptionPool3()`` those of the same metric with ``antialias=False``. The quantisation
    makes this embedding non-differentiable. It is frozen and stays in eval mode.

    Args:
        weights: ``"imagenet"`` (torch-fidelity's released FID weights, from torch's hub cache or downloaded once),
            ``"random"`` (same architecture, random init, no download; smoke tests only) or a state_dict path.
        option: the config key the user sets, quoted in error messages.
        resize: ``"tf1"`` | ``"antialias"``, how non-299 inputs are resized (see above).

    Raises:
        gen_common.weights.WeightsUnavailableError: the weights cannot be had (message: the three fixes).
        ValueError: unknown ``resize``.
    """

    num_features: int = 2048
    input_size: int = INCEPTION_SIZE

    def __init__(self, weights: str = "imagenet", option: str = "model.embedding_weights", resize: str = "tf1") -> None:
        super().__init__()
        if resize not in INCEPTION_RESIZE:
            raise ValueError(f"resize must be one of {INCEPTION_RESIZE}, got {resize!r}")
        self.weights = str(weights)
        self.resize = resize
        self.net = resolve_weights("inception_v3_fid", self.weights, option=option)
        self.net.use_antialias = resize == "antialias"  # torchmetrics' switch between its two resize paths

    def train(self, mode: bool = True) -> "InceptionPool3":
        """Stay in eval mode: a feature extractor, never trained here."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """(N, C, H, W) float in [0, 1], C in {1, 3}, any H, W -> float32 (N, 2048) Pool3 features.

        Raises:
            TypeError: not a float tensor.
            ValueError: wrong shape, or values outside [0, 1] (e.g. images in [-1, 1]: pass ``(x + 1) / 2``).
        """
        return self.forward_with_logits(images)[0]

    def forward_with_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Pool3 features (N, 2048) and the 1008 class logits (``logits_unbiased``, those of the Inception Score,
        Eq. 5.1) of one pass; images as :meth:`forward`."""
        x = _check_images(images, "InceptionPool3")
        if x.shape[0] == 0:
            return x.new_zeros(0, self.num_features, dtype=torch.float32), x.new_zeros(0, 1008, dtype=torch.float32)
        check_unit_range(x, "InceptionPool3")
        x = x.expand(-1, 3, -1, -1)
        # float32 first: in half precision x * 255 is not exact, and the quantisation would differ from torchmetrics'.
        x = (x.float().clamp(0, 1) * 255).byte()
        pool3, logits = self.net._torch_fidelity_forward(x)  # torchmetrics' forward keeps only the first
        return pool3.reshape(len(x), -1).float(), logits.float()


class FeatureCallable(nn.Module):
    """Any module or function mapping images (N, C, H, W) to features (N, D), as an embedding module.

    A module is registered as a submodule, so ``.to(device)`` moves it. ``num_features`` is the given value or, when
    not given, set by the first forward (until then the attribute does not exist, so torchmetrics' FID probes the
    network with a dummy image, as it does for modules without it). Outputs are checked: 2-D, one row per image,
    the same width on every call.

    Args:
        fn: the feature function or module.
        num_features: D, if known in advance.
        input_size: the square image size ``fn`` expects, if any (the default size of :func:`embed_image_folder`).
        name: a name for info dicts; default: the function's or the module class's name.
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        num_features: int | None = None,
        input_size: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if not callable(fn):
            raise TypeError(f"FeatureCallable needs a callable mapping images to features, got {type(fn).__name__}")
        self.fn = fn
        if num_features is not None:
            self.num_features = int(num_features)
        self.input_size = input_size
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def forward(self, images: Tensor) -> Tensor:
        """Features ``fn(images)``, checked to be (N, D) with D = ``num_features``."""
        out = self.fn(images)
        if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != images.shape[0]:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"embedding {self.name!r} must return features of shape (N, D) = ({images.shape[0]}, D), got {got}"
            )
        known = getattr(self, "num_features", None)
        if known is None:
            self.num_features = int(out.shape[1])
        elif out.shape[1] != known:
            raise ValueError(f"embedding {self.name!r} returned {out.shape[1]} features, expected {known}")
        return out


def build_embedding(
    embedding: str | nn.Module | Callable[[Tensor], Tensor],
    weights: str | None = None,
    option: str = "model.embedding_weights",
) -> nn.Module:
    """The embedding module for a name, a module or a callable, in eval mode.

    Args:
        embedding: ``"inception"`` (:class:`InceptionPool3`, the thesis's choice, Sec. 5.4), ``"digits"``
            (:class:`prd_metric.digits.DigitsEmbedding`, offline, for small grey images), an ``nn.Module`` (used as
            is when it has an integer ``num_features``, else wrapped in :class:`FeatureCallable`) or a callable
            (wrapped in :class:`FeatureCallable`).
        weights: for the named embeddings: ``"imagenet"`` (inception default) | ``"shipped"`` (digits default) |
            ``"random"`` | a state_dict path. Not accepted for modules and callables (they carry their own).
        option: the config key of ``weights``, quoted in error messages.

    Raises:
        ValueError: unknown name, or ``weights`` given with a module or callable.
        TypeError: ``embedding`` is none of the above.
    """
    if isinstance(embedding, str):
        if embedding == "inception":
            return InceptionPool3(weights=weights or "imagenet", option=option)
        if embedding == "digits":
            from prd_metric.digits import DigitsEmbedding  # trained on scikit-learn's digits; import only when used

            return DigitsEmbedding(weights=weights or "shipped").eval()
        raise ValueError(
            f"unknown embedding {embedding!r}; choose one of {', '.join(map(repr, EMBEDDINGS))}, "
            "or pass an nn.Module or a callable mapping images (N, C, H, W) to features (N, D)"
        )
    if weights is not None:
        raise ValueError(f"weights={weights!r} applies to the named embeddings {EMBEDDINGS}, not to a module/callable")
    if isinstance(embedding, nn.Module):
        if isinstance(getattr(embedding, "num_features", None), int):
            return embedding.eval()
        return FeatureCallable(embedding).eval()
    if callable(embedding):
        return FeatureCallable(embedding)
    raise TypeError(f"embedding must be a name, an nn.Module or a callable, got {type(embedding).__name__}")


def natural_input_size(embedding: nn.Module) -> int | None:
    """The square image size an embedding expects (``input_size``): 299 for Inception, 32 for digits, else None."""
    size = getattr(embedding, "input_size", None)
    if size is None:
        try:
            from prd_metric import digits
        except ImportError:
            return None
        if isinstance(embedding, digits.DigitsEmbedding):
            size = digits.IMAGE_SIZE
    return None if size is None else int(size)


def _device_of(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def _batches(images: Tensor | Iterable[Any], batch_size: int) -> Iterator[Tensor]:
    if isinstance(images, Tensor):
        if images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        yield from images.split(batch_size)
        return
    for batch in images:
        if isinstance(batch, tuple | list):  # (images, labels, ...) from a DataLoader
            batch = batch[0]
        if not isinstance(batch, Tensor) or batch.dim() != 4:
            got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
            raise ValueError(f"every batch must be an (N, C, H, W) tensor, got {got}")
        yield from batch.split(batch_size)


def embed_images(
    embedding: str | nn.Module | Callable[[Tensor], Tensor],
    images: Tensor | Iterable[Any],
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: Progress = False,
    with_logits: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    """Features of images, computed in batches without gradients (the embedding step of PRD, thesis Sec. 5.4).

    Args:
        embedding: anything :func:`build_embedding` accepts (names are built with their default weights).
        images: float (N, C, H, W) in [0, 1], or an iterable of such batches (or of ``(images, ...)`` tuples, as a
            DataLoader yields). Batches larger than ``batch_size`` are split.
        batch_size: images per forward pass.
        device: where to run; default: the embedding's device (CPU for parameter-free callables). A module given
            here is moved there (in place).
        progress: ``True`` draws a bar on stderr (images/s, ETA); a callable receives the number of images of
            each finished batch (:mod:`prd_metric.progress`); ``False``: quiet.
        with_logits: also return the class logits of the same pass (the Inception Score's input), for embeddings
            with a ``forward_with_logits`` (Inception, the digits CNN); None for the others.

    Returns:
        float32 (N, D) features on the CPU, rows in input order (ordinary tensors, not inference tensors);
        ``(features, logits)`` with ``with_logits``.

    Raises:
        ValueError: no images, bad shapes, or non-finite features (message: how many rows).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    module = embedding if isinstance(embedding, nn.Module) else build_embedding(embedding)
    if device is not None:
        module.to(device)
    device = torch.device(device) if device is not None else _device_of(module)
    was_training = module.training
    module.eval()  # batch-independent features (BatchNorm statistics, no dropout); restored below
    chunks: list[Tensor] = []
    logit_chunks: list[Tensor] = []
    classify = with_logits and hasattr(module, "forward_with_logits")
    total = len(images) if isinstance(images, Tensor) else None
    try:
        with torch.inference_mode(), reporter(progress, total, "embedding", "img") as done:
            for batch in _batches(images, batch_size):
                if classify:
                    features, logits = module.forward_with_logits(batch.to(device, non_blocking=True))
                    logit_chunks.append(logits.float().cpu())
                else:
                    features = module(batch.to(device, non_blocking=True))
                if not isinstance(features, Tensor) or features.dim() != 2 or features.shape[0] != batch.shape[0]:
                    got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
                    raise ValueError(f"the embedding must return (N, D) = ({batch.shape[0]}, D) features, got {got}")
                chunks.append(features.float().cpu())
                done(len(batch))
    finally:
        module.train(was_training)
    if not chunks:
        raise ValueError("no images to embed")
    features = torch.cat(chunks)  # outside inference mode: an ordinary tensor callers may modify in place
    bad = ~torch.isfinite(features).all(dim=1)
    if bad.any():
        rows = bad.nonzero().flatten()
        raise ValueError(
            f"{len(rows)} of {len(features)} feature rows contain NaN or inf (first: row {rows[0].item()}); "
            "check the images (NaN pixels?) and the embedding's weights"
        )
    if with_logits:
        return features, torch.cat(logit_chunks) if classify else None
    return features


def embed_image_folder(
    folder: str | Path,
    embedding: str | nn.Module | Callable[[Tensor], Tensor],
    batch_size: int = 64,
    device: str | torch.device | None = None,
    size: int | None = None,
    progress: Progress = False,
    with_logits: bool = False,
) -> tuple[Tensor, dict[str, Any]] | tuple[Tensor, dict[str, Any], Tensor | None]:
    """Features of every image file below ``folder`` (recursive, sorted by path), read ``batch_size`` at a time.

    Each file is read as RGB in [0, 1] (:func:`gen_common.images.read_image`; grey repeated, alpha dropped). For
    :class:`InceptionPool3` without an explicit ``size`` the network resizes each image itself (its ``resize``, TF1 by
    default, as the original FID); otherwise every image is resized to ``size`` x ``size`` with
    ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)`` (skipped when already that size;
    non-square images are squashed, not cropped). Batches hold images of one size; only one batch of full-size images
    is in memory at a time.

    Args:
        folder: the image folder (suffixes: :data:`gen_common.images.IMAGE_SUFFIXES`).
        embedding: anything :func:`build_embedding` accepts (names are built with their default weights).
        batch_size: images per forward pass.
        device: see :func:`embed_images`.
        size: common image size; default: the embedding's natural size (299 for Inception, 32 for digits).
        progress: ``True`` draws a bar on stderr named after the folder (images/s, ETA); a callable receives the
            number of images of each finished batch; ``False``: quiet.
        with_logits: also return the class logits (see :func:`embed_images`).

    Returns:
        ``(features, info)``: float32 (N, D) CPU features, and every setting that changes the numbers: ``folder``,
        ``num_images``, ``size``, ``resize`` (method, or the network's own), ``embedding`` (name), ``weights``,
        ``weights_sha256`` (of the embedding's parameters and buffers), ``num_features``; ``(features, info,
        logits)`` with ``with_logits``.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: no image files (message: the folder and the accepted suffixes); no ``size`` and the embedding
            has no natural one; non-finite features.
        gen_common.images.ImageReadError: a file cannot be decoded (message: the file).
    """
    files = list_image_files(folder)
    module = embedding if isinstance(embedding, nn.Module) else build_embedding(embedding)
    # Inception resizes inside the network (TF1-compatible, as the original FID); resizing here first would bypass it.
    in_network = size is None and isinstance(module, InceptionPool3)
    size = size if size is not None else natural_input_size(module)
    if size is None:
        raise ValueError(
            f"embedding {type(module).__name__} has no natural input size (no `input_size` attribute); "
            "pass size=... (the side length every image is resized to)"
        )

    def batches() -> Iterator[Tensor]:
        images: list[Tensor] = []
        for path in files:
            img = read_image(path).unsqueeze(0)
            if not in_network and img.shape[-2:] != (size, size):
                img = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
                img = img.clamp(0, 1)  # bilinear cannot overshoot; clamp only guards float error
            if images and (len(images) == batch_size or img.shape != images[0].shape):
                yield torch.cat(images)  # a batch holds images of one size
                images = []
            images.append(img)
        yield torch.cat(images)

    with reporter(progress, len(files), Path(folder).name, "img") as done:  # reading included: it can dominate
        out = embed_images(module, batches(), batch_size=batch_size, device=device, progress=done,
                           with_logits=with_logits)  # fmt: skip
    features, logits = out if with_logits else (out, None)
    if isinstance(embedding, str):
        name = embedding
    else:
        name = getattr(module, "name", None) if isinstance(module, FeatureCallable) else type(module).__name__
    weights = getattr(module, "weights", None)
    info: dict[str, Any] = {
        "folder": str(Path(folder).expanduser().resolve()),
        "num_images": len(files),
        "size": int(size),
        "resize": f"in the network: {module.resize}" if in_network else FOLDER_RESIZE,
        "embedding": name,
        "weights": weights if isinstance(weights, str) else None,
        "weights_sha256": weights_digest(module),
        "num_features": int(features.shape[1]),
    }
    return (features, info, logits) if with_logits else (features, info)


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes, values): which weights embedded."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)  # (0-d tensors cannot be viewed as bytes)
        digest.update(f"{name}:{t.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
