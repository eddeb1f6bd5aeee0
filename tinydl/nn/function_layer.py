"""FunctionLayer: the base of the layers that only hold a function's settings (activations,
pools, resampling). The constructor's keyword arguments (PyTorch's names) become attributes of
the same names, and ``forward(x)`` calls ``function(x, **those attributes)``.

    class ELU(FunctionLayer):
        function = staticmethod(F.elu)

        def __init__(self, alpha=1.0, inplace=False):
            super().__init__(alpha=alpha, inplace=inplace)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinydl.nn.module import Module


class FunctionLayer(Module):
    """``forward(x) = function(x, **options)``, the options stored as attributes."""

    function: Callable[..., Any]
    hidden_in_repr: tuple[str, ...] = ("inplace",)

    def __init__(self, **options: Any):
        super().__init__()
        self._option_names = tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._option_names}

    def forward(self, x: Any) -> Any:
        return type(self).function(x, **self.options())

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self._option_names
                         if name not in self.hidden_in_repr)
