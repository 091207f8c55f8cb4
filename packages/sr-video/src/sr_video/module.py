"""Video SR LightningModule: wiring of FRVSR / SISR / VSR and L_sr + L_flow (thesis Sec. 3.3), no maths of its own."""

import importlib

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchmetrics import MeanMetric

from gen_common.finite import check_finite_state
from sr_image.nets import bicubic_upsample
from sr_video.data import SKIP_ENDS, effective_skip_ends
from sr_video.losses import sr_loss
from sr_video.metrics import temporal_profile, video_psnr_y, video_ssim_y


class VideoSR(pl.LightningModule):
    """Trains any of the clip models of :mod:`sr_video.nets`: ``net(lr (N,T,3,h,w)) -> (est, L_flow)``.

    Args:
        net: the model, built by Hydra (nested ``_target_``): FRVSR, SISR or VSR.
        lr: Adam's fixed learning rate (Sec. 3.3.5: 1e-4).
        flow_weight: weight of L_flow in L = L_sr + L_flow (Sec. 3.3.2: 1).
        eval_skip_ends: frames skipped at each end of a validation video (Table 3.2: 2; 0 keeps all). A video
            of ``2 * eval_skip_ends`` frames or fewer is scored on all its frames, with a warning
            (:func:`sr_video.data.effective_skip_ends`).
        compile: ``torch.compile`` the network.
    """

    monitor = ("val/psnr_y", "max")  # the checkpoint key of tools/train.py (video PSNR on Y)

    def __init__(
        self,
        net: nn.Module,
        lr: float = 1e-4,
        flow_weight: float = 1.0,
        eval_skip_ends: int = SKIP_ENDS,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if eval_skip_ends < 0:
            raise ValueError(f"model.eval_skip_ends must be >= 0 (Table 3.2's protocol: 2), got {eval_skip_ends}")
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.scale = net.scale
        self.val_metrics = nn.ModuleDict(
            {k: MeanMetric() for k in ("psnr_y", "ssim_y", "psnr_y_bicubic", "ssim_y_bicubic")}
        )

    # The network's class and size travel in the checkpoint, so inference rebuilds it without the Hydra config.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        srnet = self.net.srnet
        checkpoint["net"] = {
            "class": f"{type(self.net).__module__}.{type(self.net).__qualname__}",
            "scale": self.scale,
            "num_blocks": sum(1 for m in srnet.body if type(m).__name__ == "ResidualBlock"),
            "num_filters": srnet.body[0].out_channels,
        }

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.net.compile()

    def forward(self, lr: Tensor) -> Tensor:
        return self.net(lr)[0]

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr)  # Sec. 3.3.5: Adam, fixed 1e-4

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        est, flow_term = self.net(batch["lr"])
        loss_sr = sr_loss(est, batch["hr"])
        loss = loss_sr + self.hparams.flow_weight * flow_term
        self.log_dict({"train/loss_sr": loss_sr.detach(), "train/loss_flow": flow_term.detach()}, on_step=True)
        self.log("train/loss", loss.detach(), prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        lr, hr = batch["lr"], batch["hr"]  # one whole video per batch
        skip = effective_skip_ends(hr.shape[1], self.hparams.eval_skip_ends)
        if skip != self.hparams.eval_skip_ends:
            rank_zero_warn(
                f"validation video of {hr.shape[1]} frames is too short to skip {self.hparams.eval_skip_ends} at each "
                f"end (Table 3.2's protocol); scoring all its frames (raise data.max_eval_frames, or set "
                f"model.eval_skip_ends=0)"
            )
        est = self(lr).clamp(0, 1)
        bicubic = bicubic_upsample(lr.flatten(0, 1), self.scale).clamp(0, 1).view_as(hr)
        m = self.val_metrics
        for i in range(len(hr)):
            m["psnr_y"].update(video_psnr_y(est[i], hr[i], skip_ends=skip))
            m["ssim_y"].update(video_ssim_y(est[i], hr[i], skip_ends=skip))
            m["psnr_y_bicubic"].update(video_psnr_y(bicubic[i], hr[i], skip_ends=skip))
            m["ssim_y_bicubic"].update(video_ssim_y(bicubic[i], hr[i], skip_ends=skip))

    def on_validation_epoch_end(self) -> None:
        stage = "test" if self.trainer.testing else "val"
        for name, metric in self.val_metrics.items():
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name == "psnr_y")
            metric.reset()

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def sample_panels(self, batch: dict) -> tuple[list[Tensor], str]:
        """Last frame of the first clip: LR (nearest) | bicubic | output | HR, and their temporal profiles."""
        lr, hr, s = batch["lr"][:1], batch["hr"][:1], self.scale
        est = self(lr)[0].clamp(0, 1)
        last_lr = lr[0, -1:]
        frames = [F.interpolate(last_lr, scale_factor=s, mode="nearest"), bicubic_upsample(last_lr, s), est[-1:]]
        frames.append(hr[0, -1:])
        profiles = [temporal_profile(est)[None], temporal_profile(hr[0])[None]]
        # profiles are (T, W) strips; pad them to the frames' height so they fit the same grid
        h = frames[0].shape[-2]
        profiles = [F.pad(p, (0, 0, 0, max(0, h - p.shape[-2])))[..., :h, :] for p in profiles]
        panels = [p.clamp(0, 1) for p in frames + profiles]
        return panels, "LR (nearest) | bicubic | output | HR | temporal profile: output | HR"


def is_video_checkpoint(path: str) -> bool:
    """Whether ``path`` is a checkpoint of :class:`VideoSR` (False for missing or foreign files)."""
    try:
        return "net" in torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, unreadable, or not a dict: not ours; the caller's own loader reports it
        return False


def load_net(path: str) -> nn.Module:
    """The trained network of a :class:`VideoSR` checkpoint, in eval mode.

    Raises:
        ValueError: unreadable, not a sr-video checkpoint, weights that do not match its settings, or weights
            holding NaN / inf (a diverged run).
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or a pickle with code (weights_only refuses it)
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(err).__name__}): pass a last.ckpt written by "
            f"`python tools/train.py model=frvsr` (or sisr, vsr)"
        ) from err
    if not isinstance(ckpt, dict) or "net" not in ckpt:
        raise ValueError(f"{path} is not a sr-video checkpoint (written by `python tools/train.py model=frvsr`)")
    spec = ckpt["net"]
    module_name, _, cls_name = str(spec.get("class", "")).rpartition(".")
    if not module_name.startswith("sr_video.") or not hasattr(importlib.import_module(module_name), cls_name):
        raise ValueError(f"{path}: unexpected network class {spec.get('class')!r}")
    cls = getattr(importlib.import_module(module_name), cls_name)
    try:
        net = cls(scale=spec["scale"], num_blocks=spec["num_blocks"], num_filters=spec["num_filters"])
        state = {k[len("net.") :]: v for k, v in ckpt.get("state_dict", {}).items() if k.startswith("net.")}
        check_finite_state(state, path)
        net.load_state_dict(state)
    except (KeyError, RuntimeError) as err:  # settings missing, or weights of other sizes than the settings say
        raise ValueError(
            f"{path}: its weights do not match its network settings {spec} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}): the file was modified or comes from another version"
        ) from err
    return net.eval()
