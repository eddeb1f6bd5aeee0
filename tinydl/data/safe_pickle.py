"""A pickle loader that can only build NumPy arrays, for CIFAR-10's Python batches.

Plain ``pickle.load`` runs whatever functions a file names, so a crafted file can
run any code. ``load_array_pickle`` refuses every global except the few that a
pickled dict of NumPy arrays, ints, lists and bytes needs.
"""

import importlib
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a function or class outside the allowed list."""


def _numpy_reconstruct():
    """numpy's array-unpickling helper; it moved from numpy.core to numpy._core in NumPy 2."""
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module_name)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy's multiarray._reconstruct is missing")


def _latin1_encode(text, encoding="latin1"):
    """Python 3 pickles bytes (protocol < 3) as _codecs.encode(text, 'latin1'); allow only that."""
    if encoding.lower().replace("-", "").replace("_", "") != "latin1":
        raise UnsafePickleError(f"pickle: refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_encode,
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` allows only NumPy array reconstruction."""

    def find_class(self, module, name):
        make = _ALLOWED_GLOBALS.get((module, name))
        if make is None:
            raise UnsafePickleError(
                f"pickle: refusing to load '{module}.{name}': this file may run code when "
                "unpickled; only NumPy arrays, numbers, strings, bytes, lists and dicts are allowed"
            )
        return make()


def load_array_pickle(file):
    """Unpickle from an open binary ``file`` allowing only arrays and plain data.

    Python 2 strings come back as bytes (``encoding='bytes'``), as in the
    CIFAR-10 batches, whose keys are ``b'data'``, ``b'labels'`` and so on.
    """
    return ArrayOnlyUnpickler(file, encoding="bytes").load()
