"""The weights resolver: explicit random mode, local files, and the offline error with its three fixes."""

import pytest
import torch
import torchvision

from gen_common.weights import WeightsUnavailableError, resolve_weights


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


def test_offline_without_cache_fails_with_three_fixes(tmp_path, monkeypatch):
    # Offline for real: an empty torch cache and every HTTPS request sent to a closed local port.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_weights("vgg19", "imagenet", option="model.vgg_weights")
    msg = str(err.value)
    assert "vgg19" in msg and "make weights" in msg and "model.vgg_weights=/path/to" in msg
    assert "model.vgg_weights=random" in msg


def test_unknown_network():
    with pytest.raises(ValueError, match="unknown network"):
        resolve_weights("alexnet", "random")
