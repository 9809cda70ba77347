"""Fixed sin-cos position tables (1D/2D/3D) as in the official I-JEPA and V-JEPA code.

Token order is raster: (h, w) for images, (t, h, w) for video, w fastest.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

PosOrder2D = Literal["hw", "wh"]


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[sin(p * w_i), cos(p * w_i)] with w_i = 1 / 10000^(i / (dim/2)), i < dim/2.

    Args:
        dim: even output width.
        positions: any shape of positions; flattened.
    Returns:
        float64 tensor [positions.numel(), dim].
    """
    if dim % 2 != 0:
        raise ValueError(f"sin-cos embedding width must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega  # [dim/2]
    out = positions.reshape(-1).to(torch.float64)[:, None] * omega[None, :]  # [M, dim/2]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_2d(dim: int, grid_h: int, grid_w: int, order: PosOrder2D = "hw") -> torch.Tensor:
    """2D table [grid_h * grid_w, dim] in float64.

    Args:
        order: "hw" gives [emb(h), emb(w)] (V-JEPA's 2D table). "wh" gives [emb(w), emb(h)],
            which is what the official I-JEPA (MAE-derived) code computes: its meshgrid puts the
            column coordinate first although the halves are named (h, w).
    """
    if order not in ("hw", "wh"):
        raise ValueError(f"order must be 'hw' or 'wh', got {order!r}")
    hh, ww = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64),
        torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    first, second = (hh, ww) if order == "hw" else (ww, hh)
    return torch.cat([sincos_1d(dim // 2, first), sincos_1d(dim // 2, second)], dim=1)


def sincos_3d(
    dim: int, grid_t: int, grid_h: int, grid_w: int, uniform_power: bool = False
) -> torch.Tensor:
    """3D table [grid_t * grid_h * grid_w, dim] in float64, order [emb_t, emb_h, emb_w].

    Widths: t = dim/2, h = w = dim/4; with `uniform_power` all three are ceil(dim/6)*2 and the
    concatenation is truncated to `dim` (as the official V-JEPA code).
    """
    if uniform_power:
        d_t = d_h = d_w = int(math.ceil(dim / 6) * 2)
    else:
        d_t, d_h, d_w = dim // 2, dim // 4, dim // 4
    tt, hh, ww = torch.meshgrid(
        torch.arange(grid_t, dtype=torch.float64),
        torch.arange(grid_h, dtype=torch.float64),
        torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    emb = torch.cat([sincos_1d(d_t, tt), sincos_1d(d_h, hh), sincos_1d(d_w, ww)], dim=1)
    return emb[:, :dim]


def interpolate_pos_embed(
    pos_embed: torch.Tensor, src_grid: tuple[int, ...], dst_grid: tuple[int, ...]
) -> torch.Tensor:
    """Resample a [1, N, D] table from `src_grid` to `dst_grid` ((h, w) or (t, h, w)).

    Bicubic for 2D, trilinear for 3D, with the scale factors the official code uses.
    """
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    if len(src_grid) != len(dst_grid) or len(src_grid) not in (2, 3):
        raise ValueError(f"cannot interpolate position table from grid {src_grid} to {dst_grid}")
    _, n, d = pos_embed.shape
    if math.prod(src_grid) != n:
        raise ValueError(f"position table has {n} tokens, expected {math.prod(src_grid)}")
    mode = "bicubic" if len(src_grid) == 2 else "trilinear"
    grid = pos_embed.reshape(1, *src_grid, d).movedim(-1, 1)
    scale = tuple(b / a for a, b in zip(src_grid, dst_grid, strict=True))
    out = F.interpolate(grid, scale_factor=scale, mode=mode)
    if tuple(out.shape[2:]) != tuple(dst_grid):  # float rounding of the scale factors
        out = F.interpolate(grid, size=tuple(dst_grid), mode=mode)
    return out.movedim(1, -1).reshape(1, -1, d)
