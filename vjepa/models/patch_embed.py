"""Patch embeddings: 2D (images) and tubelet 3D (video), key names as the official code."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """Conv2d patchify: [B, C, H, W] -> [B, (H/p)*(W/p), D]."""

    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class PatchEmbed3D(nn.Module):
    """Conv3d tubelet patchify: [B, C, T, H, W] -> [B, (T/t)*(H/p)*(W/p), D], (t, h, w) raster."""

    def __init__(
        self, patch_size: int = 16, tubelet_size: int = 2, in_chans: int = 3, embed_dim: int = 768
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)
