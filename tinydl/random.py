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


def resolve_generator(op: str, generator: numpy.random.Generator | None) -> numpy.random.Generator:
    """The generator to draw from: ``generator`` when given (a tinydl.Generator or any NumPy
    Generator), else tinydl's global one. ``op`` names the caller in the error."""
    if generator is None:
        return _state["generator"]
    if not isinstance(generator, numpy.random.Generator):
        raise TypeError(f"{op}: generator must be a tinydl.Generator (or a NumPy Generator), "
                        f"got {type(generator).__name__}")
    return generator


def get_rng_state() -> dict:
    """The generator's state (a plain dict), for checkpoints."""
    return _state["generator"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    bit_generator = numpy.random.PCG64()
    bit_generator.state = state
    _state["generator"] = numpy.random.Generator(bit_generator)


class Generator(numpy.random.Generator):
    """A generator of its own, as ``torch.Generator``: ``tinydl.Generator().manual_seed(0)``.

    It is a NumPy Generator (every NumPy drawing method works on it) with PyTorch's seeding
    methods. Pass it where PyTorch takes ``generator=`` (DataLoader, samplers, random_split,
    nn.init) to draw from it instead of tinydl's global generator.
    """

    def __init__(self, device: str = "cpu"):
        super().__init__(numpy.random.PCG64(0))
        self._seed = 0

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place; returns self (so ``Generator().manual_seed(0)`` reads as in torch)."""
        if not isinstance(seed, (int, numpy.integer)) or seed < 0:
            raise ValueError(f"Generator.manual_seed: seed must be a non-negative int, got "
                             f"{seed!r}")
        self.bit_generator.state = numpy.random.PCG64(int(seed)).state
        self._seed = int(seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy; returns the new seed."""
        new = int(numpy.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self.bit_generator.state = state
        return self
