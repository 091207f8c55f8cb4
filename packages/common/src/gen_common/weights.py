"""One resolver for every pretrained network the project uses (VGG-19 losses, ResNet-50 metric, FID Inception).

``spec`` chooses where the weights come from:

* ``"imagenet"``: the network's standard pretrained weights (torchvision's ImageNet weights for ``vgg19`` and
  ``resnet50``; torch-fidelity's port of the TF FID Inception for ``inception_v3_fid``), taken from torch's cache
  (``$TORCH_HOME/hub/checkpoints``) or downloaded once.
* a path to a local file holding that network's ``state_dict`` (loaded with ``weights_only=True``).
* ``"random"``: random initialisation of the same architecture, explicitly, for offline smoke tests; nothing is
  downloaded. Losses and metrics computed with random networks are not the thesis's; runs say so in their config.

Every network is built the same way: the architecture with random initialisation, then (unless ``"random"``) a
``state_dict`` loaded into it. When weights are needed and cannot be had, :class:`WeightsUnavailableError` says
what is missing and the three fixes. There is no silent fallback.
"""

import functools
import io
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

DOWNLOAD_TIMEOUT_S = 30.0
# Input normalisation of torchvision's ImageNet models (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are required but cannot be loaded; the message lists the fixes."""


@dataclass(frozen=True)
class _Network:
    """How to build one registered network and where its pretrained weights live."""

    build: Callable[[], nn.Module]  # the architecture, randomly initialised; never downloads
    url: Callable[[], str]  # the pretrained state_dict; its basename is the file in torch's hub cache
    purpose: str  # what the project uses it for, quoted in errors
    layout: str  # whose state_dict layout a local file must follow
    # torchvision's file names end in the file's sha256 prefix; torch-fidelity's end in the TF graph's hash instead.
    check_hash: bool


# The torch-fidelity import is deferred: it (and torchmetrics' image module) cost seconds and are only needed by
# prd-metric, not by every user of this resolver.
def _fid_inception_url() -> str:
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the FID Inception (inception_v3_fid) needs torch-fidelity: pip install torch-fidelity "
            "(a dependency of prd-metric)"
        ) from err
    return URL_INCEPTION_V3


@functools.cache
def _fid_inception_class() -> type[nn.Module]:
    """``FIDInceptionV3``: torchmetrics' FID network that can be built without loading (or downloading) weights."""
    _fid_inception_url()  # fails early with the install hint when torch-fidelity is missing
    from torchmetrics.image.fid import NoTrainInceptionV3

    class FIDInceptionV3(NoTrainInceptionV3):
        """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's port of the TF Inception graph used for FID,
        Heusel et al. 2017; thesis Sec. 5.4), returning the 2048-d Pool3 features, randomly initialised.

        torch-fidelity's constructor always loads a state_dict, downloading it when given no path. Here it is handed
        an empty one and that single construction-time load is skipped, so building never downloads;
        :func:`resolve_weights` then loads the weights itself (``weights_only=True``) or keeps the random init.
        Input: uint8 (N, 3, H, W) in [0, 255]; it resizes to 299x299 itself (``use_antialias`` picks how).
        """

        def __init__(self) -> None:
            self._constructing = True  # a plain attribute: allowed before nn.Module.__init__
            empty = io.BytesIO()
            torch.save({}, empty)
            empty.seek(0)
            # Pool3 and the class logits in one pass: FID / PRD / KID take the first, the Inception Score the second
            super().__init__(
                name="inception-v3-compat",
                features_list=["2048", "logits_unbiased"],
                feature_extractor_weights_path=empty,
            )
            self._constructing = False
            # torch-fidelity defines no initialisation (it always loads weights). PyTorch's default conv init shrinks
            # the signal about 2.5x per layer, leaving random-mode Pool3 features near 1e-8, too small for FID's
            # covariances; He initialisation keeps them O(1). Loaded weights replace all of this.
            for module in self.modules():
                if isinstance(module, nn.Conv2d | nn.Linear):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

        def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
            if self._constructing:
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # Importable (and so picklable) as gen_common.weights.FIDInceptionV3 through the module __getattr__ below.
    FIDInceptionV3.__qualname__ = "FIDInceptionV3"
    return FIDInceptionV3


def __getattr__(name: str) -> Any:
    if name == "FIDInceptionV3":
        return _fid_inception_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _torchvision(arch: str, weights: str, purpose: str) -> _Network:
    """A torchvision ImageNet classifier: ``torchvision.models.<arch>``, weights ``<weights>.IMAGENET1K_V1``."""
    return _Network(
        build=lambda: getattr(torchvision.models, arch)(weights=None),
        url=lambda: getattr(torchvision.models, weights).IMAGENET1K_V1.url,
        purpose=purpose,
        layout="torchvision",
        check_hash=True,
    )


_REGISTRY: dict[str, _Network] = {
    "vgg19": _torchvision("vgg19", "VGG19_Weights", "the perceptual and texture losses (thesis Sec. 2.4.2)"),
    "resnet50": _torchvision("resnet50", "ResNet50_Weights", "the object-recognition metric (thesis Sec. 2.5.5)"),
    "alexnet": _torchvision(
        "alexnet", "AlexNet_Weights", "LPIPS, the learned perceptual distance of tools/evaluate.py (Zhang et al. 2018)"
    ),
    "inception_v3_fid": _Network(
        build=lambda: _fid_inception_class()(),
        url=_fid_inception_url,
        purpose="FID and the PRD embedding (Inception Pool3, thesis Sec. 5.4; Heusel et al. 2017)",
        layout="torch-fidelity",
        check_hash=False,
    ),
}


def _fixes(name: str, option: str) -> str:
    net = _REGISTRY[name]
    return (
        f"Fix it one of three ways: (1) on a machine with network run `make weights` (or "
        f"`python tools/fetch_weights.py {name}`) and copy $TORCH_HOME/hub/checkpoints to this machine; "
        f"(2) point to a local {net.layout} state_dict file (as released at {net.url()}): "
        f"{option}=/path/to/{name}.pth; "
        f"(3) for smoke tests only, {option}=random (random weights: the numbers are then not the thesis's)."
    )


def cached_weights_path(name: str) -> Path:
    """Where torch's hub cache keeps the pretrained weights of ``name`` (``$TORCH_HOME/hub/checkpoints/...``)."""
    filename = Path(_REGISTRY[name].url()).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def known_networks() -> list[str]:
    """Names accepted by :func:`resolve_weights`."""
    return list(_REGISTRY)


def _download_or_cached(name: str, option: str) -> Any:
    net = _REGISTRY[name]
    url = net.url()
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a stalled network must fail, not hang start-up
    try:
        # The cache is checked first; only a missing file is downloaded.
        return torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=net.check_hash, map_location="cpu", weights_only=True
        )
    except Exception as err:  # offline, proxy, HTTP error, or a damaged file in the cache
        cached = cached_weights_path(name)
        if cached.is_file():  # the file is there: it is unreadable, not missing
            raise WeightsUnavailableError(
                f"{name} pretrained weights are needed for {net.purpose}; the cached file {cached} is damaged "
                f"({type(err).__name__}: {str(err)[:200]}): delete it and run `make weights` (or "
                f"`python tools/fetch_weights.py {name}`) to fetch it again. " + _fixes(name, option)
            ) from err
        raise WeightsUnavailableError(
            f"{name} pretrained weights are needed for {net.purpose}, but they are not in the cache "
            f"({cached}) and could not be downloaded ({type(err).__name__}: {err}). " + _fixes(name, option)
        ) from err
    finally:
        socket.setdefaulttimeout(previous_timeout)


def resolve_weights(name: str, spec: str = "imagenet", option: str = "weights") -> nn.Module:
    """Build the network ``name`` with weights from ``spec``; frozen and in eval mode.

    Args:
        name: one of :func:`known_networks`: ``"vgg19"``, ``"resnet50"``, ``"alexnet"`` (torchvision) or
            ``"inception_v3_fid"`` (torchmetrics' FID Inception-V3, Pool3 output (N, 2048), uint8 input; see
            ``FIDInceptionV3``).
        spec: ``"imagenet"`` | ``"random"`` | path to a state_dict file.
        option: the config key the user sets, quoted in error messages (e.g. ``model.vgg_weights``).

    Raises:
        WeightsUnavailableError: the weights cannot be had (offline with an empty cache, bad file).
        ValueError: unknown network name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(_REGISTRY)}")
    layout = _REGISTRY[name].layout
    spec = str(spec)
    if spec == "random":
        state, source = None, "random"
    elif spec == "imagenet":
        state, source = _download_or_cached(name, option), str(cached_weights_path(name))
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"{name} weights file {path} does not exist (given as {option}). " + _fixes(name, option)
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise WeightsUnavailableError(
                f"{path} is not a {layout} {name} state_dict ({type(err).__name__}: {err}). " + _fixes(name, option)
            ) from err
        source = str(path)
    net = _REGISTRY[name].build()
    if state is not None:
        try:
            net.load_state_dict(state.get("state_dict", state))
        except Exception as err:
            raise WeightsUnavailableError(
                f"{source} is not a {layout} {name} state_dict ({type(err).__name__}: {err}). " + _fixes(name, option)
            ) from err
    net.eval().requires_grad_(False)
    return net
