"""Read the runs of a Hydra sweep (or single runs) back: their config choices, seed and metric history.

A run folder is one that ``tools/train.py`` wrote: ``.hydra/config.yaml``, ``.hydra/overrides.yaml`` and
``metrics.jsonl`` (:class:`gen_common.callbacks.MetricsHistory`). Used by ``tools/report.py``.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf


@dataclass
class Run:
    """One training run: where it is, what it was (label = its overrides without the seed), what it measured."""

    path: Path
    label: str
    seed: int
    overrides: list[str]
    history: list[dict] = field(default_factory=list)

    def curve(self, key: str, stage: str = "val") -> tuple[list[int], list[float]]:
        """(steps, values) of one metric over the run's evaluations of ``stage``."""
        rows = [r for r in self.history if r.get("stage") == stage and key in r]
        return [r["step"] for r in rows], [r[key] for r in rows]

    def final(self, key: str, stage: str = "val") -> float | None:
        """The metric's last value (None when the run never logged it)."""
        values = self.curve(key, stage)[1]
        return values[-1] if values else None


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _labels(overrides: list[list[str]], ignore: tuple[str, ...]) -> list[str]:
    """Per run, its overrides that are not ignored and not shared by every run (what tells the runs apart); all
    non-ignored overrides when nothing tells them apart (one configuration)."""
    own = [[o for o in run if _key(o) not in ignore] for run in overrides]
    shared = set.intersection(*(set(o) for o in own)) if own else set()
    distinct = [[o for o in run if o not in shared] for run in own]
    chosen = distinct if any(distinct) else own
    return [" ".join(k) or "(defaults)" for k in chosen]


def load_runs(root: str | Path, ignore: tuple[str, ...] = ("seed", "hydra.sweep.dir", "hydra.run.dir")) -> list[Run]:
    """Every run under ``root`` (searched recursively), sorted by label then seed.

    Args:
        root: a sweep folder (``logs/train/multiruns/<time>``), a run folder, or any folder above them.
        ignore: override keys left out of a run's label (the seed: runs that differ only in it are one
            configuration). Overrides every run shares are left out too, so labels say what differs.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no run with a ``metrics.jsonl``.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; pass the sweep folder tools/train.py -m printed")
    runs = []
    for history_file in sorted(root.rglob("metrics.jsonl")):
        folder = history_file.parent
        hydra_dir = folder / ".hydra"
        if not (hydra_dir / "config.yaml").is_file():
            continue
        config = OmegaConf.load(hydra_dir / "config.yaml")
        overrides = (
            list(OmegaConf.load(hydra_dir / "overrides.yaml")) if (hydra_dir / "overrides.yaml").is_file() else []
        )
        runs.append(Run(folder, "", int(config.get("seed") or 0), overrides, _read_history(history_file)))
    for run, label in zip(runs, _labels([r.overrides for r in runs], ignore), strict=True):
        run.label = label
    if not runs:
        raise FileNotFoundError(
            f"no run under {root}: expected folders with .hydra/config.yaml and metrics.jsonl, written by "
            "tools/train.py (the metrics_history callback)"
        )
    return sorted(runs, key=lambda r: (r.label, r.seed))


def _read_history(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl; a damaged line is an error naming the file and the line."""
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}, line {number}, is not a JSON row ({err.msg}): the file was damaged (e.g. a run killed while "
                f"writing); delete that line, or leave this run out"
            ) from err
        if not isinstance(row, dict) or "step" not in row:
            raise ValueError(f"{path}, line {number}, is not a metrics row (no 'step'); delete that line")
        rows.append(row)
    return rows


class RunSetupError(ValueError):
    """A run cannot start as configured; the message names the setting, its value and the fix."""


class RunFolderError(RunSetupError):
    """A run cannot start in this folder as asked; the message names the folder and both ways out."""


def check_run_settings(data: Mapping, model: Mapping) -> None:
    """The settings a run fails on late or silently, checked before anything is built.

    Data folders (``data.root``, ``data.eval_root``) must exist unless the dataset downloads itself; batch sizes
    must be positive integers; learning rates (``model.lr``, ``lr_g``, ``lr_d``) positive and finite.

    Raises:
        RunSetupError: naming the setting, the value and the fix.
    """
    for key in ("root", "eval_root"):
        if OmegaConf.is_config(data) and OmegaConf.is_missing(data, key):
            raise RunSetupError(f"data.{key} is required by this data option (???): add data.{key}=/path/to/folder")
        value = data.get(key)
        if value is not None and not data.get("download") and not Path(str(value)).expanduser().exists():
            raise RunSetupError(
                f"data.{key} does not exist ({value}): point it at your data folder, or leave it out (null) for "
                f"the embedded data"
            )
    for key in ("batch_size", "eval_batch_size"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise RunSetupError(f"data.{key} must be a positive integer ({value!r}): e.g. data.{key}=16")
    for key in ("lr", "lr_g", "lr_d"):
        value = model.get(key)
        if value is not None and (not isinstance(value, int | float) or not math.isfinite(value) or value <= 0):
            raise RunSetupError(f"model.{key} must be a positive finite learning rate ({value!r}): e.g. 1e-4")


def resolve_resume(output_dir: str | Path, ckpt_path: str | None) -> str | None:
    """Check a run's folder before anything starts; the checkpoint to resume from (``None``: a fresh run).

    A run resumes only when asked: ``ckpt_path=PATH``, or ``ckpt_path=last`` for the newer of ``<output_dir>/
    checkpoints/last.ckpt`` and ``on_exception.ckpt`` (an interrupted run's latest state). A fresh run (or a resume
    from another folder's checkpoint) into a folder that already holds a run's checkpoints or ``metrics.jsonl``
    is refused, so nothing of that run is continued or mixed by accident. The checkpoint is read once here
    (``weights_only=True``), so a damaged or foreign file is named before W&B and the trainer start.

    Raises:
        RunFolderError: the folder holds another run, or ``ckpt_path`` names no readable training checkpoint.
    """
    out = Path(output_dir)
    ckpt_dir = out / "checkpoints"
    ckpts = sorted(ckpt_dir.glob("*.ckpt")) if ckpt_dir.is_dir() else []
    held = ckpts + ([out / "metrics.jsonl"] if (out / "metrics.jsonl").is_file() else [])
    if ckpt_path == "last":
        latest = [p for p in (ckpt_dir / "last.ckpt", ckpt_dir / "on_exception.ckpt") if p.is_file()]
        if not latest:
            raise RunFolderError(
                f"ckpt_path=last, but there is no checkpoint ({ckpt_dir / 'last.ckpt'}): name the run folder to "
                f"resume with hydra.run.dir=<run folder>, or give the checkpoint file as ckpt_path=/path/to/last.ckpt"
            )
        path = max(latest, key=lambda p: p.stat().st_mtime_ns)
        check_training_checkpoint(path)
        return str(path)
    if ckpt_path is not None:
        path = Path(ckpt_path).expanduser()
        if not path.is_file():
            raise RunFolderError(
                f"checkpoint to resume from does not exist ({path}): check ckpt_path, e.g. "
                f"ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
            )
        check_training_checkpoint(path)
        if out.resolve() in path.resolve().parents or not held:
            return str(path)
    if held:
        names = ", ".join(str(p.relative_to(out)) for p in held[:3])
        resume = (
            f"or resume that run with ckpt_path=last hydra.run.dir={out}"
            if ckpts
            else f"or, as that run wrote no checkpoint to resume from, remove {out}"
        )
        raise RunFolderError(
            f"the run folder already holds another run ({out}: {names}): start a new folder (leave out "
            f"hydra.run.dir, or choose another), {resume}"
        )
    return None


def check_training_checkpoint(path: Path) -> None:
    """A file ``fit(ckpt_path=...)`` can resume from: readable with ``weights_only=True``, a Lightning checkpoint.

    Raises:
        RunFolderError: damaged, not a checkpoint, holding objects other than tensors and plain values (it could
            run code), or a weights-only file (an imported model) that holds no training state.
    """
    import pickle

    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise RunFolderError(
            f"checkpoint {path} holds objects other than tensors and plain values, which could run code, so it is "
            f"not loaded: resume from a checkpoint tools/train.py wrote ({str(err).splitlines()[0][:200]})"
        ) from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise RunFolderError(
            f"checkpoint {path} cannot be read ({str(err).splitlines()[0][:200]}): the file is damaged or not a "
            f"PyTorch checkpoint; resume from another checkpoint of the run"
        ) from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        raise RunFolderError(
            f"checkpoint {path} is not a training checkpoint (no state_dict / global_step, e.g. an imported model): "
            f"it can be evaluated or used for upscaling, not resumed"
        )


def checkpoint_args(values: list[str], reserved: str, checkpoint: str = "last.ckpt") -> dict[str, Path]:
    """``--ckpt [LABEL=]PATH`` arguments of the evaluation commands -> {label: checkpoint file}.

    PATH may be a checkpoint file (label: its run folder's name, or the file name) or a sweep / run folder: then
    every run under it with ``checkpoints/<checkpoint>`` counts, labelled by the overrides that tell the runs apart
    (just the value where one key differs, e.g. ``enhancenet_e``; ``LABEL=`` prefixes them), in the sweep's order.
    Labels must be unique, not ``reserved`` (the bicubic column) and usable as a folder name.

    Raises:
        ValueError: a label is empty, reserved, repeated or holds a path separator; a folder holds no checkpoint.
    """
    ckpts: dict[str, Path] = {}

    def add(label: str, path: Path, value: str) -> None:
        why = (
            "is empty" if not label else "is reserved" if label.lower() == reserved.lower()
            else "is repeated" if label in ckpts
            else "holds a path separator" if "/" in label or "\\" in label or label in (".", "..") else ""
        )  # fmt: skip
        if why:
            raise ValueError(f"--ckpt {value}: the label {label!r} {why}; give each checkpoint its own LABEL=PATH")
        ckpts[label] = path

    for value in values:
        label, sep, path = value.partition("=")  # the label ends at the first '='; paths may hold more
        named = bool(sep) and not Path(value).expanduser().exists()  # else a bare path (perhaps holding '=')
        target = Path(path if named else value).expanduser()
        if target.is_dir():
            runs = _sweep_checkpoints(target, checkpoint, value)
            for run_label, file in runs:
                own = label if len(runs) == 1 else f"{label} {run_label}"  # LABEL=<one run>: just LABEL
                add(own if named and label else run_label, file, value)
        elif named:
            add(label, target, value)
        else:
            add(target.parent.parent.name if target.parent.name == "checkpoints" else target.stem, target, value)
    return ckpts


def _sweep_checkpoints(root: Path, checkpoint: str, value: str) -> list[tuple[str, Path]]:
    """(label, checkpoint) of every run under ``root`` holding ``checkpoints/<checkpoint>``, in sweep-job order."""

    def job_order(folder: Path) -> tuple:
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in folder.relative_to(root).parts)

    files = [f for f in root.rglob(f"checkpoints/{checkpoint}") if (f.parent.parent / ".hydra").is_dir()]
    if (root / "checkpoints" / checkpoint).is_file() and not files:
        files = [root / "checkpoints" / checkpoint]
    if not files:
        raise ValueError(
            f"--ckpt {value}: no run under {root} holds checkpoints/{checkpoint}; pass a checkpoint file, or the "
            "sweep folder tools/train.py -m wrote (logs/train/multiruns/<time>) once its runs have saved"
        )
    files.sort(key=lambda f: job_order(f.parent.parent))
    runs = [f.parent.parent for f in files]
    overrides = [
        list(OmegaConf.load(r / ".hydra" / "overrides.yaml")) if (r / ".hydra" / "overrides.yaml").is_file() else []
        for r in runs
    ]
    labels = _labels(overrides, ("hydra.sweep.dir", "hydra.run.dir")) if len(runs) > 1 else [runs[0].name]
    if len(runs) > 1:  # one differing key: its value alone names the run (model=enhancenet_e -> enhancenet_e)
        distinct = [[o for o in label.split() if "=" in o] for label in labels]
        if all(len(d) == 1 for d in distinct) and len({_key(d[0]) for d in distinct}) == 1:
            labels = [d[0].split("=", 1)[1] for d in distinct]
    labels = [label.replace("/", "_") for label in labels]
    return list(zip(labels, files, strict=True))
