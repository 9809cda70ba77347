"""Deterministic index subsets of a labelled set: low-shot subsets and a held-out split.

Both are functions of (labels, size, seed) only: per class, the class's indices are shuffled
by a generator seeded with `seed` and the class index, and the first ones taken. The same call
gives the same subset on any machine and with any other class present or absent.
"""

from __future__ import annotations

import math

import torch


def _class_order(labels: torch.Tensor, cls: int, seed: int) -> torch.Tensor:
    idx = torch.nonzero(labels == cls).flatten()
    gen = torch.Generator().manual_seed(seed * 1_000_003 + cls)
    return idx[torch.randperm(len(idx), generator=gen)]


def _per_class_take(n: int, per_class: int | None, fraction: float | None) -> int:
    if per_class is not None:
        return min(per_class, n)
    return min(n, max(1, round(fraction * n)))


def lowshot_subset(labels: torch.Tensor, per_class: int | None = None,
                   fraction: float | None = None, seed: int = 0) -> torch.Tensor:
    """Sorted indices of `per_class` samples of every class (or `fraction` of each class,
    at least 1). Classes with fewer samples give all they have."""
    if (per_class is None) == (fraction is None):
        raise ValueError(f"give exactly one of per_class and fraction, got {per_class}, "
                         f"{fraction}")
    if (per_class is not None and per_class < 1) or (fraction is not None
                                                      and not 0 < fraction <= 1):
        raise ValueError(f"need per_class >= 1 or 0 < fraction <= 1, got {per_class}, "
                         f"{fraction}")
    labels = torch.as_tensor(labels).long().cpu()
    parts = [_class_order(labels, int(c), seed)[: _per_class_take(int((labels == c).sum()),
                                                                   per_class, fraction)]
             for c in torch.unique(labels)]
    return torch.cat(parts).sort().values


def holdout_split(labels: torch.Tensor, fraction: float, seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices), stratified: floor(fraction * n_c) held out per class
    (at most n_c - 1, so every class keeps a training sample). Used to pick a sweep's head on
    training data instead of the test set."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    labels = torch.as_tensor(labels).long().cpu()
    train, held = [], []
    for c in torch.unique(labels):
        order = _class_order(labels, int(c), seed + 1)
        take = min(len(order) - 1, math.floor(fraction * len(order)))
        held.append(order[:take])
        train.append(order[take:])
    held_idx = torch.cat(held).sort().values
    if not len(held_idx):
        raise ValueError(f"holdout fraction {fraction} holds out no sample of {len(labels)}")
    return torch.cat(train).sort().values, held_idx
