"""Weight initialisation of the official JEPA models."""

from __future__ import annotations

import math

from timm.layers import trunc_normal_
from torch import nn


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Trunc-normal(std) Linear/Conv weights with zero bias, LayerNorm (1, 0). Use with .apply."""
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
        trunc_normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def rescale_blocks(blocks: nn.ModuleList) -> None:
    """Divide each block's attn.proj and mlp.fc2 weights by sqrt(2 * layer_id), layer_id from 1."""
    for layer_id, block in enumerate(blocks, start=1):
        block.attn.proj.weight.data.div_(math.sqrt(2.0 * layer_id))
        block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * layer_id))
