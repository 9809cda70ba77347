"""Collate samples and draw the JEPA masks of the batch, reproducibly per (seed, step).

Masks are returned as *groups*: `masks_enc[g]` and `masks_pred[g]` are lists of index tensors
[B, K] for group g. A group is predicted with its own mask token (`mask_index = g`):
- V-JEPA: one group per mask configuration, each with one context and one target mask;
- I-JEPA: one group with one context mask and four target masks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import default_collate

from vjepa.seeding import generator_for

MaskGroups = list[list[torch.Tensor]]


class MaskGenerator(Protocol):
    def __call__(
        self, batch_size: int, g: torch.Generator
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]: ...


class MaskCollator:
    """Args:
    generators: one per mask group (MultiBlock2D / MultiBlock3D instances).
    seed: base seed; mask draws use a generator seeded from (seed, step, group).
    collate: how samples are stacked (default torch's default_collate).

    Each sample must carry the global step under the key "step" (the training sampler tags
    samples with it) so that any worker, and a resumed run, draws the same masks for a step.
    """

    def __init__(
        self,
        generators: Sequence[MaskGenerator],
        seed: int = 0,
        collate: Callable[[list[Any]], Any] = default_collate,
    ) -> None:
        if not generators:
            raise ValueError("MaskCollator needs at least one mask generator")
        self.generators = list(generators)
        self.seed = seed
        self.collate = collate

    def masks(self, step: int, batch_size: int) -> tuple[MaskGroups, MaskGroups]:
        """The masks of global step `step` for a batch of `batch_size`."""
        enc, pred = [], []
        for i, gen in enumerate(self.generators):
            e, p = gen(batch_size, generator_for(self.seed, step, i))
            enc.append(e)
            pred.append(p)
        return enc, pred

    def __call__(self, samples: list[dict[str, Any]]) -> tuple[Any, MaskGroups, MaskGroups]:
        steps = {int(s["step"]) for s in samples} if all("step" in s for s in samples) else None
        if not steps or len(steps) != 1:
            raise ValueError(f"samples of one batch must carry one common 'step', got {steps}")
        return self.collate(samples), *self.masks(steps.pop(), len(samples))
