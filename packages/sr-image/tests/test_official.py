"""The authors' ENet-PAT: TF 0.12 bicubic base against TensorFlow, the V1 checkpoint reader, the import command.

Reference numbers in ``data/`` were recorded once with TensorFlow 2.21 by ``data/make_tf_reference.py`` (see its
docstring): ``tf.compat.v1.image.resize_bicubic(half_pixel_centers=False)`` outputs, TF's own checkpoint reader's
digest of every variable, the authors' graph rebuilt in TF 2 on a scikit-image photograph, and two small V1
checkpoints of other models. Tests that need the authors' file read ``../shared/fixtures/enhancenet-official``
and skip without it.
"""

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gen_common.color import rgb_to_y
from gen_common.images import read_image
from sr_image.cli import main as sr_image_main
from sr_image.cli import upscale_main
from sr_image.data import crop_to_multiple, pil_lanczos_downsample
from sr_image.inference import upscale_tiled
from sr_image.module import CheckpointError, load_generator
from sr_image.nets import bicubic_upsample, tf_legacy_bicubic_resize
from sr_image.official import import_official, load_official_generator
from sr_image.tf_checkpoint import TFCheckpointError, read_tf_v1_checkpoint

DATA = Path(__file__).parent / "data"
REFERENCE = np.load(DATA / "tf_reference.npz")
FIXTURE = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "enhancenet-official"
WEIGHTS = FIXTURE / "weights"
needs_fixture = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"authors' weights not found at {WEIGHTS}")


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


# ---- the TF 0.12 bicubic base ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["2x", "4x", "odd", "down"])
def test_legacy_bicubic_matches_tensorflow(case):
    x, ref = nchw(REFERENCE[f"bicubic_{case}_in"]), nchw(REFERENCE[f"bicubic_{case}_out"])
    out = tf_legacy_bicubic_resize(x, tuple(ref.shape[-2:]))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_legacy_grid_has_no_half_pixel_centres():
    """Closed form: output s·i samples input i exactly (weights 0, 1, 0, 0); the half-pixel grid does not."""
    lr = torch.rand(2, 3, 6, 7)
    legacy = bicubic_upsample(lr, 4, "tf_legacy")
    assert torch.allclose(legacy[..., ::4, ::4], lr, atol=1e-6)
    assert not torch.allclose(bicubic_upsample(lr, 4)[..., ::4, ::4], lr, atol=1e-2)
    with pytest.raises(ValueError, match="unknown bicubic base 'tf'"):
        bicubic_upsample(lr, 4, "tf")


# ---- the checkpoint reader ---------------------------------------------------------------------------------------
def test_reader_on_small_v1_checkpoints():
    variables, arrays = read_tf_v1_checkpoint(DATA / "v1_other_model")
    assert {v.name: (v.shape, v.dtype) for v in variables.values()} == {
        "discriminator/Conv/weights": ((2, 3, 4, 5), "float32"),
        "discriminator/Conv/biases": ((5,), "float32"),
    }
    # the values make_tf_reference.py stored
    np.testing.assert_array_equal(
        arrays["discriminator/Conv/weights"], np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5) / 100
    )
    np.testing.assert_array_equal(arrays["discriminator/Conv/biases"], [1.5, -2.0, 3.25, 0, 7])


def test_reader_rejects_bad_files(tmp_path):
    data = (DATA / "v1_other_model").read_bytes()
    flipped = bytearray(data)
    flipped[100] ^= 0x01  # inside the data block
    cases = {
        "flipped": (bytes(flipped), "fails its CRC32C check"),
        "truncated": (data[: len(data) - 20], "no SSTable footer"),
        "empty": (b"", "no SSTable footer"),
        "png": ((FIXTURE / "eagle.png").read_bytes() if FIXTURE.is_dir() else b"\x89PNG" * 40, "not a TensorFlow"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(TFCheckpointError, match=message) as err:
            read_tf_v1_checkpoint(path)
        assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_tf_v1_checkpoint(tmp_path / "nope")


# A minimal SSTable / protobuf encoder for formats the real files do not exercise (partitioned variables,
# tensor_content, integers, a V2 index, corruption that keeps the CRCs valid).
def _varint(n: int) -> bytes:
    n, out = n + (1 << 64) if n < 0 else n, b""
    while n > 0x7F:
        out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
    return out + bytes([n])


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _extents(extents):  # None = the whole dimension
    return b"".join(_field(1, b"" if e is None else _field(1, e[0]) + _field(2, e[1])) for e in extents)


def _meta(tensors):  # (name, shape, dtype enum)
    body = b""
    for name, shape, dtype in tensors:
        dims = b"".join(_field(2, _field(1, d)) for d in shape)
        body += _field(1, _field(1, name.encode()) + _field(2, dims) + _field(3, dtype))
    return _field(1, body)


def _slice(name, extents, tensor):
    return _field(2, _field(1, name.encode()) + _field(2, _extents(extents)) + _field(3, tensor))


def _sstable(entries) -> bytes:
    import struct

    import google_crc32c

    def block(kvs):
        raw = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in kvs)
        raw += struct.pack("<II", 0, 1)
        crc = google_crc32c.value(raw + b"\x00")
        return raw + b"\x00" + struct.pack("<I", ((crc >> 15 | crc << 17) + 0xA282EAD8) & 0xFFFFFFFF), len(raw)

    data, index = b"", []
    for key, value in entries:
        blk, size = block([(key, value)])
        index.append((key, _varint(len(data)) + _varint(size)))
        data += blk
    (iblk, isize), ioff = block(index), len(data)
    data += iblk
    footer = _varint(0) + _varint(0) + _varint(ioff) + _varint(isize)
    return data + footer + b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)


def test_reader_decodes_partitioned_variables_tensor_content_and_integers(tmp_path):
    w = np.arange(24, dtype=np.float32).reshape(4, 6)
    path = tmp_path / "synthetic"
    path.write_bytes(_sstable([
        (b"", _meta([("w", (4, 6), 1), ("c", (2, 3), 1), ("step", (), 9), ("i", (3,), 3)])),
        (b"c", _slice("c", [None, None], _field(4, w[:2, :3].tobytes()))),  # tensor_content
        (b"i", _slice("i", [None], _field(7, _varint(1) + _varint(-1) + _varint(300)))),
        (b"s", _slice("step", [], _field(10, _varint(-5)))),
        (b"w0", _slice("w", [(2, 2), None], _field(5, w[2:].tobytes()))),  # two slices, the later one first
        (b"w1", _slice("w", [(0, 2), None], _field(5, w[:2].tobytes()))),
    ]))  # fmt: skip
    variables, arrays = read_tf_v1_checkpoint(path)
    assert variables["step"].dtype == "int64" and variables["i"].shape == (3,)
    np.testing.assert_array_equal(arrays["w"], w)
    np.testing.assert_array_equal(arrays["c"], w[:2, :3])
    assert int(arrays["step"]) == -5 and arrays["i"].tolist() == [1, -1, 300]


@pytest.mark.parametrize(
    "entries,message",
    [
        ([(b"", _field(1, 1))], "Saver V2 checkpoint"),  # a V2 .index: BundleHeaderProto, num_shards = 1
        ([(b"", _meta([("w", (4,), 1)])), (b"a", _slice("w", [(0, 2)], _field(5, np.zeros(2, "<f4").tobytes()))),
          (b"b", _slice("w", [(0, 2)], _field(5, np.ones(2, "<f4").tobytes())))], "overlaps another slice"),
        ([(b"", _meta([("w", (4,), 1)])), (b"a", _slice("w", [(0, 2)], _field(5, np.zeros(2, "<f4").tobytes())))],
         "has 2 of its 4 values stored"),
        ([(b"", _field(1, _field(1, _field(2, b""))))], "has no name"),
    ],
)  # fmt: skip
def test_reader_names_inconsistent_contents(tmp_path, entries, message):
    path = tmp_path / "bad"
    path.write_bytes(_sstable(entries))
    with pytest.raises(TFCheckpointError, match=message):
        read_tf_v1_checkpoint(path)


def test_the_raw_tensorflow_file_points_to_import_official():
    with pytest.raises(CheckpointError, match="sr-image import-official"):
        load_generator(str(DATA / "v1_other_model"))


def test_legacy_base_stays_float32_under_bf16_autocast():
    lr = torch.rand(1, 3, 5, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bicubic_upsample(lr, 4, "tf_legacy")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, bicubic_upsample(lr, 4, "tf_legacy"), atol=1e-6, rtol=0)
    with pytest.raises(TypeError, match="floating-point"):
        tf_legacy_bicubic_resize(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), (8, 8))


@needs_fixture
def test_reader_on_the_authors_weights():
    digest = json.loads((DATA / "tf_weights.json").read_text())  # TF's own reader
    start = time.perf_counter()
    variables, arrays = read_tf_v1_checkpoint(WEIGHTS)
    assert time.perf_counter() - start < 1.0
    assert len(variables) == 50 and set(variables) == set(digest)
    assert sum(a.size for a in arrays.values()) == 852_867
    for name, (shape, sha) in digest.items():
        assert variables[name].shape == tuple(shape) and variables[name].dtype == "float32"
        assert hashlib.sha256(arrays[name].tobytes()).hexdigest() == sha, name


# ---- the converted generator -------------------------------------------------------------------------------------
@needs_fixture
def test_official_generator_reproduces_the_authors_tensorflow_output():
    lr = nchw(REFERENCE["enet_lr"][None]).float() / 255
    ref = REFERENCE["enet_out"].astype(int)  # the authors' graph in TF, clipped and rounded as saveimg does
    for base, max_diff, mean_diff in (("tf_legacy", (0, 1), (0, 0.01)), ("pytorch", (20, 255), (2, 255))):
        with torch.no_grad():
            out = load_official_generator(WEIGHTS, base)(lr).clamp(0, 1)
        ours = out[0].permute(1, 2, 0).mul(255).round().int().numpy()
        diff = np.abs(ours - ref)
        assert max_diff[0] <= diff.max() <= max_diff[1], base
        assert mean_diff[0] <= diff.mean() <= mean_diff[1], base


def best_shift(est: torch.Tensor, hr: torch.Tensor, radius: int = 2, border: int = 6) -> tuple[int, int]:
    """The (dy, dx) of est against hr with the smallest MSE on Y, searched within +-radius pixels."""
    ye, yh = rgb_to_y(est.double()), rgb_to_y(hr.double())
    h, w = yh.shape[-2:]
    target = yh[..., border : h - border, border : w - border]
    mse = {
        (dy, dx): float((ye[..., border + dy : h - border + dy, border + dx : w - border + dx] - target).pow(2).mean())
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
    }
    return min(mse, key=mse.get)


@needs_fixture
def test_imported_checkpoint_on_eagle_is_aligned(tmp_path):
    """The authors' example, their input pipeline, through the checkpoint sr-upscale reads (tiled path)."""
    hr = crop_to_multiple(read_image(FIXTURE / "eagle.png"), 4)
    lr = pil_lanczos_downsample(hr, 4)
    shifts = {}
    for base in ("tf_legacy", "pytorch"):
        ckpt = import_official(WEIGHTS, tmp_path / f"{base}.ckpt", bicubic_base=base)
        gen = load_generator(str(ckpt))
        assert gen.bicubic_base == base
        est = upscale_tiled(gen, lr, tile=50)  # 56x56 LR: 4 tiles, context 23 px
        assert est.shape == hr.shape and torch.isfinite(est).all() and 0 <= est.min() and est.max() <= 1
        shifts[base] = best_shift(est[None], hr[None])
    assert shifts["tf_legacy"] == (0, 0)
    assert shifts["pytorch"] != (0, 0)  # the half-pixel base turns the learned compensation into a shift


@needs_fixture
def test_import_official_command(tmp_path, capsys):
    out = tmp_path / "enet_pat_official.ckpt"
    start = time.perf_counter()
    assert sr_image_main(["import-official", str(FIXTURE), "-o", str(out)]) == 0  # the folder works too
    assert time.perf_counter() - start < 1.0
    assert "CC BY-NC-ND 4.0" in capsys.readouterr().out
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["hyper_parameters"]["bicubic_base"] == "tf_legacy"
    assert ckpt["imported_from"]["sha256"] == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    assert "CC BY-NC-ND 4.0" in ckpt["imported_from"]["licence"]
    assert sum(v.numel() for k, v in ckpt["state_dict"].items() if k != "generator.input_mean") == 852_867

    before = out.read_bytes()
    assert sr_image_main(["import-official", str(WEIGHTS), "-o", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert sr_image_main(["import-official", str(WEIGHTS), "-o", str(out), "--overwrite"]) == 0


@needs_fixture
def test_sr_upscale_with_the_imported_checkpoint_gives_the_published_result(tmp_path):
    from PIL import Image

    ckpt = import_official(WEIGHTS, tmp_path / "official.ckpt")
    Image.fromarray(REFERENCE["enet_lr"]).save(tmp_path / "lr.png")
    assert upscale_main(["--ckpt", str(ckpt), str(tmp_path / "lr.png"), "--device", "cpu"]) == 0
    out = np.asarray(Image.open(tmp_path / "lr_x4.png")).astype(int)
    diff = np.abs(out - REFERENCE["enet_out"].astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01


def test_import_refuses_other_models_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x.ckpt"
    assert sr_image_main(["import-official", str(DATA / "v1_other_model"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing 50 variable(s): generator/Conv/weights" in err and "(46 more)" in err
    assert "unexpected 2 variable(s): " in err and "discriminator/Conv/weights" in err
    assert err.startswith("sr-image: error: ") and len(err.strip().splitlines()) == 1

    assert sr_image_main(["import-official", str(DATA / "v1_wrong_generator"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing 48 variable(s): generator/Conv_1/weights" in err and "(44 more)" in err
    assert "generator/Conv/weights is float32 (3, 3, 3, 8), expected float32 (3, 3, 3, 64)" in err

    assert sr_image_main(["import-official", str(tmp_path / "nope"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sr_image_main(["import-official", str(DATA / "v1_other_model"), "-o", str(tmp_path / "a" / "b.ckpt")]) == 2
    assert "output folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
