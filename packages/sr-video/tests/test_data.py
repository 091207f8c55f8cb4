"""Degradation against scipy and a naive loop, noise/JPEG statistics, scene cuts, training clips, evaluation videos."""

import logging
import math

import numpy as np
import pytest
import scipy.ndimage
import skimage.data
import torch

from sr_video.data import (
    SCENE_CUT_THRESHOLD,
    ClipDataset,
    EpochSampler,
    VideoDataModule,
    VideoEvalDataset,
    add_gaussian_noise,
    clip_starts,
    crop_to_multiple,
    degrade,
    frame_differences,
    gaussian_radius,
    jpeg_compress,
    sampling_phase,
    scene_change,
)
from sr_video.video_io import VideoWriter, embedded_videos, read_frames

SCENES = (skimage.data.chelsea, skimage.data.astronaut, skimage.data.coffee, skimage.data.rocket)


def textured(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, h, w) in [0, 1]: a pan over a photograph while it fades, so no two frames or positions coincide."""
    img = torch.from_numpy(SCENES[seed % len(SCENES)]()).permute(2, 0, 1).float() / 255
    return torch.stack([img[:, 10 + t : 10 + t + h, 20 + 2 * t : 20 + 2 * t + w] * (1 - 0.01 * t) for t in range(n)])


def write(path, frames):
    with VideoWriter(path) as writer:
        writer.write(frames)
    return path


# --- degradation ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
def test_blur_subsample_matches_scipy(sigma):
    x = torch.rand(2, 3, 40, 48, dtype=torch.float64)
    p, r = sampling_phase(4), gaussian_radius(sigma)
    # scipy's "mirror" is torch's "reflect" (edge pixel not repeated); truncate so that scipy's radius is ours
    ref = scipy.ndimage.gaussian_filter(x.numpy(), (0, 0, sigma, sigma), mode="mirror", truncate=r / sigma)
    ours = degrade(x, scale=4, sigma=sigma)
    np.testing.assert_allclose(ours.numpy(), ref[..., p::4, p::4], atol=1e-12)


def test_blur_subsample_of_video_frames_matches_scipy_in_float32():
    # kornia's Gaussian blur (the degradation of Sec. 3.3.5) on real frames, in the dtype training uses
    frames = torch.stack(list(read_frames(embedded_videos("eval")[0], max_frames=3)))  # carphone, 176x144
    frames = crop_to_multiple(frames, 4)
    p = sampling_phase(4)
    for sigma in (0.7, 1.5, 3.0):
        r = gaussian_radius(sigma)
        ref = scipy.ndimage.gaussian_filter(
            frames.double().numpy(), (0, 0, sigma, sigma), mode="mirror", truncate=r / sigma
        )[..., p::4, p::4]
        ours = degrade(frames, scale=4, sigma=sigma)
        assert ours.dtype == torch.float32 and ours.is_contiguous()
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


def test_blur_subsample_matches_a_naive_loop():
    sigma, s = 1.5, 4
    img = torch.rand(3, 12, 16, dtype=torch.float64)
    r = gaussian_radius(sigma)
    assert 2 * r + 1 == 9  # TecoGAN's 9x9 kernel for sigma 1.5
    taps = [math.exp(-(d * d) / (2 * sigma * sigma)) for d in range(-r, r + 1)]
    taps = [t / sum(taps) for t in taps]

    def reflect(i, n):  # ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        return -i if i < 0 else 2 * (n - 1) - i if i >= n else i

    ref = torch.zeros(3, 3, 4, dtype=torch.float64)
    for c in range(3):
        for i in range(3):
            for j in range(4):
                y0, x0 = s * i + s // 2, s * j + s // 2  # the kept pixel: phase s // 2
                ref[c, i, j] = sum(
                    taps[a + r] * taps[b + r] * img[c, reflect(y0 + a, 12), reflect(x0 + b, 16)]
                    for a in range(-r, r + 1)
                    for b in range(-r, r + 1)
                )
    torch.testing.assert_close(degrade(img, s, sigma), ref)


def test_no_blur_keeps_every_sth_pixel_and_layouts_agree():
    x = torch.rand(2, 5, 3, 16, 24)
    torch.testing.assert_close(degrade(x, 4, sigma=0), x[..., 2::4, 2::4])
    lr = degrade(x, 4, 1.5)
    assert lr.shape == (2, 5, 3, 4, 6)
    torch.testing.assert_close(lr[1, 3], degrade(x[1, 3], 4, 1.5))  # (3, H, W) on its own
    torch.testing.assert_close(lr[1], degrade(x[1], 4, 1.5))  # (T, 3, H, W)
    assert degrade(torch.ones(3, 8, 8), 2, 2.0).allclose(torch.ones(1))  # normalised kernel, radius 6
    with pytest.raises(ValueError, match="too small"):
        degrade(torch.ones(3, 8, 8), 2, 3.0)  # radius 9: reflection needs more than 8 px


def test_degrade_rejects_bad_input():
    with pytest.raises(ValueError, match=r"25x18 is not a multiple of scale 4.*crop_to_multiple"):
        degrade(torch.rand(3, 18, 25))
    with pytest.raises(ValueError, match="float RGB"):
        degrade(torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match="float RGB"):
        degrade(torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8))
    with pytest.raises(ValueError, match="1..100"):
        degrade(torch.rand(3, 16, 16), jpeg_quality=0)


def test_noise_statistics_and_reproducibility():
    hr = torch.full((4, 3, 128, 128), 0.5)
    lr = degrade(hr, 4, 1.5, noise_sigma=0.05, generator=torch.Generator().manual_seed(1))
    residual = lr - 0.5
    assert abs(residual.mean()) < 0.002 and residual.std() == pytest.approx(0.05, rel=0.03)
    # third and fourth moments of a Gaussian
    z = residual / residual.std()
    assert abs((z**3).mean()) < 0.05 and (z**4).mean() == pytest.approx(3.0, abs=0.1)
    again = degrade(hr, 4, 1.5, noise_sigma=0.05, generator=torch.Generator().manual_seed(1))
    other = degrade(hr, 4, 1.5, noise_sigma=0.05, generator=torch.Generator().manual_seed(2))
    assert torch.equal(lr, again) and not torch.equal(lr, other)
    clipped = add_gaussian_noise(torch.zeros(3, 64, 64), 0.1)
    assert clipped.min() == 0 and clipped.max() <= 1 and (clipped == 0).float().mean() == pytest.approx(0.5, abs=0.03)


def test_jpeg_changes_the_image_and_quality_orders_the_error():
    img = textured(1, 64, 64)[0]
    errors = {q: (jpeg_compress(img[None], q)[0] - img).abs().mean().item() for q in (10, 40, 70, 100)}
    assert errors[10] > errors[40] > errors[70] > errors[100]
    assert errors[40] > 3 * errors[100]  # visibly changed at Table 3.1's JPG 40
    assert errors[100] < 0.004  # quality 100 is close (8-bit rounding and 4:2:0 chroma remain)
    lr = degrade(textured(3, 64, 64), 4, 1.5, jpeg_quality=40)
    assert lr.shape == (3, 3, 16, 16) and 0 <= lr.min() and lr.max() <= 1 and lr.dtype == torch.float32


def test_crop_to_multiple_removes_borders_symmetrically():
    x = torch.arange(37 * 45).view(1, 37, 45)
    y = crop_to_multiple(x, 8)
    assert y.shape == (1, 32, 40)
    assert y[0, 0, 0] == x[0, 2, 2]  # 5 rows: 2 top, 3 bottom; 5 columns: 2 left, 3 right
    assert crop_to_multiple(x, 1).shape == x.shape
    with pytest.raises(ValueError, match="smaller than 64"):
        crop_to_multiple(x, 64)


# --- scene cuts -------------------------------------------------------------------------------------------------------


def test_scene_cut_found_where_two_videos_are_joined(tmp_path):
    a = write(tmp_path / "a.mp4", textured(12, 96, 128, seed=1))
    b = write(tmp_path / "b.mp4", textured(12, 96, 128, seed=2))
    joined = torch.stack([*read_frames(a), *read_frames(b)])
    diffs = frame_differences(joined)
    assert diffs.shape == (23,)
    assert (diffs > SCENE_CUT_THRESHOLD).nonzero().flatten().tolist() == [11]
    torch.testing.assert_close(scene_change(joined[11], joined[12]), diffs[11])  # the streaming form


def test_threshold_separates_the_embedded_cut_from_motion():
    bikes = embedded_videos("train")[1]
    frames = torch.stack(list(read_frames(bikes, max_frames=40, as_uint8=True)))
    diffs = frame_differences(frames)
    assert (diffs > SCENE_CUT_THRESHOLD).nonzero().flatten().tolist() == [29]  # bikes.mp4 cuts after frame 29


def test_clip_starts_against_enumeration():
    cuts = torch.zeros(19, dtype=torch.bool)
    cuts[[4, 5, 12]] = True
    for clip_len in (1, 3, 6, 20, 21):
        naive = [t for t in range(20 - clip_len + 1) if not cuts[t : t + clip_len - 1].any()]
        assert clip_starts(cuts, clip_len).tolist() == naive


# --- training clips ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_scene_folder(tmp_path_factory):
    """A lossless frame-folder video: 8 frames of one scene, then 9 of another."""
    frames = torch.cat([textured(8, 48, 64, seed=3), textured(9, 48, 64, seed=4)])
    return write(tmp_path_factory.mktemp("v") / "two_scenes", frames), frames


def _locate(crop: torch.Tensor, frames: torch.Tensor) -> tuple[int, int, int]:
    """(first frame, top, left) of an HR clip crop inside the video."""
    size = crop.shape[-1]
    for t in range(len(frames) - len(crop) + 1):
        for top in range(frames.shape[-2] - size + 1):
            for left in range(frames.shape[-1] - size + 1):
                if torch.equal(frames[t, :, top : top + size, left : left + size], crop[0]):
                    return t, top, left
    raise AssertionError("crop not found")


def test_clips_are_aligned_crops_without_cuts(two_scene_folder):
    path, frames = two_scene_folder
    frames = (frames * 255).round() / 255
    ds = ClipDataset([path], clip_len=5, crop=32, scale=4, downsample=1, samples_per_epoch=8)
    assert len(ds) == 8 and ds.clips[:, 1].tolist() == [0, 1, 2, 3, 8, 9, 10, 11, 12]  # none straddle frame 7|8
    for i in (0, 3, 77):  # indices past len() are valid draws (later epochs)
        item = ds[i]
        assert item["hr"].shape == (5, 3, 32, 32) and item["lr"].shape == (5, 3, 8, 8)
        t, top, left = _locate(item["hr"], frames)
        assert top % 4 == 0 and left % 4 == 0 and (t + 5 <= 8 or t >= 8)
        torch.testing.assert_close(item["hr"], frames[t : t + 5, :, top : top + 32, left : left + 32])
        # the LR crop is the crop of the degraded whole frames: the blur saw the real neighbours
        whole = degrade(frames[t : t + 5], 4, 1.5)
        torch.testing.assert_close(item["lr"], whole[..., top // 4 : top // 4 + 8, left // 4 : left // 4 + 8])
    torch.testing.assert_close(ds[5], ds[5])  # seeded per index: workers and resumes redraw the same clip
    same = ClipDataset([path], clip_len=5, crop=32, scale=4, downsample=1, samples_per_epoch=8)
    assert all(torch.equal(ds[i]["hr"], same[i]["hr"]) for i in range(4))
    assert not all(torch.equal(ds[i]["hr"], ds[i + 8]["hr"]) for i in range(4))


def test_clip_noise_and_jpeg(two_scene_folder):
    path, _ = two_scene_folder
    kw = dict(clip_len=3, crop=32, scale=4, downsample=1, samples_per_epoch=4)
    clean = ClipDataset([path], **kw)[1]
    noisy = ClipDataset([path], noise_sigma=0.05, **kw)[1]
    jpeg = ClipDataset([path], jpeg_quality=40, **kw)[1]
    assert torch.equal(clean["hr"], noisy["hr"]) and torch.equal(clean["hr"], jpeg["hr"])
    assert (noisy["lr"] - clean["lr"]).std() == pytest.approx(0.05, rel=0.15)
    assert 0.005 < (jpeg["lr"] - clean["lr"]).abs().mean() < 0.1


def test_downsampling_of_originals(tmp_path):
    path = write(tmp_path / "big.mp4", textured(6, 96, 128))
    ds = ClipDataset([path], clip_len=4, crop=40, scale=4, downsample=2, samples_per_epoch=2)
    assert ds.videos[0].size == (48, 64) and ds.videos[0].factor == 2
    ds = ClipDataset([path], clip_len=4, crop=64, scale=4, downsample=2, samples_per_epoch=2)
    assert ds.videos[0].size == (96, 128) and ds.videos[0].factor == 1  # 2x would leave no 64 px crop


def test_bad_training_videos_are_named_and_skipped(tmp_path, caplog):
    good = write(tmp_path / "good.mp4", textured(6, 32, 32))
    short = write(tmp_path / "short.mp4", textured(3, 32, 32))
    (tmp_path / "broken.mp4").write_bytes(b"\0garbage" * 100)
    kw = dict(clip_len=5, crop=16, scale=4, downsample=1, samples_per_epoch=2)
    with caplog.at_level(logging.WARNING):
        ds = ClipDataset([good, short, tmp_path / "broken.mp4", tmp_path / "gone.mp4"], **kw)
    assert [v.name for v in ds.videos] == ["good"]
    log = caplog.text
    assert "short.mp4: 3 frames, fewer than clip_len=5" in log and "broken.mp4" in log and "gone.mp4" in log
    with pytest.raises(ValueError, match="no usable training video"):
        ClipDataset([short, tmp_path / "broken.mp4"], **kw)
    with pytest.raises(ValueError, match=r"good.mp4 has 32x32 frames, smaller than the 64x64 HR crop"):
        ClipDataset([good], clip_len=5, crop=64, scale=4)
    with pytest.raises(ValueError, match="multiple of scale"):
        ClipDataset([good], crop=30, scale=4)


def test_epoch_sampler_moves_on_and_replays():
    sampler = EpochSampler(4)
    assert list(sampler) == [0, 1, 2, 3] and list(sampler) == [4, 5, 6, 7]
    sampler.set_epoch(5)  # Lightning, also after a resume
    assert list(sampler) == [20, 21, 22, 23] and len(sampler) == 4


# --- evaluation videos and the data module ----------------------------------------------------------------------------


def test_eval_dataset_on_the_held_out_video():
    ds = VideoEvalDataset(embedded_videos("eval"), max_frames=4, noise_sigma=0.01)
    item = ds[0]
    assert item["name"] == "carphone_pristine"
    assert item["hr"].shape == (4, 3, 128, 160) and item["lr"].shape == (4, 3, 32, 40)  # LR: multiples of 8
    full = torch.stack(list(read_frames(embedded_videos("eval")[0], max_frames=4)))
    torch.testing.assert_close(item["hr"], full[..., 8:136, 8:168])  # 144x176 -> borders of 8 px removed
    assert torch.equal(item["lr"], ds[0]["lr"])  # the same noisy input at every evaluation


def test_eval_dataset_skips_bad_videos(tmp_path, caplog):
    tiny = write(tmp_path / "tiny.mp4", textured(2, 16, 16))
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="no usable evaluation video"):
        VideoEvalDataset([tiny, tmp_path / "bad.mp4"])
    assert "tiny.mp4" in caplog.text and "bad.mp4" in caplog.text


def test_eval_dataset_skips_a_video_damaged_midway(tmp_path, caplog):
    """A frame folder whose 4th frame is truncated (header intact): only a decode finds it - now up front, named,
    not at the first validation."""
    good = write(tmp_path / "good.mp4", textured(12, 64, 64))
    damaged = write(tmp_path / "damaged", textured(6, 64, 64, seed=1))
    frame = damaged / "000003.png"
    frame.write_bytes(frame.read_bytes()[:300])
    with caplog.at_level(logging.WARNING):
        ds = VideoEvalDataset([good, damaged], lr_multiple=4)
    assert ds.names == ["good"] and "damaged evaluation video" in caplog.text and "000003.png" in caplog.text


def test_datamodule_folder_mode(tmp_path):
    root = tmp_path / "train"
    write(root / "clip.mp4", textured(6, 48, 64))
    write(root / "two_scenes", torch.cat([textured(8, 48, 64, seed=3), textured(9, 48, 64, seed=4)]))
    dm = VideoDataModule(mode="folder", root=str(root), batch_size=2, clip_len=4, crop=32, downsample=1,
                         num_workers=0, samples_per_epoch=4, max_eval_frames=3)  # fmt: skip
    dm.setup("fit")
    assert [v.name for v in dm.train_set.videos] == ["clip", "two_scenes"]
    batches = list(dm.train_dataloader())
    assert len(batches) == 2 and batches[0]["lr"].shape == (2, 4, 3, 8, 8) and batches[0]["hr"].shape[-1] == 32
    val = next(iter(dm.val_dataloader()))
    assert val["lr"].shape == (1, 3, 3, 32, 40) and val["name"] == ["carphone_pristine"]
    dm.hparams.num_workers = 2  # clips are seeded per index, so worker processes draw the very same batches
    with_workers = list(dm.train_dataloader())
    assert all(torch.equal(a["lr"], b["lr"]) for a, b in zip(batches, with_workers, strict=True))


def test_datamodule_arguments():
    with pytest.raises(ValueError, match="data.mode=folder needs data.root"):
        VideoDataModule(mode="folder")
    with pytest.raises(ValueError, match="set data.mode=folder"):
        VideoDataModule(root="/somewhere")
    with pytest.raises(ValueError, match="unknown data.mode"):
        VideoDataModule(mode="youtube")
    dm = VideoDataModule()
    assert [p.name for p in dm.train_videos()] == ["bigbuckbunny.mp4", "bikes.mp4"]
    assert dm.hparams.crop == 256 and dm.hparams.sigma == 1.5 and dm.hparams.clip_len == 10


def test_embedded_training_clips():
    ds = ClipDataset(embedded_videos("train"), clip_len=4, samples_per_epoch=2, max_frames=36)
    bunny, bikes = ds.videos
    assert bunny.size == (360, 640) and bunny.factor == 2  # Sec. 3.3.5: originals downsampled by 2
    assert bikes.size == (272, 640) and bikes.factor == 1  # 2x would leave 136 px rows, too few for 256 px crops
    assert (bikes.diffs > SCENE_CUT_THRESHOLD).nonzero().flatten().tolist() == [29]  # its first cut
    item = ds[0]
    assert item["lr"].shape == (4, 3, 64, 64) and item["hr"].shape == (4, 3, 256, 256)
    assert 0 <= item["lr"].min() and item["hr"].max() <= 1
