"""Tests of the offline digits embedding (thesis Sec. 5.4: PRD needs a meaningful feature space)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import convolve1d
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from gen_common.weights import WeightsUnavailableError
from prd_metric.digits import (
    NUM_FEATURES,
    SHIPPED_WEIGHTS,
    DigitsCNN,
    DigitsEmbedding,
    digits_accuracy,
    load_digits_split,
    train_digits_cnn,
    train_main,
)


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {name: load_digits_split(name) for name in ("train", "test")}


@pytest.fixture(scope="module")
def shipped() -> DigitsEmbedding:
    return DigitsEmbedding()


@pytest.fixture(scope="module")
def shipped_features(shipped, splits) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {name: shipped(images).numpy() for name, (images, _) in splits.items()}


# --- the split ---------------------------------------------------------------------------------------------------


def test_split_shapes_and_range(splits):
    for images, labels in splits.values():
        assert images.dtype == torch.float32 and images.shape[1:] == (1, 32, 32)
        assert labels.dtype == torch.int64 and labels.shape == (len(images),)
        assert images.min() >= 0 and images.max() <= 1
        assert images.max() > 0.99  # the full range is used: 16/16 pixels exist
    assert len(splits["train"][1]) + len(splits["test"][1]) == 1797


def test_split_matches_sklearn_stratified_disjoint(splits):
    digits = load_digits()
    index = np.arange(1797)
    train, test = train_test_split(index, test_size=0.5, stratify=digits.target, random_state=0)
    train, test = np.sort(train), np.sort(test)
    assert not set(train) & set(test) and len(set(train) | set(test)) == 1797
    for name, idx in (("train", train), ("test", test)):
        images, labels = splits[name]
        np.testing.assert_array_equal(labels.numpy(), digits.target[idx])
        # 4x4 average pooling undoes the upsampling up to the smoothing of bilinear interpolation.
        pooled = F.avg_pool2d(images, 4)[:, 0].numpy()
        assert np.abs(pooled - digits.images[idx] / 16).mean() < 0.1  # loose; exact: the closed-form test below
    counts = np.stack([np.bincount(splits[name][1].numpy(), minlength=10) for name in ("train", "test")])
    assert counts.min() > 80 and np.abs(counts[0] - counts[1]).max() <= 1


def test_upsampling_is_bilinear_closed_form(splits):
    """Bilinear 4x upsampling (align_corners=False) then 4x4 averaging = the separable kernel [1/8, 3/4, 1/8]
    with replicated borders, computed here independently with scipy."""
    images, _ = splits["test"]
    digits = load_digits()
    _, test = train_test_split(np.arange(1797), test_size=0.5, stratify=digits.target, random_state=0)
    original = digits.images[np.sort(test)] / 16
    kernel = np.array([1 / 8, 3 / 4, 1 / 8])
    expected = convolve1d(convolve1d(original, kernel, axis=1, mode="nearest"), kernel, axis=2, mode="nearest")
    np.testing.assert_allclose(F.avg_pool2d(images, 4)[:, 0].numpy(), expected, atol=1e-5)


def test_bad_split_name():
    with pytest.raises(ValueError, match="'validation'"):
        load_digits_split("validation")


# --- shipped weights ---------------------------------------------------------------------------------------------


def test_shipped_weights_file():
    assert SHIPPED_WEIGHTS.is_file() and SHIPPED_WEIGHTS.stat().st_size < 1_000_000
    state = torch.load(SHIPPED_WEIGHTS, map_location="cpu", weights_only=True)
    DigitsCNN().load_state_dict(state)  # strict: exactly the keys and shapes of DigitsCNN


def test_shipped_test_accuracy(shipped, splits):
    images, labels = splits["test"]
    with torch.no_grad():
        predicted = shipped.net(images).argmax(1)
    accuracy = (predicted == labels).double().mean().item()
    assert accuracy >= 0.95
    assert digits_accuracy(shipped.net, images, labels) == pytest.approx(accuracy)


@pytest.mark.parametrize(
    "classifier", [lambda: LogisticRegression(max_iter=3000), lambda: KNeighborsClassifier(5)], ids=["logreg", "knn"]
)
def test_shipped_features_separate_classes(shipped_features, splits, classifier):
    features = shipped_features
    assert features["train"].shape == (898, NUM_FEATURES) and features["train"].dtype == np.float32
    score = classifier().fit(features["train"], splits["train"][1].numpy()).score(features["test"], splits["test"][1])
    assert score >= 0.95


def test_shipped_features_all_alive(shipped_features):
    """Every feature varies over the data (no dead ReLU units, so the feature covariance has full rank)."""
    assert (shipped_features["train"].std(0) > 1e-3).all()


# --- training ----------------------------------------------------------------------------------------------------


def test_training_reaches_accuracy():
    _, accuracy = train_digits_cnn(epochs=5, seed=0)  # ~2 s on 2 idle cores
    assert accuracy >= 0.9


def test_training_is_deterministic():
    a, acc_a = train_digits_cnn(epochs=1, seed=3)
    b, acc_b = train_digits_cnn(epochs=1, seed=3)
    c, _ = train_digits_cnn(epochs=1, seed=4)
    assert acc_a == acc_b
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=0)
    assert not torch.equal(a.head.weight, c.head.weight)


@pytest.mark.slow
def test_default_training_reproduces_shipped_accuracy():
    _, accuracy = train_digits_cnn(seed=0)
    assert accuracy >= 0.98


def test_train_main_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "mine.pt"
    out.write_bytes(b"precious")
    assert train_main(["--out", str(out), "--epochs", "1"]) == 2
    assert out.read_bytes() == b"precious"
    assert "--overwrite" in capsys.readouterr().err
    # The default --out is the shipped file, which exists: refused without --overwrite, left untouched.
    before = SHIPPED_WEIGHTS.read_bytes()
    assert train_main(["--epochs", "1"]) == 2
    assert SHIPPED_WEIGHTS.read_bytes() == before


def test_train_main_writes_loadable_weights(tmp_path, capsys):
    out = tmp_path / "sub" / "digits.pt"
    assert train_main(["--out", str(out), "--epochs", "1", "--seed", "1"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert set(torch.load(out, weights_only=True)) == set(DigitsCNN().state_dict())
    assert DigitsEmbedding(weights=str(out))(torch.rand(2, 1, 32, 32)).shape == (2, NUM_FEATURES)
    out.write_bytes(b"old")
    assert train_main(["--out", str(out), "--epochs", "1", "--overwrite"]) == 0
    torch.load(out, weights_only=True)


# --- DigitsEmbedding ---------------------------------------------------------------------------------------------


def test_rgb_of_grey_equals_grey(shipped, splits):
    grey = splits["test"][0][:16]
    with torch.no_grad():
        torch.testing.assert_close(shipped(grey.expand(-1, 3, -1, -1)), shipped(grey), atol=1e-5, rtol=1e-5)


def test_rgb_uses_luma(shipped):
    rgb = torch.rand(4, 3, 32, 32)
    luma = 0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:]
    with torch.no_grad():
        torch.testing.assert_close(shipped(rgb), shipped(luma), atol=1e-5, rtol=1e-5)


def test_other_sizes_are_resized(shipped, shipped_features, splits):
    digits = load_digits()
    _, test = train_test_split(np.arange(1797), test_size=0.5, stratify=digits.target, random_state=0)
    small = torch.from_numpy(digits.images[np.sort(test)] / 16).float()[:, None]
    with torch.no_grad():
        # 8x8 input: resized exactly as the split was.
        np.testing.assert_allclose(shipped(small).numpy(), shipped_features["test"], atol=1e-4)
        # 64x64 input: shrunk with antialiasing; the features still classify the digits.
        big = F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
        features = shipped(big)
    assert features.shape == (899, NUM_FEATURES) and features.dtype == torch.float32
    knn = KNeighborsClassifier(5).fit(shipped_features["train"], splits["train"][1].numpy())
    assert knn.score(features.numpy(), splits["test"][1].numpy()) >= 0.9


def test_double_input_gives_float32(shipped):
    assert shipped(torch.rand(2, 1, 20, 28, dtype=torch.float64)).dtype == torch.float32


@pytest.mark.parametrize("shape", [(1, 32, 32), (2, 2, 32, 32), (2, 4, 32, 32), (1, 1, 1, 32, 32)])
def test_bad_shapes(shipped, shape):
    with pytest.raises(ValueError, match=r"C = 1 or 3") as err:
        shipped(torch.rand(shape))
    assert str(tuple(shape)) in str(err.value)


def test_integer_images_rejected(shipped):
    with pytest.raises(ValueError, match="float"):
        shipped(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


def test_images_outside_unit_range_rejected(shipped):
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):  # tanh outputs of a GAN, not yet mapped to [0, 1]
        shipped(torch.rand(2, 1, 32, 32) * 2 - 1)


def test_missing_weights_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(WeightsUnavailableError, match="does not exist") as err:
        DigitsEmbedding(weights=str(path))
    assert str(path) in str(err.value) and "prd-metric train-digits --out" in str(err.value)
    assert "shipped" in str(err.value)


def test_bad_weights_file(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a state dict")
    with pytest.raises(WeightsUnavailableError, match="not a DigitsCNN state_dict") as err:
        DigitsEmbedding(weights=path)
    assert str(path) in str(err.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(WeightsUnavailableError, match=str(foreign)):
        DigitsEmbedding(weights=foreign)


def test_random_mode_is_frozen():
    embedding = DigitsEmbedding(weights="random")
    assert embedding.num_features == NUM_FEATURES == 128 and isinstance(embedding.num_features, int)
    assert not any(p.requires_grad for p in embedding.parameters())
    embedding.train()  # e.g. a parent LightningModule switching to training
    assert not embedding.training and not embedding.net.training
    stats = [b.clone() for b in embedding.buffers()]
    features = embedding(torch.rand(8, 3, 48, 48))
    assert features.shape == (8, NUM_FEATURES) and features.dtype == torch.float32 and torch.isfinite(features).all()
    assert all(torch.equal(a, b) for a, b in zip(stats, embedding.buffers(), strict=True))  # BN stats untouched
    assert not features.requires_grad
