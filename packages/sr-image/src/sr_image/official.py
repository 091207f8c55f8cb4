"""The authors' published ENet-PAT (EnhanceNet-Code, TensorFlow 0.12) as a checkpoint of this project.

The file ``weights`` of https://github.com/msmsajjadi/EnhanceNet-Code holds 50 variables
``generator/Conv{,_1,...,_24}/{weights,biases}`` (HWIO float32, 852,867 values): the 25 convolutions of
Table 2.1's 4x generator in the order the network applies them, which is the order of
:class:`~sr_image.nets.EnhanceNetGenerator`'s ``Conv2d`` modules. The weights were trained against TF 0.12's
bicubic base (``bicubic_base="tf_legacy"``) on PIL-Lanczos-downsampled inputs (``downsample: pil_lanczos``).

Licence: CC BY-NC-ND 4.0 (Mehdi S. M. Sajjadi). The converted checkpoint is for the user's own non-commercial
use; it records its source and licence, and this project never ships it.
"""

import hashlib
from pathlib import Path

import torch
from torch import nn

from gen_common.files import atomic_output
from sr_image.nets import ENET_INPUT_MEAN, EnhanceNetGenerator
from sr_image.tf_checkpoint import TFCheckpointError, read_tf_v1_checkpoint

LICENCE = (
    "CC BY-NC-ND 4.0, Mehdi S. M. Sajjadi (https://creativecommons.org/licenses/by-nc-nd/4.0/): "
    "non-commercial use, attribution, no redistribution of modified weights"
)
SOURCE = "https://github.com/msmsajjadi/EnhanceNet-Code (file `weights`, ENet-PAT 4x)"
HPARAMS = {"scale": 4, "num_blocks": 10, "num_filters": 64, "input_mean": list(ENET_INPUT_MEAN)}


def _conv_layers(generator: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(name, m) for name, m in generator.named_modules() if isinstance(m, nn.Conv2d)]


def _some(names: list[str], k: int = 4) -> str:
    return ", ".join(names[:k]) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def official_variable_names(generator: EnhanceNetGenerator) -> dict[str, str]:
    """TF variable name -> our state_dict key, for each conv weight and bias, in application order."""
    names = {}
    for i, (module_name, _) in enumerate(_conv_layers(generator)):
        tf_name = f"generator/Conv{'_' + str(i) if i else ''}"
        names[f"{tf_name}/weights"] = f"{module_name}.weight"
        names[f"{tf_name}/biases"] = f"{module_name}.bias"
    return names


def load_official_generator(path: str | Path, bicubic_base: str = "tf_legacy") -> EnhanceNetGenerator:
    """An :class:`EnhanceNetGenerator` holding the authors' ENet-PAT weights from their TF V1 ``weights`` file.

    Raises:
        FileNotFoundError: no such file.
        TFCheckpointError: not a readable checkpoint, or not the ENet-PAT generator (every missing and unexpected
            variable and every wrong shape is named).
    """
    variables, arrays = read_tf_v1_checkpoint(path)
    gen = EnhanceNetGenerator(**HPARAMS, bicubic_base=bicubic_base)
    names = official_variable_names(gen)
    state = gen.state_dict()
    problems = []
    missing = [n for n in names if n not in variables]
    unexpected = [n for n in variables if n not in names]
    if missing:
        problems.append(f"missing {len(missing)} variable(s): {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} variable(s): {_some(unexpected)}")
    for tf_name, key in names.items():
        if tf_name not in variables:
            continue
        want = tuple(state[key].shape)
        want = (*want[2:], want[1], want[0]) if len(want) == 4 else want  # OIHW -> HWIO
        var = variables[tf_name]
        if var.shape != want or var.dtype != "float32":
            problems.append(f"{tf_name} is {var.dtype} {var.shape}, expected float32 {want}")
    if problems:
        raise TFCheckpointError(
            f"{path} is not the ENet-PAT generator of EnhanceNet-Code: {'; '.join(problems)}. "
            f"Pass the unmodified file `weights` of {SOURCE}"
        )
    for tf_name, key in names.items():
        value = torch.from_numpy(arrays[tf_name].copy())
        state[key] = value.permute(3, 2, 0, 1).contiguous() if value.ndim == 4 else value  # HWIO -> OIHW
    gen.load_state_dict(state)
    return gen.eval()


def import_official(
    weights: str | Path, output: str | Path, bicubic_base: str = "tf_legacy", overwrite: bool = False
) -> Path:
    """Convert the authors' ``weights`` file into a checkpoint that ``sr-upscale`` and ``tools/evaluate.py`` read.

    The file is checked completely (CRCs, names, shapes) before anything is written; the checkpoint is written
    to a temporary file and renamed, so an existing file is never half-replaced.

    Args:
        weights: EnhanceNet-Code's ``weights`` file, or the EnhanceNet-Code folder holding it.
        output: the checkpoint to write (``.ckpt``).
        bicubic_base: ``"tf_legacy"`` reproduces the authors' output; ``"pytorch"`` only to measure what the
            half-pixel base does to these weights.
        overwrite: replace an existing ``output``.

    Returns:
        The path written.

    Raises:
        FileNotFoundError, TFCheckpointError: see :func:`load_official_generator`.
        FileExistsError: ``output`` exists and ``overwrite`` is false, or it is the input file or a folder.
    """
    src, dst = Path(weights).expanduser(), Path(output).expanduser()
    if src.is_dir():
        src = src / "weights"
    if dst.is_dir():
        raise FileExistsError(f"output {dst} is a folder; give a file name such as enet_pat_official.ckpt")
    if src.exists() and dst.exists() and dst.resolve() == src.resolve():
        raise FileExistsError(f"output {dst} is the input file; choose another -o")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"output {dst} already exists; pass --overwrite (overwrite=True) to replace it")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"output folder {dst.parent} does not exist; create it or choose another -o")
    gen = load_official_generator(src, bicubic_base)
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in gen.state_dict().items()},
        "hyper_parameters": {**HPARAMS, "bicubic_base": bicubic_base},
        "imported_from": {
            "source": SOURCE,
            "file": str(src.resolve()),
            "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
            "licence": LICENCE,
        },
    }
    with atomic_output(dst) as tmp:
        torch.save(ckpt, tmp)
    return dst
