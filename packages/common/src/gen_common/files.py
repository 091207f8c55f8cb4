"""All-or-nothing output files: a command's result appears complete or not at all (ARCHITECTURE.md)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(dst: str | Path) -> Iterator[Path]:
    """A temporary path next to ``dst`` (same suffix, so writers pick the same format) to write to.

    When the block completes the file is renamed onto ``dst`` in one step; on any error or interrupt it is
    removed and ``dst`` is left as it was.
    """
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.partial-{os.getpid()}{dst.suffix}")
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def json_safe(obj):
    """NaN / inf as null in nested dicts / lists (e.g. the PSNR of a frame reproduced exactly), so
    ``json.dumps(..., allow_nan=False)`` writes a valid JSON file."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
