"""Probe modules on frozen features: which probe, how it is built, how views are laid out.

A probe maps one *view* of a sample to class logits. Features carry a view axis after the
batch: `[B, V, *item]`, where an item is `[N, D]` tokens (attentive probe) or `[D]` pooled
features (linear probe). A video evaluated with 3 spatial crops x 2 segments without
`attend_across_segments` has V = 6; with it, V = 3 and each item holds both segments' tokens.
Tensors without the view axis (`[B, *item]`) are one view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vjepa.models.attentive_probe import BLOCK_ORDERS, AttentiveClassifier, BlockOrder

ProbeKind = Literal["attentive", "linear"]
ITEM_DIMS = {"attentive": 2, "linear": 1}


@dataclass(frozen=True)
class ProbeSpec:
    """What probe to train.

    Attributes:
        kind: "attentive" (tokens [N, D] -> AttentiveClassifier) or "linear" (pooled [D]).
        order: attentive block order, "vjepa" or "vjepa2" (see models/attentive_probe.py).
        depth: attentive: 1 + self-attention blocks (V-JEPA 1, V-JEPA 2 recipes 4).
        num_heads: attentive attention heads (official: the encoder's head count).
        apply_proj: attentive, order "vjepa": apply xattn.proj (False = official V-JEPA).
    """

    kind: ProbeKind = "attentive"
    order: BlockOrder = "vjepa"
    depth: int = 1
    num_heads: int = 16
    apply_proj: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ITEM_DIMS:
            raise ValueError(f"probe kind must be one of {sorted(ITEM_DIMS)}, got {self.kind!r}")
        if self.order not in BLOCK_ORDERS:
            raise ValueError(f"probe order must be one of {BLOCK_ORDERS}, got {self.order!r}")

    @property
    def item_dims(self) -> int:
        return ITEM_DIMS[self.kind]


def build_probe(spec: ProbeSpec, dim: int, num_classes: int, seed: int) -> nn.Module:
    """A freshly initialised probe; the same (spec, dim, classes, seed) gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.kind == "linear":
            return nn.Linear(dim, num_classes)
        return AttentiveClassifier(dim, spec.num_heads, num_classes, depth=spec.depth,
                                   apply_proj=spec.apply_proj, order=spec.order)


def with_views(x: torch.Tensor, item_dims: int) -> torch.Tensor:
    """[B, *item] or [B, V, *item] -> [B, V, *item]."""
    if x.dim() == item_dims + 1:
        return x.unsqueeze(1)
    if x.dim() != item_dims + 2:
        raise ValueError(f"features must be [B, *item] or [B, V, *item] with {item_dims}-d "
                         f"items, got shape {tuple(x.shape)}")
    return x


def feature_dim(x: torch.Tensor) -> int:
    return int(x.shape[-1])
