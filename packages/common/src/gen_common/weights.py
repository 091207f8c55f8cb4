"""One resolver for every pretrained network the project uses (VGG-19 losses, ResNet-50 metric, ...).

``spec`` chooses where the weights come from:

* ``"imagenet"``: torchvision's weights API; taken from torch's cache (``$TORCH_HOME``) or downloaded once.
* a path to a local file holding a torchvision-layout ``state_dict`` (loaded with ``weights_only=True``).
* ``"random"``: random initialisation, explicitly, for offline smoke tests. Losses and metrics computed with
  random networks are not the thesis's; runs say so in their config.

When weights are needed and cannot be had, :class:`WeightsUnavailableError` says what is missing and the
three fixes. There is no silent fallback.
"""

import socket
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

# name -> (builder, weights enum member, what the project uses it for)
_REGISTRY: dict[str, tuple[Callable[..., nn.Module], Callable[[], object], str]] = {
    "vgg19": (
        torchvision.models.vgg19,
        lambda: torchvision.models.VGG19_Weights.IMAGENET1K_V1,
        "the perceptual and texture losses (thesis Sec. 2.4.2)",
    ),
    "resnet50": (
        torchvision.models.resnet50,
        lambda: torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
        "the object-recognition metric (thesis Sec. 2.5.5)",
    ),
}


DOWNLOAD_TIMEOUT_S = 30.0
# Input normalisation of torchvision's ImageNet models (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are required but cannot be loaded; the message lists the fixes."""


def _fixes(name: str, option: str) -> str:
    return (
        f"Fix it one of three ways: (1) on a machine with network run `make weights` (or "
        f"`python tools/fetch_weights.py {name}`) and copy $TORCH_HOME/hub/checkpoints to this machine; "
        f"(2) point to a local torchvision state_dict file: {option}=/path/to/{name}.pth; "
        f"(3) for smoke tests only, {option}=random (random weights: the numbers are then not the thesis's)."
    )


def cached_weights_path(name: str) -> Path:
    """Where torchvision's cache keeps the ImageNet weights of ``name``."""
    weights = _REGISTRY[name][1]()
    filename = Path(weights.url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def known_networks() -> list[str]:
    """Names accepted by :func:`resolve_weights`."""
    return list(_REGISTRY)


def resolve_weights(name: str, spec: str = "imagenet", option: str = "weights") -> nn.Module:
    """Build torchvision's ``name`` with weights from ``spec``; frozen and in eval mode.

    Args:
        name: ``"vgg19"`` or ``"resnet50"``.
        spec: ``"imagenet"`` | ``"random"`` | path to a state_dict file.
        option: the config key the user sets, quoted in error messages (e.g. ``model.vgg_weights``).

    Raises:
        WeightsUnavailableError: the weights cannot be had (offline with an empty cache, bad file).
        ValueError: unknown network name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(_REGISTRY)}")
    builder, weights_enum, purpose = _REGISTRY[name]
    spec = str(spec)
    if spec == "random":
        net = builder(weights=None)
    elif spec == "imagenet":
        weights = weights_enum()
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a stalled network must fail, not hang start-up
        try:
            net = builder(weights=weights, progress=False)
        except Exception as err:  # offline, proxy, HTTP error, corrupt cache: all end the same way
            raise WeightsUnavailableError(
                f"{name} ImageNet weights are needed for {purpose}, but they are not in the cache "
                f"({cached_weights_path(name)}) and could not be downloaded ({type(err).__name__}: {err}). "
                + _fixes(name, option)
            ) from err
        finally:
            socket.setdefaulttimeout(previous_timeout)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"{name} weights file {path} does not exist (given as {option}). " + _fixes(name, option)
            )
        net = builder(weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state.get("state_dict", state))
        except Exception as err:
            raise WeightsUnavailableError(
                f"{path} is not a torchvision {name} state_dict ({type(err).__name__}: {err}). " + _fixes(name, option)
            ) from err
    net.eval().requires_grad_(False)
    return net
