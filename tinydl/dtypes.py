"""dtypes under PyTorch's names: ``x.dtype == tinydl.float32`` holds; pass them as ``dtype=``.

tinydl's arrays are NumPy (or CuPy) arrays, so its dtypes are NumPy dtypes; these names are
the ones PyTorch code uses (``torch.float``, ``torch.long``, ``torch.bool``, ...)."""
import numpy

float16 = half = numpy.dtype(numpy.float16)
float32 = float = numpy.dtype(numpy.float32)
float64 = double = numpy.dtype(numpy.float64)
uint8 = numpy.dtype(numpy.uint8)
int8 = numpy.dtype(numpy.int8)
int16 = short = numpy.dtype(numpy.int16)
int32 = int = numpy.dtype(numpy.int32)
int64 = long = numpy.dtype(numpy.int64)
bool = bool_ = numpy.dtype(numpy.bool_)
