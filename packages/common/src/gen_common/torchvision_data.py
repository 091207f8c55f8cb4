"""Real datasets through torchvision (MNIST, CIFAR-10, CelebA) with errors that name the folder and the fix."""

from pathlib import Path

TORCHVISION_DATASETS = {"mnist": "MNIST", "cifar10": "CIFAR10", "celeba": "CelebA"}


def open_torchvision(name: str, root: str | None, download: bool, offline_hint: str, **kwargs):
    """torchvision's dataset ``name`` under ``root`` (``download`` fetches it there); ``kwargs`` go to its class.

    Args:
        offline_hint: the embedded alternative to suggest, e.g. ``"data=gan_digits"``.

    Raises:
        ValueError: ``root`` is None (nothing to read) or ``name`` is unknown.
        FileNotFoundError: torchvision found no (or a corrupt) copy under ``root``.
    """
    import torchvision.datasets as tvd

    if name not in TORCHVISION_DATASETS:
        raise ValueError(f"unknown torchvision dataset {name!r}; choose one of {', '.join(TORCHVISION_DATASETS)}")
    if root is None:
        raise ValueError(
            f"data.dataset={name} needs data.root=DIR (where torchvision keeps it; data.download=true on a machine "
            f"with network). Offline, use the embedded data: {offline_hint}"
        )
    root = str(Path(root).expanduser())
    try:
        return getattr(tvd, TORCHVISION_DATASETS[name])(root, download=download, **kwargs)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise FileNotFoundError(
            f"{name} not found under {Path(root).resolve()} ({err}); set data.download=true on a machine with "
            "network, or point data.root to the folder that holds torchvision's copy"
        ) from err
