"""The torchmetrics Metric: batching, FID against scipy's Eq. 5.2, images through an embedding, real DDP, plots."""

import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from prd_metric.metric import PrecisionRecallDistributions
from prd_metric.plot import log_prd_to_wandb, plot_prd
from prd_metric.prd import max_f_beta_pair, prd_from_embeddings

SETTINGS = {"num_clusters": 10, "num_runs": 3, "num_angles": 201, "seed": 0}


def _feats(n, classes, seed, dim=16):
    centers = np.random.default_rng(7).normal(scale=8.0, size=(10, dim))
    rng = np.random.default_rng(seed)
    return torch.tensor(centers[rng.choice(classes, n)] + rng.normal(size=(n, dim)), dtype=torch.float32)


def _fid_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """Eq. 5.2 with scipy's matrix square root, independent of torchmetrics."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_batched_updates_equal_one_call_and_fid_matches_scipy():
    real, fake = _feats(600, range(10), 0), _feats(600, range(6), 1)
    metric = PrecisionRecallDistributions(embedding=None, **SETTINGS)
    for chunk_r, chunk_f in zip(real.split(128), fake.split(128), strict=True):
        metric.update(real=chunk_r, fake=chunk_f)
    out = metric.compute()
    precision, recall = prd_from_embeddings(eval_feats=fake, ref_feats=real, **SETTINGS)
    torch.testing.assert_close(out["precision"], precision.float())
    torch.testing.assert_close(out["recall"], recall.float())
    f8, f1_8 = max_f_beta_pair(precision, recall)
    assert out["f_beta"].item() == pytest.approx(f8) and out["f_beta_inv"].item() == pytest.approx(f1_8)
    assert out["fid"].item() == pytest.approx(_fid_scipy(real.double().numpy(), fake.double().numpy()), rel=1e-3)
    assert out["num_real"].item() == out["num_fake"].item() == 600
    assert f8 < f1_8  # fake drops 4 of 10 modes: recall suffers, precision does not


def test_images_through_a_user_embedding_equal_its_features():
    proj = torch.randn(3 * 8 * 8, 12, generator=torch.Generator().manual_seed(0))
    embed = lambda x: x.flatten(1) @ proj  # any callable images -> (N, D)
    real_img = torch.rand(200, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    fake_img = torch.rand(200, 3, 8, 8, generator=torch.Generator().manual_seed(2)) ** 2
    by_images = PrecisionRecallDistributions(embedding=embed, **SETTINGS)
    by_images.update(real=real_img, fake=fake_img)
    by_feats = PrecisionRecallDistributions(embedding=None, **SETTINGS)
    by_feats.update(real=embed(real_img), fake=embed(fake_img))
    a, b = by_images.compute(), by_feats.compute()
    for key in ("precision", "recall", "f_beta", "f_beta_inv", "fid"):
        torch.testing.assert_close(a[key], b[key])


def test_embedding_stays_out_of_state_dict():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    metric = PrecisionRecallDistributions(embedding=net)
    assert metric.state_dict() == {} or not any("weight" in k for k in metric.state_dict())


def test_calls_only_accumulate_and_sets_are_keyword_only():
    real, fake = _feats(300, range(10), 0), _feats(300, range(5), 1)
    metric = PrecisionRecallDistributions(embedding=None, **SETTINGS)
    with pytest.raises(TypeError):
        metric.update(fake, real)  # torchmetrics' usual (preds, target) order would swap precision and recall
    for chunk_r, chunk_f in zip(real.split(100), fake.split(100), strict=True):
        assert metric(real=chunk_r, fake=chunk_f) is None  # no per-batch clustering
    with pytest.raises(ValueError, match="real=.*fake="):
        metric()
    out = metric.compute()
    assert out["num_real"].item() == out["num_fake"].item() == 300  # the failed call lost nothing
    assert out["f_beta"] < out["f_beta_inv"]


def test_bad_use():
    metric = PrecisionRecallDistributions(embedding=None, **SETTINGS)
    with pytest.raises(ValueError, match="no embedding"):
        metric.update(real=torch.rand(4, 3, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        metric.update(fake=torch.full((4, 5), float("nan")))
    with pytest.raises(ValueError, match="real=.*fake="):
        metric.update()
    metric.update(real=torch.rand(10, 5))
    with pytest.raises(RuntimeError, match="both real and fake"):
        metric.compute()
    metric.update(fake=torch.rand(12, 5))
    with pytest.raises(ValueError, match="enforce_balance"):
        metric.compute()


_DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
from prd_metric.metric import PrecisionRecallDistributions
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
real, fake, settings = torch.load(sys.argv[1], weights_only=True)
metric = PrecisionRecallDistributions(embedding=None, **settings)
metric.update(real=real[rank::world], fake=fake[rank::world])  # each process sees its share of the samples
torch.save(metric.compute(), sys.argv[2] + f"/rank{rank}.pt")
dist.destroy_process_group()
"""


def test_ddp_two_processes_equal_one_process(tmp_path):
    # Two real processes (torchrun, gloo): torchmetrics gathers the features before the clustering.
    real, fake = _feats(400, range(10), 3), _feats(400, range(5), 4)
    torch.save((real, fake, SETTINGS), tmp_path / "data.pt")
    (tmp_path / "worker.py").write_text(_DDP_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_free_port())]
    subprocess.run([*cmd, str(tmp_path / "worker.py"), str(tmp_path / "data.pt"), str(tmp_path)], check=True,
                   timeout=120, capture_output=True)  # fmt: skip
    # gathered features come back rank by rank, so compare with the same order in one process
    single = PrecisionRecallDistributions(embedding=None, **SETTINGS)
    single.update(real=torch.cat([real[0::2], real[1::2]]), fake=torch.cat([fake[0::2], fake[1::2]]))
    ref = single.compute()
    for rank in (0, 1):
        out = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert out["num_real"].item() == 400
        for key in ("precision", "recall", "fid"):
            torch.testing.assert_close(out[key], ref[key], atol=1e-4, rtol=1e-4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plot_file_and_wandb_offline(tmp_path, monkeypatch):
    curves = [
        prd_from_embeddings(eval_feats=_feats(300, range(k), k), ref_feats=_feats(300, range(10), 0), **SETTINGS)
        for k in (3, 10)
    ]
    plot_prd(curves, ["Q3", "Q10"], tmp_path / "prd.png")
    with Image.open(tmp_path / "prd.png") as img:
        assert img.size[0] > 300 and img.size[1] > 300
    with pytest.raises(ValueError, match="labels"):
        plot_prd(curves, ["only one"])

    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="prd-test", dir=str(tmp_path))
    try:
        row = log_prd_to_wandb(run, curves, ["Q3", "Q10"])
    finally:
        run.finish()
    assert row["prd/Q3/f8"] < row["prd/Q10/f8"]  # fewer modes, lower recall
    assert list((tmp_path / "wandb").glob("offline-run-*/files/media/images/prd/plot_*.png"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metric_on_gpu_matches_cpu():
    real, fake = _feats(600, range(10), 0), _feats(600, range(6), 1)
    results = {}
    for device in ("cpu", "cuda"):
        # CPU and CUDA draw different random numbers: 10 runs average out the rare poor seeding
        metric = PrecisionRecallDistributions(embedding=None, **{**SETTINGS, "num_runs": 10}).to(device)
        metric.update(real=real.to(device), fake=fake.to(device))
        results[device] = metric.compute()
    assert results["cuda"]["precision"].is_cuda
    for key in ("f_beta", "f_beta_inv"):
        assert results["cuda"][key].item() == pytest.approx(results["cpu"][key].item(), abs=0.02)
    assert results["cuda"]["fid"].item() == pytest.approx(results["cpu"]["fid"].item(), rel=1e-3)
