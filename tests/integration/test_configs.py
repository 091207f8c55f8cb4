"""Every config composes; each model option picks its dataset; overrides win."""

import shutil

import harness
import hydra
import pytest
from harness import CONF, IMAGE_MODELS, MODELS, VIDEO_MODELS, compose_cfg

from sr_image.data import SRDataModule
from sr_image.module import EnhanceNet
from sr_video.data import VideoDataModule
from sr_video.module import VideoSR
from sr_video.nets import FRVSR, SISR, VSR

TABLE_2_2 = {"enhancenet_e", "enhancenet_p", "enhancenet_ea", "enhancenet_pa", "enhancenet_eat", "enhancenet_pat"}


def test_all_table_2_2_variants_have_configs():
    assert TABLE_2_2 <= set(MODELS)


def test_all_chapter_3_models_have_configs():
    assert {"frvsr", "frvsr_3_64", "frvsr_5_64", "sisr", "vsr"} <= set(MODELS)


@pytest.mark.parametrize("model", VIDEO_MODELS)
def test_video_model_picks_the_embedded_videos_and_instantiates(model):
    cfg = compose_cfg([f"model={model}"])
    assert cfg.data._target_ == "sr_video.data.VideoDataModule" and cfg.data.mode == "embedded"
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module, VideoSR) and isinstance(hydra.utils.instantiate(cfg.data), VideoDataModule)
    expected = {"frvsr": FRVSR, "sisr": SISR, "vsr": VSR}[model.split("_")[0]]
    assert type(module.net) is expected and module.hparams.lr == 1e-4  # Sec. 3.3.5
    blocks, filters = (3, 64) if model == "frvsr_3_64" else (5, 64) if model == "frvsr_5_64" else (10, 128)
    assert cfg.model.net.num_blocks == blocks and cfg.model.net.num_filters == filters  # Sec. 3.4.7


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_model_picks_its_dataset_and_instantiates(model):
    cfg = compose_cfg([f"model={model}", "model.vgg_weights=random"])
    assert cfg.data._target_ == "sr_image.data.SRDataModule" and cfg.data.root is None
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module, EnhanceNet)
    assert isinstance(hydra.utils.instantiate(cfg.data), SRDataModule)
    letters = model.removeprefix("enhancenet_")
    hp = module.hparams
    assert (hp.pixel_weight > 0) == ("e" in letters)
    assert bool(hp.perceptual_weights) == ("p" in letters)
    assert bool(hp.texture_weights) == ("t" in letters)
    assert (module.discriminator is not None) == ("a" in letters)
    assert hp.adversarial_weight == (2.0 if letters == "pat" else 1.0 if "a" in letters else 0.0)  # Table 2.2


def test_model_option_sets_the_dataset(tmp_path, monkeypatch):
    # A train.yaml whose default dataset is another one: the model option must still pick the embedded images.
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "train.yaml").write_text((CONF / "train.yaml").read_text().replace("data: embedded_images", "data: mscoco"))
    monkeypatch.setattr(harness, "CONF", conf)
    assert compose_cfg(["model=enhancenet_e"]).data.preprocess == "none"
    assert compose_cfg(["model=enhancenet_e", "data=mscoco"]).data.preprocess == "mscoco"


def test_data_override_wins():
    cfg = compose_cfg(["model=enhancenet_e", "data=image_folder", "data.root=/some/where"])
    assert cfg.data.root == "/some/where"
    assert compose_cfg(["model=enhancenet_e", "data=mscoco", "data.root=/coco"]).data.preprocess == "mscoco"


def test_trainer_logger_and_launcher_options():
    gpu = compose_cfg(["trainer=gpu"])
    assert gpu.trainer.precision == "bf16-mixed" and "channels_last" in gpu.callbacks
    assert compose_cfg(["trainer=ddp"]).trainer.strategy.startswith("ddp")
    assert "csv" in compose_cfg(["logger=csv"]).logger
    assert not compose_cfg(["logger=none"]).logger
    slurm = compose_cfg(["hydra/launcher=slurm"])
    assert slurm.hydra.launcher._target_.endswith("SlurmLauncher")
    ddp = compose_cfg(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"])
    assert (ddp.hydra.launcher.tasks_per_node, ddp.hydra.launcher.nodes) == (4, 2)  # one task per device


def test_experiment_config():
    cfg = compose_cfg(["experiment=enhancenet_pat_mscoco", "data.root=/coco"])
    assert cfg.model.adversarial_weight == 2.0 and cfg.data.preprocess == "mscoco"
    assert cfg.trainer.precision == "bf16-mixed"
