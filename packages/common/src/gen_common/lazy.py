"""Package ``__init__`` exports imported on first use, so ``--help`` of a console command does not load torch."""

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose names (``{name: module}``) load when first used (PEP 562).

    Example (in ``sr_image/__init__.py``):
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"EnhanceNetGenerator": "sr_image.nets"})
    """

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
