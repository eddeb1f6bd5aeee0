"""Hot-path kernels on arrays: a NumPy reference and a Numba version of each, and a registry.

Importing this package registers every kernel; ``registry.get(op)`` picks one per device.
"""

from tinydl.kernels import registry
from tinydl.kernels._jit import numba_available
from tinydl.kernels.activation import (
    gelu_backward_numba,
    gelu_backward_reference,
    gelu_forward_numba,
    gelu_forward_reference,
    relu_backward_numba,
    relu_backward_reference,
)
from tinydl.kernels.attention import (
    attention_backward_numba,
    attention_backward_reference,
    attention_backward_tiled_numpy,
    attention_forward_numba,
    attention_forward_reference,
    attention_forward_tiled_numpy,
)
from tinydl.kernels.conv import (
    col2im_numba,
    col2im_reference,
    im2col_numba,
    im2col_reference,
    max_pool2d_backward_numba,
    max_pool2d_backward_reference,
    max_pool2d_forward_numba,
    max_pool2d_forward_reference,
)
from tinydl.kernels.normalization import (
    normalize_backward_numba,
    normalize_backward_reference,
    normalize_forward_numba,
    normalize_forward_reference,
)
from tinydl.kernels.optim import (
    adam_update_,
    adam_update_numba,
    adam_update_reference,
    sgd_momentum_update_,
    sgd_momentum_update_numba,
    sgd_momentum_update_reference,
)
from tinydl.kernels.registry import get, register, report
