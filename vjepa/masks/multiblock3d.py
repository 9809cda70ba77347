"""V-JEPA 3D multi-block masks over tubelet tokens.

Per mask configuration and step one block size (t, h, w) shared by the batch; per sample
`num_blocks` block positions. The target is the union of the blocks (plus every time step past
`max_temporal_keep`), the context its complement; a sample whose context is empty is resampled.
"""

from __future__ import annotations

import math

import torch

from vjepa.masks.multiblock2d import Range, _check_range, stack_truncated
from vjepa.seeding import randint, uniform

# The largest blocks are drawn COVER_DRAWS times at construction: when they leave no context
# in COVER_LIMIT of the draws, the range is refused (training fails once max_resample draws in
# a row do: below the limit that is at most 0.8 ** 100 ~ 2e-10 per sample).
COVER_DRAWS, COVER_LIMIT = 200, 0.8


class MultiBlock3D:
    """Args:
    grid: token grid (t, h, w) = (frames // tubelet, height // patch, width // patch).
    num_blocks: blocks per sample (their union is the target).
    spatial_scale / temporal_scale: block extent as a fraction of the grid.
    aspect_ratio: block aspect ratio range.
    max_temporal_keep: the context only spans this fraction of the time steps.
    max_keep: cap on context tokens per sample (None: no cap).
    """

    max_resample = 100

    def __init__(
        self,
        grid: tuple[int, int, int],
        num_blocks: int = 8,
        spatial_scale: Range = (0.15, 0.15),
        temporal_scale: Range = (1.0, 1.0),
        aspect_ratio: Range = (0.75, 1.5),
        max_temporal_keep: float = 1.0,
        max_keep: int | None = None,
    ) -> None:
        self.duration, self.height, self.width = (int(v) for v in grid)
        if min(grid) < 1:
            raise ValueError(f"token grid must be positive, got {grid}")
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_blocks = num_blocks
        self.spatial_scale = _check_range("spatial_scale", spatial_scale, 0.0, 1.0)
        self.temporal_scale = _check_range("temporal_scale", temporal_scale, 0.0, 1.0)
        self.aspect_ratio = _check_range("aspect_ratio", aspect_ratio, 0.0, math.inf)
        if not 0.0 < max_temporal_keep <= 1.0:
            raise ValueError(f"max_temporal_keep must be in (0, 1], got {max_temporal_keep}")
        if max_keep is not None and max_keep < 1:
            raise ValueError(f"max_keep must be >= 1 or None, got {max_keep}")
        self.max_context_duration = max(1, int(self.duration * max_temporal_keep))
        self.max_keep = max_keep
        self._check_extremes()

    def size_at(self, temporal: float, spatial: float, ar: float) -> tuple[int, int, int]:
        """(t, h, w) of a block drawn at these scales and aspect ratio."""
        t = max(1, int(self.duration * temporal))
        keep = int(self.height * self.width * spatial)
        h = min(int(round(math.sqrt(keep * ar))), self.height)
        w = min(int(round(math.sqrt(keep / ar))), self.width)
        return t, h, w

    def block_size(self, g: torch.Generator) -> tuple[int, int, int]:
        """(t, h, w) with independent draws for time, area and aspect (official order)."""
        temporal = uniform(g, *self.temporal_scale)
        spatial = uniform(g, *self.spatial_scale)
        return self.size_at(temporal, spatial, uniform(g, *self.aspect_ratio))

    def _check_extremes(self) -> None:
        """Reject ranges whose draws can give an empty block or one covering the whole grid
        (no context left): such a draw fails training at some step, so fail here."""
        (t0, t1), (s0, s1), (a0, a1) = self.temporal_scale, self.spatial_scale, self.aspect_ratio
        for ar in (a0, a1):  # the narrowest blocks: smallest area at either aspect extreme
            size = self.size_at(t0, s0, ar)
            if min(size) == 0:
                raise ValueError(f"spatial_scale {list(self.spatial_scale)} with aspect_ratio "
                                 f"{ar} draws an empty block {size} on the {self.grid_text()} "
                                 "grid; raise spatial_scale")
        s_top = s1 if s0 == s1 else s1 - 1e-9 * (s1 - s0)  # draws stay below the maximum
        t_top = t1 if t0 == t1 else t1 - 1e-9 * (t1 - t0)
        g = torch.Generator().manual_seed(0)
        with torch.device("cpu"):  # also when the model is built on the meta device
            for ar in (a0, (a0 + a1) / 2, a1):  # the largest blocks, at three aspect ratios
                size = self.size_at(t_top, s_top, ar)
                covered = sum(not self.context_map(g, size).any() for _ in range(COVER_DRAWS))
                if covered >= COVER_LIMIT * COVER_DRAWS:
                    raise ValueError(
                        f"{self.num_blocks} blocks of size {size} (spatial_scale "
                        f"{list(self.spatial_scale)}, temporal_scale {list(self.temporal_scale)}, "
                        f"aspect_ratio {ar:.3g}) cover the whole {self.grid_text()} grid in "
                        f"{covered} of {COVER_DRAWS} draws (no context left; training fails when "
                        f"{self.max_resample} in a row do); lower the mask scales or num_blocks")

    def grid_text(self) -> str:
        return f"{self.duration}x{self.height}x{self.width}"

    def context_map(self, g: torch.Generator, size: tuple[int, int, int]) -> torch.Tensor:
        """[T, H, W] int map, 1 = context, 0 = target, for one sample."""
        t, h, w = size
        keep = torch.ones(self.duration, self.height, self.width, dtype=torch.int32)
        for _ in range(self.num_blocks):
            top = randint(g, 0, self.height - h + 1)
            left = randint(g, 0, self.width - w + 1)
            start = randint(g, 0, self.duration - t + 1)
            keep[start : start + t, top : top + h, left : left + w] = 0
        keep[self.max_context_duration :] = 0
        return keep

    def sample_one(
        self, g: torch.Generator, size: tuple[int, int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.max_resample):
            keep = self.context_map(g, size).flatten()
            ctx = torch.nonzero(keep).squeeze(1)
            if len(ctx) > 0:
                return ctx, torch.nonzero(keep == 0).squeeze(1)
        raise ValueError(
            f"blocks of size {size} x {self.num_blocks} always cover the whole "
            f"{self.duration}x{self.height}x{self.width} grid; lower the mask scales"
        )

    def __call__(
        self, batch_size: int, g: torch.Generator
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Masks of one batch: (context [1 x [B, Ke]], target [1 x [B, Kp]])."""
        size = self.block_size(g)
        pairs = [self.sample_one(g, size) for _ in range(batch_size)]
        enc = stack_truncated([[c] for c, _ in pairs])
        if self.max_keep is not None:
            enc = [m[:, : self.max_keep] for m in enc]
        return enc, stack_truncated([[p] for _, p in pairs])
