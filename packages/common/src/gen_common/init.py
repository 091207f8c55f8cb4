"""Weight initialisation shared by the networks of every chapter."""

from torch import nn

XAVIER_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def xavier_init(module: nn.Module, layer_types: tuple[type[nn.Module], ...] = XAVIER_LAYERS) -> None:
    """Xavier (Glorot) uniform weights and zero biases for every layer of ``layer_types`` in ``module``.

    The initialisation of every network of the thesis (EnhanceNet Sec. 2.5.8, FRVSR Sec. 3.3.5, the GANs and the
    lens Sec. 4.2.4): gain 1, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``. Layers are visited in
    ``module.modules()`` order, so a seed fixes the weights; other layers (batch norm, ...) keep their own init.

    Args:
        module: the network, initialised in place.
        layer_types: the layers to initialise (default: 2-D convolutions, transposed convolutions, linear layers).
    """
    for m in module.modules():
        if isinstance(m, layer_types):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
