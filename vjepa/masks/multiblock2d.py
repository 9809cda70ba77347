"""I-JEPA 2D multi-block masks: 4 target blocks and 1 context block outside them.

Follows the official sampler: per step one target-block size and one context-block size shared by
the batch (one uniform draw sets both scale and aspect ratio of a block, as in the official code);
per sample, block positions; the context block is restricted to the complement of the targets,
and constraints are dropped one at a time when fewer than `min_keep` tokens remain.
"""

from __future__ import annotations

import math

import torch

from vjepa.seeding import randint

Range = tuple[float, float]


def _check_range(name: str, r: Range, low: float, high: float) -> tuple[float, float]:
    a, b = float(r[0]), float(r[1])
    if not (low < a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} < min <= max <= {high}, got {r}")
    return (a, b)


class MultiBlock2D:
    """Args:
    grid: token grid (height, width) = image size // patch size.
    enc_mask_scale / pred_mask_scale: block area as a fraction of the grid.
    aspect_ratio: target-block aspect ratio range (context blocks are square).
    nenc / npred: context and target blocks per sample.
    min_keep: a block must keep more than this many tokens.
    allow_overlap: let the context block overlap the targets.
    """

    max_tries = 20

    def __init__(
        self,
        grid: tuple[int, int],
        enc_mask_scale: Range = (0.85, 1.0),
        pred_mask_scale: Range = (0.15, 0.2),
        aspect_ratio: Range = (0.75, 1.5),
        nenc: int = 1,
        npred: int = 4,
        min_keep: int = 10,
        allow_overlap: bool = False,
    ) -> None:
        self.height, self.width = int(grid[0]), int(grid[1])
        if self.height < 2 or self.width < 2:
            raise ValueError(f"token grid must be at least 2x2, got {grid}")
        self.enc_mask_scale = _check_range("enc_mask_scale", enc_mask_scale, 0.0, 1.0)
        self.pred_mask_scale = _check_range("pred_mask_scale", pred_mask_scale, 0.0, 1.0)
        self.aspect_ratio = _check_range("aspect_ratio", aspect_ratio, 0.0, math.inf)
        if nenc < 1 or npred < 1:
            raise ValueError(f"nenc and npred must be >= 1, got {nenc}, {npred}")
        if min_keep < 0:
            raise ValueError(f"min_keep must be >= 0, got {min_keep}")
        self.nenc, self.npred, self.min_keep = nenc, npred, min_keep
        self.allow_overlap = allow_overlap
        self._check_extremes()

    def _check_extremes(self) -> None:
        """Reject scales whose smallest draws give blocks of at most `min_keep` tokens: such a
        draw fails training at some step (no block can keep enough tokens), so fail here."""
        us = [*(i / 256 for i in range(256)), 1.0 - 1e-9]  # u is in [0, 1); no tensors
        for name, scale, aspect in (("pred_mask_scale", self.pred_mask_scale, self.aspect_ratio),
                                    ("enc_mask_scale", self.enc_mask_scale, (1.0, 1.0))):
            h, w = min((self.size_at(u, scale, aspect) for u in us), key=lambda s: s[0] * s[1])
            if h * w <= self.min_keep:
                raise ValueError(f"{name} {list(scale)} draws blocks of {h}x{w} tokens on the "
                                 f"{self.height}x{self.width} grid, not more than min_keep="
                                 f"{self.min_keep}; lower min_keep or raise {name}")

    def block_size(self, g: torch.Generator, scale: Range, aspect: Range) -> tuple[int, int]:
        """(h, w) of a block; h < height and w < width as in the official sampler."""
        return self.size_at(torch.rand(1, generator=g).item(), scale, aspect)

    def size_at(self, u: float, scale: Range, aspect: Range) -> tuple[int, int]:
        """(h, w) of a block drawn with uniform value `u` (it sets both scale and aspect)."""
        keep = int(self.height * self.width * (scale[0] + u * (scale[1] - scale[0])))
        ar = aspect[0] + u * (aspect[1] - aspect[0])
        h = min(int(round(math.sqrt(keep * ar))), self.height - 1)
        w = min(int(round(math.sqrt(keep / ar))), self.width - 1)
        return max(h, 1), max(w, 1)

    def block(
        self, g: torch.Generator, size: tuple[int, int], allowed: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One block: (kept flat indices [K], complement map [H, W])."""
        h, w = size
        allowed = allowed or []
        for dropped in range(len(allowed) + 1):
            for _ in range(self.max_tries):
                top, left = randint(g, 0, self.height - h), randint(g, 0, self.width - w)
                mask = torch.zeros(self.height, self.width, dtype=torch.int32)
                mask[top : top + h, left : left + w] = 1
                for region in allowed[: len(allowed) - dropped]:
                    mask *= region
                idx = torch.nonzero(mask.flatten()).squeeze(1)
                if len(idx) > self.min_keep:
                    complement = torch.ones(self.height, self.width, dtype=torch.int32)
                    complement[top : top + h, left : left + w] = 0
                    return idx, complement
        raise ValueError(
            f"no block of size {size} keeps more than min_keep={self.min_keep} tokens on a "
            f"{self.height}x{self.width} grid; lower min_keep or raise the mask scale"
        )

    def __call__(
        self, batch_size: int, g: torch.Generator
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Masks of one batch: (context [nenc x [B, Ke]], targets [npred x [B, Kp]])."""
        p_size = self.block_size(g, self.pred_mask_scale, self.aspect_ratio)
        e_size = self.block_size(g, self.enc_mask_scale, (1.0, 1.0))
        enc, pred = [], []
        for _ in range(batch_size):
            blocks = [self.block(g, p_size) for _ in range(self.npred)]
            pred.append([b[0] for b in blocks])
            allowed = None if self.allow_overlap else [b[1] for b in blocks]
            enc.append([self.block(g, e_size, allowed)[0] for _ in range(self.nenc)])
        return stack_truncated(enc), stack_truncated(pred)


def stack_truncated(per_sample: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """[B x [M x [K_bm]]] -> [M x [B, min K]]: every mask cut to the shortest of the batch."""
    keep = min(len(m) for masks in per_sample for m in masks)
    n = len(per_sample[0])
    return [torch.stack([masks[j][:keep] for masks in per_sample]) for j in range(n)]
