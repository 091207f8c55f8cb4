"""Losses of Sec. 2.4.2 against closed forms and naive loops."""

import pytest
import skimage.data
import torch
import torchvision

from gen_common.weights import IMAGENET_MEAN, IMAGENET_STD
from sr_image.losses import (
    VGG19_LAYERS,
    VGGFeatures,
    adversarial_loss,
    discriminator_accuracy,
    discriminator_gate,
    discriminator_loss,
    normalize_features,
    patch_gram,
    perceptual_loss,
    pixel_loss,
    texture_loss,
)
from sr_image.module import EnhanceNet


def naive_patch_gram(feat, p):
    n, c, h, w = feat.shape
    out = []
    for b in range(n):
        grams = []
        for i in range(h // p):
            for j in range(w // p):
                f = feat[b, :, i * p : (i + 1) * p, j * p : (j + 1) * p].reshape(c, -1)
                grams.append(f @ f.T)
        out.append(torch.stack(grams))
    return torch.stack(out)


@pytest.mark.parametrize("shape,p", [((2, 5, 16, 16), 4), ((1, 3, 19, 13), 4), ((1, 2, 8, 8), 8)])
def test_patch_gram_matches_naive_loop(shape, p):
    feat = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(patch_gram(feat, p), naive_patch_gram(feat, p))


def test_patch_gram_too_small():
    with pytest.raises(ValueError, match="smaller than the texture patch"):
        patch_gram(torch.rand(1, 2, 3, 3), 4)


def test_texture_loss_uses_patch_size_per_layer_stride():
    est = {"conv1_1": torch.randn(1, 4, 32, 32, dtype=torch.float64), "conv2_1": torch.randn(1, 4, 16, 16).double()}
    hr = {k: torch.randn_like(v) for k, v in est.items()}
    weights = {"conv1_1": 0.5, "conv2_1": 2.0}
    expected = sum(
        w * ((naive_patch_gram(est[k], 16 // s) - naive_patch_gram(hr[k], 16 // s)) ** 2).mean()
        for (k, w), s in zip(weights.items(), (1, 2), strict=True)
    )
    torch.testing.assert_close(texture_loss(est, hr, weights, patch_size=16), expected)


def test_pixel_and_perceptual_losses_closed_form():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert pixel_loss(a, b) == pytest.approx(3 * 0.25)  # Eq. 2.4: |RGB difference|² = 3·0.25 at every pixel
    fa = {"pool2": torch.zeros(1, 2, 2, 2), "pool5": torch.zeros(1, 2, 1, 1)}
    fb = {"pool2": torch.ones(1, 2, 2, 2), "pool5": torch.full((1, 2, 1, 1), 2.0)}
    # two channels per position: |φ difference|² = 2·1 for pool2 and 2·4 for pool5
    assert perceptual_loss(fa, fb, {"pool2": 0.2, "pool5": 0.02}) == pytest.approx(0.2 * 2 + 0.02 * 8)


def test_adversarial_losses_match_eq_2_7_and_2_8():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(adversarial_loss(fake), -torch.log(d_fake).mean())
    expected = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), expected)


def test_discriminator_accuracy_and_gate():
    acc_r, acc_f = discriminator_accuracy(torch.tensor([1.0, 2.0, -1.0, 3.0]), torch.tensor([-1.0, 1.0]))
    assert acc_r == 0.75 and acc_f == 0.5
    # logits that happen to lie in [0, 1] are still logits (D(x) = sigmoid > 0.5 iff logit > 0); torchmetrics'
    # binary_accuracy would read them as probabilities and score 0.5 here
    acc_r, acc_f = discriminator_accuracy(torch.tensor([0.2, 0.9, -0.1, 0.7]), torch.tensor([0.1, -0.3]))
    assert acc_r == 0.75 and acc_f == 0.5
    t = torch.tensor
    # trains when either accuracy is below the threshold, skips only when D is good on both
    assert discriminator_gate(t(0.9), t(0.9), 0.8) == torch.tensor(False)
    assert discriminator_gate(t(0.7), t(0.9), 0.8) == torch.tensor(True)
    assert discriminator_gate(t(0.9), t(0.7), 0.8) == torch.tensor(True)
    assert discriminator_gate(t(0.0), t(0.0), 0.8) == torch.tensor(True)


def test_normalize_features_divides_by_hr_mean():
    hr = torch.rand(2, 3, 4, 4) + 0.5
    est = torch.rand(2, 3, 4, 4)
    e, h = normalize_features(est, hr)
    torch.testing.assert_close(h.mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(e * hr.mean(dim=(1, 2, 3), keepdim=True), est, atol=1e-5, rtol=1e-5)


def test_vgg_features_layers_and_gradients():
    vgg = VGGFeatures(["conv1_1", "conv2_1", "conv3_1", "pool2", "pool5"], weights="random")
    img = torch.rand(1, 3, 64, 64, requires_grad=True)
    feats = vgg(img)
    assert feats["conv1_1"].shape == (1, 64, 64, 64)
    assert feats["conv2_1"].shape == (1, 128, 32, 32)
    assert feats["pool2"].shape == (1, 128, 16, 16)
    assert feats["conv3_1"].shape == (1, 256, 16, 16)
    assert feats["pool5"].shape == (1, 512, 2, 2)
    assert (feats["conv1_1"] >= 0).all()  # post-ReLU activations
    feats["pool5"].sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.eval()
    reference = {k: v.detach() for k, v in vgg(img).items()}
    vgg.train()  # (follows the parent's mode: no batch norm or dropout, so the same activations)
    assert all(torch.equal(vgg(img)[k], v) for k, v in reference.items())
    assert not any(p.requires_grad for p in vgg.parameters())  # stays frozen whatever the parent does
    with pytest.raises(ValueError, match="unknown VGG-19 layers"):
        VGGFeatures(["conv9_9"], weights="random")


def test_vgg_taps_equal_running_torchvisions_vgg19_features_layer_by_layer():
    layers = ["conv1_1", "conv2_1", "conv3_1", "pool2", "pool5"]
    torch.manual_seed(0)
    vgg = VGGFeatures(layers, weights="random")
    img = torch.from_numpy(skimage.data.astronaut()[100:228, 150:278]).permute(2, 0, 1).float()[None] / 255
    # reference: the Sequential vgg19().features run module by module, activations read at the tap indices
    seq = torchvision.models.vgg19().features
    seq.load_state_dict(vgg.body.state_dict())  # strict: the extractor holds every layer up to pool5, same names
    x = (img - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    ref = {}
    for i, layer in enumerate(seq):
        x = layer(x)
        ref.update({name: x.clone() for name in layers if VGG19_LAYERS[name] == i})
    out = vgg(img)
    assert sorted(out) == sorted(layers)
    for name in layers:
        torch.testing.assert_close(out[name], ref[name], rtol=0, atol=0)


def test_vgg_state_dict_keys_and_checkpoints_leave_the_vgg_out(tmp_path):
    # the keys of the former vgg.features[: last + 1] slice, and no VGG in a checkpoint (module.on_save_checkpoint)
    vgg = VGGFeatures(["conv1_1", "pool2"], weights="random")
    convs = [f"body.{i}.{p}" for i in (0, 2, 5, 7) for p in ("weight", "bias")]  # up to pool2 = features[9]
    assert list(vgg.state_dict()) == ["mean", "std", *convs]
    module = EnhanceNet(num_blocks=1, num_filters=4, perceptual_weights={"pool2": 0.2}, vgg_weights="random")
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["state_dict"] and not any(k.startswith("vgg.") for k in checkpoint["state_dict"])
    torch.save(checkpoint, tmp_path / "c.ckpt")
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)
    fresh = EnhanceNet(num_blocks=1, num_filters=4, perceptual_weights={"pool2": 0.2}, vgg_weights="random")
    fresh.on_load_checkpoint(loaded)
    fresh.load_state_dict(loaded["state_dict"])  # strict: the VGG keys come from the configured network


def test_a_new_module_has_no_submodule_left_in_eval_mode():
    """Lightning warned "Found 39 module(s) in eval mode at the start of training" for every VGG-loss model."""
    from sr_image.module import EnhanceNet

    module = EnhanceNet(num_blocks=1, num_filters=8, perceptual_weights={"pool2": 0.2}, vgg_weights="random")
    assert [name for name, m in module.named_modules() if not m.training] == []


def test_texture_patch_readings_give_the_stated_window_sides_and_loss_ratios():
    """'16x16 pixels' as image pixels: 16 / 8 / 4 positions at conv1_1 / 2_1 / 3_1; as feature positions: 16 at
    each. With Gram entries summed over p^2 positions, constant activations make the squared loss scale as p^4."""
    from sr_image.losses import texture_patch_positions

    assert [texture_patch_positions(n, 16) for n in ("conv1_1", "conv2_1", "conv3_1")] == [16, 8, 4]
    assert [texture_patch_positions(n, 16, "features") for n in ("conv1_1", "conv2_1", "conv3_1")] == [16, 16, 16]
    est, hr = {"conv3_1": torch.full((1, 2, 32, 32), 2.0)}, {"conv3_1": torch.ones(1, 2, 32, 32)}
    image = texture_loss(est, hr, {"conv3_1": 1.0}, 16, "image")  # 4x4 windows: Gram entries 16*4 vs 16*1
    features = texture_loss(est, hr, {"conv3_1": 1.0}, 16, "features")  # 16x16 windows: 256*4 vs 256*1
    assert image.item() == pytest.approx((16 * 3) ** 2) and features.item() == pytest.approx((256 * 3) ** 2)
    assert features.item() / image.item() == pytest.approx(256)  # the 256x of the issue at conv3_1
    with pytest.raises(ValueError, match="texture_patch_units"):
        texture_patch_positions("conv1_1", 16, "pixels")


def test_gradient_norms_per_term_match_autograd_of_each_term_alone():
    from sr_image.module import EnhanceNet

    torch.manual_seed(0)
    module = EnhanceNet(num_blocks=1, num_filters=8, pixel_weight=1.0, perceptual_weights={"pool2": 0.2},
                        texture_weights={"conv1_1": 3e-7}, adversarial_weight=2.0, lr_patch_size=8,
                        vgg_weights="random")  # fmt: skip
    lr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32)
    est = module.generator(lr)
    weighted, _ = module.weighted_terms(est, hr)
    norms = module.term_grad_norms(est, weighted)
    assert set(norms) == {"gradnorm_e", "gradnorm_p", "gradnorm_t", "gradnorm_a"}
    # independent: L_E = 1.0 * mean over pixels of the channel-summed squared error -> grad 2 (est - hr) / (N H W)
    expected_e = (2 * (est - hr) / (2 * 32 * 32)).norm()
    torch.testing.assert_close(norms["gradnorm_e"], expected_e.detach(), rtol=1e-5, atol=1e-8)
    # the adversarial term scales with its weight: doubling the weight doubles the norm
    module.hparams.adversarial_weight = 4.0
    doubled = module.term_grad_norms(est, module.weighted_terms(est, hr)[0])["gradnorm_a"]
    torch.testing.assert_close(doubled, 2 * norms["gradnorm_a"])
