"""Precision and recall for distributions (thesis ch. 5): PRD curves, F_8/F_1/8, FID, and beside them KID, k-NN
precision / recall, density / coverage and the Inception Score, all from one set of features."""

from gen_common.lazy import lazy_exports

_EXPORTS = {
    "compute_prd": "prd_metric.prd",
    "prd_from_embeddings": "prd_metric.prd",
    "max_f_beta_pair": "prd_metric.prd",
    "f_beta": "prd_metric.prd",
    "PrecisionRecallDistributions": "prd_metric.metric",
    "fid_from_features": "prd_metric.metric",
    "evaluate_features": "prd_metric.suite",
    "knn_metrics": "prd_metric.knn",
    "kernel_inception_distance": "prd_metric.scores",
    "inception_score": "prd_metric.scores",
    "build_embedding": "prd_metric.embeddings",
    "embed_images": "prd_metric.embeddings",
    "embed_image_folder": "prd_metric.embeddings",
    "InceptionPool3": "prd_metric.embeddings",
    "plot_prd": "prd_metric.plot",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
