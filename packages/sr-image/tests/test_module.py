"""The LightningModule's training step: the discriminator gate of Sec. 2.4.2 acting on real updates."""

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from sr_image.module import EnhanceNet
from sr_image.nets import EnhanceNetGenerator


class _Crops(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"lr": torch.rand(3, 8, 8, generator=g), "hr": torch.rand(3, 32, 32, generator=g)}


def _fit(module, steps):
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, DataLoader(_Crops(), batch_size=2))
    return trainer


def _module():
    return EnhanceNet(num_blocks=1, num_filters=4, pixel_weight=1.0, adversarial_weight=1.0, lr_patch_size=8)


@pytest.mark.parametrize("acc,trained", [(0.95, False), (0.5, True)])
def test_gate_decides_whether_the_discriminator_moves(acc, trained):
    module = _module()
    module.acc_real.fill_(acc)  # D's accuracy on the "previous batch", both above / below the 0.8 threshold
    module.acc_fake.fill_(0.95)
    before = [p.detach().clone() for p in module.discriminator.parameters()]
    g_before = [p.detach().clone() for p in module.generator.parameters()]
    trainer = _fit(module, 1)
    moved = any(not torch.equal(a, b) for a, b in zip(before, module.discriminator.parameters(), strict=True))
    assert moved == trained
    assert int(module.d_steps) == int(trained)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, module.generator.parameters(), strict=True))
    assert trainer.global_step == 1  # counts generator steps only


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_channels_last_step_on_gpu():
    from gen_common.callbacks import ChannelsLast, FiniteGuard

    module = EnhanceNet(
        num_blocks=1, num_filters=8, pixel_weight=0.0, perceptual_weights={"pool2": 0.2},
        texture_weights={"conv1_1": 3e-7}, adversarial_weight=2.0, lr_patch_size=8, vgg_weights="random",
    )  # fmt: skip
    trainer = pl.Trainer(
        accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, limit_val_batches=0, callbacks=[ChannelsLast(), FiniteGuard()],
    )  # fmt: skip
    trainer.fit(module, DataLoader(_Crops(), batch_size=2))  # FiniteGuard: GPU losses beside CPU-made counters
    assert trainer.global_step == 2
    assert module.generator.head[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(p).all() for p in module.generator.parameters())


def test_input_mean_is_subtracted_before_the_network():
    torch.manual_seed(0)
    mean = (0.476, 0.450, 0.409)
    with_mean = EnhanceNetGenerator(scale=2, num_blocks=1, num_filters=4, input_mean=mean)
    without = EnhanceNetGenerator(scale=2, num_blocks=1, num_filters=4, input_mean=None)
    without.load_state_dict(with_mean.state_dict() | {"input_mean": torch.zeros(1, 3, 1, 1)})
    grey = torch.tensor(mean).view(1, 3, 1, 1).expand(1, 3, 6, 6)
    # the mean image looks like zeros to the network: same residual as a black image without mean subtraction
    torch.testing.assert_close(with_mean.residual(grey), without.residual(torch.zeros(1, 3, 6, 6)))
