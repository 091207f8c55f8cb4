"""Every Table 2.2 variant trains through tools/train.py, writes a checkpoint and an offline W&B run."""

import json

import pytest
import torch
from harness import GAN_MODELS, IMAGE_MODELS, RAE_MODELS, TINY, TINY_GAN, TINY_RAE, TINY_VIDEO, compose_cfg
from omegaconf import open_dict

from sr_image.module import load_generator
from sr_video.module import load_net


@pytest.mark.parametrize("model", ["frvsr", "sisr", "vsr"])
def test_video_model_trains_on_embedded_videos(model, run_train):
    metrics, out = run_train([f"model={model}", *TINY_VIDEO, "logger=wandb"])
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    assert (metrics["train/loss_flow"] > 0) == (model != "sisr")  # L_flow (Eq. 3.8) only where FNet runs
    assert 15 < metrics["test/psnr_y_bicubic"] < 50 and "test/psnr_y" in metrics
    ckpt_path = out / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt_path, map_location="cpu", weights_only=True)["global_step"] == 3
    assert type(load_net(str(ckpt_path))).__name__ == model.upper()
    media = list((out / "wandb").glob("offline-run-*/files/media/images/**/*.png"))
    names = {p.parent.name + "/" + p.name.split("_")[0] for p in media}
    assert {"train/samples", "val/samples"} <= names, names


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_variant_trains_checkpoints_and_logs_grids(model, run_train):
    metrics, out = run_train([f"model={model}", *TINY, "logger=wandb"])
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    assert 0 < metrics["test/psnr_y_bicubic"] < 60 and "test/psnr_y" in metrics
    ckpt_path = out / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)  # safe loading works
    assert ckpt["global_step"] == 3  # generator steps, whatever the discriminator gate did
    if "a" in model.removeprefix("enhancenet_"):
        d_steps = int(ckpt["state_dict"]["d_steps"])
        assert 1 <= d_steps <= 3  # the gate is open at the start (accuracies start at 0)
        assert len(ckpt["optimizer_states"]) == 2
    assert load_generator(str(ckpt_path)).scale == 4
    media = list((out / "wandb").glob("offline-run-*/files/media/images/**/*.png"))
    names = {p.parent.name + "/" + p.name.split("_")[0] for p in media}
    assert {"train/samples", "val/samples"} <= names, names
    (run_log,) = out.glob("wandb/offline-run-*/run-*.wandb")
    assert b'"texture_patch_size"' in run_log.read_bytes()  # the resolved config is the run's config


def test_csv_logger_writes_metrics_and_grids(run_train):
    _, out = run_train(["model=enhancenet_e", *TINY, "logger=csv"])
    assert list(out.glob("csv/version_0/metrics.csv"))
    assert list(out.glob("csv/version_0/samples/val_samples_*.png"))


def test_gpu_trainer_config_bf16_channels_last_on_cpu(run_train):
    # trainer=gpu is bf16-mixed + channels_last; everything but the device can be checked here.
    overrides = [o for o in TINY if o != "trainer=debug"]
    overrides += ["model=enhancenet_pat", "trainer=gpu", "trainer.accelerator=cpu", "trainer.max_steps=2"]
    overrides += ["trainer.val_check_interval=2", "+trainer.limit_val_batches=1", "logger=none", "test=false"]
    metrics, out = run_train(overrides)
    assert torch.isfinite(torch.tensor(metrics["train/loss"])) and metrics["val/psnr_y"] > 0
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


@pytest.mark.slow
def test_torch_compile_option(run_train):
    metrics, _ = run_train(["model=enhancenet_pa", *TINY, "model.compile=true", "logger=none", "test=false"])
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


def test_last_checkpoint_is_the_latest_state_even_without_improvement(run_train):
    # val/psnr_y rarely improves in 4 tiny steps; last.ckpt must still follow the latest validation.
    _, out = run_train(
        [
            "model=enhancenet_e",
            *TINY,
            "logger=none",
            "test=false",
            "trainer.max_steps=4",
            "trainer.val_check_interval=1",
        ]
    )
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


@pytest.mark.parametrize("model", GAN_MODELS)
def test_gan_trains_with_fid_prd_and_sample_grids(model, run_train):
    metrics, out = run_train([f"model={model}", *TINY_GAN, "logger=wandb"])
    for key in ("train/loss_g", "train/loss_d", "train/d_real", "train/d_fake", "val/fid", "test/prd_f8"):
        assert torch.isfinite(torch.tensor(metrics[key])), key
    assert 0 <= metrics["val/prd_f1_8"] <= 1 and metrics["val/fid"] > 0
    lens = model.startswith("tan_")
    assert ("train/lambda" in metrics) == lens and ("train/d_lensed" in metrics) == lens
    assert ("train/gp" in metrics) == model.endswith("wgan_gp")
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3  # generator iterations, whatever n_critic is
    assert int(ckpt["state_dict"]["lens_t"]) == (3 if lens else 0)
    assert len(ckpt["optimizer_states"]) == (3 if lens else 2)
    assert list(out.glob("checkpoints/step*.ckpt"))  # best by val/fid, the key TemperedGAN declares
    media = list((out / "wandb").glob("offline-run-*/files/media/images/**/*.png"))
    assert {p.parent.name + "/" + p.name.split("_")[0] for p in media} >= {"train/samples", "val/samples"}


def test_gan_and_autoencoder_log_the_chosen_extra_metrics_live(run_train, tmp_path):
    # beside the thesis's FID / PRD: KID and the k-NN metrics of the same features (prd-metric)
    metrics, _ = run_train(["model=dcgan", *TINY_GAN, "logger=none", "model.eval_metrics=[prd,fid,kid,knn]"])
    for key in ("val/fid", "val/prd_f8", "val/kid", "val/knn_precision", "val/knn_recall", "val/density"):
        assert torch.isfinite(torch.tensor(metrics[key])), key
    assert 0 <= metrics["val/coverage"] <= 1
    metrics, _ = run_train(["model=rae", *TINY_RAE, "logger=none", "model.eval_metrics=[prd,fid,knn]"], tmp_path / "r")
    assert 0 <= metrics["test/coverage_gmm"] <= 1 and "test/knn_recall_rec" in metrics and "test/prd_n_f8" in metrics


@pytest.mark.parametrize("model", RAE_MODELS)
def test_autoencoder_trains_fits_densities_and_runs_the_table_6_2_protocol(model, run_train):
    metrics, out = run_train([f"model={model}", *TINY_RAE, "logger=wandb"])
    for key in (
        "train/rec",
        "val/loss",
        "val/gmm_loglik",
        "test/fid_rec",
        "test/fid_n",
        "test/fid_gmm",
        "test/fid_int",
    ):
        assert torch.isfinite(torch.tensor(metrics[key])), key
    assert 0 <= metrics["test/prd_gmm_f8"] <= 1 and 0 <= metrics["test/prd_n_f1_8"] <= 1
    extra = {"vae": "train/kl", "cv_vae": "train/kl", "wae": "train/mmd", "rae_gp": "train/gp", "rae_l2": "train/l2"}
    if model in extra:
        assert extra[model] in metrics
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    assert bool(state["density_gmm.fitted"]) and state["density_gmm.means"].shape == (10, 16)
    assert state["density_gmm.means"].abs().sum() > 0  # fitted, not the initial zeros
    if model not in ("vae", "wae"):
        assert bool(state["density_n.fitted"]) and state["density_n.cov"].shape == (16, 16)
    media = list((out / "wandb").glob("offline-run-*/files/media/images/**/*.png"))
    assert {p.parent.name + "/" + p.name.split("_")[0] for p in media} >= {"train/samples", "val/samples"}


def test_train_returns_the_monitored_metric_for_sweepers(train_tool, tmp_path):
    """Hydra sweepers (Optuna) optimise what the task function returns: by default the checkpoint monitor."""
    for extra, key in (([], "val/psnr_y"), (["optimized_metric=train/loss"], "train/loss")):
        cfg = compose_cfg(["model=enhancenet_e", *TINY, "logger=none", "test=false", *extra], tmp_path / key[:3])
        with open_dict(cfg):
            del cfg["hydra"]
        value = train_tool.main.__wrapped__(cfg)  # the function under @hydra.main
        rows = (tmp_path / key[:3] / "metrics.jsonl").read_text().splitlines()
        if key.startswith("val/"):  # independent: the last validation row metrics.jsonl recorded
            assert value == pytest.approx(json.loads(rows[-1])[key])
        else:
            assert isinstance(value, float) and value > 0
