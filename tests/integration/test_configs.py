"""Every config composes; each model option picks its dataset; overrides win."""

import shutil

import harness
import hydra
import pytest
from harness import CONF, GAN_MODELS, IMAGE_MODELS, MODELS, RAE_MODELS, VIDEO_MODELS, compose_cfg

from rae.data import AEDataModule
from rae.module import RegularizedAE
from sr_image.data import SRDataModule
from sr_image.module import EnhanceNet
from sr_video.data import VideoDataModule
from sr_video.module import VideoSR
from sr_video.nets import FRVSR, SISR, VSR
from tempered_gan.data import GanDataModule
from tempered_gan.module import TemperedGAN

TABLE_2_2 = {"enhancenet_e", "enhancenet_p", "enhancenet_ea", "enhancenet_pa", "enhancenet_eat", "enhancenet_pat"}


def test_all_table_2_2_variants_have_configs():
    assert TABLE_2_2 <= set(MODELS)


def test_all_chapter_3_models_have_configs():
    assert {"frvsr", "frvsr_3_64", "frvsr_5_64", "sisr", "vsr"} <= set(MODELS)


def test_every_model_is_in_one_test_family():
    assert sorted(IMAGE_MODELS + VIDEO_MODELS + GAN_MODELS + RAE_MODELS) == MODELS
    assert set(GAN_MODELS) == {"dcgan", "lsgan", "wgan_gp", "tan_dcgan", "tan_lsgan", "tan_wgan_gp"}


@pytest.mark.parametrize("model", GAN_MODELS)
def test_gan_model_picks_the_colour_digits_and_instantiates(model):
    cfg = compose_cfg([f"model={model}"])
    assert cfg.data.dataset == "color_digits" and cfg.model.channels == 3
    assert cfg.model.embedding == "digits_channels"
    module, dm = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.data)
    assert isinstance(module, TemperedGAN) and isinstance(dm, GanDataModule)
    hp, gan = module.hparams, model.removeprefix("tan_")
    assert (module.lens is not None) == model.startswith("tan_") and hp.lens_k == 10_000  # Fig. 4.2 / 4.9
    assert hp.gan_type == {"dcgan": "gan", "lsgan": "lsgan", "wgan_gp": "wgan_gp"}[gan] and hp.lr == 1e-4
    assert (hp.batch_norm_g, hp.batch_norm_d) == {"dcgan": (1, 1), "lsgan": (0, 0), "wgan_gp": (1, 0)}[gan]
    assert hp.optimizer == ("rmsprop" if gan == "wgan_gp" else "adam")  # Sec. 4.2.4
    assert dm.hparams.batches_per_step == hp.n_critic == (5 if gan == "wgan_gp" else 1)
    assert cfg.data.eval_samples == (10_000 if gan == "wgan_gp" else 4096)  # Sec. 4.2.4


OFFICIAL_WEIGHTS = {  # (beta, reg_weight) of the official code, MNIST (the table)
    "rae_gp": (1e-4, 5e-8),
    "rae_l2": (1e-4, 1e-7),
    "rae_sn": (0.009, 0.0),
    "rae": (5e-4, 0.0),
    "wae": (0.03, 0.0),
    "vae": (0.312, 0.0),
    "cv_vae": (0.039, 0.0),
    "ae": (0.0, 0.0),
}


@pytest.mark.parametrize("model", RAE_MODELS)
def test_autoencoder_configs(model):
    cfg = compose_cfg([f"model={model}"])
    assert cfg.data.dataset == "digits" and cfg.model.latent_dim == 16 and cfg.model.kernel == 4  # Table 6.1 MNIST
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module, RegularizedAE) and module.hparams.variant == model
    assert (module.hparams.beta, module.hparams.reg_weight) == OFFICIAL_WEIGHTS[model]
    assert module.hparams.lr == 1e-3 and cfg.data.batch_size == 100  # Sec. 6.8
    assert isinstance(hydra.utils.instantiate(cfg.data), AEDataModule)


@pytest.mark.parametrize(
    ("data", "latent", "size"), [("rae_mnist", 16, 32), ("rae_cifar10", 128, 32), ("rae_celeba", 64, 64)]
)
def test_autoencoder_dataset_columns_of_table_6_1(data, latent, size):
    cfg = compose_cfg(["model=rae_l2", f"data={data}", "data.root=/nowhere"])
    assert (cfg.model.latent_dim, cfg.model.image_size) == (latent, size)
    assert cfg.model.kernel == (5 if data == "rae_celeba" else 4) and cfg.model.embedding == "inception"
    assert len(cfg.model.up_channels) == (3 if data == "rae_celeba" else 2)


@pytest.mark.parametrize("data", ["gan_digits", "gan_mnist", "gan_color_mnist", "gan_celeba", "gan_cifar10"])
def test_gan_dataset_options(data):
    cfg = compose_cfg(["model=tan_dcgan", f"data={data}", "data.root=/nowhere"])
    channels = 1 if data in ("gan_digits", "gan_mnist") else 3
    assert cfg.model.channels == channels and cfg.data.root == "/nowhere"
    assert cfg.model.embedding == ("digits" if data == "gan_digits" else "inception")
    assert hydra.utils.instantiate(cfg.data).channels == channels


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


@pytest.mark.parametrize("model", ["dcgan", "rae_l2"])
def test_the_embedding_weights_fix_the_error_suggests_is_a_real_override(model, tmp_path):
    """The offline error names `model.embedding_weights=...`, and Hydra accepts exactly that override."""
    from gen_common.weights import WeightsUnavailableError
    from prd_metric.embeddings import build_embedding

    with pytest.raises(WeightsUnavailableError) as err:
        build_embedding("inception", weights=str(tmp_path / "missing.pth"))
    assert "model.embedding_weights=random" in str(err.value)
    cfg = compose_cfg([f"model={model}", "model.embedding_weights=random"])
    assert cfg.model.embedding_weights == "random"


@pytest.mark.parametrize("model,data", [("enhancenet_e", "image_folder"), ("enhancenet_pat", "mscoco"),
                                        ("frvsr", "video_folder")])  # fmt: skip
def test_folder_data_options_keep_their_required_root(model, data):
    """`root: ???` must survive the model's `override /data@_global_.data` (it was silently null: the embedded data)."""
    from omegaconf import OmegaConf

    cfg = compose_cfg([f"model={model}", f"data={data}"])
    assert OmegaConf.is_missing(cfg.data, "root")
    assert compose_cfg([f"model={model}", f"data={data}", "data.root=/x"]).data.root == "/x"
