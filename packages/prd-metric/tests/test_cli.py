"""``prd-metric compare``: feature files and image folders in, table / plot / JSON out, clear errors."""

import json

import numpy as np
import pytest
import torch

from gen_common.images import save_image
from prd_metric.cli import main

FAST = ["--num-clusters", "10", "--num-runs", "2", "--num-angles", "101"]


def _feats(n, classes, seed, dim=16):
    centers = np.random.default_rng(7).normal(scale=8.0, size=(10, dim))
    rng = np.random.default_rng(seed)
    return (centers[rng.choice(classes, n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture
def feature_files(tmp_path):
    np.save(tmp_path / "ref.npy", _feats(400, range(10), 0))
    np.save(tmp_path / "half.npy", _feats(400, range(5), 1))
    torch.save(torch.from_numpy(_feats(400, range(10), 2)), tmp_path / "full.pt")
    return tmp_path


def test_compare_feature_files(feature_files, capsys):
    d = feature_files
    argv = ["compare", "--ref", str(d / "ref.npy"), "--eval", str(d / "half.npy"), "--eval", str(d / "full.pt")]
    argv += ["--labels", "half", "full", "--plot", str(d / "prd.png"), "--json", str(d / "out.json"), *FAST]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "half" in out and "full" in out and "F_8" in out
    assert "k-means half" in err and "2/2" in err  # progress on stderr: one bar per clustering, in runs
    settings = json.loads((d / "out.json").read_text())["settings"]
    for key in ("num_clusters", "num_runs", "num_angles", "seed", "backend", "enforce_balance", "beta", "subsample",
                "embedding", "weights", "image_size", "device"):  # fmt: skip
        assert key in settings, key
    assert settings["num_clusters"] == 10 and settings["seed"] == 0 and settings["kmeans"]["n_init"] == 10
    assert settings["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # --device auto, resolved
    assert {"prd-metric", "torch", "scikit-learn", "torchmetrics", "torch-fidelity"} <= set(settings["versions"])
    record = json.loads((d / "out.json").read_text())
    half, full = record["results"]
    assert len(half["precision"]) == len(half["recall"]) == 101
    assert half["f_beta"] < full["f_beta"]  # dropping 5 of 10 modes costs recall
    # features too get every feature metric (FID in these features), but no IS: it needs an image folder's logits
    assert {"fid", "kid_mean", "knn_precision", "knn_recall", "density", "coverage"} <= set(
        half
    ) and "is_mean" not in half
    assert half["fid"] > full["fid"] and half["knn_recall"] < full["knn_recall"] and half["coverage"] < full["coverage"]
    assert "KIDx1e3" in out and "coverage" in out and " IS" not in out
    assert settings["metrics"] == ["prd", "fid", "kid", "knn", "is"] and settings["knn_k"] == 5
    assert (d / "prd.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: np.save(d / "bad.npy", _feats(400, range(10), 3, dim=8)), [], "8-d features"),
        (lambda d: np.save(d / "bad.npy", _feats(300, range(10), 3)), [], "--subsample"),
        (lambda d: np.save(d / "bad.npy", np.full((400, 16), np.nan, np.float32)), [], "NaN"),
        (lambda d: (d / "bad.npy").write_bytes(b"not numpy"), [], "cannot read features"),
        (lambda d: np.save(d / "bad.npy", np.zeros((400, 16, 2), np.float32)), [], "2-D"),
        (lambda d: (d / "bad").mkdir(), ["--embedding", "digits"], "no images"),
        (lambda d: None, [], "does not exist"),
        (lambda d: np.save(d / "bad.npy", _feats(400, range(3), 5)), ["--device", "bogus"], "not a device"),
        (lambda d: np.save(d / "bad.npy", _feats(400, range(3), 5)), ["--plot", "p.xyz"], "unknown image format"),
        (lambda d: np.save(d / "bad.npy", _feats(400, range(3), 5)), ["--beta", "0"], "--beta must be a positive"),
        (lambda d: np.save(d / "bad.npy", np.full((400, 16), 1e39)), [], "beyond float32's range"),  # was "NaN"
        (lambda d: np.save(d / "bad.npy", _feats(400, range(3), 5)), ["--knn-k", "0"], "--knn-k must be >= 1"),
        (
            lambda d: np.save(d / "bad.npy", _feats(400, range(3), 5)),
            ["--metrics", "fid", "--plot", "p.png"],
            "add prd",
        ),
    ],
)
def test_compare_errors(feature_files, capsys, make, extra, message):
    d = feature_files
    make(d)
    bad = d / "bad" if message == "no images" else d / "bad.npy"
    assert main(["compare", "--ref", str(d / "ref.npy"), "--eval", str(bad), *extra, *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_cuda_without_cuda_is_an_error(feature_files, tmp_path, capsys):
    ref = str(feature_files / "ref.npy")
    assert main(["compare", "--ref", ref, "--eval", ref, "--device", "cuda", *FAST]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert main(["modes", "--device", "cuda", "--plot", str(tmp_path / "m.png")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not (tmp_path / "m.png").exists()


def test_output_may_not_be_an_input(feature_files, capsys):
    d = feature_files
    ref = str(d / "ref.npy")
    assert main(["compare", "--ref", ref, "--eval", str(d / "half.npy"), "--json", ref, "--overwrite", *FAST]) == 2
    assert "also an input" in capsys.readouterr().err
    assert np.load(ref).shape == (400, 16)


def test_subsample_and_no_overwrite(feature_files, capsys):
    d = feature_files
    np.save(d / "small.npy", _feats(300, range(10), 4))
    (d / "out.json").write_text("keep me")
    argv = ["compare", "--ref", str(d / "ref.npy"), "--eval", str(d / "small.npy"), "--json", str(d / "out.json")]
    assert main([*argv, "--subsample", *FAST]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (d / "out.json").read_text() == "keep me"  # nothing the user had is overwritten
    assert main([*argv, "--subsample", "--overwrite", *FAST]) == 0
    assert json.loads((d / "out.json").read_text())["results"][0]["num_used"] == 300


def test_compare_image_folders_gives_fid(tmp_path, capsys):
    pytest.importorskip("prd_metric.digits")
    from prd_metric.digits import load_digits_split

    images, labels = load_digits_split("test")
    for name, keep in [("real", labels < 10), ("fake", labels < 3)]:
        folder = tmp_path / name
        folder.mkdir()
        for i, img in enumerate(images[keep][:60]):
            save_image(img.expand(3, -1, -1), folder / f"{i:03d}.png")
    argv = ["compare", "--ref", str(tmp_path / "real"), "--eval", str(tmp_path / "fake"), "--embedding", "digits"]
    assert main([*argv, "--json", str(tmp_path / "o.json"), *FAST]) == 0
    row = json.loads((tmp_path / "o.json").read_text())["results"][0]
    assert row["kind"] == "images" and row["num_images"] == 60 and row["size"] == 32
    assert row["fid"] > 0 and len(row["weights_sha256"]) == 64
    # the digits CNN's logits of the same pass give an IS: 3 classes drawn about equally, confidently -> near 3
    assert 2.0 < row["is_mean"] < 3.2
    out, err = capsys.readouterr()
    assert "FID" in out and " IS" in out
    assert "real" in err and "fake" in err and "60/60" in err and "img" in err  # embedding bars, per folder


def test_compare_reports_the_classifier_view_and_fig_5_8_correlations(tmp_path, capsys):
    pytest.importorskip("prd_metric.digits")
    from prd_metric.digits import load_digits_split

    images, labels = load_digits_split("test")
    sets = {"real": 10, "one": 1, "three": 3, "all": 10}  # name: classes drawn (the first k digits)
    for name, k in sets.items():
        (tmp_path / name).mkdir()
        keep = (labels < k).nonzero().flatten()[(0 if name != "all" else 1) :: 2][:40]  # "all": other samples
        for i, j in enumerate(keep):
            save_image(images[j].expand(3, -1, -1), tmp_path / name / f"{i:03d}.png")
    argv = ["compare", "--ref", str(tmp_path / "real"), "--embedding", "digits", "--json", str(tmp_path / "o.json")]
    for name in ("one", "three", "all"):
        argv += ["--eval", str(tmp_path / name)]
    argv += ["--clusters-plot", str(tmp_path / "clusters.png")]  # Fig. 5.9 for "one" against the reference
    assert main([*argv, *FAST, "--num-clusters", "5", "--kid-subset-size", "20", "--is-splits", "2"]) == 0
    assert (tmp_path / "clusters.png").stat().st_size > 10_000
    record = json.loads((tmp_path / "o.json").read_text())
    one, three, every = record["results"]
    assert one["histogram"][0] > 0.9 and max(three["histogram"][:3]) < 0.6  # Fig. 5.6's class bars
    assert one["entropy_y"] < three["entropy_y"] < every["entropy_y"]  # more classes, higher H(y)
    assert set(record["fig_5_8_spearman"]) == {"models", "f1_8_vs_entropy_y_given_x", "f8_vs_entropy_y"}
    assert record["fig_5_8_spearman"]["f8_vs_entropy_y"] == pytest.approx(1.0)  # recall rises with H(y) here
    assert "Spearman over the 3 sets (Fig. 5.8)" in capsys.readouterr().out


def test_fig_5_9_clusters_partition_both_sets_and_separate_blobs():
    from prd_metric.plot import cluster_members

    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=gen) * 20
    ref = centres[torch.arange(80) % 4] + torch.randn(80, 8, generator=gen)
    fake = centres[torch.arange(60) % 2] + torch.randn(60, 8, generator=gen)  # only blobs 0 and 1
    members = cluster_members(ref, fake, num_clusters=4)
    assert sorted(torch.cat([r for r, _ in members]).tolist()) == list(range(80))
    assert sorted(torch.cat([f for _, f in members]).tolist()) == list(range(60))
    for ref_idx, fake_idx in members:  # each cluster is one blob: its members share a centre
        assert len({int(i) % 4 for i in ref_idx}) == 1 and len({int(i) % 2 for i in fake_idx}) <= 1
    assert sum(len(f) == 0 for _, f in members) == 2  # the two blobs the model dropped hold no generated sample
