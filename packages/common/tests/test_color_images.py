"""Colour conversion and image reading against scikit-image / Pillow on real photographs."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch
from PIL import Image

from gen_common.color import rgb_to_y
from gen_common.embedded import EMBEDDED_EVAL, EMBEDDED_TRAIN, embedded_images
from gen_common.images import ImageReadError, list_image_files, read_image, save_image


def test_rgb_to_y_matches_skimage_bt601():
    rgb = skimage.data.astronaut()
    ref = skimage.color.rgb2ycbcr(rgb)[..., 0]  # MATLAB-compatible BT.601, Y in [16, 235]
    y = rgb_to_y(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255)[0]
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-8)


def test_kornia_luma_is_the_full_range_y_not_matlabs():
    # Why rgb_to_y stays hand-written: kornia's Y is full-range Y' in [0, 1]; MATLAB's studio Y is 16 + 219 Y'.
    kornia_color = pytest.importorskip("kornia.color")
    rgb = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).double() / 255
    full = kornia_color.rgb_to_ycbcr(rgb)[:1]
    torch.testing.assert_close(kornia_color.rgb_to_grayscale(rgb), full)
    assert (255 * full - rgb_to_y(rgb)).abs().max() > 15  # up to 20 levels apart on this photograph
    torch.testing.assert_close(16 + 219 * full, rgb_to_y(rgb), rtol=0, atol=1e-10)


def test_rgb_to_y_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(torch.zeros(1, 4, 8, 8))


def test_embedded_split_is_disjoint_and_real():
    assert not set(EMBEDDED_TRAIN) & set(EMBEDDED_EVAL)
    evals = embedded_images("eval")
    assert [n for n, _ in evals] == list(EMBEDDED_EVAL)
    chelsea = evals[0][1]
    assert chelsea.shape == (3, 300, 451) and chelsea.dtype == torch.float32
    np.testing.assert_allclose(chelsea.permute(1, 2, 0).numpy() * 255, skimage.data.chelsea(), atol=1e-3)
    with pytest.raises(ValueError, match="split"):
        embedded_images("test")


def test_read_image_converts_modes(tmp_path):
    rgb = skimage.data.coffee()[:40, :50]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])).save(tmp_path / "rgba.png")
    gray = skimage.data.camera()[:40, :50]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")

    expected_rgb = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(read_image(tmp_path / "rgb.png"), expected_rgb)
    torch.testing.assert_close(read_image(tmp_path / "rgba.png"), expected_rgb)  # alpha dropped
    expected_gray = torch.from_numpy(gray).float().div(255).expand(3, -1, -1)
    torch.testing.assert_close(read_image(tmp_path / "gray.png"), expected_gray)
    torch.testing.assert_close(read_image(tmp_path / "gray16.png"), expected_gray, atol=1e-6, rtol=0)


def test_read_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_image(bad)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_list_image_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        list_image_files(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        list_image_files(tmp_path)
    save_image(torch.rand(3, 8, 8), tmp_path / "sub" / "a.png")
    assert [p.name for p in list_image_files(tmp_path)] == ["a.png"]
