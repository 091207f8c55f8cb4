"""Networks of Table 2.1: shapes, the bicubic-residual path, bad input."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from sr_image.nets import EnhanceNetDiscriminator, EnhanceNetGenerator, bicubic_upsample


@pytest.mark.parametrize("scale", [2, 4])
def test_generator_shapes(scale):
    gen = EnhanceNetGenerator(scale=scale, num_blocks=2, num_filters=8)
    assert gen(torch.rand(2, 3, 13, 17)).shape == (2, 3, 13 * scale, 17 * scale)


def test_default_generator_matches_table_2_1():
    gen = EnhanceNetGenerator()
    convs = [m for m in gen.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.kernel_size == (3, 3) for m in convs)  # 3x3 everywhere
    assert len(gen.blocks) == 10 and len(convs) == 1 + 20 + 2 + 1 + 1
    assert convs[-1].out_channels == 3


def test_zero_residual_gives_exactly_bicubic():
    gen = EnhanceNetGenerator(scale=4, num_blocks=2, num_filters=8)
    torch.nn.init.zeros_(gen.to_residual.weight)
    torch.nn.init.zeros_(gen.to_residual.bias)
    lr = torch.rand(1, 3, 20, 24)
    assert torch.equal(gen(lr), bicubic_upsample(lr, 4))


def test_bicubic_upsample_matches_pillow():
    arr = skimage.data.chelsea()[:60, :80]
    lr = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    ours = bicubic_upsample(lr, 4)[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255
    ref = np.asarray(Image.fromarray(arr).resize((320, 240), Image.BICUBIC), dtype=np.float64)
    diff = np.abs(ours - ref)
    # Pillow (a = -0.5, like MATLAB) rounds to 8 bits; PyTorch's plain bicubic (a = -0.75) gives 2.1 and 0.36 here
    assert diff.max() <= 1.5 and diff.mean() < 0.32


def test_generator_bad_input():
    with pytest.raises(ValueError, match="power of two"):
        EnhanceNetGenerator(scale=3)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        EnhanceNetGenerator(num_blocks=1, num_filters=4)(torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize("patch,flat", [(128, 8192), (64, 4096)])
def test_discriminator_matches_table_2_1(patch, flat):
    disc = EnhanceNetDiscriminator(patch)
    assert disc.classifier[1].in_features == flat  # 128 px -> 4x4x512 = 8192 (Table 2.1 right)
    assert disc.classifier[1].out_features == 1024
    assert disc(torch.rand(2, 3, patch, patch)).shape == (2,)
    with pytest.raises(ValueError, match="patches"):
        disc(torch.rand(2, 3, patch // 2, patch // 2))


def test_discriminator_bad_patch():
    with pytest.raises(ValueError, match="4·2\\^k"):
        EnhanceNetDiscriminator(100)
