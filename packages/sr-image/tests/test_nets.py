"""Networks of Table 2.1: shapes, the bicubic-residual path, bad input."""

import pytest
import torch
import torch.nn.functional as F

from sr_image.nets import EnhanceNetDiscriminator, EnhanceNetGenerator


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
    ref = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(gen(lr), ref)


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
