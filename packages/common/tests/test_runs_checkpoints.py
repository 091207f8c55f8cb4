"""``--ckpt`` of the evaluation commands: a checkpoint file, or a sweep folder laid out as ``tools/train.py -m``
writes it (``<job>/.hydra/overrides.yaml``, ``<job>/checkpoints/last.ckpt``)."""

from pathlib import Path

import pytest

from gen_common.runs import checkpoint_args


def _job(root: Path, job: str, overrides: list[str], ckpt: str = "last.ckpt") -> Path:
    (root / job / ".hydra").mkdir(parents=True)
    (root / job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (root / job / "checkpoints").mkdir()
    (root / job / "checkpoints" / ckpt).write_bytes(b"")
    return root / job / "checkpoints" / ckpt


def test_a_sweep_is_one_entry_per_run_named_by_what_differs_in_job_order(tmp_path):
    models = [f"m{i}" for i in range(11)]  # 11 jobs: "10" sorts after "9", not after "1"
    files = [_job(tmp_path, str(i), [f"model={m}", "experiment=x", "data.root=/d/e"]) for i, m in enumerate(models)]
    got = checkpoint_args([str(tmp_path)], reserved="Bicubic")
    assert list(got) == models and list(got.values()) == files
    assert list(checkpoint_args([f"ours={tmp_path}"], reserved="Bicubic")) == [f"ours {m}" for m in models]


def test_runs_differing_in_two_keys_or_the_seed_keep_the_overrides(tmp_path):
    _job(tmp_path, "0", ["model=a", "seed=0", "hydra.sweep.dir=/s"])
    _job(tmp_path, "1", ["model=a", "seed=1", "hydra.sweep.dir=/s"])
    _job(tmp_path, "2", ["model=b", "seed=0", "hydra.sweep.dir=/s"])
    assert list(checkpoint_args([str(tmp_path)], reserved="bicubic")) == [
        "model=a seed=0", "model=a seed=1", "model=b seed=0"
    ]  # fmt: skip


def test_files_runs_and_errors(tmp_path):
    one = _job(tmp_path / "sweep", "0", ["model=a"])
    _job(tmp_path / "sweep", "1", ["model=b"], ckpt="epoch=1.ckpt")  # no last.ckpt yet: left out
    assert checkpoint_args([str(one)], "bicubic") == {"0": one}  # a file: its run folder's name
    assert checkpoint_args([str(one.parent.parent)], "bicubic") == {"0": one}  # a run folder
    assert checkpoint_args([f"A={one}", str(tmp_path / "sweep")], "bicubic") == {"A": one, "0": one}
    with pytest.raises(ValueError, match="no run under .* holds checkpoints/last.ckpt"):
        checkpoint_args([str(tmp_path / "sweep" / "1")], "bicubic")
    for spec, why in [(f"Bicubic={one}", "is reserved"), (f"a/b={one}", "path separator"), (f"={one}", "is empty")]:
        with pytest.raises(ValueError, match=why):
            checkpoint_args([spec], "bicubic")
    with pytest.raises(ValueError, match="'0' is repeated"):
        checkpoint_args([str(one), str(one)], "bicubic")


def test_a_label_for_a_folder_of_one_run_is_the_label_itself(tmp_path):
    one = _job(tmp_path / "sweep", "0", ["model=a"])
    assert checkpoint_args([f"A={one.parent.parent}"], "bicubic") == {"A": one}  # a run folder
    assert checkpoint_args([f"A={tmp_path / 'sweep'}"], "bicubic") == {"A": one}  # a sweep of one job
