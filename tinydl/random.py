"""The one random generator tinydl draws from, so a seeded run repeats bit for bit on CPU.

Everything random in tinydl (initialisation, dropout, shuffling, augmentation) calls
``generator()``; ``manual_seed(n)`` replaces it. Random numbers are drawn on the CPU and moved
to the tensor's device, so a seeded run draws the same numbers on every device.
"""
from __future__ import annotations

import numpy

_state = {"generator": numpy.random.default_rng(0)}


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed tinydl's generator; returns it."""
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _state["generator"] = numpy.random.default_rng(int(seed))
    return _state["generator"]


def generator() -> numpy.random.Generator:
    """The generator every random draw in tinydl uses."""
    return _state["generator"]


def get_rng_state() -> dict:
    """The generator's state (a plain dict), for checkpoints."""
    return _state["generator"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    bit_generator = numpy.random.PCG64()
    bit_generator.state = state
    _state["generator"] = numpy.random.Generator(bit_generator)
