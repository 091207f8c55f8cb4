"""Networks (Fig. 4.3, 4.4), paired initialisation (Sec. 4.4), the datasets and the evaluation embedding."""

import math

import pytest
import torch

from prd_metric.digits import DigitsEmbedding, load_digits_split
from tempered_gan.data import ColorStack, GanDataModule, build_dataset, pad_to_32
from tempered_gan.metrics import ChannelwiseEmbedding, build_eval_metric
from tempered_gan.module import TemperedGAN
from tempered_gan.nets import Discriminator, Generator, Lens

TINY = dict(width=8, lens_width=8, lens_blocks=2, embedding="digits", prd_num_runs=1)


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(channels):
    g, d = Generator(latent_dim=10, channels=channels, width=8), Discriminator(channels=channels, width=8)
    x = g(torch.randn(5, 10))
    assert x.shape == (5, channels, 32, 32) and x.abs().max() <= 1
    assert d(x).shape == (5,)
    assert Lens(channels=channels, width=8)(x).shape == x.shape
    assert len([m for m in Lens().modules() if isinstance(m, torch.nn.Conv2d)]) == 2 + 2 * 8  # Fig. 4.4


@pytest.mark.parametrize("build", [Generator, Discriminator, Lens])
def test_every_layer_is_xavier_initialised(build):
    # Sec. 4.2.4: Xavier uniform (Glorot's bound sqrt(6 / (fan_in + fan_out))), zero biases, transposed convs too
    net = build()
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear)]
    for m in layers:
        w = m.weight
        a = math.sqrt(6 / ((w.shape[0] + w.shape[1]) * (w[0, 0].numel() if w.ndim > 2 else 1)))
        assert w.abs().max() <= a and w.abs().max() > 0.9 * a
        assert torch.equal(m.bias, torch.zeros_like(m.bias))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # batch norm keeps PyTorch's init
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias))


def test_identity_lens_passes_real_data_unchanged():
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(Lens(channels=3, width=8, identity_init=True)(x), x, rtol=0, atol=0)
    assert not torch.allclose(Lens(channels=3, width=8)(x), x)  # Xavier default (Sec. 4.2.4): not the identity


def test_same_seed_same_g_and_d_with_and_without_lens():
    torch.manual_seed(3)
    plain = TemperedGAN(lens=False, **TINY)
    after_plain = torch.randn(3)
    torch.manual_seed(3)
    tempered = TemperedGAN(lens=True, **TINY)
    after_tempered = torch.randn(3)
    for net in ("generator", "discriminator"):
        a, b = getattr(plain, net).state_dict(), getattr(tempered, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    torch.testing.assert_close(after_plain, after_tempered)  # the lens drew from its own RNG stream
    torch.manual_seed(4)
    other = TemperedGAN(lens=True, **TINY)
    assert not torch.equal(other.generator.fc.weight, tempered.generator.fc.weight)
    assert not torch.equal(other.lens.tail.weight, tempered.lens.tail.weight)  # the lens follows the seed


def test_wgan_gp_rejects_batch_norm_in_the_critic():
    with pytest.raises(ValueError, match="batch_norm_d"):
        TemperedGAN(gan_type="wgan_gp", batch_norm_d=True, **TINY)


def test_color_stack_stacks_three_digits():
    grey = torch.rand(20, 1, 32, 32)
    ds = ColorStack(grey, size=50, seed=1)
    item = ds[7]["x"]
    a, b, c = ds.triplets[7].tolist()
    assert item.shape == (3, 32, 32)
    torch.testing.assert_close(item, torch.cat([grey[a], grey[b], grey[c]]))
    assert len({tuple(t) for t in ds.triplets.tolist()}) > 45  # independent draws: (almost) all distinct
    with pytest.raises(ValueError, match="grey"):
        ColorStack(torch.rand(5, 3, 8, 8), 4)


def test_color_digits_train_and_reference_use_disjoint_digits():
    train, test = build_dataset("color_digits", "train"), build_dataset("color_digits", "test")
    grey_train, grey_test = load_digits_split("train")[0], load_digits_split("test")[0]
    assert len(train) == 60000 and len(test) == 10000
    torch.testing.assert_close(train[0]["x"][1], grey_train[train.triplets[0, 1], 0])
    torch.testing.assert_close(test[5]["x"][2], grey_test[test.triplets[5, 2], 0])


def test_pad_mnist_to_32():
    x = torch.rand(2, 1, 28, 28)
    y = pad_to_32(x)
    assert y.shape == (2, 1, 32, 32) and torch.equal(y[..., 2:30, 2:30], x) and y[..., :2, :].abs().sum() == 0


def test_real_datasets_need_a_root(tmp_path):
    with pytest.raises(ValueError, match="data.root"):
        build_dataset("cifar10", "train")
    with pytest.raises(FileNotFoundError, match="data.download=true"):
        build_dataset("mnist", "train", root=str(tmp_path))
    with pytest.raises(ValueError, match="3 channels"):
        GanDataModule(dataset="cifar10", channels=1)


def test_datamodule_batches_hold_one_minibatch_per_critic_step():
    dm = GanDataModule(dataset="digits", batch_size=4, batches_per_step=5, steps_per_epoch=3, eval_samples=100)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 3 and batches[0]["x"].shape == (20, 1, 32, 32)
    assert len(dm.reference_set) == 100 and 0 <= batches[0]["x"].min() and batches[0]["x"].max() <= 1
    dm = GanDataModule(dataset="digits", eval_samples=4096)
    dm.setup()
    assert len(dm.reference_set) == 899  # capped at the held-out split


def test_channelwise_embedding_concatenates_per_channel_features():
    grey = DigitsEmbedding("shipped")
    emb = ChannelwiseEmbedding(grey)
    x = torch.rand(4, 3, 32, 32)
    expected = torch.cat([grey(x[:, i : i + 1]) for i in range(3)], dim=1)
    torch.testing.assert_close(emb(x), expected)
    assert emb.num_features == 3 * 128
    metric = build_eval_metric("digits_channels", num_runs=1, num_clusters=5, metrics=("prd", "fid"))
    metric.update(real=x, fake=x)
    assert metric.compute()["fid"].abs() < 1e-2  # identical sets


def test_bad_module_settings_are_named():
    with pytest.raises(ValueError, match="must include fid"):  # val/fid is the checkpoint monitor
        TemperedGAN(embedding="digits", eval_metrics=("prd", "knn"))
    with pytest.raises(ValueError, match="lens_recon"):
        TemperedGAN(embedding="digits", lens_recon="max")
