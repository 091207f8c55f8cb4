"""Sec. 5.4.1 on the embedded digits: the shape the thesis reports (Fig. 5.5), and the dataset errors."""

import json

import pytest
import torch

from prd_metric.modes import load_labelled, main, mode_sets


def test_mode_sets_have_the_right_classes_and_size():
    train = torch.arange(100) % 10
    test = torch.arange(50) % 10
    p, qs, n = mode_sets(train, test, num_samples=None, seed=0)
    assert n == 25 and len(p) == 25 and set(test[p].tolist()) <= set(range(5))
    for i, q in enumerate(qs, start=1):
        assert len(q) == n and set(train[q].tolist()) == set(range(i))


def test_dropping_and_inventing_modes_on_digits(tmp_path, capsys):
    out = tmp_path / "modes.json"
    assert main(["--num-runs", "3", "--plot", str(tmp_path / "m.png"), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    recall = [r["f8"] for r in rows]  # F_8 weighs recall
    precision = [r["f1_8"] for r in rows]  # F_1/8 weighs precision
    assert all(a < b for a, b in zip(recall[:5], recall[1:5], strict=False))  # recall rises up to Q_5
    assert all(a > b for a, b in zip(precision[4:], precision[5:], strict=False))  # precision falls after Q_5
    assert min(recall[4], precision[4]) > 0.9  # Q_5 covers exactly P's classes
    q4, q6 = rows[3], rows[5]
    assert max(q4["fid"], q6["fid"]) < 2 * min(q4["fid"], q6["fid"])  # FID: similar ...
    assert q6["f8"] - q4["f8"] > 0.1 and q4["f1_8"] - q6["f1_8"] > 0.1  # ... PRD: opposite failure modes
    assert (tmp_path / "m.png").exists()
    err = capsys.readouterr().err
    assert "embedding" in err and "img" in err and "k-means" in err and "30/30" in err  # 10 sets x 3 runs


def test_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="--root"):
        load_labelled("mnist", "train")
    with pytest.raises(FileNotFoundError, match="--download"):
        load_labelled("cifar10", "test", root=str(tmp_path))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_labelled("imagenet", "test", root=str(tmp_path))
