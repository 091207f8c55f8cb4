"""The ``--device`` option every command shares."""


def resolve_device(name: str, option: str = "--device"):
    """``auto`` is cuda when CUDA is available, else cpu; any other name must be a device torch knows.

    Raises:
        ValueError: an unknown device name, or CUDA asked for on a machine without it (one line, with the fix).
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{option} {name}: not a device name (e.g. auto, cpu, cuda, cuda:1, mps)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{option} {name}: CUDA is not available on this machine; use {option} cpu or auto")
    return device
