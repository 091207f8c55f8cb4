"""``torch.compile`` for inference commands, with an explicit fallback where a platform cannot compile."""

import sys

import torch
from torch import nn


class CompiledOrEager(nn.Module):
    """A module's ``torch.compile``d forward; if the first call fails (no C++ compiler, an unsupported platform),
    says so once on stderr and runs the eager module from then on. Later errors (a new shape that fails to
    recompile, out of memory) are raised as they are. Nothing is silent: the
    message names the error and the way to avoid it (leave out ``--compile``).

    Args:
        module: the eager module (its parameters are the compiled one's: no copy).
        what: a name for the message (e.g. "FRVSR's SRNet").
        dynamic: ``torch.compile``'s ``dynamic``: False, one graph per input shape (a video has one); None,
            torch's default (a shape-generic graph once a second shape arrives: image tiles at the borders).
    """

    def __init__(self, module: nn.Module, what: str, dynamic: bool | None = False) -> None:
        super().__init__()
        self.eager = module
        object.__setattr__(self, "_compiled", torch.compile(module, dynamic=dynamic))  # not a second submodule
        self.what = what
        self.failed = False
        self.compiled_once = False  # after a first successful call, errors are the model's, not the compiler's

    def __getattr__(self, name: str):
        """Attributes of the eager module (``scale``, ``bicubic``, ...) read through the wrapper."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "eager":
                raise
            return getattr(self.eager, name)

    def forward(self, *args, **kwargs):
        if self.failed:
            return self.eager(*args, **kwargs)
        if self.compiled_once:
            return self._compiled(*args, **kwargs)
        try:
            out = self._compiled(*args, **kwargs)
            self.compiled_once = True
            return out
        except Exception as err:  # compilation errors surface at the first call, as many exception types
            self.failed = True
            print(f"note: torch.compile of {self.what} failed on this platform ({type(err).__name__}: "
                  f"{str(err).splitlines()[0] if str(err) else ''}); running it eagerly (leave out --compile to skip "
                  "the attempt)", file=sys.stderr)  # fmt: skip
            return self.eager(*args, **kwargs)
