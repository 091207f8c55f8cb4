"""Non-finite numbers: find them in nested checkpoint contents; the error a diverged run stops with."""

from collections.abc import Mapping


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or parameter; the message names the step, the terms and the cause."""


def nonfinite_tensors(obj: object, prefix: str = "") -> list[str]:
    """Dotted names of every floating-point tensor holding NaN or ±inf inside nested dicts / lists / tuples.

    One host sync per tensor: meant for checkpoints and loading, not for every training step.
    """
    import torch  # here, not at the top: tools/train.py's --help imports this module

    if isinstance(obj, torch.Tensor):
        bad = (obj.is_floating_point() or obj.is_complex()) and not bool(torch.isfinite(obj).all())
        return [prefix or "<tensor>"] if bad else []
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return []
    names = []
    for key, value in items:
        names += nonfinite_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    return names


def check_finite_state(state: Mapping, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` and the tensors if a loaded state dict holds NaN or ±inf."""
    bad = nonfinite_tensors(state)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ValueError(
            f"{source} holds non-finite weights ({', '.join(bad[:3])}{more}): the run that wrote it diverged; "
            f"use an earlier checkpoint of that run"
        )
