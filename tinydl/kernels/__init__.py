"""Hot-path kernels on arrays: faster versions (Numba, CuPy) of readable references, and a registry.

The NumPy reference of max pooling lives in ``tinydl/ops/conv.py``, those of GELU and ReLU's
backward in ``tinydl/ops/nn.py``, LayerNorm's in ``tinydl/ops/normalization.py``, the LSTM
recurrence's in ``tinydl/ops/recurrent.py`` and those of the optimizer updates in
``tinydl/optim/``, where students read them; each is registered there as the ``"numpy"`` kernel.
Attention's references are in ``attention.py`` here. Importing this package registers the
faster versions; ``registry.get(op)`` picks one per device.
"""

from tinydl.kernels import registry
from tinydl.kernels._jit import numba_available
from tinydl.kernels import optim as _optim  # registers the Numba optimizer updates
from tinydl.kernels.attention import attention_backward_reference, attention_forward_reference
from tinydl.kernels.activation import gelu_backward_numba, gelu_forward_numba, relu_backward_numba
from tinydl.kernels.conv import max_pool2d_forward_numba
from tinydl.kernels.indexing import scatter_add_rows_numba
from tinydl.kernels.normalization import (
    affine_normalize_backward_numba,
    affine_normalize_forward_numba,
    normalize_backward_numba,
    normalize_forward_numba,
)
from tinydl.kernels.recurrent import (gru_backward_numba, gru_forward_numba, lstm_backward_numba,
                                      lstm_forward_numba)

# A student tree has one copy of each task's computation: these go with the task (tinydl assign).
### BEGIN FASTER task 5.1
from tinydl.kernels.attention import attention_forward_numba, attention_forward_tiled_numpy
### END FASTER
### BEGIN FASTER task 5.2
from tinydl.kernels.attention import attention_backward_numba, attention_backward_tiled_numpy
### END FASTER
### BEGIN FASTER task 4.3
from tinydl.kernels.conv import max_pool2d_scatter_numba
### END FASTER
### BEGIN FASTER task 3.4
from tinydl.kernels.optim import adam_update_numba
### END FASTER
### BEGIN FASTER task 3.3
from tinydl.kernels.optim import sgd_momentum_update_numba
### END FASTER
from tinydl.kernels.registry import get, register, report
