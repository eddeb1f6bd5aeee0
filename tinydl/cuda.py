"""``tinydl.cuda``: PyTorch's questions about the GPU (``tinydl.cuda.is_available()``)."""
from __future__ import annotations

from tinydl import backend


def is_available() -> bool:
    """True when CuPy and a CUDA GPU can be used (``tensor.to("cuda")`` will work)."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    if not is_available():
        return 0
    import cupy  # optional: only when a GPU is there

    return int(cupy.cuda.runtime.getDeviceCount())
