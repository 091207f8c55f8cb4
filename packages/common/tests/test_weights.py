"""The weights resolver: explicit random mode, local files, the cache, and the offline error with its three fixes."""

import pytest
import torch
import torchvision

from gen_common.weights import (
    WeightsUnavailableError,
    cached_weights_path,
    known_networks,
    resolve_weights,
)


def test_random_is_frozen_and_eval():
    net = resolve_weights("resnet50", "random")
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_local_file_is_loaded(tmp_path):
    ref = torchvision.models.resnet50(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r50.pth")
    net = resolve_weights("resnet50", str(tmp_path / "r50.pth"))
    torch.testing.assert_close(net.fc.weight, ref.fc.weight)


def test_bad_local_files(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist") as err:
        resolve_weights("vgg19", str(tmp_path / "missing.pth"), option="model.vgg_weights")
    assert "model.vgg_weights=random" in str(err.value)
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailableError, match="not a torchvision resnet50"):
        resolve_weights("resnet50", str(tmp_path / "other.pth"))
    with pytest.raises(WeightsUnavailableError, match="not a torch-fidelity inception_v3_fid"):
        resolve_weights("inception_v3_fid", str(tmp_path / "other.pth"))


@pytest.mark.parametrize("name", ["vgg19", "inception_v3_fid"])
def test_offline_without_cache_fails_with_three_fixes(name, offline):
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_weights(name, "imagenet", option="model.vgg_weights")
    msg = str(err.value)
    assert name in msg and "make weights" in msg and "model.vgg_weights=/path/to" in msg
    assert "model.vgg_weights=random" in msg and str(cached_weights_path(name)) in msg


def test_unknown_network():
    with pytest.raises(ValueError, match="unknown network"):
        resolve_weights("lenet", "random")


def test_registry_covers_the_fid_inception(offline):
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert known_networks() == ["vgg19", "resnet50", "alexnet", "inception_v3_fid"]
    # The file torch-fidelity and torchmetrics themselves cache, so one download serves all three.
    assert cached_weights_path("inception_v3_fid") == offline / "hub" / "checkpoints" / URL_INCEPTION_V3.split("/")[-1]


def test_fid_inception_random_local_and_cached(offline):
    from torchmetrics.image.fid import NoTrainInceptionV3

    torch.manual_seed(0)
    net = resolve_weights("inception_v3_fid", "random")  # offline: random mode must not try the network
    assert isinstance(net, NoTrainInceptionV3) and net.features_list == ["2048", "logits_unbiased"]
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert not offline.exists()  # nothing downloaded, nothing cached
    # The same file as a local path and as the cached "imagenet" weights (offline: read from the cache only).
    cached = cached_weights_path("inception_v3_fid")
    cached.parent.mkdir(parents=True)
    torch.save(net.state_dict(), cached)
    for spec in (str(cached), "imagenet"):
        loaded = resolve_weights("inception_v3_fid", spec)
        torch.testing.assert_close(loaded.state_dict(), net.state_dict(), rtol=0, atol=0)
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_a_damaged_cached_file_is_named_as_damaged_not_missing(offline):
    cached = cached_weights_path("resnet50")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_weights("resnet50", "imagenet", option="--resnet-weights")
    msg = str(err.value)
    assert f"the cached file {cached} is damaged" in msg and "delete it" in msg and "not in the cache" not in msg
