"""The exceptions tinydl raises. Each message names the op, what it got and how to fix it."""


class TinyDLError(Exception):
    """Base class of every error tinydl raises on purpose."""


class ShapeError(TinyDLError, ValueError):
    """Shapes that do not fit an op (matmul inner dims, broadcasting, reshape sizes)."""


class DeviceError(TinyDLError, RuntimeError):
    """Tensors on different devices in one op, or a device that is not available."""


class DTypeError(TinyDLError, TypeError):
    """A dtype an op cannot take (gradients on integer tensors, for example)."""


class GraphError(TinyDLError, RuntimeError):
    """Misuse of the autograd graph (backward twice through a freed graph, non-scalar roots)."""


class MissingResourceError(TinyDLError, FileNotFoundError):
    """An optional data set or pretrained model this machine does not have.

    The message names what is missing and the command that gets it; lessons catch it to skip
    the part that needs it, and the tests skip with it as the reason."""


class AnomalyError(TinyDLError, FloatingPointError):
    """Raised under ``detect_anomaly()`` when an op produces NaN or Inf."""
