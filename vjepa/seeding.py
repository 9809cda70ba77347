"""Explicit, reproducible generators: one seed derived from a tuple of integers."""

from __future__ import annotations

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that depends on every key (e.g. seed, rank, step); order matters."""
    if any(int(k) < 0 for k in keys):
        raise ValueError(f"seed keys must be non-negative integers, got {keys}")
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def generator_for(*keys: int) -> torch.Generator:
    """A CPU torch.Generator seeded from `derive_seed(*keys)`."""
    return torch.Generator().manual_seed(derive_seed(*keys))


def randint(generator: torch.Generator, low: int, high: int) -> int:
    """One integer uniformly in [low, high) drawn from `generator`."""
    return int(torch.randint(low, high, (1,), generator=generator).item())


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One float uniformly in [low, high] (low + u * (high - low), u from `generator`)."""
    return low + torch.rand(1, generator=generator).item() * (high - low)
