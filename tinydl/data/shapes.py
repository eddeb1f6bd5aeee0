"""A generated stand-in for CIFAR-10: ten kinds of shape on noisy backgrounds.

Each image shows one shape with a random size, position and colour on a random
colour background with a brightness gradient and pixel noise. Colours do not
depend on the class, so a model has to learn the shape itself. Everything is
vectorised NumPy and deterministic for a given seed.
"""

import numpy as np

SHAPES_CLASSES = (
    "circle",
    "square",
    "triangle",
    "plus",
    "ring",
    "horizontal bar",
    "vertical bar",
    "diamond",
    "x",
    "two dots",
)


# Each mask function takes u, v: float arrays (k, size, size), the pixel
# coordinates relative to the shape's centre in units of its radius, and
# returns a bool array of the same shape: True inside the shape.


def _circle(u, v):
    return u * u + v * v <= 1.0


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u, v):
    # apex at the top (v = -1), base at v = 0.8; image rows grow downwards
    return (v <= 0.8) & (np.abs(u) <= (v + 1.0) * 0.5)


def _plus(u, v):
    return ((np.abs(u) <= 0.25) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.25) & (np.abs(u) <= 1.0))


def _ring(u, v):
    radius_squared = u * u + v * v
    return (radius_squared <= 1.0) & (radius_squared >= 0.45)


def _horizontal_bar(u, v):
    return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.3)


def _vertical_bar(u, v):
    return (np.abs(v) <= 1.0) & (np.abs(u) <= 0.3)


def _diamond(u, v):
    return np.abs(u) + np.abs(v) <= 1.0


def _x(u, v):
    inside_box = np.maximum(np.abs(u), np.abs(v)) <= 0.85
    return inside_box & ((np.abs(u - v) <= 0.35) | (np.abs(u + v) <= 0.35))


def _two_dots(u, v):
    return ((u - 0.55) ** 2 + v * v <= 0.16) | ((u + 0.55) ** 2 + v * v <= 0.16)


_MASKS = (
    _circle,
    _square,
    _triangle,
    _plus,
    _ring,
    _horizontal_bar,
    _vertical_bar,
    _diamond,
    _x,
    _two_dots,
)


def make_shapes(n, size=32, classes=10, seed=0):
    """Generate ``n`` labelled shape images.

    Returns ``(images, labels)``: images float32 (n, 3, size, size) in [0, 1],
    labels int64 (n,) in ``0..classes-1`` (names in ``SHAPES_CLASSES``), every
    class appearing ``n // classes`` or ``n // classes + 1`` times, in random order.
    """
    if not 1 <= classes <= len(_MASKS):
        raise ValueError(f"make_shapes: classes must be 1..{len(_MASKS)}, got {classes}")
    if size < 8:
        raise ValueError(f"make_shapes: size must be at least 8 pixels, got {size}")
    if n < 0:
        raise ValueError(f"make_shapes: n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes).astype(np.int64)

    # Shape placement, in pixels: radius, then a centre that keeps the shape inside.
    radius = (rng.uniform(0.22, 0.4, n) * size).astype(np.float32)
    centre_x = rng.uniform(radius, size - radius).astype(np.float32)
    centre_y = rng.uniform(radius, size - radius).astype(np.float32)
    pixel = np.arange(size, dtype=np.float32) + 0.5
    u = (pixel[None, None, :] - centre_x[:, None, None]) / radius[:, None, None]  # (n, 1, size)
    v = (pixel[None, :, None] - centre_y[:, None, None]) / radius[:, None, None]  # (n, size, 1)
    u, v = np.broadcast_arrays(u, v)  # both (n, size, size)

    inside = np.zeros((n, size, size), dtype=bool)
    for label in range(classes):
        chosen = labels == label
        inside[chosen] = _MASKS[label](u[chosen], v[chosen])

    background = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    foreground = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    too_close = np.linalg.norm(foreground - background, axis=1) < 0.5
    foreground[too_close] = 1.0 - background[too_close]  # keep the shape visible

    gradient_direction = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    gradient_strength = rng.uniform(0.0, 0.25, n).astype(np.float32)
    ramp = (
        np.cos(gradient_direction)[:, None, None] * (pixel[None, None, :] / size - 0.5)
        + np.sin(gradient_direction)[:, None, None] * (pixel[None, :, None] / size - 0.5)
    ) * gradient_strength[:, None, None]  # (n, size, size)

    colour = np.where(
        inside[:, None, :, :],  # (n, 1, size, size)
        foreground[:, :, None, None],  # (n, 3, 1, 1)
        background[:, :, None, None] + ramp[:, None, :, :],
    )
    colour += 0.08 * rng.standard_normal(colour.shape, dtype=np.float32)
    images = np.clip(colour, 0.0, 1.0, out=colour)
    return images, labels
