"""Index helpers shared by the encoder, predictor and loss (token gathering by keep-indices)."""

from __future__ import annotations

import torch


def apply_masks(x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """Gather tokens of `x` [B, N, D] at each mask [B, K]; concatenate along the batch.

    Returns:
        [len(masks) * B, K, D], mask-major (mask j, sample b at row j * B + b).
    """
    out = []
    for m in masks:
        if m.dim() != 2 or m.shape[0] != x.shape[0]:
            raise ValueError(f"mask must be [B={x.shape[0]}, K], got {tuple(m.shape)}")
        out.append(torch.gather(x, 1, m.unsqueeze(-1).expand(-1, -1, x.size(-1))))
    return torch.cat(out, dim=0)


def repeat_interleave_batch(x: torch.Tensor, batch_size: int, repeat: int) -> torch.Tensor:
    """Repeat each consecutive chunk of `batch_size` rows `repeat` times (official semantics)."""
    n = len(x) // batch_size
    chunks = [x[i * batch_size : (i + 1) * batch_size] for i in range(n)]
    return torch.cat([c for c in chunks for _ in range(repeat)], dim=0)
