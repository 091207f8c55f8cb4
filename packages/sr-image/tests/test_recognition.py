"""The object-recognition metric of thesis Sec. 2.5.5 (Table 2.5): scores and the folder evaluation."""

import math

import pytest
import torch

from gen_common.embedded import embedded_images
from gen_common.images import save_image
from sr_image.data import bicubic_downsample
from sr_image.metrics import LabelledImages, evaluate_recognition, recognition_scores
from sr_image.nets import bicubic_upsample


def naive_scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Per-image loop with Python lists, the independent reference."""
    top1 = top5 = 0
    confidences = []
    for row, label in zip(logits.tolist(), labels.tolist(), strict=True):
        order = sorted(range(len(row)), key=lambda c: -row[c])
        exps = [math.exp(v - max(row)) for v in row]
        if order[0] == label:
            top1 += 1
            confidences.append(exps[label] / sum(exps))
        top5 += label in order[:5]
    n = len(labels)
    return {
        "top1_error": 1 - top1 / n,
        "top5_error": 1 - top5 / n,
        "confidence": sum(confidences) / len(confidences) if confidences else float("nan"),
        "n": n,
    }


def test_scores_hand_computed():
    # 3 images, 6 classes. Image 0: correct at top-1 (p = e^2 / (e^2 + 5)); image 1: label ranked 3rd (top-5 hit);
    # image 2: label ranked last (miss).
    logits = torch.tensor(
        [
            [2.0, 0, 0, 0, 0, 0],
            [3.0, 2.0, 1.0, 0, 0, 0],
            [0, 1.0, 2.0, 3.0, 4.0, 5.0],
        ]
    )
    labels = torch.tensor([0, 2, 0])
    s = recognition_scores(logits, labels)
    assert s["top1_error"] == pytest.approx(2 / 3)
    assert s["top5_error"] == pytest.approx(1 / 3)
    assert s["confidence"] == pytest.approx(math.exp(2) / (math.exp(2) + 5))
    assert s["n"] == 3


@pytest.mark.parametrize("num_classes", [3, 10, 1000])
def test_scores_match_naive_loop(num_classes):
    g = torch.Generator().manual_seed(num_classes)
    logits = torch.randn(64, num_classes, generator=g) * 3
    labels = torch.randint(0, num_classes, (64,), generator=g)
    labels[:20] = logits[:20].argmax(1)  # make sure some are correct
    got, want = recognition_scores(logits, labels), naive_scores(logits, labels)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key


def test_scores_no_correct_gives_nan_confidence():
    s = recognition_scores(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))
    assert s["top1_error"] == 1.0 and math.isnan(s["confidence"])


@pytest.mark.parametrize(
    "logits, labels, match",
    [
        (torch.zeros(2, 5), torch.tensor([0, 5]), r"labels must lie in \[0, 5\)"),
        (torch.zeros(2, 5), torch.tensor([0]), "expected logits"),
        (torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), "expected logits"),
    ],
)
def test_scores_bad_input(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        recognition_scores(logits, labels)


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    """Three embedded photographs as classes 281, 7 and 999 (crops keep it small)."""
    root = tmp_path_factory.mktemp("labelled")
    for (name, img), label in zip(embedded_images("eval"), (281, 7, 999), strict=True):
        save_image(img[:, :120, :150], root / str(label) / f"{name}.png")
    (root / "281" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def resnet():
    from gen_common.weights import resolve_weights

    torch.manual_seed(0)
    return resolve_weights("resnet50", "random")


def test_labelled_images(labelled_folder):
    data = LabelledImages(labelled_folder, size=32)
    assert len(data) == 3
    assert sorted(item["label"] for item in data) == [7, 281, 999]
    hr = data[0]["hr"]
    assert hr.shape == (3, 32, 32) and 0 <= hr.min() and hr.max() <= 1
    assert torch.equal(hr, hr.mul(255).round().div(255))  # 8-bit quantised
    assert len(LabelledImages(labelled_folder, size=32, max_images=2)) == 2


def test_evaluate_recognition_smoke_and_identity(labelled_folder, resnet):
    data = LabelledImages(labelled_folder, size=32)
    hr_of = {}  # LR bytes -> HR: an "upscaler" that returns the original image exactly
    for item in data:
        hr_of[bicubic_downsample(item["hr"][None], 4).numpy().tobytes()] = item["hr"]

    def identity_of_hr(lr):
        return torch.stack([hr_of[x[None].numpy().tobytes()] for x in lr])

    fns = {"bicubic": lambda lr: bicubic_upsample(lr, 4), "oracle": identity_of_hr}
    out = evaluate_recognition(fns, labelled_folder, resnet, scale=4, size=32, batch_size=2)
    assert set(out) == {"bicubic", "oracle", "baseline"}
    for scores in out.values():
        assert set(scores) == {"top1_error", "top5_error", "confidence", "n"}
        assert scores["n"] == 3
        assert 0 <= scores["top5_error"] <= scores["top1_error"] <= 1
        assert math.isnan(scores["confidence"]) or 0 < scores["confidence"] <= 1
    assert out["oracle"] == pytest.approx(out["baseline"], nan_ok=True)

    single = evaluate_recognition(lambda lr: bicubic_upsample(lr, 4), labelled_folder, resnet, size=32, batch_size=3)
    assert set(single) == {"sr", "baseline"}
    assert single["sr"] == pytest.approx(out["bicubic"], nan_ok=True)


def test_evaluate_recognition_errors(labelled_folder, tmp_path, resnet):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate_recognition(lambda lr: lr, tmp_path / "nope", resnet)
    (tmp_path / "cats").mkdir()
    with pytest.raises(ValueError, match="integer ImageNet class index"):
        evaluate_recognition(lambda lr: lr, tmp_path, resnet)
    with pytest.raises(ValueError, match="multiple of scale"):
        evaluate_recognition(lambda lr: lr, labelled_folder, resnet, scale=4, size=30)
    with pytest.raises(ValueError, match="returned"):
        evaluate_recognition(lambda lr: lr, labelled_folder, resnet, scale=4, size=32)
