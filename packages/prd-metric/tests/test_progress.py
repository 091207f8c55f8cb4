"""Progress: quiet by default (library calls, tests), a bar on stderr when asked, counts that add up, same numbers."""

import numpy as np
import pytest
import torch

from gen_common.images import save_image
from prd_metric.embeddings import FeatureCallable, embed_image_folder, embed_images
from prd_metric.kmeans import cluster_histograms, minibatch_kmeans
from prd_metric.prd import prd_from_embeddings


def _mean_rgb():
    return FeatureCallable(lambda x: x.mean(dim=(2, 3)), name="mean_rgb", input_size=8)


def _points(n=300, dim=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32))


def test_embedding_is_quiet_by_default_and_counts_every_image(tmp_path, capsys):
    images = torch.rand(10, 3, 8, 8)
    quiet = embed_images(_mean_rgb(), images, batch_size=4)
    assert capsys.readouterr().err == ""
    seen = []
    assert torch.equal(embed_images(_mean_rgb(), images, batch_size=4, progress=seen.append), quiet)
    assert seen == [4, 4, 2]
    embed_images(_mean_rgb(), images, batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "embedding" in err and "10/10" in err and "img" in err  # a bar with the count and the unit's rate
    for i in range(5):
        save_image(torch.rand(3, 8, 8), tmp_path / "imgs" / f"{i}.png")
    embed_image_folder(tmp_path / "imgs", _mean_rgb(), batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "imgs" in err and "5/5" in err  # named after the folder


def test_kmeans_reports_every_run_once():
    x = _points()
    for patience in (2, 10_000):  # runs stop early (at different steps), or all at max_epochs
        done = []
        minibatch_kmeans(x, 4, num_runs=5, seed=0, batch_size=64, max_epochs=3, max_no_improvement=patience,
                         on_run_done=done.append)  # fmt: skip
        assert sum(done) == 5 and all(n > 0 for n in done), (patience, done)
    done = []
    cluster_histograms(eval_feats=x[:150], ref_feats=x[150:], num_clusters=3, num_runs=2, seed=0, backend="sklearn",
                       on_run_done=done.append)  # fmt: skip
    assert done == [1, 1]


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_prd_progress_changes_no_number(backend, capsys):
    x = _points()
    kwargs = {"eval_feats": x[:150], "ref_feats": x[150:], "num_clusters": 5, "num_runs": 3, "seed": 0}
    quiet = prd_from_embeddings(backend=backend, **kwargs)
    assert capsys.readouterr().err == ""
    loud = prd_from_embeddings(backend=backend, progress=True, **kwargs)
    err = capsys.readouterr().err
    assert "k-means" in err and "3/3" in err and "run" in err
    assert all(torch.equal(a, b) for a, b in zip(quiet, loud, strict=True))
