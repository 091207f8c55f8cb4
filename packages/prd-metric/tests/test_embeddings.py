"""Embeddings: Inception Pool3 against torchmetrics' own FID extractor, random mode offline, batching, folders."""

import pytest
import torch
from PIL import Image
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from gen_common.images import ImageReadError, save_image
from gen_common.weights import WeightsUnavailableError, resolve_weights
from prd_metric.embeddings import (
    FeatureCallable,
    InceptionPool3,
    build_embedding,
    embed_image_folder,
    embed_images,
    natural_input_size,
)


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A random (He-initialised) FID Inception state_dict on disk: the stand-in for the released weights."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "inception_random.pth"
    torch.save(resolve_weights("inception_v3_fid", "random").state_dict(), path)
    return path


@pytest.fixture(scope="module")
def inception(inception_file):
    return InceptionPool3(weights=str(inception_file))


def _torchmetrics_features(images, weights_path, **kwargs):
    """Features as torchmetrics' FID computes them in ``update`` (its quantisation, its network), via a hook."""
    fid = FrechetInceptionDistance(
        feature=2048, normalize=True, feature_extractor_weights_path=str(weights_path), **kwargs
    )
    captured = []
    fid.inception.register_forward_hook(lambda module, args, out: captured.append(out))
    fid.update(images, real=True)
    return captured[0]


def test_inception_equals_torchmetrics_fid_features(inception, inception_file):
    # Non-square, not 299: the internal resize matters, and the two resize modes must differ.
    images = torch.rand(2, 3, 37, 45)
    ours_tf1 = inception(images)
    assert ours_tf1.shape == (2, 2048) and ours_tf1.dtype == torch.float32
    torch.testing.assert_close(ours_tf1, _torchmetrics_features(images, inception_file, antialias=False))
    ours_aa = InceptionPool3(weights=str(inception_file), resize="antialias")(images[:1])
    torch.testing.assert_close(ours_aa, _torchmetrics_features(images[:1], inception_file))  # torchmetrics' default
    assert not torch.allclose(ours_aa, ours_tf1[:1])
    # Usable as a custom torchmetrics FID network: it reads the integer num_features without probing.
    assert FrechetInceptionDistance(feature=inception, normalize=True).real_features_sum.shape == (2048,)


def test_inception_logits_are_those_of_torchmetrics_inception_score_path(inception, inception_file):
    # torchmetrics' InceptionScore runs the same network with features_list=["logits_unbiased"]: one pass here
    # must give its logits and the FID features together
    images = torch.rand(2, 3, 40, 40)
    pool3, logits = inception.forward_with_logits(images)
    torch.testing.assert_close(pool3, inception(images))
    is_net = resolve_weights("inception_v3_fid", str(inception_file))
    is_net.features_list, is_net.use_antialias = ["logits_unbiased"], False  # (the TF1 resize of `inception`)
    torch.testing.assert_close(logits, is_net((images * 255).byte()))
    assert logits.shape == (2, 1008)


def test_random_mode_offline(offline):
    torch.manual_seed(0)
    emb = InceptionPool3(weights="random")
    assert not offline.exists()  # nothing downloaded or cached
    assert not emb.train().training and not any(p.requires_grad for p in emb.parameters())
    features = embed_images(emb, torch.rand(2, 3, 32, 32))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    assert 1e-2 < features.abs().mean() < 1e2  # random mode's He init: features neither vanish nor explode


def test_imagenet_offline_fails_with_three_fixes(offline):
    with pytest.raises(WeightsUnavailableError) as err:
        InceptionPool3(weights="imagenet", option="metric.weights")
    msg = str(err.value)
    assert "inception_v3_fid" in msg and "make weights" in msg
    assert "metric.weights=/path/to" in msg and "metric.weights=random" in msg


def test_gray_equals_repeated_rgb_and_bad_inputs(inception):
    gray = torch.rand(1, 1, 30, 30)
    torch.testing.assert_close(inception(gray), inception(gray.repeat(1, 3, 1, 1)), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        inception(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        inception(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="float"):
        inception(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inception(torch.rand(1, 3, 8, 8) * 2 - 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inception(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="resize"):
        InceptionPool3(weights="random", resize="bicubic")


def _small_net():
    torch.manual_seed(0)
    # BatchNorm in train mode would make features depend on the batch; embed_images must evaluate in eval mode.
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_embed_images_batching_and_inputs():
    net = _small_net().train()
    images = torch.rand(10, 3, 12, 12)
    whole = embed_images(net, images, batch_size=10)
    assert net.training  # restored
    torch.testing.assert_close(embed_images(net, images, batch_size=3), whole)
    torch.testing.assert_close(embed_images(net, [images[:7], images[7:]], batch_size=4), whole)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.arange(10)), batch_size=6)
    torch.testing.assert_close(embed_images(net, loader), whole)
    assert whole.shape == (10, 4) and whole.dtype == torch.float32 and whole.device.type == "cpu"
    whole.add_(1)  # an ordinary tensor, not an inference tensor
    with pytest.raises(ValueError, match="no images"):
        embed_images(net, [])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        embed_images(net, torch.rand(3, 12, 12))


def test_embed_images_detects_nan_rows():
    def half_nan(x):
        out = x.mean(dim=(2, 3))
        out[::2] = float("nan")
        return out

    with pytest.raises(ValueError, match="3 of 5 feature rows"):
        embed_images(half_nan, torch.rand(5, 3, 4, 4), batch_size=2)


def test_feature_callable_and_build_embedding():
    emb = build_embedding(lambda x: x.flatten(1)[:, :6])
    assert isinstance(emb, FeatureCallable) and not hasattr(emb, "num_features")  # torchmetrics then probes
    assert embed_images(emb, torch.rand(2, 1, 4, 4)).shape == (2, 6) and emb.num_features == 6
    with pytest.raises(ValueError, match="expected 6"):
        emb(torch.rand(2, 1, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        FeatureCallable(lambda x: x)(torch.rand(2, 1, 4, 4))
    net = _small_net()
    assert isinstance(build_embedding(net), FeatureCallable)  # no num_features: wrapped
    assert FeatureCallable(net, num_features=4, input_size=12).num_features == 4
    with pytest.raises(ValueError, match="'inception', 'digits'"):
        build_embedding("vgg")
    with pytest.raises(ValueError, match="weights"):
        build_embedding(net, weights="random")
    with pytest.raises(TypeError):
        build_embedding(3)


def test_build_digits_embedding():
    pytest.importorskip("prd_metric.digits")
    emb = build_embedding("digits", weights="random")
    assert emb.num_features == 128 and natural_input_size(emb) == 32
    assert embed_images(emb, torch.rand(3, 1, 20, 20)).shape == (3, 128)


def _write_folder(folder, sizes):
    torch.manual_seed(0)
    images = [torch.rand(3, h, w) for h, w in sizes]
    for i, img in enumerate(images):
        save_image(img, folder / f"img{i}.png")
    return images


def test_embed_image_folder_mixed_sizes(tmp_path):
    _write_folder(tmp_path, [(16, 16), (24, 10), (8, 8)])
    Image.new("L", (16, 16), 200).save(tmp_path / "sub_gray.png")  # grey files are read as RGB
    emb = FeatureCallable(lambda x: x.mean(dim=(2, 3)), name="mean_rgb", input_size=16)
    features, info = embed_image_folder(tmp_path, emb, batch_size=3)
    assert features.shape == (4, 3)
    assert info["num_images"] == 4 and info["size"] == 16 and info["embedding"] == "mean_rgb"
    assert "bilinear" in info["resize"] and "antialias=True" in info["resize"] and info["folder"] == str(tmp_path)
    torch.testing.assert_close(features[3], torch.full((3,), 200 / 255))  # sorted by path; exact at native size
    with pytest.raises(ValueError, match="size"):
        embed_image_folder(tmp_path, lambda x: x.mean(dim=(2, 3)))  # no natural size, none given
    assert embed_image_folder(tmp_path, lambda x: x.mean(dim=(2, 3)), size=8)[1]["size"] == 8


def test_embed_image_folder_inception(tmp_path, inception, inception_file):
    _write_folder(tmp_path, [(20, 30), (299, 299)])
    features, info = embed_image_folder(tmp_path, inception)
    assert features.shape == (2, 2048) and info["size"] == 299 and info["embedding"] == "InceptionPool3"
    assert info["weights"] == str(inception_file) and info["resize"] == "in the network: tf1"
    # Every file reaches the network at its own size, so the network's TF1 resize is the one applied.
    from gen_common.images import read_image

    for i in range(2):
        torch.testing.assert_close(features[i : i + 1], inception(read_image(tmp_path / f"img{i}.png")[None]))


def test_embed_image_folder_errors(tmp_path):
    emb = FeatureCallable(lambda x: x.mean(dim=(2, 3)), input_size=8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        embed_image_folder(tmp_path / "missing", emb)
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"holds no images.*\.png") as err:
        embed_image_folder(tmp_path, emb)
    assert str(tmp_path) in str(err.value)
    _write_folder(tmp_path, [(8, 8)])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        embed_image_folder(tmp_path, emb)
