"""Degradation and data handling: bicubic against Pillow, folders with bad files, MSCOCO preprocessing."""

import logging

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from sr_image.data import (
    FullImageDataset,
    HRImages,
    RandomCropDataset,
    SRDataModule,
    bicubic_downsample,
    crop_to_multiple,
    downsample,
    mscoco_preprocess,
    pil_lanczos_downsample,
)


def test_bicubic_downsample_matches_pillow():
    arr = skimage.data.chelsea()[:296, :448]
    hr = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    ours = bicubic_downsample(hr, 4).permute(1, 2, 0).numpy() * 255
    ref = np.asarray(Image.fromarray(arr).resize((112, 74), Image.BICUBIC), dtype=np.float64)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1.5 and diff.mean() < 0.3  # Pillow rounds to 8 bits; antialiased bicubic otherwise


def test_bicubic_downsample_rejects_non_multiple():
    with pytest.raises(ValueError, match="multiple of scale"):
        bicubic_downsample(torch.rand(3, 10, 12), 4)
    assert crop_to_multiple(torch.rand(3, 10, 13), 4).shape == (3, 8, 12)


def test_pil_lanczos_downsample_is_the_authors_loadimg():
    """EnhanceNet-Code's loadimg on an 8-bit image: Image.resize((w // 4, h // 4), ANTIALIAS == LANCZOS)."""
    arr = skimage.data.chelsea()[:296, :448]
    hr = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    ref = np.asarray(Image.fromarray(arr).resize((112, 74), Image.LANCZOS))
    ours = pil_lanczos_downsample(hr[None], 4)[0]
    assert ours.shape == (3, 74, 112) and ours.dtype == torch.float32
    assert np.array_equal(ours.mul(255).round().byte().permute(1, 2, 0).numpy(), ref)
    # Lanczos (a = 3) is sharper than antialiased bicubic (a = -0.5): more high frequencies survive.
    lap = [float(torch.diff(x, 2, dim=-1).abs().mean()) for x in (ours, bicubic_downsample(hr, 4))]
    assert lap[0] > lap[1]
    with pytest.raises(ValueError, match="multiple of scale"):
        pil_lanczos_downsample(torch.rand(3, 10, 12), 4)
    with pytest.raises(ValueError, match="unknown downsample 'nearest'"):
        downsample(hr, 4, "nearest")
    with pytest.raises(ValueError, match="unknown downsample"):
        FullImageDataset(HRImages(None, "eval"), 4, "lanczos")


@pytest.mark.parametrize("method", ["bicubic", "pil_lanczos"])
def test_random_crops_match_the_whole_downsampled_image(method):
    images = HRImages(None, "train", min_size=128)
    ds = RandomCropDataset(images, scale=4, lr_patch_size=32, length=20, downsample=method)
    for i in (0, 2, 9):
        torch.manual_seed(i)
        item = ds[i]
        assert item["lr"].shape == (3, 32, 32) and item["hr"].shape == (3, 128, 128)
        whole_hr = crop_to_multiple(images[i % len(images)], 4)
        whole_lr = downsample(whole_hr, 4, method)  # Sec. 2.5.8: downsample, then crop
        hits = [
            (t, c)
            for t in range(whole_lr.shape[-2] - 31)
            for c in range(whole_lr.shape[-1] - 31)
            if torch.equal(whole_hr[:, 4 * t : 4 * t + 128, 4 * c : 4 * c + 128], item["hr"])
        ]
        (t, c) = hits[0]
        torch.testing.assert_close(item["lr"], whole_lr[:, t : t + 32, c : c + 32], atol=1e-6, rtol=0)


def test_truncated_training_image_is_replaced(tmp_path, caplog):
    _write(tmp_path / "good.png", skimage.data.coffee())
    _write(tmp_path / "cut.png", skimage.data.astronaut())
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])  # header intact, pixels missing
    ds = RandomCropDataset(HRImages(tmp_path, "train", min_size=64), scale=4, lr_patch_size=16, length=4)
    with caplog.at_level(logging.WARNING):
        shapes = {tuple(ds[i]["hr"].shape) for i in range(4)}
    assert shapes == {(3, 64, 64)} and "cut.png" in caplog.text


def _write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_skips_corrupt_and_small_images(tmp_path, caplog):
    _write(tmp_path / "a" / "big.png", skimage.data.coffee())
    _write(tmp_path / "small.png", skimage.data.coffee()[:50, :50])
    (tmp_path / "broken.jpg").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        images = HRImages(tmp_path, "train", min_size=128)
    assert images.names == ["a/big.png"]
    assert "broken.jpg" in caplog.text and "skipped 1 of 2" in caplog.text
    assert images[0].shape == (3, 400, 600)


def test_a_folder_under_home_written_with_a_tilde(tmp_path, monkeypatch):
    """data.root=~/photos: Hydra passes the ~ through; it was a crash (relative_to) after the listing."""
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path / "photos" / "cup.png", skimage.data.coffee())
    images = HRImages("~/photos", "train", min_size=128)
    assert images.names == ["cup.png"] and images[0].shape == (3, 400, 600)


def test_folder_with_no_usable_image(tmp_path):
    _write(tmp_path / "small.png", skimage.data.coffee()[:50, :50])
    with pytest.raises(ValueError, match="no usable images"):
        HRImages(tmp_path, "train", min_size=128)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HRImages(tmp_path / "missing", "train")


def test_mscoco_preprocessing(tmp_path):
    _write(tmp_path / "wide.png", np.zeros((400, 600, 3), np.uint8))  # short side 400 >= 384: kept
    _write(tmp_path / "short.png", np.zeros((300, 600, 3), np.uint8))  # short side < 384: dropped
    _write(tmp_path / "grey.png", np.zeros((400, 600), np.uint8))  # not a colour image: dropped
    images = HRImages(tmp_path, "train", min_size=128, preprocess="mscoco")
    assert images.names == ["wide.png"] and images[0].shape == (3, 256, 256)
    grad = torch.linspace(0, 1, 600).expand(3, 400, 600)
    out = mscoco_preprocess(grad)  # central square: columns 100..500 of the ramp
    assert out[0, 0, 0].item() == pytest.approx(100 / 599, abs=0.01)
    assert out[0, 0, -1].item() == pytest.approx(499 / 599, abs=0.01)


def test_datamodule_batches():
    dm = SRDataModule(scale=2, lr_patch_size=16, batch_size=3, samples_per_epoch=6, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (3, 3, 16, 16) and batch["hr"].shape == (3, 3, 32, 32)
    val = next(iter(dm.val_dataloader()))
    assert val["name"] == ["chelsea"] and val["hr"].shape[-2] % 2 == 0


def test_evaluation_images_are_verified_up_front(tmp_path, caplog):
    """A truncated file with an intact header is skipped and named when the set is opened, not at the first
    validation hours later (lazily it fails only when decoded)."""
    _write(tmp_path / "good.png", skimage.data.coffee())
    _write(tmp_path / "cut.png", skimage.data.astronaut())
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert len(HRImages(tmp_path, "eval")) == 2  # lazy: the header is fine
    with caplog.at_level(logging.WARNING):
        images = HRImages(tmp_path, "eval", verify=True)
    assert images.names == ["good.png"] and "cut.png" in caplog.text
    dm = SRDataModule(root=None, eval_root=str(tmp_path), num_workers=0)
    dm.setup("validate")
    assert [dm.eval_set[i]["name"] for i in range(len(dm.eval_set))] == ["good.png"]
