"""Console entry points of ``sr_image``.

``sr-upscale`` upscales images with an EnhanceNet checkpoint. Exit codes: 0 all images written; 1 some
unreadable images were skipped; 2 nothing written (bad arguments, missing input, foreign checkpoint, existing
outputs without ``--overwrite``, or no image could be read).

``sr-image import-official WEIGHTS -o OUT.ckpt`` converts the authors' published ENet-PAT (TensorFlow 0.12
checkpoint, read without TensorFlow) into a checkpoint ``sr-upscale`` and ``tools/evaluate.py`` accept. Exit
codes: 0 written; 2 nothing written (missing, corrupt or foreign file, existing output without ``--overwrite``).
"""

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR = 0, 1, 2


class _UsageError(Exception):
    """A problem the user can fix; reported as one line, exit code 2, no traceback."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sr-upscale",
        description="Upscale images with a trained EnhanceNet generator (thesis ch. 2), tile by tile so any image "
        "size fits in memory; outputs are 8-bit RGB PNGs (grey is repeated, alpha is dropped).",
    )
    p.add_argument("input", metavar="INPUT", help="an image file, or a folder of images (searched recursively)")
    p.add_argument(
        "--ckpt",
        required=True,
        help="EnhanceNet checkpoint written by tools/train.py (e.g. last.ckpt) or by sr-image import-official",
    )
    p.add_argument(
        "-o",
        "--output",
        help="for a file: the output .png (or a folder to put it in), default NAME_x{scale}.png next to it; "
        "for a folder: the output folder mirroring the input layout, default INPUT_x{scale}",
    )
    p.add_argument("--tile", type=int, default=128, help="LR tile side in pixels, bounds memory (default 128)")
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help="LR context pixels around each tile cut (default: the generator's receptive-field radius, "
        "which makes tiled and whole-image results equal; 23 for the 10-block 4x network)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator (worth it for many tiles / images; falls back to eager with a note)",
    )
    p.add_argument(
        "--residual",
        action="store_true",
        help="also write NAME_residual.png beside each output: 0.5 + (output - bicubic base), the residual image the "
        "network adds (Fig. 2.12; mid-grey = no change)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def residual_image(generator, lr, out_uint8):
    """0.5 + (output - the generator's bicubic base), in [0, 1]: the residual image of Fig. 2.12 (float32)."""
    import torch

    from sr_image.nets import bicubic_upsample

    with torch.inference_mode():
        base = bicubic_upsample(lr[None].float(), generator.scale, generator.bicubic_base)[0].cpu()
    return (0.5 + out_uint8.float() / 255 - base).clamp(0, 1)


def residual_path(dst: Path) -> Path:
    return dst.with_name(f"{dst.stem}_residual.png")


def _one_line(err: BaseException | str) -> str:
    return " ".join(str(err).split())


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise _UsageError("--device cuda was requested but CUDA is not available; use --device cpu")
    return name


def _plan(inp: Path, output: str | None, scale: int) -> tuple[list[tuple[Path, Path, str]], Path]:
    """(source, destination, display name) per image and the output location, before anything is written."""
    from gen_common.images import list_image_files

    if inp.is_file():
        if output is None:
            dst = inp.with_name(f"{inp.stem}_x{scale}.png")
        elif Path(output).is_dir():
            dst = Path(output) / f"{inp.stem}_x{scale}.png"
        elif Path(output).suffix.lower() != ".png":
            raise _UsageError(f"output {output} must end in .png (outputs are written as PNG)")
        else:
            dst = Path(output)
        return [(inp, dst, inp.name)], dst
    try:
        files = list_image_files(inp)
    except (FileNotFoundError, ValueError) as err:
        raise _UsageError(err) from err
    root = Path(output) if output else inp.resolve().parent / f"{inp.resolve().name}_x{scale}"
    if root.exists() and not root.is_dir():
        raise _UsageError(f"output {root} is a file; for a folder INPUT, -o must be a folder")
    if root.resolve() == inp.resolve() or inp.resolve() in root.resolve().parents:
        raise _UsageError(f"output folder {root} is inside the input folder {inp}; choose another -o")
    rels = [f.relative_to(inp) for f in files]
    targets = [rel.with_suffix(".png") for rel in rels]
    clash = {t for t in targets if targets.count(t) > 1}  # a.jpg and a.png -> a.jpg.png and a.png.png
    targets = [rel.with_name(rel.name + ".png") if t in clash else t for rel, t in zip(rels, targets, strict=True)]
    return [(f, root / t, str(rel)) for f, t, rel in zip(files, targets, rels, strict=True)], root


def _check_outputs(plan: list[tuple[Path, Path, str]], overwrite: bool) -> None:
    """Refuse to write into an input file, or over existing files without ``--overwrite``."""
    inputs = {src.resolve() for src, _, _ in plan}
    for _, dst, _ in plan:
        if dst.resolve() in inputs:
            raise _UsageError(f"output {dst} is one of the input images; choose another -o")
        if dst.is_dir():
            raise _UsageError(f"output {dst} is a folder; choose another -o")
    existing = [dst for _, dst, _ in plan if dst.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more of the outputs)" if len(existing) > 1 else ""
        raise _UsageError(f"output {existing[0]} already exists{more}; pass --overwrite to replace")
    for folder in sorted({_nearest_existing(dst.parent) for _, dst, _ in plan}):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _UsageError(f"output folder {folder} is not writable; choose another -o")


def _nearest_existing(folder: Path) -> Path:
    """The folder itself, or its closest existing parent (missing output folders are created)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _save_png(img, dst: Path) -> None:
    """Write via a temporary file in the same folder, so an interrupted run leaves no truncated PNG."""
    from gen_common.files import atomic_output
    from gen_common.images import save_image

    with atomic_output(dst) as tmp:
        save_image(img, tmp)


def _upscale(args: argparse.Namespace) -> int:
    inp = Path(args.input).expanduser()
    if not inp.exists():
        raise _UsageError(f"input {inp} does not exist")
    if args.tile < 1 or (args.overlap is not None and args.overlap < 0):
        raise _UsageError(f"--tile must be >= 1 and --overlap >= 0, got {args.tile} and {args.overlap}")

    import torch
    from tqdm.auto import tqdm

    from gen_common.images import ImageReadError, read_image
    from sr_image.inference import context_margin, upscale_tiled
    from sr_image.module import CheckpointError, load_generator

    device = _device(args.device)
    try:
        generator = load_generator(str(Path(args.ckpt).expanduser())).to(device)
    except (FileNotFoundError, CheckpointError) as err:
        raise _UsageError(err) from err
    if device.startswith("cuda"):  # NHWC: the convolutions' fast layout on GPUs (outputs unchanged)
        generator = generator.to(memory_format=torch.channels_last)
    overlap = context_margin(generator) if args.overlap is None else args.overlap
    if args.compile:
        from gen_common.compiled import CompiledOrEager

        generator = CompiledOrEager(generator, "the EnhanceNet generator", dynamic=None)
    if args.tile <= 2 * overlap:
        raise _UsageError(f"--tile ({args.tile}) must be larger than 2 * --overlap ({2 * overlap})")
    plan, out = _plan(inp, args.output, generator.scale)
    if args.residual:  # the residual images are outputs too: checked with the others
        plan_outputs = plan + [(src, residual_path(dst), name) for src, dst, name in plan]
    _check_outputs(plan_outputs if args.residual else plan, args.overwrite)

    single = inp.is_file()
    skipped: list[str] = []
    bar = tqdm(plan, desc="upscaling", unit="img", disable=single, file=sys.stderr)
    for src, dst, name in bar:
        try:
            img = read_image(src)
        except (ImageReadError, FileNotFoundError) as err:
            if single:
                raise _UsageError(err) from err
            skipped.append(name)
            tqdm.write(f"skipped unreadable image {name}: {_one_line(err)}", file=sys.stderr)
            continue
        hr = upscale_tiled(generator, img, tile=args.tile, overlap=overlap, progress=single, out_dtype=torch.uint8)
        try:
            _save_png(hr, dst)
            if args.residual:
                _save_png(residual_image(generator, img, hr), residual_path(dst))
        except OSError as err:  # e.g. the disk filled up: nothing half-written stays (atomic_output)
            raise _UsageError(f"could not write {dst} ({err}); free space or choose another -o") from err
    bar.close()

    done = len(plan) - len(skipped)
    print(f"upscaled {done} image(s) {generator.scale}x into {out}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped)}", file=sys.stderr)
    return EXIT_ERROR if done == 0 else EXIT_SKIPPED if skipped else EXIT_OK


def upscale_main(argv: list[str] | None = None) -> int:
    """``sr-upscale --ckpt last.ckpt INPUT [-o OUTPUT] [--tile 128] [--overlap N] [--device auto|cpu|cuda]``.

    Returns the exit code (0 ok, 1 some unreadable images skipped, 2 nothing written); errors the user can fix
    are printed as one line to stderr, without a traceback.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error (argparse printed it)
        return int(exit_.code or 0)
    try:
        return _upscale(args)
    except _UsageError as err:
        print(f"sr-upscale: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sr-upscale: interrupted", file=sys.stderr)
        return 130


def _import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sr-image",
        description="sr-image tools. import-official: convert the authors' published ENet-PAT 4x weights "
        "(EnhanceNet-Code's TensorFlow 0.12 file `weights`; licence CC BY-NC-ND 4.0) into a checkpoint for "
        "sr-upscale and tools/evaluate.py. TensorFlow is not needed.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    imp = sub.add_parser(
        "import-official",
        help="convert EnhanceNet-Code's `weights` file into a checkpoint of this project",
        description="Convert EnhanceNet-Code's `weights` (git clone https://github.com/msmsajjadi/EnhanceNet-Code) "
        "into a checkpoint; every block's CRC, every variable name and shape are checked before anything is "
        "written. The weights are CC BY-NC-ND 4.0: non-commercial use, do not redistribute the converted file.",
    )
    imp.add_argument(
        "weights", metavar="WEIGHTS", help="path to EnhanceNet-Code/weights (or the EnhanceNet-Code folder)"
    )
    imp.add_argument("-o", "--output", required=True, help="checkpoint to write, e.g. enet_pat_official.ckpt")
    imp.add_argument(
        "--bicubic-base",
        choices=("tf_legacy", "pytorch"),
        default="tf_legacy",
        help="base image resampler: tf_legacy (default) reproduces the authors' output; pytorch (our half-pixel "
        "grid) only to measure what the wrong grid does to these weights",
    )
    imp.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def main(argv: list[str] | None = None) -> int:
    """``sr-image import-official WEIGHTS -o OUT.ckpt [--bicubic-base tf_legacy|pytorch] [--overwrite]``.

    Returns the exit code (0 written, 2 nothing written); errors are one line on stderr, without a traceback.
    """
    try:
        args = _import_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    from sr_image.official import import_official
    from sr_image.tf_checkpoint import TFCheckpointError

    try:
        out = import_official(args.weights, args.output, args.bicubic_base, args.overwrite)
    except (OSError, TFCheckpointError, RuntimeError) as err:  # RuntimeError: torch.save on a full disk
        print(f"sr-image: error: {_one_line(err)} (nothing was written)", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"wrote {out}: the authors' ENet-PAT 4x generator (852,867 parameters, bicubic base {args.bicubic_base}); "
        f"licence CC BY-NC-ND 4.0 (non-commercial, do not redistribute). Use: sr-upscale --ckpt {out} IMAGE"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(upscale_main())
