"""Evaluation of G during training (Sec. 4.2.4): FID and PRD F_8 / F_1/8 by prd-metric, on a chosen embedding."""

from torch import Tensor, nn

from prd_metric.metric import PrecisionRecallDistributions

EMBEDDINGS = ("inception", "digits", "digits_channels")


class ChannelwiseEmbedding(nn.Module):
    """Embed each colour channel as a grey image and concatenate: (N, C, H, W) -> (N, C * D).

    For Color MNIST / colour digits, whose channels are independent digits (Sec. 4.4.1): the digits network then
    sees each digit, so a GAN that draws good digits in one channel and noise in the others (Fig. 4.7) scores
    badly, which a luma conversion would blur.
    """

    def __init__(self, grey_embedding: nn.Module, channels: int = 3) -> None:
        super().__init__()
        self.grey = grey_embedding
        self.channels = channels
        self.num_features = channels * int(grey_embedding.num_features)

    def forward(self, images: Tensor) -> Tensor:
        n, c = images.shape[:2]
        if c != self.channels:
            raise ValueError(f"ChannelwiseEmbedding expects {self.channels} channels, got images {tuple(images.shape)}")
        feats = self.grey(images.reshape(n * c, 1, *images.shape[2:]))
        return feats.reshape(n, -1)


def build_eval_metric(embedding: str, weights: str | None = None, **prd_settings) -> PrecisionRecallDistributions:
    """The FID + PRD metric on ``embedding``: ``"inception"`` (the thesis's FID features; ImageNet weights, a local
    file, or ``"random"`` for tests), ``"digits"`` (prd-metric's offline digits CNN) or ``"digits_channels"``
    (the digits CNN on each channel of colour digits, :class:`ChannelwiseEmbedding`).

    ``prd_settings`` go to :class:`prd_metric.metric.PrecisionRecallDistributions` (clusters, runs, seed, ...).
    """
    if embedding not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {embedding!r}; choose one of {', '.join(EMBEDDINGS)}")
    if embedding == "digits_channels":
        from prd_metric.digits import DigitsEmbedding

        module = ChannelwiseEmbedding(DigitsEmbedding(weights or "shipped")).eval()
        return PrecisionRecallDistributions(embedding=module, **prd_settings)
    return PrecisionRecallDistributions(embedding=embedding, weights=weights, **prd_settings)


def to_unit(x: Tensor) -> Tensor:
    """Network range [-1, 1] -> image range [0, 1] (clamped: the lens output is unbounded)."""
    return ((x.float() + 1) / 2).clamp(0, 1)
