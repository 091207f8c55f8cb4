"""The thesis's tables and figures of chapters 2 and 3 as experiment configs (docs/catalogue.md): every sweep
combination composes with the thesis's stated settings, and every ``_small`` variant trains through tools/train.py."""

import itertools
from pathlib import Path

import pytest
from harness import CONF, ROOT, compose_cfg, load_train_module
from omegaconf import OmegaConf, open_dict

load_train_module()  # registers the per_model resolver the configs use
CATALOGUE = sorted(
    p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem.startswith(("table_", "fig_", "sec_"))
)
FULL = [c for c in CATALOGUE if not c.endswith("_small")]
SMALL = [c for c in CATALOGUE if c.endswith("_small")]
DATA_ROOTS = ["data.root=/data/train", "data.eval_root=/data/eval"]  # full protocols need the user's data


def _sweep(name: str) -> list[list[str]]:
    """Every job of ``python tools/train.py -m experiment=<name>``: its composed hydra.sweeper.params (a config's
    own and those it inherits, as Hydra sees them)."""
    roots = [] if name.endswith("_small") else DATA_ROOTS
    params = compose_cfg([f"experiment={name}", *roots]).hydra.sweeper.params or {}
    axes = [[f"{k}={v.strip()}" for v in str(values).split(",")] for k, values in params.items()]
    return [list(job) for job in itertools.product(*axes)]


def _job(name: str, job: list[str]):
    roots = [] if name.endswith("_small") else DATA_ROOTS
    cfg = compose_cfg([f"experiment={name}", *roots, *job])
    with open_dict(cfg):
        del cfg["hydra"]  # (its sweep folders need a job number; ${hydra:...} still resolves through HydraConfig)
    return OmegaConf.to_container(cfg, resolve=True), cfg


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_job_of_every_catalogue_sweep_composes_and_resolves(name):
    jobs = _sweep(name)
    assert jobs or name == "sec_2_5_7", f"{name} declares no sweep (hydra.sweeper.params)"  # (one run)
    for job in jobs or [[]]:
        resolved, _ = _job(name, job)
        assert resolved["seed"] == 0
        if name.endswith("_small"):  # runs here: the embedded data on the CPU
            assert resolved["trainer"]["accelerator"] == "cpu" and resolved["data"]["root"] is None


def test_every_full_protocol_has_a_small_variant_and_a_catalogue_row():
    catalogue = (ROOT / "docs" / "catalogue.md").read_text()
    for name in FULL:
        small = name.removesuffix("_jpeg") + "_small"
        assert small in SMALL, name
        assert f"experiment={name}" in catalogue and f"experiment={small}" in catalogue, name


def test_chapter_2_protocol_settings():
    for job in _sweep("table_2_3"):
        resolved, _ = _job("table_2_3", job)
        assert resolved["data"]["preprocess"] == "mscoco"  # Sec. 2.5.8: MSCOCO, central crop, 256x256
        assert resolved["model"]["lr_patch_size"] == 32 and resolved["model"]["lr_g"] == 1e-4  # 32x32 LR, Adam 1e-4
        assert resolved["trainer"]["precision"] == "bf16-mixed"
    assert [j[0] for j in _sweep("table_2_3")] == [
        f"model=enhancenet_{m}" for m in ("e", "p", "ea", "pa", "eat", "pat")
    ]
    assert [j[1] for j in _sweep("fig_2_4")] == [f"model.texture_patch_size={p}" for p in (4, 16, 128)]  # Fig. 2.4
    assert sorted(j[0] for j in _sweep("table_2_4")) == ["model.scale=2", "model.scale=4"]
    # a derived config's sweep replaces its parent's (table_2_4_small inherits table_2_3_small's six models)
    assert _sweep("table_2_4_small") == [["model=enhancenet_e", f"model.scale={s}"] for s in (2, 4)]
    assert _sweep("sec_2_5_7_small") == [["model=enhancenet_pat"]]


@pytest.mark.parametrize(
    "model,steps,batch",
    [("frvsr", 2_000_000, 4), ("frvsr_3_64", 2_000_000, 4), ("vsr", 2_000_000, 16), ("sisr", 500_000, 16)],
)
def test_table_3_2_trains_each_model_as_sec_3_4_1_states(model, steps, batch):
    resolved, _ = _job("table_3_2", [f"model={model}"])
    assert resolved["trainer"]["max_steps"] == steps and resolved["data"]["batch_size"] == batch
    assert resolved["data"]["crop"] == 256 and resolved["data"]["clip_len"] == 10 and resolved["data"]["sigma"] == 1.5
    assert resolved["model"]["eval_skip_ends"] == 2  # Table 3.2: the first and last two frames are not scored


def test_table_3_1_levels():
    noise = {j[1] for j in _sweep("table_3_1")}
    jpeg = {j[1] for j in _sweep("table_3_1_jpeg")}
    assert noise == {"data.noise_sigma=0.025", "data.noise_sigma=0.075"} and jpeg == {
        "data.jpeg_quality=40",
        "data.jpeg_quality=70",
    }


@pytest.mark.parametrize("name", SMALL)
def test_each_small_variant_trains_its_first_steps(name, run_train):
    """The first job of each small sweep, with the quick preset (debug=default: small widths, 3 steps)."""
    job = (_sweep(name) or [[]])[0]
    first_step = ["trainer.max_steps=1", "trainer.val_check_interval=1", "test=false"]  # (the test stage: elsewhere)
    _, out = run_train([f"experiment={name}", *job, "debug=default", *first_step])
    assert (Path(out) / "checkpoints" / "last.ckpt").is_file()
