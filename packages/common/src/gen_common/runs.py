"""Read the runs of a Hydra sweep (or single runs) back: their config choices, seed and metric history.

A run folder is one that ``tools/train.py`` wrote: ``.hydra/config.yaml``, ``.hydra/overrides.yaml`` and
``metrics.jsonl`` (:class:`gen_common.callbacks.MetricsHistory`). Used by ``tools/report.py``.
"""

import json
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
        history = [json.loads(line) for line in history_file.read_text().splitlines() if line.strip()]
        runs.append(Run(folder, "", int(config.get("seed") or 0), overrides, history))
    for run, label in zip(runs, _labels([r.overrides for r in runs], ignore), strict=True):
        run.label = label
    if not runs:
        raise FileNotFoundError(
            f"no run under {root}: expected folders with .hydra/config.yaml and metrics.jsonl, written by "
            "tools/train.py (the metrics_history callback)"
        )
    return sorted(runs, key=lambda r: (r.label, r.seed))
