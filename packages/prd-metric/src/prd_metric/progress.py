"""Progress bars on stderr for the long steps of the commands (embedding, k-means); library calls stay quiet.

Functions with a ``progress`` argument accept ``False`` (quiet, the default), ``True`` (a bar of their own) or a
callable that receives the number of items just done, so a command can drive one bar across many calls.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Progress = bool | Callable[[int], Any]
REFRESH_S = 0.5  # tqdm's mininterval: a live rate and ETA at most twice a second, at no measurable cost


def bar(total: int | None, desc: str, unit: str) -> Any:
    """A tqdm bar on stderr showing ``unit``/s and the ETA (a context manager; ``.update(n)`` advances it)."""
    from tqdm import tqdm  # only the commands draw bars

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=REFRESH_S, dynamic_ncols=True)


@contextmanager
def reporter(progress: Progress, total: int | None, desc: str, unit: str) -> Iterator[Callable[[int], Any]]:
    """Where a loop reports how many items it just finished: ``progress`` itself if it is callable, a new
    :func:`bar` for ``True`` (closed on exit), a no-op for ``False``."""
    if callable(progress):
        yield progress
    elif progress:
        with bar(total, desc, unit) as b:
            yield b.update
    else:
        yield lambda n: None
