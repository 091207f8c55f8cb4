"""The thesis's tables and figures of chapters 2, 3, 4 and 6 as experiment configs (docs/catalogue.md): every sweep
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


def _roots(name: str) -> list[str]:
    """Full protocols need the user's data (chapters 2 and 3 also a separate evaluation set)."""
    if name.endswith("_small"):
        return []
    return ["data.root=/data/train", *(["data.eval_root=/data/eval"] if name[4:6] in ("2_", "3_") else [])]


def _sweep(name: str) -> list[list[str]]:
    """Every job of ``python tools/train.py -m experiment=<name>``: its composed hydra.sweeper.params (a config's
    own and those it inherits, as Hydra sees them)."""
    roots = _roots(name)
    params = compose_cfg([f"experiment={name}", *roots]).hydra.sweeper.params or {}
    axes = [[f"{k}={v.strip()}" for v in str(values).split(",")] for k, values in params.items()]
    return [list(job) for job in itertools.product(*axes)]


def _job(name: str, job: list[str]):
    roots = _roots(name)
    cfg = compose_cfg([f"experiment={name}", *roots, *job])
    with open_dict(cfg):
        del cfg["hydra"]  # (its sweep folders need a job number; ${hydra:...} still resolves through HydraConfig)
    return OmegaConf.to_container(cfg, resolve=True), cfg


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_job_of_every_catalogue_sweep_composes_and_resolves(name):
    jobs = _sweep(name)
    assert jobs or name in ("sec_2_5_7",), f"{name} declares no sweep (hydra.sweeper.params)"  # (one run)
    for job in jobs or [[]]:
        resolved, _ = _job(name, job)
        assert resolved["seed"] == int(dict(o.split("=") for o in job).get("seed", 0))
        if name.endswith("_small"):  # runs here: the embedded data on the CPU
            assert resolved["trainer"]["accelerator"] == "cpu" and resolved["data"]["root"] is None


def test_every_full_protocol_has_a_small_variant_and_a_catalogue_row():
    catalogue = (ROOT / "docs" / "catalogue.md").read_text()
    for name in FULL:
        small = name.removesuffix("_jpeg").removesuffix("_cifar10").removesuffix("_celeba") + "_small"
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
    # a derived config's sweep merges with its parent's by key (table_2_4_small restates table_2_3_small's model axis)
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


def test_chapter_4_protocol_settings():
    jobs = _sweep("fig_4_6")
    assert sorted(jobs) == sorted([f"model={m}", f"seed={s}"] for m in ("dcgan", "tan_dcgan") for s in (0, 1, 2))
    for job in jobs:  # Sec. 4.4: 3 seeds, the same initial G and D with and without the lens
        resolved, _ = _job("fig_4_6", job)
        assert resolved["data"]["dataset"] == "color_mnist" and resolved["data"]["eval_samples"] == 4096
        assert resolved["model"]["lens_k"] == 10_000 and resolved["model"]["lr"] == 1e-4  # Fig. 4.2, Sec. 4.2.4
        assert resolved["model"]["lens_recon"] == "sum"  # Eq. 4.2 as written
    for job in _sweep("fig_4_9"):  # Sec. 4.2.4: FID on 10k samples for WGAN-GP
        resolved, _ = _job("fig_4_9", job)
        assert resolved["data"]["dataset"] == "cifar10" and resolved["data"]["eval_samples"] == 10_000
    assert [len(_sweep(n)) for n in ("fig_4_5_top", "fig_4_5_top_small", "fig_4_8_small", "fig_4_9_small")] == [
        3,
        3,
        12,
        6,
    ]
    resolved, _ = _job("fig_4_5_top", ["model=tan_dcgan", "seed=0"])
    assert resolved["model"]["fixed_lambda"] == 1.0 and resolved["trainer"]["max_steps"] == 10_000_000
    datasets = {_job("fig_4_8", j)[0]["data"]["dataset"] for j in _sweep("fig_4_8")}
    assert datasets == {"mnist", "color_mnist", "celeba"}


def test_chapter_6_protocol_settings():
    models = ["vae", "cv_vae", "wae", "rae_gp", "rae_l2", "rae_sn", "rae", "ae"]
    for name, epochs, latent in (("table_6_2", 100, 16), ("table_6_2_cifar10", 100, 128), ("table_6_2_celeba", 70, 64)):
        assert [j[0] for j in _sweep(name)] == [f"model={m}" for m in models]
        resolved, _ = _job(name, ["model=rae_gp"])
        assert resolved["trainer"]["max_epochs"] == epochs and resolved["trainer"]["check_val_every_n_epoch"] == 1
        assert resolved["data"]["batch_size"] == 100 and resolved["model"]["latent_dim"] == latent  # Sec. 6.8
        assert resolved["model"]["eval_samples"] == 10_000 and resolved["model"]["gp"] == "official"
    assert _job("table_6_2_celeba", ["model=rae_sn"])[0]["model"]["beta"] == 0.0024  # official CelebA weight
    assert _job("table_6_2_celeba", ["model=rae_gp"])[0]["model"]["reg_weight"] == 1e-7
    # a derived config's sweep merges with its parent's by key: one axis each, as the figures vary one setting
    assert _sweep("fig_6_2_small") == [["model=vae", "model.beta=0.312", f"model.mc_samples={k}"] for k in (1, 2, 4, 8)]
    assert [len(_sweep(n)) for n in ("fig_6_1", "fig_6_1_small", "fig_6_2")] == [5, 5, 4]
    # the schedule is the dataset's: model=... data=rae_mnist alone follows Sec. 6.8
    plain = OmegaConf.to_container(compose_cfg(["model=rae_l2", "data=rae_mnist"]).trainer, resolve=True)
    assert plain["max_epochs"] == 100 and plain["max_steps"] == -1
    gan = OmegaConf.to_container(compose_cfg(["model=dcgan"]).trainer, resolve=True)
    assert gan["max_steps"] == 200_000 and gan["val_check_interval"] == 1000  # others keep the step schedule
